"""Progress of long commands: lines for people on stderr (a live rich display on a terminal), or
NDJSON for programs on stdout."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, TextIO


class Events:
    """Stage started / progress / finished / error, rendered once as text or as NDJSON.

    Text on a terminal: each running stage is a live rich line (spinner, a bar once the stage
    knows its steps, elapsed time) above which finished stages print as plain lines. Text
    elsewhere (CI logs, a pipe): plain lines only, progress at most every 2 s. NO_COLOR is honoured.
    """

    def __init__(
        self,
        mode: str = "text",
        stream: TextIO | None = None,
        *,
        run: str = "",
        many: bool = False,
        out: TextIO | None = None,
    ):
        self.mode = mode
        self.stream = stream or sys.stderr
        self.out = out or sys.stdout
        # Every NDJSON event names its run. With several runs at once (apply DIR) every text line
        # starts with it too, and there is no live display (runs would redraw over each other).
        self.run = run
        self.many = many
        self._last_progress = 0.0
        live = mode == "text" and not many and _is_terminal(self.stream)
        self._live = _Live(self.stream) if live else None

    def emit(self, kind: str, stage: str = "", **fields: Any) -> None:
        event = {"event": kind, "stage": stage, "time": round(time.time(), 3), **fields}
        if self.run:
            event = {"run": self.run, **event}
        if self.mode == "json":
            _write(self.out, json.dumps(event, default=str))
            return
        if self._live is not None:
            self._live.show(event, self._text(event))
            return
        if kind == "progress":
            now = time.monotonic()
            if now - self._last_progress < 2 and fields.get("step") != fields.get("total"):
                return  # a line every 2 s is enough for people
            self._last_progress = now
        prefix = f"[{self.run}] " if self.many else ""
        _write(self.stream, prefix + self._text(event))

    def close(self) -> None:
        """Stop the live display (the terminal gets its cursor back); idempotent."""
        if self._live is not None:
            self._live.close()

    @staticmethod
    def _text(e: dict) -> str:
        stage = f"{e['stage']}: " if e["stage"] else ""
        if e["event"] == "started":
            return f"{stage}{e.get('action', 'running')} {e.get('resource', '')}".rstrip()
        if e["event"] == "finished":
            return f"{stage}done ({e.get('seconds', 0):.1f}s){' - ' + e['detail'] if e.get('detail') else ''}"
        if e["event"] == "progress" and "loss" in e:
            return (
                f"{stage}step {e['step']}/{e['total']}  loss {e['loss']:.3f}  {e.get('tokens_per_s', 0):.0f} tokens/s"
            )
        if e["event"] == "error":
            return f"{stage}FAILED: {e.get('message', '')}"
        return f"{stage}{e.get('message', e['event'])}"


_writing = threading.Lock()


def _write(stream: TextIO, line: str) -> None:
    """One whole line per write: print() writes the text and the newline apart, so lines from runs
    and stages in threads came out spliced ("[a] ...[b] ...")."""
    with _writing:
        stream.write(line + "\n")
        stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


class _Live:
    """One rich Progress for the command: a task per running stage (stages may run alongside)."""

    def __init__(self, stream: TextIO):
        # rich costs ~40 ms to import: only a command drawing on a terminal pays it.
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(file=stream, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, Any] = {}
        self.lock = threading.Lock()  # the endpoint reports from its own thread during the fine-tune

    def show(self, event: dict, text: str) -> None:
        kind, stage = event["event"], event["stage"]
        with self.lock:
            if kind == "started":
                if not self.tasks:
                    self.progress.start()
                self.progress.console.print(text, markup=False)
                self.tasks[stage] = self.progress.add_task(text, total=None)
            elif kind == "progress" and stage in self.tasks:
                task = self.tasks[stage]
                if "step" in event and "total" in event:
                    self.progress.update(
                        task, completed=event["step"], total=event["total"], description=text, refresh=True
                    )
                else:  # a status change (job Running, uploaded train.jsonl): kept as a line, and shown live
                    self.progress.console.print(text, markup=False)
                    self.progress.update(task, description=text)
            elif kind in ("finished", "error") and stage in self.tasks:
                self.progress.remove_task(self.tasks.pop(stage))
                self.progress.console.print(text, markup=False)
                if not self.tasks:
                    self.progress.stop()
            else:
                self.progress.console.print(text, markup=False)

    def close(self) -> None:
        with self.lock:
            self.tasks.clear()
            self.progress.stop()
