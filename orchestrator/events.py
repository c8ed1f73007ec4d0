"""Progress of long commands: one line per event for people (stderr), or NDJSON for programs."""

from __future__ import annotations

import json
import sys
import time


class Events:
    """Stage started / progress / finished / error, rendered once as text or as NDJSON."""

    def __init__(self, mode: str = "text", stream=None):
        self.mode = mode
        self.stream = stream or sys.stderr
        # Held now: while an Azure SDK call runs, sys.stdout is swapped out to drop the SDK's stray prints.
        self.out = sys.stdout
        self._last_progress = 0.0

    def emit(self, kind: str, stage: str = "", **fields) -> None:
        event = {"event": kind, "stage": stage, "time": round(time.time(), 3), **fields}
        if self.mode == "json":
            print(json.dumps(event, default=str), file=self.out, flush=True)
            return
        if kind == "progress":
            now = time.monotonic()
            if now - self._last_progress < 2 and fields.get("step") != fields.get("total"):
                return  # a line every 2 s is enough for people
            self._last_progress = now
        print(self._text(event), file=self.stream, flush=True)

    @staticmethod
    def _text(e: dict) -> str:
        stage = f"{e['stage']}: " if e["stage"] else ""
        if e["event"] == "started":
            return f"{stage}{e.get('action', 'running')} {e.get('resource', '')}".rstrip()
        if e["event"] == "finished":
            return f"{stage}done ({e.get('seconds', 0):.1f}s){' - ' + e['detail'] if e.get('detail') else ''}"
        if e["event"] == "progress" and "loss" in e:
            return (f"{stage}step {e['step']}/{e['total']}  loss {e['loss']:.3f}  "
                    f"{e.get('tokens_per_s', 0):.0f} tokens/s")
        if e["event"] == "error":
            return f"{stage}FAILED: {e.get('message', '')}"
        return f"{stage}{e.get('message', e['event'])}"
