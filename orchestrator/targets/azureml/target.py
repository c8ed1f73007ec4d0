"""The azureml target: observe and apply each stage with the real azure-ai-ml SDK.

Azure is the truth: every resource carries the run's tags (run, stage, fingerprint, version), and
`observe` reads them back, so an unchanged spec plans to skip every stage and a killed apply
finds what exists (deterministic names: the job is `<run>-ft-<fingerprint>`, the model version
is the fingerprint) instead of creating it twice. The local state file is only a cache of what
the stages returned (data versions, job name, the inputs behind a fingerprint for "changed:"
reasons); losing it costs nothing but those reasons.

This module holds the clients, the lock and the dispatch; each resource's observe, apply and
destroy live together in a module of its own (data, model, compute, finetune, register,
endpoint, deployment), as azure-ai-ml keeps one operations class per resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from orchestrator import extras, smoke
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.naming import Served, deployment_name
from orchestrator.plan import PlannedStage
from orchestrator.spec.model import Compute, RunSpec
from orchestrator.target import BaseTarget, Ready, StageHandler, not_ready
from orchestrator.targets.azureml import compute, connect, data, deployment, endpoint, finetune, model, register
from orchestrator.targets.azureml.calls import call
from orchestrator.targets.azureml.entities import is_ours
from orchestrator.targets.azureml.seen import UNREAD, Seen


class AzureMLTarget(BaseTarget):
    name = "azureml"
    handlers: ClassVar[Mapping[str, StageHandler[Any]]] = {
        "data": data.HANDLER,
        "model": model.HANDLER,
        "compute": compute.HANDLER,
        "finetune": finetune.HANDLER,
        "register": register.HANDLER,
        "endpoint": endpoint.HANDLER,
        "deployment": deployment.HANDLER,
    }

    observe_workers = 8  # every read is an HTTPS round trip: the stages are read at once

    def __init__(self, spec: RunSpec, root: Path | None = None, credential: str | None = None):
        super().__init__(spec, root)
        self.workspace = connect.workspace_of(spec)
        self.credential_kind = credential or self.workspace.credential
        self._ml = None
        self._registry = None
        self.seen = Seen()
        self._scoring: tuple[str, str] | None = None  # (scoring URI, key) once invoke needed them
        self.events: Events | None = None  # the apply's, for the waits of the router's calls (waits.py)
        self._lock: Any = None  # the run lock's lease, once taken (lock.py)

    def apply_stage(self, planned: PlannedStage, events: Events, ready: Ready = not_ready) -> dict:
        self.events = events
        if self._lock is not None:
            self._lock.check()  # a lost lease stops the apply before its next billable call
        return super().apply_stage(planned, events, ready)

    def resolve_pins(self, locked, upgrade):
        return model.pins(self, locked, upgrade)

    @property
    def serverless_sku(self) -> str:
        """The serverless fine-tune's instance type (a spec without compute; the schema requires it then)."""
        if not self.spec.finetune.instance_type:
            raise OrchestrateError("target azureml needs compute (a cluster) or finetune.instance_type (serverless)")
        return self.spec.finetune.instance_type

    @property
    def finetune_sku(self) -> tuple[str, str]:
        """(spec field, VM size) the fine-tune runs on: the cluster's, or the serverless instance type."""
        if self.spec.compute is not None:
            return "compute.sku", self.spec.compute.sku
        return "finetune.instance_type", self.serverless_sku

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
            self._registry = self.azure("discover the model registry", connect.registry_client, self.spec, self._cred)
        return self._registry

    def azure(self, what: str, fn, *args, **kwargs):
        """call() with authentication failures turned into one line."""
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return call(what, fn, *args, **kwargs)
        except ClientAuthenticationError as exc:
            raise connect.auth_error(self.credential_kind, exc) from None

    def find(self, what: str, fn, *args, **kwargs):
        """The resource, or None when Azure says it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.azure(what, fn, *args, **kwargs)
        except ResourceNotFoundError:
            return None

    def left_running(self, stage: str, alongside: Sequence[str] = ()) -> str:
        """What an interrupt leaves running on Azure (the next apply re-attaches to it)."""
        running = []
        if self.seen.submitted and stage == "finetune":
            running.append(f"job {self.seen.submitted} keeps running on Azure")
        if "endpoint" in alongside:
            running.append(f"the creation of endpoint {self.spec.deployment.endpoint} goes on on Azure")
        if stage == "deployment":
            running.append(f"deployment {deployment_name(self.spec)} goes on being made on Azure, at 0 % traffic")
        return " and ".join(running)

    def lock(self, force: bool = False):
        from orchestrator.targets.azureml.lock import LeaseLock

        return _Guarded(self, LeaseLock(self.ml, self.spec.name, force=force, credential=self._cred, report=self._say))

    def _say(self, line: str) -> None:
        """A line from the lease renewer: through the apply's events, else straight to stderr."""
        import sys

        if self.events is not None:
            self.events.emit("warning", "lock", message=line)
        else:
            print(line, file=sys.__stderr__, flush=True)

    # --- invoke and status ------------------------------------------------------------------------
    def scoring_uri(self) -> str:
        found = endpoint.read(self)
        if found is None or not is_ours(found, self.spec):
            raise OrchestrateError(f"run {self.spec.name} has no live endpoint; run `orchestrate apply` first")
        return found.scoring_uri

    def key(self) -> str:
        """The endpoint key, fetched only to invoke: never printed, logged or stored."""
        keys = self.azure("fetch the endpoint key", self.ml.online_endpoints.get_keys, self.spec.deployment.endpoint)
        return keys.primary_key

    def invoke(self, messages: list[dict], parameters: dict, deployment: str | None = None) -> dict:
        """To `deployment` by header, else where the endpoint's traffic goes. The URI and the key are
        read once per command (an evaluation sends dozens of requests), and kept in memory only."""
        if self._scoring is None:
            self._scoring = (self.scoring_uri(), self.key())
        uri, key = self._scoring
        return smoke.invoke(
            uri,
            key,
            messages,
            parameters,
            timeout_s=self.spec.deployment.timeout_ms / 1000 + 5,
            deployment=deployment,
        )

    # --- the endpoint's router (rollout.py) ------------------------------------------------------------
    def deployments(self) -> list[Served]:
        return deployment.served(self)

    def routed(self) -> list[Served] | None:
        found = self.seen.endpoint
        return None if found is None or found is UNREAD else deployment.served(self, fresh=False)

    def set_traffic(self, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
        deployment.set_traffic(self, traffic, mirror)

    def delete_deployment(self, name: str) -> None:
        deployment.delete_deployment(self, name)

    def deployment_logs(self, name: str) -> str:
        return deployment.logs(self, name)

    def model_metrics(self, ref: str) -> dict[str, float]:
        return register.metrics_of(self, ref)

    def served(self, name: str) -> tuple[int, int] | None:
        return None  # request metrics live in Azure Monitor, not the SDK: the rollout probes instead


class _Guarded:
    """The lease lock, entered with SDK errors worded like every other Azure call."""

    def __init__(self, target: AzureMLTarget, lock):
        self.target, self.lock = target, lock

    def __enter__(self):
        from azure.core.exceptions import ClientAuthenticationError

        try:
            self.target._lock = self.lock.__enter__()
        except ClientAuthenticationError as exc:
            raise connect.auth_error(self.target.credential_kind, exc) from None
        return self.target._lock

    def __exit__(self, *exc):
        self.target._lock = None
        return self.lock.__exit__(*exc)
