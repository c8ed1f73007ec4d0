"""What each stage hands the stages after it, typed: one frozen record per stage
(Terraform's ApplyResourceChangeResponse.NewState).

A handler returns its stage's record; the state file keeps its `to_dict()` beside the fingerprint
and inputs (state.record_stage), and a later stage, the CLI or a view reads it back through the
record type (`Target.record(FinetuneRecord).model_dir`), never by a string key. A field a target
does not set stays None and is not written. What only its own target reads (a local endpoint's
port, a fine-tune's curve) rides in `extra`, so a state file reads back and writes out unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")
# What the state adds to every entry (state.record_stage, the executor's wall time): not a record's own.
BOOKKEEPING = ("fingerprint", "inputs", "resource", "seconds")


@dataclass(frozen=True)
class Record:
    stage: ClassVar[str]
    detail: str = ""  # one line for people: status shows it, the apply's finished event says it
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **{k: v for k, v in own.items() if v is not None}}

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any] | None) -> R:
        names = {f.name for f in fields(cls)} - {"extra"}
        data = data or {}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k not in BOOKKEEPING}
        return cls(**known, extra=extra)


@dataclass(frozen=True)
class DataRecord(Record):
    stage = "data"
    splits: Mapping[str, dict] | None = None  # role -> {path, rows, sha256, ...} on this machine
    versions: Mapping[str, str] | None = None  # role -> the data asset's version (azureml)


@dataclass(frozen=True)
class ModelRecord(Record):
    stage = "model"
    id: str | None = None  # the registry's asset id (azureml)
    version: str | None = None
    path: str | None = None  # the model's folder on this machine (local)


@dataclass(frozen=True)
class ComputeRecord(Record):
    stage = "compute"
    gpus: int | None = None  # per node, as the target listed them


@dataclass(frozen=True)
class FinetuneRecord(Record):
    stage = "finetune"
    job: str | None = None  # the pipeline job's name (azureml)
    model_dir: str | None = None  # the trained adapter's folder (local)
    metrics: Mapping[str, float] | None = None  # the final figures (metrics.py's names)
    curves: Mapping[str, list] | None = None  # each metric per step, for report's sparkline


@dataclass(frozen=True)
class RegisterRecord(Record):
    stage = "register"
    name: str | None = None
    version: str | None = None
    job: str | None = None  # the job it was registered from (azureml)

    @property
    def ref(self) -> str:
        """name:version, as model_metrics reads it; "" before a version exists."""
        return f"{self.name}:{self.version}" if self.version else ""


@dataclass(frozen=True)
class EndpointRecord(Record):
    stage = "endpoint"
    scoring_uri: str | None = None
    pid: int | None = None  # the router's process (local)
    port: int | None = None  # the router's port, which the scoring URI names (local)


@dataclass(frozen=True)
class DeploymentRecord(Record):
    stage = "deployment"
    deployment: str | None = None  # the deployment's name


@dataclass(frozen=True)
class SmokeRecord(Record):
    stage = "smoke_test"
    deployment: str | None = None  # the candidate the gates ran on
    status: int | None = None  # the smoke request's HTTP status
    latency_ms: float | None = None
    answer: str | None = None
    scores: Mapping[str, Any] | None = None  # the evaluation gate (rollout.evaluate)
    loss: Mapping[str, Any] | None = None  # the loss gate (rollout.loss_gate)


@dataclass(frozen=True)
class TrafficRecord(Record):
    stage = "traffic"
    deployment: str | None = None
    candidate: str | None = None  # the rollout's new deployment, recorded before its first step
    previous: str | None = None  # what served when it started: a resumed apply retires that one


@dataclass(frozen=True)
class TeardownRecord(Record):
    stage = "teardown"


BY_STAGE: dict[str, type[Record]] = {
    r.stage: r
    for r in (
        DataRecord,
        ModelRecord,
        ComputeRecord,
        FinetuneRecord,
        RegisterRecord,
        EndpointRecord,
        DeploymentRecord,
        SmokeRecord,
        TrafficRecord,
        TeardownRecord,
    )
}


def as_dict(record: Record | Mapping[str, Any]) -> dict[str, Any]:
    """What a handler returned, as the state file keeps it (a plain dict is taken as it is)."""
    return record.to_dict() if isinstance(record, Record) else dict(record)
