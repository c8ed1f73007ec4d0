from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.state import RunState


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def post(uri, body: bytes, key: str | None):
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        with urllib.request.urlopen(urllib.request.Request(uri, data=body, headers=headers), timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_apply_is_complete_idempotent_and_destroy_cleans_up(local_run, tmp_path, recording_proxy):
    result = run("apply", str(local_run), "-y")
    assert result.exit_code == 0, result.output
    assert "smoke test: HTTP 200" in result.output
    state = RunState(tmp_path / ".orchestrate", "quickstart")
    stages = state.stages()
    assert list(stages) == [
        "compute",
        "data",
        "deployment",
        "endpoint",
        "finetune",
        "model",
        "register",
        "smoke_test",
        "traffic",
    ] or set(stages) >= {"data", "finetune", "register", "deployment"}
    assert (
        stages["data"]["splits"]["train"]["rows"] == 144
    )  # 60 % of 240 and stages["data"]["splits"]["test"]["rows"] == 60
    ft = stages["finetune"]
    assert ft["loss_last"] < ft["loss_first"], ft  # the fine-tune visibly lowers the loss
    assert os.path.exists(ft["loss_curve"])
    # The Trainer's vocabulary, as on Azure ML: eval_loss on the held-out validation split.
    assert stages["data"]["splits"]["validation"]["rows"] == 24
    assert {"loss", "train_loss", "eval_loss", "learning_rate", "train_runtime"} <= set(ft["metrics"])
    assert len(ft["curves"]["eval_loss"]) == 1 and len(ft["curves"]["loss"]) == ft["steps"]
    assert "finetune: achieved loss " in result.output and "eval_loss " in result.output
    key_file = tmp_path / ".orchestrate" / "quickstart" / "endpoint.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert key not in result.output and key not in (tmp_path / ".orchestrate" / "quickstart" / "state.json").read_text()

    # the endpoint contract: 200, 400, 401, 413
    uri = stages["endpoint"]["scoring_uri"]
    good = json.dumps(
        {
            "input_data": {
                "input_string": [{"role": "user", "content": "What is 2 plus 2?"}],
                "parameters": {"max_new_tokens": 4, "do_sample": False},
            }
        }
    ).encode()
    status, body = post(uri, good, key)
    assert status == 200 and isinstance(body["output"], str)
    assert post(uri, good, "wrong")[0] == 401
    assert post(uri, good, None)[0] == 401
    status, body = post(uri, b'{"input_data": {"input_string": "hi"}}', key)
    assert status == 400 and "input_string" in body["error"]
    assert post(uri, b"not json", key)[0] == 400
    assert post(uri, b"x" * (1024 * 1024 + 1), key)[0] == 413

    # re-apply of the unchanged spec: nothing to do
    again = run("apply", str(local_run), "-y")
    assert again.exit_code == 0 and "No changes" in again.output
    assert "0 to create, 0 to update, 0 to replace, 0 to delete, 9 unchanged." in again.output

    status_out = json.loads(run("status", str(local_run), "-o", "json").output)
    assert all(s["state"] == "present" and not s["drift"] for s in status_out["stages"])
    serving = status_out["metrics"]["serving"]
    assert serving["model"] == f"{stages['register']['name']}:{stages['register']['version']}"
    assert serving["metrics"]["eval_loss"] == float(f"{ft['metrics']['eval_loss']:.8g}")
    assert "eval_loss" in run("status", str(local_run)).output
    assert key not in json.dumps(status_out)

    answer = run("invoke", str(local_run), "-m", "What is the capital of Peru?", "--max-new-tokens", "4")
    assert answer.exit_code == 0, answer.output

    pid = stages["deployment"]["pid"]
    gone = run("destroy", str(local_run), "-y")
    assert gone.exit_code == 0, gone.output
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    assert RunState(tmp_path / ".orchestrate", "quickstart").stages() == {}
    assert not key_file.exists()
    # The whole chain (data, model, fine-tune, MLflow, the scoring server, smoke test, destroy) with
    # the Hub's offline switches off: it connected to nothing but loopback.
    assert recording_proxy.seen == []


def test_apply_refuses_without_terminal_or_yes(local_run):
    result = run("apply", str(local_run))
    assert result.exit_code == 1 and "--yes" in result.output
