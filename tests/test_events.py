"""Progress rendering: a live display on a terminal, plain lines elsewhere, NDJSON unchanged."""

from __future__ import annotations

import io
import json
import re

from orchestrator.events import Events


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(events: Events) -> None:
    events.emit("started", "finetune", action="create", resource="quickstart-ft")
    for step in range(1, 11):
        events.emit("progress", "finetune", phase="step", step=step, total=10, loss=1.0 / step, tokens_per_s=150.0)
    events.emit("finished", "finetune", seconds=3.2, detail="loss 1.000 -> 0.100")
    events.close()


def test_a_terminal_gets_a_live_bar_then_the_finished_line(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    term = Terminal()
    _run(Events("text", stream=term))
    out = term.getvalue()
    assert "\x1b[" in out  # drawn live (cursor control), not printed line by line
    assert re.search(r"10/10", out)  # the bar knew its steps
    assert "finetune: done (3.2s) - loss 1.000 -> 0.100" in out


def test_no_color_leaves_out_colour_on_a_terminal(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    term = Terminal()
    _run(Events("text", stream=term))
    assert not re.search(r"\x1b\[[0-9;]*3[0-9](;[0-9]+)*m", term.getvalue())  # no foreground colour codes


def test_a_pipe_gets_plain_lines():
    pipe = io.StringIO()
    _run(Events("text", stream=pipe))
    lines = pipe.getvalue().splitlines()
    assert "\x1b[" not in pipe.getvalue()
    assert lines[0] == "finetune: create quickstart-ft" and lines[-1] == "finetune: done (3.2s) - loss 1.000 -> 0.100"
    assert "finetune: step 10/10  loss 0.100  150 tokens/s" in lines  # the last step always shows


def test_json_mode_is_ndjson_on_stdout(capsys):
    _run(Events("json"))
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["started"] + ["progress"] * 10 + ["finished"]
    assert events[5]["step"] == 5 and events[5]["total"] == 10


def test_events_name_their_run_and_lines_of_many_runs_start_with_it():
    out = io.StringIO()
    _run(Events("json", run="phi3", out=out))
    assert {json.loads(line)["run"] for line in out.getvalue().splitlines()} == {"phi3"}
    one, many = Terminal(), Terminal()
    _run(Events("text", stream=one, run="phi3"))  # one run: its live display, no prefix
    _run(Events("text", stream=many, run="phi3", many=True))  # several: plain lines, each named
    assert "[phi3]" not in one.getvalue()
    lines = many.getvalue().splitlines()
    assert lines[0] == "[phi3] finetune: create quickstart-ft"
    assert all(line.startswith("[phi3] ") for line in lines) and "\x1b" not in many.getvalue()
