"""The fine-tune: the registry's chat_completion_pipeline as a PipelineJob, watched until it ends.

Azure ML jobs cannot be deleted: destroy leaves them in the run history.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from orchestrator import metrics
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.kinds import KeepReason
from orchestrator.plan import Observed, PlannedStage
from orchestrator.records import ComputeRecord, DataRecord, FinetuneRecord, ModelRecord
from orchestrator.stages.finetune import FinetuneStage
from orchestrator.target import Ready, StageHandler
from orchestrator.targets.azureml import entities
from orchestrator.targets.azureml.entities import state_of
from orchestrator.targets.azureml.model import base_model

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget

POLL_SECONDS = 30.0  # between job status reads; ORCHESTRATE_POLL_SECONDS overrides
# The REST JobStatus of the api-version the SDK sends (azure-ai-ml 1.35,
# _restclient/arm_ml_service/models/_enums.py) ends a job in Completed, Failed or Canceled only.
# "NotResponding is the only state that is exempt from strict transition orders. A run can go from
# NotResponding to any of the previous states": a missed heartbeat, waited on like Running, Paused,
# Finalizing and the rest (the SDK's own run-history TERMINAL_STATUSES lists it; it is not).
TERMINAL = {"Completed": True, "Failed": False, "Canceled": False}


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    base = FinetuneStage.job_name(t.spec, fingerprint)
    ended = ""  # the last job of this fingerprint that failed or was canceled
    for attempt in range(1, 20):
        name = base if attempt == 1 else f"{base}-{attempt}"
        job = t.find("read the fine-tune job", t.ml.jobs.get, name)
        if job is None:
            t.seen.next_job_name = name
            if ended:
                return Observed(False, note=f"{ended}: apply submits {name}")
            break
        status = state_of(job.status)
        if status == "Completed":
            t.seen.job = job
            return t.observed(
                True,
                fingerprint,
                cached,
                f"job {name} {status}",
                keep=KeepReason.UNDELETABLE,
                kept="Azure ML jobs cannot be deleted; it stays in the run history",
            )
        if status not in TERMINAL:
            t.seen.attach = name
            return Observed(
                False, note=f"job {name} is {status or 'Unknown'}: apply re-attaches to it (nothing is resubmitted)"
            )
        ended = f"job {name} {status}"
    old = cached.get("job")
    if old and cached.get("fingerprint") != fingerprint:
        return t.observed(True, cached["fingerprint"], cached)
    return Observed(False)


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> FinetuneRecord:
    from orchestrator.targets.azureml import pipeline

    name = t.seen.attach
    if name:
        t.seen.submitted = name
        events.emit("progress", "finetune", message=f"re-attaching to job {name}")
    else:
        versions = t.current(DataRecord).versions or t.seen.data_versions
        assert versions is not None, "the data stage ran, or observe found its versions"
        gpus = pipeline.gpus_per_node(t.spec, t.current(ComputeRecord).gpus)
        name = t.seen.next_job_name or FinetuneStage.job_name(t.spec, planned.fingerprint)
        data_paths = {role: f"azureml:{t.spec.name}-{role}:{v}" for role, v in versions.items()}
        job = entities.pipeline_job(
            t.spec,
            t.prints,
            model_id=t.current(ModelRecord).id or base_model(t).id,
            gpus=gpus,
            name=name,
            data_paths=data_paths,
        )
        # The endpoint starts alongside; its name is Azure's to accept (unique per region), and a
        # refusal must come before the job bills, so the job waits for the PUT's answer.
        if "endpoint" in ready():
            _endpoint_accepted(t)
        t.seen.submitted = name
        t.azure(f"submit job {name}", t.ml.jobs.create_or_update, job, experiment_name=t.spec.name)
        events.emit("progress", "finetune", message=f"submitted job {name}")
    if name == t.seen.attach:
        ready()  # a job already running: what may run alongside it (the endpoint) starts now
    job = _wait_for_job(t, name, events)
    studio = _studio_url(job)
    record = {"job": name, "studio_url": studio, "detail": f"job {name} Completed" + (f" ({studio})" if studio else "")}
    return FinetuneRecord.from_dict({**record, **_metrics(t, name, events)})


def _metrics(t: AzureMLTarget, name: str, events: Events) -> dict:
    """What the job logged: final figures, curves and their PNG; {} (said in one line) when the
    tracking server does not answer."""
    from orchestrator.targets.azureml import tracking

    try:
        final, curves = tracking.read(t, name)
    except tracking.Unreadable as exc:
        events.emit("warning", "finetune", message=f"metrics of job {name} could not be read: {exc}")
        return {}
    return metrics.announce(t, events, final, curves, t.dir / "finetune" / name)


def _endpoint_accepted(t: AzureMLTarget) -> None:
    """Until Azure has answered the endpoint's PUT (seconds; its creation goes on for minutes)."""
    from concurrent.futures import TimeoutError as Pending

    while True:
        try:
            t.seen.endpoint_accepted.result(timeout=0.5)  # short waits: Ctrl-C stays prompt
            return
        except Pending:
            continue
        except OrchestrateError as exc:
            raise OrchestrateError(f"{exc}; no job was submitted") from None


def _wait_for_job(t: AzureMLTarget, name: str, events: Events):
    last = None
    watch = True  # the latest loss while the job runs, until the tracking server fails to answer
    while True:
        job = t.azure(f"read job {name}", t.ml.jobs.get, name)
        status = state_of(job.status)
        if status != last:
            note = " (no heartbeat from the job; Azure may resume it: waiting)" if status == "NotResponding" else ""
            events.emit("progress", "finetune", message=f"job {name}: {status}{note}")
            last = status
        if status == "Running" and watch:
            watch = _latest_loss(t, name, events)
        if status in TERMINAL:
            if TERMINAL[status]:
                return job
            raise OrchestrateError(
                f"fine-tune job {name} {status}{_failed_step(t, name)}; logs: "
                f"{_studio_url(job) or 'see the job in Azure ML studio'}"
            )
        time.sleep(float(os.environ.get("ORCHESTRATE_POLL_SECONDS", POLL_SECONDS)))


def _latest_loss(t: AzureMLTarget, name: str, events: Events) -> bool:
    """Say the job's latest loss (and its step); False once the tracking server does not answer."""
    from orchestrator.targets.azureml import tracking

    try:
        now = tracking.latest(t, name)
    except tracking.Unreadable:
        return False
    if "loss" in now:
        step = f"step {now['step']:.0f}, " if "step" in now else ""
        events.emit("progress", "finetune", message=f"job {name}: {step}loss {now['loss']:.4g}")
    return True


def _failed_step(t: AzureMLTarget, name: str) -> str:
    """' at step X: message' for the first failed child job, when Azure lists them."""
    try:
        children = t.azure("list the job's steps", lambda: list(t.ml.jobs.list(parent_job_name=name)))
        failed = next((c for c in children if c is not None and state_of(c.status) == "Failed"), None)
    except Exception:  # the step is a courtesy; the failure and its log URL stand without it
        return ""
    return f" at step {failed.display_name or failed.name}" if failed is not None else ""


def _studio_url(job) -> str:
    services = getattr(job, "services", None) or {}
    studio = services.get("Studio")
    return getattr(studio, "endpoint", "") or getattr(job, "studio_url", "") or ""


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply)
