"""The azureml target: observe and apply each stage with the real azure-ai-ml SDK.

Azure is the truth: every resource carries the run's tags (run, stage, fingerprint, version), and
`observe` reads them back, so an unchanged spec plans to skip every stage and a killed apply
finds what exists (deterministic names: the job is `<run>-ft-<fingerprint>`, the model version
is the fingerprint) instead of creating it twice. The local state file is only a cache of what
the stages returned (data versions, job name, the inputs behind a fingerprint for "changed:"
reasons); losing it costs nothing but those reasons.

One function per stage behind a name -> function table, as in the local target.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from orchestrator import extras
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.plan import SKIP, Observed, Plan, PlannedStage, fingerprints
from orchestrator.spec.model import Compute, RunSpec
from orchestrator.stages.base import short
from orchestrator.state import RunState
from orchestrator.targets import dataprep, smoke
from orchestrator.targets.azureml import connect, entities
from orchestrator.targets.azureml.calls import AzureError, call

POLL_SECONDS = 30.0  # between job status reads; ORCHESTRATE_POLL_SECONDS overrides
TERMINAL = {"Completed": True, "Finished": True, "Failed": False, "Canceled": False, "NotResponding": False}
# Computes with K80 GPUs cannot fine-tune (azureml-examples, when a model has no allow list).
UNSUPPORTED_FINETUNE = {"standard_nc6", "standard_nc12", "standard_nc24", "standard_nc24r"}


class SmokeTestFailed(OrchestrateError):
    pass


class AzureMLTarget:
    name = "azureml"

    def __init__(self, spec: RunSpec, root: Path | None = None, credential: str | None = None):
        self.spec = spec
        self.root = root or Path(os.environ.get("ORCHESTRATE_STATE_DIR", ".orchestrate"))
        self.state = RunState(self.root, spec.name)
        self.dir = self.state.dir
        self.workspace = connect.workspace_of(spec)
        self.credential_kind = credential or self.workspace.credential
        self.prints = fingerprints(spec)
        self._ml = None
        self._registry = None
        self._seen: dict = {}  # what observe read (endpoint object, job to re-attach, ...)
        self._background: dict[str, Future] = {}
        self._started: dict[str, float] = {}
        self._plan: Plan | None = None

    @property
    def compute(self) -> Compute:
        """The fine-tune cluster; the schema requires it for target azureml."""
        if self.spec.compute is None:
            raise OrchestrateError("target azureml needs a compute section (name, sku)")
        return self.spec.compute

    # --- clients ----------------------------------------------------------------------------------
    @property
    def ml(self):
        if self._ml is None:
            extras.require("azure.ai.ml", "azure.identity", what="target azureml", target="azureml")
            self._cred = connect.credential(self.credential_kind, self.workspace.cloud)
            self._ml = connect.workspace_client(self.spec, self._cred)
        return self._ml

    @property
    def registry(self):
        if self._registry is None:
            self.ml  # noqa: B018 - the credential
            self._registry = self._azure("discover the model registry", connect.registry_client, self.spec, self._cred)
        return self._registry

    def _azure(self, what: str, fn, *args, **kwargs):
        """call() with authentication failures turned into one line."""
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return call(what, fn, *args, **kwargs)
        except ClientAuthenticationError as exc:
            raise connect.auth_error(self.credential_kind, exc) from None

    def _find(self, what: str, fn, *args, **kwargs):
        """The resource, or None when Azure says it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._azure(what, fn, *args, **kwargs)
        except ResourceNotFoundError:
            return None

    def current(self, stage: str, key: str):
        """A value the cache holds for a stage at its current fingerprint (what this apply, or an
        earlier one with the same spec, recorded); None otherwise, and observe's reading is used."""
        entry = self.state.stages().get(stage, {})
        return entry.get(key) if entry.get("fingerprint") == self.prints.get(stage) else None

    def left_running(self, stage: str) -> str:
        """What an interrupt leaves running on Azure (the next apply re-attaches to it)."""
        running = []
        job = self._seen.get("submitted")
        if job and stage == "finetune":
            running.append(f"job {job} keeps running on Azure")
        if any(not f.done() for f in self._background.values()):
            running.append(f"the creation of endpoint {self.spec.deployment.endpoint} goes on on Azure")
        return " and ".join(running)

    def lock(self, force: bool = False):
        from orchestrator.targets.azureml.lock import LeaseLock

        return _Guarded(self, LeaseLock(self.ml, self.spec.name, force=force))

    # --- observe ----------------------------------------------------------------------------------
    def observe(self) -> dict[str, Observed]:
        cache = self.state.stages()
        out = {}
        for name, fingerprint in self.prints.items():
            out[name] = OBSERVERS[name](self, fingerprint, cache.get(name, {}))
        return out

    def _observed(self, exists: bool, found_fp: str, cached: dict, detail: str | None = None, **extra) -> Observed:
        """Observed with the cached inputs when the cache describes the same fingerprint (they name
        the changed keys in the plan's reason); `detail` defaults to the cached one."""
        inputs = cached.get("inputs") if cached.get("fingerprint") == found_fp and found_fp else None
        if detail is None:
            detail = cached.get("detail", "") if exists else ""
        return Observed(exists, found_fp, inputs, detail, **extra)

    # --- apply ------------------------------------------------------------------------------------
    def begin(self, plan: Plan) -> None:
        self._plan = plan

    def apply_stage(self, planned: PlannedStage, events: Events) -> dict:
        if planned.name in self._background:
            record = self._background.pop(planned.name).result()
        else:
            record = STAGE_RUNNERS[planned.name](self, planned, events)
        return self.state.record_stage(planned, record)

    def settle(self, events: Events) -> None:
        """After a failed stage: wait for what runs alongside (the endpoint) and record what it made,
        so the state knows every endpoint that exists. Its own failure is reported, not raised."""
        for name, future in list(self._background.items()):
            del self._background[name]
            assert self._plan is not None  # begin() ran before anything was started alongside
            planned = next(s for s in self._plan.stages if s.name == name)
            try:
                record = self.state.record_stage(planned, future.result())
            except Exception as exc:  # the stage that failed first is the error the user gets
                events.emit("error", name, message=str(exc))
                continue
            events.emit(
                "finished", name, seconds=time.monotonic() - self._started[name], detail=record.get("detail", "")
            )

    def start_in_background(self, name: str, events: Events) -> None:
        """Run a planned stage that does not depend on what runs now (the endpoint, during the fine-tune)."""
        if self._plan is None or name in self._background:
            return
        planned = next((s for s in self._plan.stages if s.name == name), None)
        if planned is None or planned.action == SKIP:
            return
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(STAGE_RUNNERS[name](self, planned, events))
            except BaseException as exc:  # handed to the main thread when it reaches the stage
                future.set_exception(exc)

        events.emit("progress", name, message=f"started alongside the fine-tune: {planned.resource}")
        self._started[name] = time.monotonic()
        threading.Thread(target=run, daemon=True, name=f"orchestrate-{name}").start()
        self._background[name] = future

    def rollback_traffic(self) -> str:
        """Route no traffic to this run's deployment (smoke test or deployment failed)."""
        d = self.spec.deployment
        endpoint = self._find("read the endpoint", self.ml.online_endpoints.get, d.endpoint)
        self.state.forget("traffic")
        if endpoint is None or not (endpoint.traffic or {}).get(d.name):
            return "no traffic was routed to it"
        endpoint.traffic = {**endpoint.traffic, d.name: 0}
        self._azure("roll traffic back", lambda: self.ml.online_endpoints.begin_create_or_update(endpoint).result())
        return f"traffic to {d.name} rolled back to 0%"

    # --- destroy ----------------------------------------------------------------------------------
    def destroy_stage(self, name: str) -> None:
        DESTROYERS.get(name, lambda *_: None)(self, self.state.stages().get(name, {}))
        self.state.forget(name)

    # --- helpers for invoke/status ----------------------------------------------------------------
    def scoring_uri(self) -> str:
        endpoint = self._find("read the endpoint", self.ml.online_endpoints.get, self.spec.deployment.endpoint)
        if endpoint is None or not _ours(endpoint, self.spec):
            raise OrchestrateError(f"run {self.spec.name} has no live endpoint; run `orchestrate apply` first")
        return endpoint.scoring_uri

    def key(self) -> str:
        """The endpoint key, fetched only to invoke: never printed, logged or stored."""
        keys = self._azure("fetch the endpoint key", self.ml.online_endpoints.get_keys, self.spec.deployment.endpoint)
        return keys.primary_key

    def invoke(self, messages: list[dict], parameters: dict) -> dict:
        return smoke.invoke(
            self.scoring_uri(),
            self.key(),
            messages,
            parameters,
            timeout_s=self.spec.deployment.timeout_ms / 1000 + 5,
            deployment=self.spec.deployment.name,
        )


