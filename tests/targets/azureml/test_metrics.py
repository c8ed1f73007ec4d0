"""What the fine-tune achieved, read from the workspace's MLflow tracking server (emulated), kept
with the registered model and shown by apply, status and report."""

from __future__ import annotations

import json

from tests.targets.azureml.emulator import _trainer_metrics


def _events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_a_fresh_apply_names_the_metrics_and_status_shows_them(emulator, azure_spec, orchestrate):
    result = orchestrate("apply", azure_spec, "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    (event,) = [e for e in _events(result.output) if e["event"] == "metrics"]
    assert event["metrics"]["loss"] == 1.2345
    assert event["metrics"]["train_loss"] == 1.6789 and event["metrics"]["eval_loss"] == 1.4321
    assert event["serving"] is None  # nothing served before
    (model,) = [v for k, v in emulator.resources("versions").items() if "/models/phi4-ultrachat/" in k]
    assert json.loads(model["properties"]["tags"]["orchestrate.metrics"])["eval_loss"] == 1.4321
    # Read from the workspace's own tracking host, with a token; nothing else is contacted.
    reads = [r for r in emulator.requests if "/api/2.0/mlflow/" in r.path]
    assert reads and {r.host for r in reads} == {"eastus.api.azureml.ms"}

    status = orchestrate("status", azure_spec)
    assert status.exit_code == 0, status.output
    assert "serving  phi4-ultrachat:1" in status.output
    assert "loss 1.234, train_loss 1.679, eval_loss 1.432" in status.output
    data = json.loads(orchestrate("status", azure_spec, "-o", "json").output)
    assert data["metrics"]["serving"] == {
        "model": "phi4-ultrachat:1",
        "metrics": {
            "loss": 1.2345,
            "train_loss": 1.6789,
            "eval_loss": 1.4321,
            "learning_rate": round(2e-4 * (1 - 10 / 11), 8),
            "epoch": 1.0,
            "train_runtime": 5400.25,
            "train_samples_per_second": 3.21,
        },
    }


def test_the_text_output_names_them_with_the_curve(emulator, azure_spec, orchestrate):
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "finetune: achieved" in x)
    assert "loss 1.234, train_loss 1.679, eval_loss 1.432" in line
    assert "loss 2.36 " in line and " 1.23" in line and "▁" in line  # the curve in one line
    png = line.rsplit("curve ", 1)[1]
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_while_the_job_runs_the_progress_shows_the_latest_loss(emulator, azure_spec, orchestrate):
    emulator.config.job_states = [("Queued", 1), ("Running", 6), ("Completed", 1)]
    result = orchestrate("apply", azure_spec, "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    losses = [e["message"] for e in _events(result.output) if e["event"] == "progress" and "loss" in e["message"]]
    assert len(losses) >= 3, losses
    curve = dict(emulator.config.job_metrics["loss"])
    assert losses[0].endswith(f"step 1, loss {curve[1]:.4g}") and losses[2].endswith(f"step 3, loss {curve[3]:.4g}")


def test_an_update_shows_the_new_model_against_the_serving_one(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    azure_spec.write_text(azure_spec.read_text().replace("learning_rate: 5.0e-6", "learning_rate: 1.0e-5"))
    emulator.config.job_metrics = _trainer_metrics(1.1111, 1.3333, 1.5555)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "eval_loss 1.333 (serving 1.432, -0.0988)" in result.output
    status = orchestrate("status", azure_spec).output
    assert "serving  phi4-ultrachat:2" in status
    assert "eval_loss 1.333 (previous 1.432, -0.0988)" in status
    assert "previous phi4-ultrachat:1" in status

    report = orchestrate("report", azure_spec)
    assert report.exit_code == 0, report.output
    assert "| eval_loss | 1.333 | 1.432 | -0.0988 |" in report.output
    assert "**Gate:** chrf of `demo-" in report.output and "serving `demo-" in report.output
    assert "**Timings:** " in report.output and "finetune " in report.output


def test_metrics_that_cannot_be_read_do_not_fail_the_apply(emulator, azure_spec, orchestrate):
    emulator.config.tracking_status = 404
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    said = [x for x in result.output.splitlines() if "could not be read" in x]
    assert said == [
        f"finetune: metrics of job {said[0].split('job ')[1].split(' ')[0]} could not be read: HTTP 404 "
        "RESOURCE_DOES_NOT_EXIST from the tracking server"
    ]
    status = orchestrate("status", azure_spec).output
    assert "none kept with the model" in status


def test_a_loss_margin_blocks_a_model_that_learned_worse(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    text = azure_spec.read_text().replace("learning_rate: 5.0e-6", "learning_rate: 1.0e-5")
    azure_spec.write_text(text.replace("evaluate: {samples: 4,", "evaluate: {loss_margin: 0.05, samples: 4,"))
    emulator.config.job_metrics = _trainer_metrics(1.3, 1.5, 1.7)  # eval_loss 1.5 against the serving 1.4321
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1, result.output
    assert "fine-tune eval_loss 1.5 (serving 1.432): blocked: more than 0.05 above the serving model's" in result.output
    (endpoint,) = emulator.resources("onlineendpoints").values()
    serving = {d: p for d, p in endpoint["properties"]["traffic"].items() if p}
    assert list(serving.values()) == [100] and len(emulator.resources("deployments")) == 1  # the candidate is gone