class _Guarded:
    """The lease lock, entered with SDK errors worded like every other Azure call."""

    def __init__(self, target: AzureMLTarget, lock):
        self.target, self.lock = target, lock

    def __enter__(self):
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self.lock.__enter__()
        except ClientAuthenticationError as exc:
            raise connect.auth_error(self.target.credential_kind, exc) from None

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)


def _state(value) -> str:
    """An SDK status or provisioning state as Azure spells it ("Completed", not "JobStatus.COMPLETED")."""
    return str(getattr(value, "value", value) or "")


def _tags_fp(resource) -> str:
    return (getattr(resource, "tags", None) or {}).get("orchestrate.fingerprint", "")


def _ours(resource, spec: RunSpec) -> bool:
    return (getattr(resource, "tags", None) or {}).get("orchestrate.run") == spec.name


# --- observers: (target, fingerprint, cached entry) -> Observed ------------------------------------
def _observe_data(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    # A version is named by its content, so it may carry the tag of the spec that first uploaded it:
    # the cache's versions for this fingerprint count as this fingerprint's too.
    recorded = (cached.get("versions") or {}) if cached.get("fingerprint") == fingerprint else {}
    found, current = {}, True
    for role in sorted(t.spec.dataset.splits):
        assets = [
            a
            for a in t._azure("list data assets", lambda role=role: list(t.ml.data.list(name=f"{t.spec.name}-{role}")))
            if _ours(a, t.spec)
        ]
        match = [a for a in assets if _tags_fp(a) == fingerprint or str(a.version) == recorded.get(role)]
        found[role] = match[0] if match else (assets[0] if assets else None)
        current = current and bool(match)
    if not all(found.values()):
        return Observed(False)
    t._seen["data_versions"] = {role: str(a.version) for role, a in found.items() if a is not None}
    if current:
        return t._observed(True, fingerprint, cached)
    fps = {_tags_fp(a) for a in found.values()}
    return t._observed(True, fps.pop() if len(fps) == 1 else "", cached)


def _observe_model(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    model = _base_model(t)
    pinned = f"resolves to {t.spec.model.name} version {model.version}"
    if cached.get("fingerprint") == fingerprint and cached.get("id") == model.id:
        return Observed(True, fingerprint, cached.get("inputs"), pinned, pinned, pinned=model.id)
    return Observed(False, note=f"not resolved yet; {pinned}", pinned=model.id)


def _observe_compute(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    c = t.compute
    cluster = t._find("read the compute cluster", t.ml.compute.get, c.name)
    t._seen["compute"] = cluster
    if cluster is None:
        return Observed(False)
    if _state(cluster.provisioning_state) == "Failed":
        return Observed(False, note=f"cluster {c.name} is in state Failed")
    same_size = (cluster.size or "").lower() == c.sku.lower()
    if not _ours(cluster, t.spec):
        # A shared (team) cluster: used as it is, never scaled or changed; only its size must match.
        if same_size:
            return t._observed(True, fingerprint, cached, shared_cluster(cluster), note=shared_cluster(cluster))
        return Observed(
            True,
            _tags_fp(cluster),
            None,
            note=f"cluster {c.name} is {cluster.size}, not {c.sku}, and is not managed by this run: apply refuses it",
        )
    # The cluster as it is decides (its tags only say who made it): matching the spec is up to date.
    same = same_size and cluster.min_instances == c.min_instances and cluster.max_instances == c.max_instances
    if same:
        return t._observed(True, fingerprint, cached, f"{cluster.size}, {c.min_instances}..{c.max_instances} instances")
    return Observed(
        True,
        _tags_fp(cluster),
        None,
        note=f"cluster is {cluster.size}, {cluster.min_instances}..{cluster.max_instances} instances",
    )


def shared_cluster(cluster) -> str:
    return (
        f"uses existing cluster {cluster.name}, not managed by this run: "
        f"{cluster.min_instances}..{cluster.max_instances} instances"
    )


def _observe_finetune(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    base = entities.job_name(t.spec, fingerprint)
    ended = ""  # the last job of this fingerprint that failed or was canceled
    for attempt in range(1, 20):
        name = base if attempt == 1 else f"{base}-{attempt}"
        job = t._find("read the fine-tune job", t.ml.jobs.get, name)
        if job is None:
            t._seen["job_name"] = name  # the next free name: Azure never reuses a job's name
            if ended:
                return Observed(False, note=f"{ended}: apply submits {name}")
            break
        status = _state(job.status)
        if status in ("Completed", "Finished"):
            t._seen["job"] = job
            return t._observed(
                True,
                fingerprint,
                cached,
                f"job {name} {status}",
                kept="Azure ML jobs cannot be deleted; it stays in the run history",
            )
        if status not in TERMINAL:
            t._seen["attach"] = name
            return Observed(False, note=f"job {name} is {status}: apply re-attaches to it (nothing is resubmitted)")
        ended = f"job {name} {status}"
    old = cached.get("job")
    if old and cached.get("fingerprint") != fingerprint:
        return t._observed(True, cached["fingerprint"], cached)
    return Observed(False)


def _observe_register(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    # A list, not a get: it leaves out versions archived by destroy.
    versions = t._find(
        "list the registered model's versions", lambda: list(t.ml.models.list(name=t.spec.register_name))
    )
    model = next((m for m in versions or [] if str(m.version) == short(fingerprint)), None)
    if model is not None:
        return t._observed(True, fingerprint, cached, f"{model.name} version {model.version}")
    if cached.get("version") and cached.get("fingerprint") != fingerprint:
        return t._observed(True, cached["fingerprint"], cached)
    return Observed(False)


def _observe_endpoint(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    endpoint = t._find("read the endpoint", t.ml.online_endpoints.get, t.spec.deployment.endpoint)
    t._seen["endpoint"] = endpoint
    if endpoint is None:
        return Observed(False)
    if not _ours(endpoint, t.spec):
        return Observed(True, "", None, note="an endpoint of this name exists and was not created by this run")
    if _state(endpoint.provisioning_state) == "Failed":
        return Observed(False, note="endpoint is in state Failed: apply updates it")
    return t._observed(True, _tags_fp(endpoint), cached)


def _observe_deployment(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    d = t.spec.deployment
    if t._seen.get("endpoint") is None:
        return Observed(False)
    deployment = t._find("read the deployment", t.ml.online_deployments.get, d.name, d.endpoint)
    if deployment is None:
        return Observed(False)
    if _state(deployment.provisioning_state) != "Succeeded":
        return Observed(False, note=f"deployment is {_state(deployment.provisioning_state)}: apply updates it")
    drift = [
        f"{label} is {actual} on Azure, {wanted} in the spec"
        for label, actual, wanted in (
            ("instance_count", deployment.instance_count, d.instance_count),
            ("sku", deployment.instance_type, d.sku),
        )
        if str(actual).lower() != str(wanted).lower()
    ]
    if drift:
        return Observed(True, "", None, note="drift: " + "; ".join(drift))
    return t._observed(True, _tags_fp(deployment), cached)


def _observe_traffic(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    endpoint = t._seen.get("endpoint")
    if endpoint is None:
        return Observed(False)
    current = (endpoint.traffic or {}).get(t.spec.deployment.name, 0)
    if current == t.spec.deployment.traffic and current:
        return t._observed(True, fingerprint, cached, f"{t.spec.deployment.name}={current}%")
    return Observed(bool(current), "", None, note=f"{t.spec.deployment.name} has {current}%" if current else "")


def _observe_cached(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    """Stages with no Azure resource of their own (smoke test, teardown): the cache is the record."""
    if not cached:
        return Observed(False)
    return Observed(True, cached.get("fingerprint", ""), cached.get("inputs"), cached.get("detail", ""))


OBSERVERS: dict[str, Callable[[AzureMLTarget, str, dict], Observed]] = {
    "data": _observe_data,
    "model": _observe_model,
    "compute": _observe_compute,
    "finetune": _observe_finetune,
    "register": _observe_register,
    "endpoint": _observe_endpoint,
    "deployment": _observe_deployment,
    "traffic": _observe_traffic,
    "smoke_test": _observe_cached,
    "teardown": _observe_cached,
}


# --- stage runners ------------------------------------------------------------------------------
def _resolve_model(t: AzureMLTarget):
    m = t.spec.model
    kwargs = {"label": "latest"} if m.version == "latest" else {"version": m.version}
    model = t._find(f"resolve model {m.name}", t.registry.models.get, m.name, **kwargs)
    if model is None:
        raise OrchestrateError(
            f"model {m.name} ({m.version}) not found in registry {m.registry}; "
            "check model.name and model.version (names are case-sensitive)"
        )
    return model


def _run_data(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    from azure.ai.ml.entities import Data

    out = t.dir / "data" / short(planned.fingerprint)
    splits = dataprep.prepare(t.spec, out)
    versions = {}
    for role, info in sorted(splits.items()):
        content = _file_hash(Path(info["path"]))
        name, version = f"{t.spec.name}-{role}", content[:12]
        existing = t._find("read a data asset", t.ml.data.get, name, version=version)
        if existing is None:
            asset = Data(
                name=name,
                version=version,
                type="uri_file",
                path=info["path"],
                description=f"{role} split of {t.spec.dataset.source} for run {t.spec.name}",
                tags={**entities.tags(t.spec, "data", planned.fingerprint), "orchestrate.sha256": content},
            )
            with contextlib.redirect_stderr(io.StringIO()):  # the SDK prints a colour reset after uploads
                t._azure(f"upload {role}.jsonl", t.ml.data.create_or_update, asset)
            events.emit("progress", "data", message=f"uploaded {role}.jsonl as {name}:{version}")
        versions[role] = version
    rows = ", ".join(f"{role} {info['rows']} rows" for role, info in sorted(splits.items()))
    return {
        "splits": splits,
        "versions": versions,
        "detail": f"{rows}; " + ", ".join(f"{t.spec.name}-{r}:{v}" for r, v in versions.items()),
    }


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _base_model(t: AzureMLTarget):
    """The registry model observe resolved (resolved now if observe did not run)."""
    if "model" not in t._seen:
        t._seen["model"] = _resolve_model(t)
    return t._seen["model"]


def _run_model(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    model = _base_model(t)
    tags = dict(model.tags or {})
    return {
        "id": model.id,
        "version": str(model.version),
        "finetune_allow": _allow_list(tags.get("finetune_compute_allow_list")),
        "inference_allow": _allow_list(tags.get("inference_compute_allow_list")),
        "detail": f"{t.spec.model.name} version {model.version}",
    }


def _allow_list(tag: str | None) -> list[str] | None:
    """The model's allow-list tag: a Python-literal list stored as a string (azureml-assets publishing)."""
    if not tag:
        return None
    try:
        value = ast.literal_eval(tag)
    except (ValueError, SyntaxError):
        return None
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else None


def _check_allowed(t: AzureMLTarget, field: str, sku: str, allow: list[str] | None, tag: str) -> None:
    """A SKU against one of the model's allow lists (case-insensitive); no list, no check."""
    if allow is not None and sku.lower() not in {s.lower() for s in allow}:
        raise OrchestrateError(f"{field} {sku} is not in {t.spec.model.name}'s {tag}: {', '.join(allow)}")


def _run_compute(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    """Read-only checks first (nothing billable has started), then create or scale the cluster."""
    from azure.ai.ml.entities import AmlCompute

    c, d = t.compute, t.spec.deployment
    model = t.state.stages()["model"] if t.current("model", "id") else _run_model(t, planned, events)
    _check_allowed(t, "compute.sku", c.sku, model.get("finetune_allow"), "finetune_compute_allow_list")
    if model.get("finetune_allow") is None and c.sku.lower() in UNSUPPORTED_FINETUNE:
        raise OrchestrateError(f"compute.sku {c.sku} has K80 GPUs, which cannot fine-tune; choose an A100 or V100 SKU")
    if d.sku:
        _check_allowed(t, "deployment.sku", d.sku, model.get("inference_allow"), "inference_compute_allow_list")
    endpoint = t._seen.get("endpoint", False)
    if endpoint is False:
        endpoint = t._find("read the endpoint", t.ml.online_endpoints.get, d.endpoint)
    if endpoint is not None and not _ours(endpoint, t.spec):
        raise OrchestrateError(
            f"endpoint {d.endpoint} exists and was not created by run {t.spec.name} "
            "(its tags say otherwise); choose another deployment.endpoint"
        )
    gpus = None
    if t.spec.finetune.gpus_per_node == "auto":
        sizes = t._azure("list VM sizes", lambda: list(t.ml.compute.list_sizes()))
        gpus = next((s.gpus for s in sizes if s.name.lower() == c.sku.lower()), None)
        if gpus is None:
            raise OrchestrateError(f"compute.sku {c.sku} is not offered in this workspace's region")
        if not gpus:
            raise OrchestrateError(f"compute.sku {c.sku} has no GPU; fine-tuning needs a GPU SKU")
    cluster = t._seen.get("compute", False)
    if cluster is False:
        cluster = t._find("read the compute cluster", t.ml.compute.get, c.name)
    if cluster is not None and _state(cluster.provisioning_state) == "Failed":
        raise OrchestrateError(
            f"compute cluster {c.name} is in provisioning state Failed; delete it or choose another compute.name"
        )
    if cluster is not None and (cluster.size or "").lower() != c.sku.lower():
        raise OrchestrateError(
            f"compute cluster {c.name} exists with size {cluster.size}, not {c.sku}; a cluster's size "
            "cannot change: choose another compute.name or delete the cluster"
        )
    gpu_text = f", {gpus} GPU(s) per node" if gpus else ""
    if cluster is not None and not _ours(cluster, t.spec):
        # The spec's min/max describe a cluster the run creates; a shared one is left as it is.
        return {"gpus": gpus, "detail": shared_cluster(cluster) + gpu_text}
    if cluster is None or (cluster.min_instances, cluster.max_instances) != (c.min_instances, c.max_instances):
        tier = "low_priority" if c.tier in ("low_priority", "LowPriority") else "dedicated"
        spec_cluster = AmlCompute(
            name=c.name,
            size=c.sku,
            min_instances=c.min_instances,
            max_instances=c.max_instances,
            tier=tier,
            tags=entities.tags(t.spec, "compute", planned.fingerprint),
        )
        verb = "create" if cluster is None else "scale"
        t._azure(f"{verb} compute cluster {c.name}", lambda: t.ml.compute.begin_create_or_update(spec_cluster).result())
    return {"gpus": gpus, "detail": f"{c.name}: {c.sku}, {c.min_instances}..{c.max_instances} instances{gpu_text}"}


def _run_finetune(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    from orchestrator.targets.azureml import pipeline

    name = t._seen.get("attach")
    if name:
        t._seen["submitted"] = name
        events.emit("progress", "finetune", message=f"re-attaching to job {name}")
    else:
        versions = t.current("data", "versions") or t._seen["data_versions"]
        gpus = pipeline.gpus_per_node(t.spec, t.current("compute", "gpus"))
        name = t._seen.get("job_name") or entities.job_name(t.spec, planned.fingerprint)
        data_paths = {role: f"azureml:{t.spec.name}-{role}:{v}" for role, v in versions.items()}
        job = entities.pipeline_job(
            t.spec,
            t.prints,
            model_id=t.current("model", "id") or _base_model(t).id,
            gpus=gpus,
            name=name,
            data_paths=data_paths,
        )
        t._seen["submitted"] = name
        t._azure(f"submit job {name}", t.ml.jobs.create_or_update, job, experiment_name=t.spec.name)
        events.emit("progress", "finetune", message=f"submitted job {name}")
    # The endpoint does not need the fine-tuned model: create it while the job runs.
    t.start_in_background("endpoint", events)
    job = _wait_for_job(t, name, events)
    studio = _studio_url(job)
    return {"job": name, "studio_url": studio, "detail": f"job {name} Completed" + (f" ({studio})" if studio else "")}


def _wait_for_job(t: AzureMLTarget, name: str, events: Events):
    last = None
    while True:
        job = t._azure(f"read job {name}", t.ml.jobs.get, name)
        status = _state(job.status)
        if status != last:
            events.emit("progress", "finetune", message=f"job {name}: {status}")
            last = status
        if status in TERMINAL:
            if TERMINAL[status]:
                return job
            raise OrchestrateError(
                f"fine-tune job {name} {status}{_failed_step(t, name)}; logs: "
                f"{_studio_url(job) or 'see the job in Azure ML studio'}"
            )
        time.sleep(float(os.environ.get("ORCHESTRATE_POLL_SECONDS", POLL_SECONDS)))


def _failed_step(t: AzureMLTarget, name: str) -> str:
    """' at step X: message' for the first failed child job, when Azure lists them."""
    try:
        children = t._azure("list the job's steps", lambda: list(t.ml.jobs.list(parent_job_name=name)))
        failed = next((c for c in children if c is not None and _state(c.status) == "Failed"), None)
    except Exception:  # the step is a courtesy; the failure and its log URL stand without it
        return ""
    return f" at step {failed.display_name or failed.name}" if failed is not None else ""


def _studio_url(job) -> str:
    services = getattr(job, "services", None) or {}
    studio = services.get("Studio")
    return getattr(studio, "endpoint", "") or getattr(job, "studio_url", "") or ""


def _run_register(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    job = t.current("finetune", "job") or t._seen["job"].name
    version = short(planned.fingerprint)
    existing = t._find("read the registered model", t.ml.models.get, t.spec.register_name, version=version)
    if existing is None:
        t._azure(
            f"register {t.spec.register_name}:{version}",
            t.ml.models.create_or_update,
            entities.model(t.spec, t.prints, job=job),
        )
    return {
        "name": t.spec.register_name,
        "version": version,
        "job": job,
        "detail": f"{t.spec.register_name} version {version} from job {job}",
    }


def _run_endpoint(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    current = t._find("read the endpoint", t.ml.online_endpoints.get, t.spec.deployment.endpoint)
    if current is not None and not _ours(current, t.spec):
        raise OrchestrateError(f"endpoint {t.spec.deployment.endpoint} exists and was not created by run {t.spec.name}")
    traffic = dict(current.traffic or {}) if current is not None else None  # an update keeps the routes
    endpoint = entities.endpoint(t.spec, t.prints, traffic=traffic)
    result = t._azure(
        f"create endpoint {endpoint.name}", lambda: t.ml.online_endpoints.begin_create_or_update(endpoint).result()
    )
    return {"scoring_uri": result.scoring_uri, "detail": f"{endpoint.name} (key auth) {result.scoring_uri}"}


def _run_deployment(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    d = t.spec.deployment
    reg = {"name": t.spec.register_name, "version": short(t.prints["register"])}  # deterministic, as registered
    deployment = entities.deployment(t.spec, t.prints, model_ref=f"azureml:{reg['name']}:{reg['version']}")
    try:
        t._azure(
            f"deploy {d.endpoint}/{d.name}", lambda: t.ml.online_deployments.begin_create_or_update(deployment).result()
        )
    except AzureError as exc:
        logs = _deployment_logs(t)
        rolled = t.rollback_traffic()
        raise OrchestrateError(f"deployment {d.endpoint}/{d.name} failed: {exc}; {rolled}{logs}") from None
    return {
        "model": f"{reg['name']}:{reg['version']}",
        "detail": f"{d.endpoint}/{d.name}: {reg['name']}:{reg['version']} on {d.instance_count} x {d.sku}",
    }


def _deployment_logs(t: AzureMLTarget) -> str:
    d = t.spec.deployment
    try:
        text = t._azure("read the deployment logs", t.ml.online_deployments.get_logs, d.name, d.endpoint, lines=5)
    except Exception:  # logs are a courtesy on top of the error itself
        return ""
    tail = " | ".join(line.strip() for line in str(text).splitlines()[-5:] if line.strip())
    return f"; last log lines: {tail}" if tail else ""


def _run_traffic(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    d = t.spec.deployment
    endpoint = t._azure("read the endpoint", t.ml.online_endpoints.get, d.endpoint)
    traffic = {name: pct for name, pct in (endpoint.traffic or {}).items() if name != d.name}
    if sum(traffic.values()) + d.traffic > 100:
        traffic = {name: 0 for name in traffic}  # the spec's share wins; others give way
    endpoint.traffic = {**traffic, d.name: d.traffic}
    t._azure("route traffic", lambda: t.ml.online_endpoints.begin_create_or_update(endpoint).result())
    return {"detail": ", ".join(f"{n}={p}%" for n, p in endpoint.traffic.items())}


def _run_smoke(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    splits = t.current("data", "splits") or {}
    if (
        isinstance(t.spec.smoke_test.sample_from, str)
        and not Path(splits.get(t.spec.smoke_test.sample_from, {}).get("path", "/nonexistent")).exists()
    ):
        splits = dataprep.prepare(t.spec, t.dir / "data" / short(t.prints["data"]))  # same seed, same rows
    messages = smoke.sample_messages(t.spec, splits)
    result = t.invoke(messages, t.spec.smoke_test.parameters)
    if result["status"] != 200 or not result.get("answer"):
        rolled = t.rollback_traffic()
        raise SmokeTestFailed(
            f"smoke test failed: HTTP {result['status']} {result.get('error', 'empty answer')[:200]}; {rolled}"
        )
    return {**result, "detail": f"HTTP 200 in {result['latency_ms']:.0f} ms: {result['answer'][:80]!r}"}


def _run_teardown(t: AzureMLTarget, planned: PlannedStage, events: Events) -> dict:
    _delete_endpoint(t, {})
    for name in ("traffic", "deployment", "endpoint"):
        t.state.forget(name)
    return {"detail": f"endpoint {t.spec.deployment.endpoint} deleted"}


STAGE_RUNNERS: dict[str, Callable[[AzureMLTarget, PlannedStage, Events], dict]] = {
    "data": _run_data,
    "model": _run_model,
    "compute": _run_compute,
    "finetune": _run_finetune,
    "register": _run_register,
    "endpoint": _run_endpoint,
    "deployment": _run_deployment,
    "traffic": _run_traffic,
    "smoke_test": _run_smoke,
    "teardown": _run_teardown,
}


# --- destroyers: only what the tags prove this run created ------------------------------------------
def _delete_endpoint(t: AzureMLTarget, entry: dict) -> None:
    endpoint = t._find("read the endpoint", t.ml.online_endpoints.get, t.spec.deployment.endpoint)
    if endpoint is not None and _ours(endpoint, t.spec):
        t._azure(f"delete endpoint {endpoint.name}", lambda: t.ml.online_endpoints.begin_delete(endpoint.name).result())


def _delete_deployment(t: AzureMLTarget, entry: dict) -> None:
    d = t.spec.deployment
    deployment = t._find("read the deployment", t.ml.online_deployments.get, d.name, d.endpoint)
    if deployment is None or not _ours(deployment, t.spec):
        return
    endpoint = t._find("read the endpoint", t.ml.online_endpoints.get, d.endpoint)
    if endpoint is not None and (endpoint.traffic or {}).get(d.name):
        t.rollback_traffic()  # Azure refuses to delete a deployment that takes traffic
    t._azure(f"delete deployment {d.name}", lambda: t.ml.online_deployments.begin_delete(d.name, d.endpoint).result())


def _archive_model(t: AzureMLTarget, entry: dict) -> None:
    version = entry.get("version") or short(t.prints["register"])
    model = t._find("read the registered model", t.ml.models.get, t.spec.register_name, version=version)
    if model is not None and _ours(model, t.spec):
        t._azure(
            f"archive {t.spec.register_name}:{version}", t.ml.models.archive, t.spec.register_name, version=version
        )


def _archive_data(t: AzureMLTarget, entry: dict) -> None:
    for role, version in (entry.get("versions") or {}).items():
        name = f"{t.spec.name}-{role}"
        asset = t._find("read a data asset", t.ml.data.get, name, version=version)
        if asset is not None and _ours(asset, t.spec):
            t._azure(f"archive {name}:{version}", t.ml.data.archive, name, version=version)


def _delete_compute(t: AzureMLTarget, entry: dict) -> None:
    cluster = t._find("read the compute cluster", t.ml.compute.get, t.compute.name)
    if cluster is not None and _ours(cluster, t.spec):
        t._azure(f"delete compute {cluster.name}", lambda: t.ml.compute.begin_delete(cluster.name).result())


DESTROYERS = {
    "endpoint": _delete_endpoint,
    "deployment": _delete_deployment,
    "register": _archive_model,
    "data": _archive_data,
    "compute": _delete_compute,
}
