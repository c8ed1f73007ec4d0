"""A local emulator of the Azure ML REST surface that azure-ai-ml 1.35 uses, behind an HTTPS proxy.

State is kept per resource; the world moves on a clock of requests (every request handled is one
tick), optionally also of seconds, so long-running work (jobs, endpoint and deployment creation)
progresses whether or not anybody polls, as it does on Azure. What it answers as Azure does:
- ARM: workspace, computes (+ vmSizes), datastores (+ listSecrets), data and model versions,
  jobs, online endpoints and deployments; PUT/DELETE of computes, endpoints and deployments are
  long-running operations polled through Azure-AsyncOperation, with `x-ms-retry-after-ms`.
- 409 Conflict for a PUT or DELETE on an endpoint or deployment whose operation is in flight.
- Registry discovery and the registry's models and components (label latest via latestVersion).
- Blob storage: containers, block blobs, metadata, leases, listing (the SDK's upload path).
- Scoring: `https://<endpoint>.<region>.inference.ml.azure.com/score` checks the endpoint key,
  routes by the `azureml-model-deployment` header or else by the traffic weights, copies the
  mirrored share, and logs every scored request in `scored` (deployment, how it got there, status).
Faults are injected per test with `fail(...)`; `requests` records every request for counting.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from xml.sax.saxutils import escape

from tests.targets.azureml.proxy import ProxyServer, Request, Response
from tests.targets.azureml.tls import make_ca

LOCATION = "eastus"
STORAGE_ACCOUNT = "wsstorage01"
REGISTRY_SUB = "registry-sub-0000"
# VM size -> (quota family, vCPUs), from MicrosoftDocs/azure-compute-docs (reference/azureml.md section 6).
SIZES = {
    "Standard_NC24ads_A100_v4": ("standardNCADSA100v4Family", 24),
    "Standard_NC48ads_A100_v4": ("standardNCADSA100v4Family", 48),
    "Standard_NC6s_v3": ("standardNCSv3Family", 6),
    "Standard_NC24s_v3": ("standardNCSv3Family", 24),
    "Standard_ND40rs_v2": ("standardNDSv2Family", 40),
    "Standard_NC40ads_H100_v5": ("standardNCadsH100v5Family", 40),
}
REGISTRY_RG = "registry-rg"
REGISTRY_BASE = (
    f"/mferp/managementfrontend/subscriptions/{REGISTRY_SUB}/resourcegroups/{REGISTRY_RG}/providers/"
    "microsoft.machinelearningservices/registries/azureml"
)
ARM = "management.azure.com"
# How the usages list spells a vmSizes family (examples/Usage/list.json writes "Standard NCv3 Family
# Cluster Dedicated vCPUs" where vmSizes says standardNCSv3Family).
USAGE_NAMES = {
    "standardNCSv3Family": "NCv3",
    "standardNDSv2Family": "NDv2",
    "standardNCADSA100v4Family": "NCADSA100v4",
    "standardNCadsH100v5Family": "NCadsH100v5",
}
WS = r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.machinelearningservices/workspaces/(?P<ws>[^/]+)"
REG = r"/mferp/managementfrontend/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.machinelearningservices/registries/(?P<reg>[^/]+)"
# POSTs that only read (list keys, secrets, logs): not counted as mutations.
READ_POSTS = re.compile(r"/(listkeys|listsecrets|getlogs|token)$")


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    response: Response | Callable[[Request], Response | None]
    times: int  # how many matching requests get the fault (-1: all)
    hits: int = 0


@dataclass
class Operation:
    resource: str  # store key of the resource the operation changes
    ticks_left: int
    not_before: float
    outcome: str = "Succeeded"  # or Failed
    delete: bool = False
    status: str = "InProgress"
    started: float = field(default_factory=time.time)
    ended: float | None = None


@dataclass
class Logged:
    method: str
    host: str
    path: str
    status: int
    auth: str = ""  # blob requests: bearer | sharedkey | sas:<signature> | none
    at: float = 0.0  # time.monotonic() when it was handled

    @property
    def mutating(self) -> bool:
        """A create, update or delete of a resource or of data. The run lock's blob (lease and holder
        name, under orchestrate/locks/) is a lock, not a resource: not counted."""
        if "/orchestrate/locks/" in self.path:
            return False
        if self.method in ("PUT", "PATCH", "DELETE"):
            return True
        return (
            self.method == "POST"
            and not READ_POSTS.search(self.path.split("?")[0].lower())
            and not self.path.endswith("/score")
        )


@dataclass
class Scored:
    deployment: str
    via: str  # header | traffic | mirror
    status: int


@dataclass
class Config:
    lro_ticks: int = 2  # status polls (requests) before an operation completes
    job_ticks: int = 6  # requests from submission to a terminal job state
    # Wall-time floors, in seconds: "operation" for any long-running operation unless its kind has
    # its own ("onlineendpoints", "deployments", "computes"); "job" for a job. On Azure they are
    # minutes: the SDK's recorded session test_online_deployment_create (azure-sdk-assets,
    # recordings/online_services/e2etests/) creates an endpoint in 50 s (PUT 10:35:40, operation
    # endTime 10:36:31) and a deployment in about 6.5 min, each PUT answered 201 with
    # `x-ms-async-operation-timeout: PT30M`.
    seconds: dict = field(default_factory=lambda: {"operation": 0.0, "job": 0.0})
    # A job's states as its GETs read them: [(state, reads), ...], the last one final. None: the
    # request clock's NotStarted -> Preparing -> Queued -> Running -> job_outcome.
    job_states: list | None = None
    # listSecrets with `expirableSecret` answers a SAS (`secretsType: Sas`) that expires after
    # `expireAfterHours`, or after sas_seconds when set (tests); the blob service refuses it after.
    sas_seconds: float | None = None
    # An identity-based default datastore (`credentialsType: None`, recorded in azure-sdk-assets
    # recordings/datastore/e2etests/test_blob_store_credential_less.json): listSecrets answers 400
    # and the storage account takes only Azure AD tokens (shared keys and SAS are refused).
    identity_datastore: bool = False
    # What a fine-tune job logs to its run (the Trainer's keys): key -> [(step, value), ...]. While it
    # runs, its reads reveal the loss step by step; the end-of-training keys come when it completes.
    job_metrics: dict = field(default_factory=lambda: _trainer_metrics(1.2345, 1.4321, 1.6789))
    tracking_status: int = 200  # what the MLflow tracking server answers (404: the run is not there)
    retry_after_ms: int = 1  # azure-core reads 0 as "no hint" and falls back to its 30 s interval
    job_outcome: str = "Completed"  # Completed | Failed
    deployment_outcome: str = "Succeeded"  # Succeeded | Failed
    scoring_status: int = 200
    # Per deployment answer: (deployment, messages) -> (status, text), None for the default echo.
    answer: Callable[[str, list], tuple[int, str]] | None = None
    latency: float = 0.0  # seconds every request waits before it is handled (bench: a real round trip)
    gpus: dict = field(
        default_factory=lambda: {
            "Standard_NC24ads_A100_v4": 1,
            "Standard_NC48ads_A100_v4": 2,
            "Standard_NC6s_v3": 1,
            "Standard_ND40rs_v2": 8,
            "Standard_NC24s_v3": 4,
            "Standard_NC40ads_H100_v5": 1,
        }
    )
    # vCPU quota per VM family in the workspace's region: family -> (in use, limit). Generous by
    # default; tests lower it to see a refusal. Served in Azure's row shape (usages()).
    usage: dict = field(
        default_factory=lambda: {
            "standardNCADSA100v4Family": (0, 96),
            "standardNCSv3Family": (0, 48),
            "standardNDSv2Family": (0, 80),
            "standardNCadsH100v5Family": (0, 80),
        }
    )
    low_priority: tuple = (0, 100)  # the regional LowPriority total: (in use, limit)
    taken: set = field(default_factory=set)  # endpoint names held in the region by other subscriptions


class AzureEmulator:
    def __init__(self, folder: Path):
        self.ca_file, context = make_ca(folder / "ca")
        self.server = ProxyServer(self.handle, context)
        self.config = Config()
        self.store: dict[str, dict] = {}  # lower-cased ARM id -> resource JSON
        self.operations: dict[str, Operation] = {}
        self.jobs_started: dict[str, dict] = {}  # job key -> {ticks, since}
        self.blobs: dict[tuple[str, str, str], dict] = {}
        self.containers: set[tuple[str, str]] = set()
        self.faults: list[Fault] = []
        self.requests: list[Logged] = []
        self.scored: list[Scored] = []
        self.random = random.Random(7)  # the traffic split's draws: the same in every test run
        self.lock = threading.RLock()
        self.keys = {"primaryKey": "pk-" + uuid.uuid4().hex, "secondaryKey": "sk-" + uuid.uuid4().hex}
        self.hooks: list[list] = []  # [method, pattern, action, matches to let pass first]
        self.sas: dict[str, float] = {}  # SAS signatures handed out -> their expiry (time.time())
        self._seed_registry()

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> AzureEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def refused(self) -> list[str]:
        return self.server.refused

    def environment(self, folder: Path, subscription: str) -> tuple[dict[str, str], list[str]]:
        """(variables to set, variables to unset) that route a process's Azure traffic here: the proxy,
        the test CA, a fake `az` first on PATH, and fast polling. MLClient writes AZUREML_CURRENT_CLOUD
        into os.environ, so it is unset here and must be restored by the caller."""
        import os

        from tests.targets.azureml import fake_az

        bin_dir = fake_az.install(folder / "bin", subscription)
        values = {
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
            "SSL_CERT_FILE": str(self.ca_file),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "AZUREML_RUN_POLLING_INTERVAL_MIN": "0",
            "ORCHESTRATE_POLL_SECONDS": "0",
            "ORCHESTRATE_RETRY_BASE_SECONDS": "0.01",
            "ORCHESTRATE_STATE_DIR": str(folder / "state"),
        }
        unset = [
            "NO_PROXY",
            "no_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "AZURE_CLIENT_ID",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_SECRET",
            "IDENTITY_ENDPOINT",
            "MSI_ENDPOINT",
            "AZUREML_CURRENT_CLOUD",
        ]
        return values, unset

    # --- test controls ----------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        pattern: str,
        status: int = 500,
        *,
        times: int = 1,
        code: str = "InternalServerError",
        headers: dict | None = None,
        drop: bool = False,
    ) -> Fault:
        """The next `times` requests matching method + path regex get this error (or a dropped connection)."""
        body = {"error": {"code": code, "message": f"injected {status} {code}"}}
        fault = Fault(method, re.compile(pattern, re.I), Response(status, body, headers or {}, drop=drop), times)
        self.faults.append(fault)
        return fault

    def on(self, method: str, pattern: str, action: Callable[[Request], None], *, nth: int = 1) -> None:
        """Call action(request) once, before handling the nth request matching method + path regex."""
        self.hooks.append([method, re.compile(pattern, re.I), action, nth - 1])

    def mutations(self, since: int = 0) -> list[Logged]:
        return [r for r in self.requests[since:] if r.mutating]

    def resources(self, kind: str) -> dict[str, dict]:
        """Stored resources whose id contains /<kind>/ (e.g. onlineendpoints, jobs, models)."""
        with self.lock:
            return {k: v for k, v in self.store.items() if re.search(rf"/{kind}/[^/]+$", k)}

    # --- dispatch ---------------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        if self.config.latency:  # a round trip to a far region, outside the lock: requests overlap
            time.sleep(self.config.latency)
        with self.lock:
            self._tick()
            full = req.path + ("?" + "&".join(f"{k}={v}" for k, v in req.query.items()) if req.query else "")
            for hook in list(self.hooks):
                method, pattern, action, skip = hook
                if method == req.method and pattern.search(req.path):
                    if skip:
                        hook[3] -= 1
                        continue
                    self.hooks.remove(hook)
                    action(req)
            response = self._fault(req) or self._route(req)
            auth = _blob_auth(req) if req.host.endswith(".blob.core.windows.net") else ""
            self.requests.append(Logged(req.method, req.host, full, response.status, auth, time.monotonic()))
            return response

    def _fault(self, req: Request) -> Response | None:
        for fault in self.faults:
            if fault.times != 0 and fault.method == req.method and fault.pattern.search(req.path):
                fault.times -= 1 if fault.times > 0 else 0
                fault.hits += 1
                return fault.response
        return None

    def _route(self, req: Request) -> Response:
        host, path = req.host, req.path.lower()
        if host.endswith(".blob.core.windows.net"):
            return self._blob(req)
        if host.endswith(".inference.ml.azure.com"):
            return self._score(req)
        if path == "/discovery":  # the workspace's service map: public, like Azure's
            base = f"https://{LOCATION}.api.azureml.ms"
            return Response(
                200,
                {
                    k: base
                    for k in (
                        "api",
                        "catalog",
                        "experimentation",
                        "gallery",
                        "history",
                        "hyperdrive",
                        "labeling",
                        "modelmanagement",
                        "pipelines",
                        "studio",
                    )
                },
            )
        if req.headers.get("authorization", "").split(" ")[0].lower() != "bearer":
            return _error(401, "AuthenticationFailed", "no bearer token")
        for method, pattern, fn in ROUTES:
            if method in (req.method, "*") and (m := re.fullmatch(pattern, path)):
                return fn(self, req, **m.groupdict())
        return _error(404, "NoRoute", f"the emulator has no route for {req.method} {host}{req.path}")

    # --- the clock --------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        for op in self.operations.values():
            if op.status != "InProgress":
                continue
            op.ticks_left -= 1
            if op.ticks_left <= 0 and now >= op.not_before:
                op.status = op.outcome
                self._finish(op)
        for key, run in self.jobs_started.items():
            job = self.store.get(key)
            if job is None or job["properties"]["status"] in ("Completed", "Failed", "Canceled"):
                continue
            if self.config.job_states is not None:
                continue  # scripted: its reads move it (get)
            run["ticks"] += 1
            progress = ["NotStarted", "Preparing", "Queued", "Running"]
            if run["ticks"] >= self.config.job_ticks and now - run["since"] >= self.config.seconds["job"]:
                job["properties"]["status"] = run["outcome"]
                if run["outcome"] == "Failed":
                    job["properties"]["error"] = {
                        "code": "UserError",
                        "message": "step finetune failed: CUDA out of memory",
                    }
            else:
                job["properties"]["status"] = progress[min(run["ticks"] * len(progress) // self.config.job_ticks, 3)]

    def _finish(self, op: Operation) -> None:
        op.ended = time.time()
        res = self.store.get(op.resource)
        if res is None:
            return
        if op.delete:
            del self.store[op.resource]
            if "/onlineendpoints/" in op.resource and "/deployments/" not in op.resource:
                for key in [k for k in self.store if k.startswith(op.resource + "/deployments/")]:
                    del self.store[key]
            return
        res["properties"]["provisioningState"] = op.outcome
        if "/onlineendpoints/" in op.resource and "/deployments/" not in op.resource and op.outcome == "Succeeded":
            # The scoring URI is null until the endpoint exists (the recorded PUT answers
            # `scoringUri: null`; the GET after the operation has it).
            res["properties"]["scoringUri"] = f"https://{_tail(op.resource)}.{LOCATION}.inference.ml.azure.com/score"
            res["properties"]["swaggerUri"] = res["properties"]["scoringUri"].replace("/score", "/swagger.json")

    def _start_operation(self, key: str, *, delete: bool = False, outcome: str = "Succeeded") -> dict[str, str]:
        op_id = uuid.uuid4().hex
        kind = next((k for k in ("deployments", "onlineendpoints", "computes") if f"/{k}/" in key), "operation")
        if kind == "onlineendpoints" and "/deployments/" in key:
            kind = "deployments"
        seconds = self.config.seconds.get(kind, self.config.seconds["operation"])
        self.operations[op_id] = Operation(key, self.config.lro_ticks, time.monotonic() + seconds, outcome, delete)
        url = (
            f"https://{ARM}/subscriptions/{_sub(key)}/providers/Microsoft.MachineLearningServices/locations/"
            f"{LOCATION}/mfeOperationsStatus/{op_id}?api-version=2024-01-01-preview"
        )
        return {
            "Azure-AsyncOperation": url,
            "Location": url.replace("mfeOperationsStatus", "mfeOperationResults"),
            "x-ms-retry-after-ms": str(self.config.retry_after_ms),
            "x-ms-async-operation-timeout": "PT30M",  # as recorded on the endpoint and deployment PUTs
        }

    def _busy(self, key: str) -> bool:
        return any(op.resource == key and op.status == "InProgress" for op in self.operations.values())

    # --- ARM handlers -----------------------------------------------------------------------------
    def workspace(self, req: Request, sub: str, rg: str, ws: str) -> Response:
        wid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"
        return Response(
            200,
            {
                "id": wid,
                "name": ws,
                "type": "Microsoft.MachineLearningServices/workspaces",
                "location": LOCATION,
                "identity": {"type": "SystemAssigned"},
                "sku": {"name": "Basic", "tier": "Basic"},
                "kind": "Default",
                "properties": {
                    "friendlyName": ws,
                    "workspaceId": str(uuid.uuid5(uuid.NAMESPACE_URL, wid)),
                    "discoveryUrl": f"https://{LOCATION}.api.azureml.ms/discovery",
                    "mlFlowTrackingUri": f"azureml://{LOCATION}.api.azureml.ms/mlflow/v1.0{wid}",
                    "storageAccount": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/"
                    f"storageAccounts/{STORAGE_ACCOUNT}",
                    "provisioningState": "Succeeded",
                },
            },
        )

    def get(self, req: Request, **_) -> Response:
        res = self.store.get(req.path.lower())
        run = self.jobs_started.get(req.path.lower())
        if res is not None and run is not None:
            run["reads"] = run.get("reads", 0) + 1
        if res is not None and run is not None and self.config.job_states is not None:
            left = run["reads"]
            for state, reads in self.config.job_states:
                res["properties"]["status"] = state
                left -= reads
                if left <= 0:
                    break
        return (
            Response(200, res) if res is not None else _error(404, "ResourceNotFound", f"{_tail(req.path)} not found")
        )

    def list(self, req: Request, **_) -> Response:
        """Children of a path, newest first (as Azure's `$orderBy=createdtime desc`); `$top` honoured."""
        prefix = req.path.lower() + "/"
        items = [v for k, v in self.store.items() if k.startswith(prefix) and "/" not in k[len(prefix) :]]
        items.reverse()
        view = {k.lower(): v for k, v in req.query.items()}.get("listviewtype", "ActiveOnly").lower()
        if view != "all":
            items = [i for i in items if bool(i.get("properties", {}).get("isArchived")) == (view == "archivedonly")]
        top = {k.lower(): v for k, v in req.query.items()}.get("$top")
        return Response(200, {"value": items[: int(top)] if top else items})

    def put(self, req: Request, **_) -> Response:
        """Plain (synchronous) PUT: data and model versions and their containers, jobs."""
        key = req.path.lower()
        body = req.json()
        created = key not in self.store
        if re.search(r"/workspaces/[^/]+/models/[^/]+/versions/", key) and not re.fullmatch(r"[1-9][0-9]*", _tail(key)):
            # Workspace model versions are positive integers: the CLI v2 model YAML types `version`
            # as an int, and Azure refuses others (azureml-examples #2725). The wording is ours.
            return _error(400, "UserError", f"model version {_tail(req.path)} is not a positive integer")
        res = self._resource(req, body, state="Succeeded")
        if "/jobs/" in key:
            if not created:
                return Response(200, self.store[key])  # a job, once submitted, is not changed by a PUT
            res["properties"]["status"] = "NotStarted"
            res["properties"]["services"] = {
                "Studio": {"endpoint": f"https://ml.azure.com/runs/{_tail(key)}?wsid={key.split('/jobs/')[0]}"}
            }
            self.jobs_started[key] = {"ticks": 0, "since": time.monotonic(), "outcome": self.config.job_outcome}
        self.store[key] = res
        if "/models/" in key and "/versions/" in key:
            # Azure reads the flavors from the MLmodel file of an mlflow_model's path.
            res["properties"].setdefault(
                "flavors", {"python_function": {"data": {"loader_module": "mlflow.transformers"}}}
            )
        if "/versions/" in key:
            self._container_latest(key)
        return Response(201 if created else 200, res)

    def put_lro(self, req: Request, **_) -> Response:
        """PUT of a compute, endpoint or deployment: a long-running operation."""
        key = req.path.lower()
        if self._busy(key):
            return _error(409, "Conflict", f"{_tail(req.path)} has an operation in progress; retry when it completes")
        if "/deployments/" in key and key.rsplit("/deployments/", 1)[0] not in self.store:
            return _error(404, "ResourceNotFound", "the endpoint of this deployment does not exist")
        created = key not in self.store
        if created and "/onlineendpoints/" in key and "/deployments/" not in key and _tail(key) in self.config.taken:
            # Endpoint names are unique per region across subscriptions (reference-yaml-endpoint-online
            # .md); the PUT of a name held elsewhere is refused with the validation error quoted in
            # azureml-examples PR #1931 and Azure/mlops-project-template #29 (the code is ours).
            return _error(
                400,
                "UserError",
                "There is already an endpoint with this name, Endpoint name needs to be unique within a region. "
                "Try some other name.",
            )
        body = req.json()
        res = self._resource(req, body, state="Creating" if created else "Updating")
        if "/onlineendpoints/" in key and "/deployments/" not in key:
            old = self.store.get(key, {}).get("properties", {})
            res["properties"]["scoringUri"] = old.get("scoringUri")  # null while it is being created
            res["properties"]["swaggerUri"] = old.get("swaggerUri")
            res["properties"].setdefault("traffic", {})
            refused = _refused_traffic(res["properties"], lambda d: f"{key}/deployments/{d.lower()}" in self.store)
            if refused:
                return _error(400, "BadArgument", refused)
        if "/computes/" in key:
            res["properties"].setdefault("properties", {})
        if "/deployments/" in key:
            res["properties"].setdefault("scaleSettings", {"scaleType": "Default"})
        self.store[key] = res
        outcome = self.config.deployment_outcome if "/deployments/" in key else "Succeeded"
        return Response(201 if created else 200, res, self._start_operation(key, outcome=outcome))

    def delete_lro(self, req: Request, **_) -> Response:
        key = req.path.lower()
        if key not in self.store:
            return Response(204)
        if self._busy(key):
            return _error(409, "Conflict", f"{_tail(req.path)} has an operation in progress")
        if "/deployments/" in key:
            # Azure refuses to delete a deployment that still takes traffic: the safe-rollout how-to
            # sets it to 0 first (reference/azureml.md, "Safe rollout facts").
            endpoint = self.store.get(key.rsplit("/deployments/", 1)[0], {})
            traffic = {d.lower(): p for d, p in (endpoint.get("properties", {}).get("traffic") or {}).items()}
            if traffic.get(_tail(key)):
                return _error(
                    400,
                    "BadArgument",
                    f"deployment {_tail(req.path)} takes {traffic[_tail(key)]}% of the "
                    "endpoint's traffic; set it to 0 before deleting the deployment",
                )
        self.store[key]["properties"]["provisioningState"] = "Deleting"
        return Response(202, None, self._start_operation(key, delete=True))

    def delete(self, req: Request, **_) -> Response:
        return Response(200 if self.store.pop(req.path.lower(), None) is not None else 204)

    def operation(self, req: Request, sub: str, op: str) -> Response:
        operation = self.operations.get(op)
        if operation is None:
            return _error(404, "NotFound", "no such operation")
        # The recorded shape (test_online_deployment_create): startTime, endTime (0001-01-01 while it
        # runs), percentComplete (0.0 throughout, as recorded) and `status` "Updating" while a PUT's
        # operation runs; a DELETE's says "InProgress" (ARM's async-operation default).
        running = operation.status == "InProgress"
        body = {
            "id": f"/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{LOCATION}/"
            f"mfeOperationsStatus/{op}",
            "name": op,
            "startTime": _iso(operation.started),
            "endTime": "0001-01-01T00:00:00+00:00" if operation.ended is None else _iso(operation.ended),
            "percentComplete": 0.0,
            "status": ("InProgress" if operation.delete else "Updating") if running else operation.status,
        }
        if operation.status == "Failed":
            body["error"] = {
                "code": "DeploymentFailed",
                "message": "container crashed: liveness probe failed (injected)",
            }
        return Response(200, body, {"x-ms-retry-after-ms": str(self.config.retry_after_ms)})

    def operation_result(self, req: Request, sub: str, op: str) -> Response:
        return Response(204)

    def vm_sizes(self, req: Request, sub: str, loc: str) -> Response:
        # VirtualMachineSizes_List: one `value[]`, no paging (reference/azureml-rest-contract.md).
        # Families and vCPUs as Azure's size docs give them (reference/azureml.md section 6).
        sizes = [
            {
                "name": name,
                "family": SIZES[name][0],
                "vCPUs": SIZES[name][1],
                "gpus": gpus,
                "memoryGB": 220,
                "maxResourceVolumeMB": 65536,
                "supportedComputeTypes": ["AmlCompute", "ComputeInstance"],
            }
            for name, gpus in self.config.gpus.items()
        ]
        return Response(200, {"value": sizes})

    def usages(self, req: Request, sub: str, loc: str) -> Response:
        """Usages_List in the shape Azure publishes (azure-rest-api-specs stable/2025-12-01
        examples/Usage/list.json): per family and tier a display name ("Standard NCv3 Family
        Cluster Dedicated vCPUs", not the vmSizes family id), repeated at region scope
        (`vmFamily/usages`), for this workspace and another one (`workspaces/usages`) and per
        cluster (`workspaces/computes/usages`, each holding the whole limit: a row that must never
        decide), LowPriority rows with `limit: -1`, and the regional totals. Paged with nextLink
        (the SDK follows it), a few rows a page."""
        rows = self._usage_rows(sub, loc)
        page, size = int(req.query.get("page", "0")), 25
        body: dict = {"value": rows[page * size : (page + 1) * size]}
        if (page + 1) * size < len(rows):
            body["nextLink"] = (
                f"https://{ARM}/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{loc}/"
                f"usages?api-version={req.query.get('api-version', '')}&page={page + 1}"
            )
        return Response(200, body)

    def _usage_rows(self, sub: str, loc: str) -> list[dict]:
        ws = f"/subscriptions/{sub}/resourceGroups/rg-llm/providers/Microsoft.MachineLearningServices/workspaces"

        def row(rid: str, kind: str, label: str, used: int, limit: int) -> dict:
            return {
                "id": rid,
                "amlWorkspaceLocation": loc,
                "type": f"Microsoft.MachineLearningServices/{kind}",
                "unit": "Count",
                "currentValue": used,
                "limit": limit,
                "name": {"value": label, "localizedValue": label},
            }

        used_total = sum(u for u, _ in self.config.usage.values())
        rows = [
            row(
                f"/subscriptions/{sub}/usages",
                "dedicatedCores/usages",
                "Total Cluster Dedicated Regional vCPUs",
                used_total,
                10_000,
            ),
            row(
                f"/subscriptions/{sub}/usages",
                "lowPriorityCores/usages",
                "Total Cluster LowPriority Regional vCPUs",
                self.config.low_priority[0],
                self.config.low_priority[1],
            ),
        ]
        for family, (used, limit) in sorted(self.config.usage.items()):
            letters = USAGE_NAMES.get(family, family.removeprefix("standard").removesuffix("Family"))
            for tier, (u, lim) in (("Dedicated", (used, limit)), ("LowPriority", (0, -1))):
                label = f"Standard {letters} Family Cluster {tier} vCPUs"
                tail = "usages/" + label.replace(" ", "_")
                rows.append(row(f"/subscriptions/{sub}/{tail}", "vmFamily/usages", label, u, lim))
                rows.append(row(f"{ws}/ws-llm/{tail}", "workspaces/usages", label, u, lim))
                rows.append(row(f"{ws}/other-ws/{tail}", "workspaces/usages", label, 0, lim))
                rows.append(
                    row(
                        f"{ws}/ws-llm/computes/team-{letters.lower()}/{tail}",
                        "workspaces/computes/usages",
                        label,
                        0,
                        lim,
                    )
                )
        return rows

    def datastores(self, req: Request, **_) -> Response:
        return Response(200, {"value": [self._datastore(req.path.lower().rstrip("/"))]})

    def datastore(self, req: Request, **_) -> Response:
        return Response(200, self._datastore(req.path.lower().rsplit("/", 1)[0]))

    def datastore_secrets(self, req: Request, **_) -> Response:
        """Datastores_ListSecrets. An identity-based datastore has none: 400 with the message quoted in
        the issue from a live workspace ("No secrets for credentials of type None."; the code is ours).
        With `expirableSecret` (the SDK sends {"expirableSecret": true, "expireAfterHours": 1}) Azure
        answers a SAS, `secretsType: Sas`, whose `se` is its expiry; without it, the account key."""
        if self.config.identity_datastore:
            return _error(400, "UserError", "No secrets for credentials of type None.")
        body = req.json() if req.body else {}
        if not body.get("expirableSecret"):
            return Response(200, {"secretsType": "AccountKey", "key": "ZW11bGF0b3Ita2V5"})
        seconds = self.config.sas_seconds or float(body.get("expireAfterHours") or 1) * 3600
        expiry = time.time() + seconds
        signature = uuid.uuid4().hex
        self.sas[signature] = expiry
        se = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry))
        return Response(
            200, {"secretsType": "Sas", "sasToken": f"sv=2021-08-06&sr=c&sp=racwdl&se={se}&sig={signature}"}
        )

    def list_keys(self, req: Request, **_) -> Response:
        key = req.path.lower().rsplit("/", 1)[0]
        if key not in self.store:
            return _error(404, "ResourceNotFound", "endpoint not found")
        return Response(200, self.keys)

    def get_logs(self, req: Request, **_) -> Response:
        return Response(200, {"content": "liveness probe failed: connection refused (emulated log)"})

    def job_cancel(self, req: Request, **_) -> Response:
        job = self.store.get(req.path.lower().rsplit("/", 1)[0])
        if job:
            job["properties"]["status"] = "Canceled"
        return Response(202)

    def run_children(self, req: Request, run: str, **_) -> Response:
        """Run history: the steps of a pipeline job (the failing one named, as Azure does)."""
        job = next((v for k, v in self.store.items() if k.endswith(f"/jobs/{run.lower()}")), None)
        if job is None:
            return _error(404, "RunNotFound", f"run {run} not found")
        failed = job["properties"]["status"] == "Failed"
        steps = [
            ("model_import", "Completed"),
            ("preprocess", "Completed"),
            ("finetune", "Failed" if failed else job["properties"]["status"]),
        ]
        runs = [
            {
                "runId": f"{run}_{name}",
                "parentRunId": run,
                "rootRunId": run,
                "displayName": f"chat_completion_{name}",
                "status": status,
                "runType": "azureml.StepRun",
                "experimentId": uuid.uuid4().hex,
                "properties": {},
                "tags": {},
            }
            for name, status in steps
        ]
        return Response(200, {"value": runs, "nextLink": None})

    # --- MLflow tracking ----------------------------------------------------------------------------
    # The workspace's tracking server: the MLflow REST API under `/api/2.0/mlflow` of the tracking URI
    # (azureml-examples sdk/python/using-mlflow/using-rest-api), shapes as MLflow's REST reference
    # gives them: runs/get -> {"run": {"info", "data": {"metrics": [{key, value, timestamp, step}]}}},
    # metrics/get-history -> {"metrics": [...]}; an unknown run is 404 RESOURCE_DOES_NOT_EXIST.
    def _run_metrics(self, run_id: str) -> tuple[dict, dict] | None:
        key = next((k for k in self.jobs_started if k.endswith(f"/jobs/{run_id.lower()}")), None)
        if key is None or self.config.tracking_status != 200:
            return None
        job, run = self.store[key], self.jobs_started[key]
        done = job["properties"]["status"] == "Completed"
        shown = {}
        for name, points in self.config.job_metrics.items():
            if name.startswith("train_") or name in ("total_flos", "epoch"):
                points = points if done else []
            elif not done:
                points = points[: max(0, min(len(points) - 1, run.get("reads", 0) - 1))]
            if points:
                shown[name] = [
                    {"key": name, "value": v, "timestamp": 1764633600000 + int(s), "step": s} for s, v in points
                ]
        return job, shown

    def mlflow_run(self, req: Request, **_) -> Response:
        found = self._run_metrics(req.query.get("run_id", ""))
        if found is None:
            return Response(
                self.config.tracking_status if self.config.tracking_status != 200 else 404,
                {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Run '{req.query.get('run_id')}' not found"},
            )
        job, shown = found
        info = {"run_id": req.query["run_id"], "run_uuid": req.query["run_id"], "status": "RUNNING"}
        latest = [points[-1] for points in shown.values()]
        return Response(200, {"run": {"info": info, "data": {"metrics": latest, "params": [], "tags": []}}})

    def mlflow_history(self, req: Request, **_) -> Response:
        found = self._run_metrics(req.query.get("run_id", ""))
        if found is None:
            return Response(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "run not found"})
        return Response(200, {"metrics": found[1].get(req.query.get("metric_key", ""), [])})

    # --- registry ---------------------------------------------------------------------------------
    def discovery(self, req: Request, reg: str) -> Response:
        return Response(
            200,
            {
                "registryName": reg,
                "primaryRegion": LOCATION,
                "regions": [LOCATION],
                "primaryRegionResourceProviderUri": f"https://{LOCATION}.api.azureml.ms/",
                "subscriptionId": REGISTRY_SUB,
                "resourceGroup": REGISTRY_RG,
                "registryFqdns": {LOCATION: {"primary": f"{LOCATION}.api.azureml.ms"}},
            },
        )

    def publish_model_defaults(self, defaults: dict[str, str], version: str = "8", name: str = "Phi-4") -> None:
        """The registry model's `model_specific_defaults` tag: a JSON object of strings, as
        azureml-assets publishes it (assets/models/system/Phi-4/spec.yaml)."""
        model = self.store[f"{REGISTRY_BASE}/models/{name.lower()}/versions/{version}"]
        model["properties"]["tags"]["model_specific_defaults"] = json.dumps(defaults)

    def catalog_entry(self, name: str = "Phi-4", version: str = "8") -> dict:
        """A registry model version's wire properties, to change what the catalog says in a test."""
        return self.store[f"{REGISTRY_BASE}/models/{name.lower()}/versions/{version}"]["properties"]

    def publish_version(self, kind: str, name: str, version: str) -> None:
        """A new version in the registry that the `latest` label then names, as publishing one does:
        a copy of the current latest under the new version (kind: models | components)."""
        base = f"{REGISTRY_BASE}/{kind}/{name.lower()}"
        with self.lock:
            current = self.store[base]["properties"]["latestVersion"]
            body = json.loads(json.dumps(self.store[f"{base}/versions/{current}"]))
            body["id"] = body["id"].rsplit("/", 1)[0] + "/" + version
            body["name"] = version
            if kind == "components":
                body["properties"]["componentSpec"]["version"] = version
            self.store[f"{base}/versions/{version}"] = body
            self._container_latest(f"{base}/versions/{version}")

    def _seed_registry(self) -> None:
        """Today's catalog (azureml-assets 4b41f8c, assets/models/system/): Phi-4 current, its allow
        lists and recommended SKUs only in system metadata (azureml-assets #5150, #5190 moved them
        out of the tags; wire key `properties.system_metadata`, the one azure-ai-ml 1.35 writes in
        _restclient/model_dataplane/operations/_patch.py); Phi-3-mini-4k-instruct archived
        (`isArchived: true`, the REST AssetBase flag) with its deprecation dates, and its old
        allow-list tags as publishing left them (a Python-literal string, publish_utils.py)."""
        phi4_computes = [
            "Standard_NC24ads_A100_v4",
            "Standard_NC48ads_A100_v4",
            "Standard_NC96ads_A100_v4",
            "Standard_ND96asr_v4",
            "Standard_ND96amsr_A100_v4",
            "Standard_NC40ads_H100_v5",
            "Standard_NC80adis_H100_v5",
            "Standard_ND96isr_H100_v5",
        ]
        for version in ("7", "8"):
            self._seed_model(
                "Phi-4",
                version,
                tags={},
                system={
                    "tasks": {"fineTuningTasks": ["chat-completion"], "inferenceTasks": ["chat-completion"]},
                    "SKU": {"finetuneRecommendedSkus": phi4_computes, "inferenceRecommendedSkus": phi4_computes},
                    "supportedComputes": {"finetuneComputes": phi4_computes, "inferenceComputes": phi4_computes},
                },
            )
        phi3_finetune = str(phi4_computes[:5])
        phi3_inference = str(["Standard_NC6s_v3", "Standard_NC12s_v3", "Standard_NC24s_v3", *phi4_computes[:5]])
        for version in ("14", "15"):
            self._seed_model(
                "Phi-3-mini-4k-instruct",
                version,
                tags={"finetune_compute_allow_list": phi3_finetune, "inference_compute_allow_list": phi3_inference},
                system={
                    "deprecation": {
                        "finetuneDeprecationDate": "2025-06-30T00:00:00.000000Z",
                        "finetuneRetirementDate": "2025-08-30T00:00:00.000000Z",
                        "inferenceDeprecationDate": "2025-06-30T00:00:00.000000Z",
                        "inferenceRetirementDate": "2025-08-30T00:00:00.000000Z",
                    }
                },
                archived=True,
            )
        key = f"{REGISTRY_BASE}/components/chat_completion_pipeline/versions/0.0.82"
        self.store[key] = _component_version(key)
        self._container_latest(key)

    def _seed_model(self, name: str, version: str, *, tags: dict, system: dict, archived: bool = False) -> None:
        key = f"{REGISTRY_BASE}/models/{name.lower()}/versions/{version}"
        self.store[key] = {
            "id": f"azureml://registries/azureml/models/{name}/versions/{version}",
            "name": version,
            "type": "Microsoft.MachineLearningServices/registries/models/versions",
            "properties": {
                "modelType": "mlflow_model",
                "tags": dict(tags),
                "properties": {},
                "system_metadata": json.loads(json.dumps(system)),
                "isArchived": archived,
                "flavors": {"hftransformersv2": {"data": {"task_type": "chat-completion"}}},
                "modelUri": f"azureml://registries/azureml/models/{name}/versions/{version}",
            },
        }
        self._container_latest(key)

    def _container_latest(self, version_key: str) -> None:
        container_key = version_key.rsplit("/versions/", 1)[0]
        container = self.store.setdefault(
            container_key, {"id": container_key, "name": _tail(container_key), "properties": {}}
        )
        container["properties"]["latestVersion"] = _tail(version_key)

    # --- blob -------------------------------------------------------------------------------------
    def _blob(self, req: Request) -> Response:
        refused = self._blob_refused(req)
        if refused is not None:
            return refused
        account = req.host.split(".")[0]
        parts = req.path.lstrip("/").split("/", 1)
        container, name = parts[0], (parts[1] if len(parts) > 1 else "")
        q = req.query
        if q.get("restype") == "container":
            if req.method == "PUT":
                if (account, container) in self.containers:
                    return _blob_error(409, "ContainerAlreadyExists")
                self.containers.add((account, container))
                return Response(201, b"", _blob_headers())
            if q.get("comp") == "list":
                return self._blob_list(account, container, q.get("prefix", ""))
            return Response(200 if (account, container) in self.containers else 404, b"", _blob_headers())
        key = (account, container, name)
        blob = self.blobs.get(key)
        if q.get("comp") == "lease":
            return self._lease(req, key, blob)
        if q.get("comp") == "metadata":
            if blob is None:
                return _blob_error(404, "BlobNotFound")
            if req.method == "PUT":
                if (
                    blob.get("lease")
                    and blob["lease"]["expires"] > time.time()
                    and req.headers.get("x-ms-lease-id") != blob["lease"]["id"]
                ):
                    return _blob_error(412, "LeaseIdMissing")
                blob["metadata"] = {
                    k[len("x-ms-meta-") :]: v for k, v in req.headers.items() if k.startswith("x-ms-meta-")
                }
                return Response(200, b"", _blob_headers())
            return Response(200, b"", {**_blob_headers(), **{f"x-ms-meta-{k}": v for k, v in blob["metadata"].items()}})
        if req.method == "PUT":
            if (account, container) not in self.containers:
                self.containers.add((account, container))  # the datastore's container exists on Azure
            if req.headers.get("if-none-match") == "*" and blob is not None:
                return _blob_error(409, "BlobAlreadyExists")
            if q.get("comp") == "block":
                self.blobs.setdefault(("blocks",) + key, {})[q["blockid"]] = req.body
                return Response(201, b"", _blob_headers())
            if q.get("comp") == "blocklist":
                blocks = self.blobs.pop(("blocks",) + key, {})
                ids = re.findall(r"<(?:Latest|Uncommitted|Committed)>([^<]+)<", req.body.decode())
                data = b"".join(blocks.get(i, b"") for i in ids)
            else:
                data = req.body
            meta = {k[len("x-ms-meta-") :]: v for k, v in req.headers.items() if k.startswith("x-ms-meta-")}
            self.blobs[key] = {"data": data, "metadata": meta, "lease": (blob or {}).get("lease")}
            return Response(201, b"", _blob_headers())
        if blob is None:
            return _blob_error(404, "BlobNotFound")
        headers = {
            **_blob_headers(),
            "x-ms-blob-type": "BlockBlob",
            "Content-Length": str(len(blob["data"])),
            **{f"x-ms-meta-{k}": v for k, v in blob["metadata"].items()},
        }
        if req.method == "HEAD":
            return Response(200, b"", headers)
        if req.method == "DELETE":
            del self.blobs[key]
            return Response(202, b"", _blob_headers())
        return Response(200, blob["data"], headers)

    def _blob_refused(self, req: Request) -> Response | None:
        """Storage's own authorization: a request needs a shared key, a SAS that has not expired, or an
        Azure AD token; an account with shared-key access off (identity-based) takes only the token
        (403 KeyBasedAuthenticationNotPermitted). Signatures are not verified, only who signed."""
        auth = _blob_auth(req)
        if auth == "none":
            return _blob_error(401, "NoAuthenticationInformation")
        if auth != "bearer" and self.config.identity_datastore:
            return _blob_error(403, "KeyBasedAuthenticationNotPermitted")
        if auth.startswith("sas:"):
            expiry = self.sas.get(auth[4:])
            if expiry is None or expiry <= time.time():
                return _blob_error(403, "AuthenticationFailed")
        return None

    def _blob_list(self, account: str, container: str, prefix: str) -> Response:
        items = "".join(
            f"<Blob><Name>{escape(name)}</Name><Properties><Content-Length>{len(b['data'])}</Content-Length>"
            f"<BlobType>BlockBlob</BlobType></Properties><Metadata>"
            + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in b["metadata"].items())
            + "</Metadata></Blob>"
            for (acc, cont, name), b in sorted(self.blobs.items(), key=lambda kv: kv[0][-1])
            if acc == account and cont == container and name.startswith(prefix)
        )
        xml = (
            f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://{account}.blob.core.windows.net/" '
            f'ContainerName="{container}"><Prefix>{escape(prefix)}</Prefix><Blobs>{items}</Blobs><NextMarker /></EnumerationResults>'
        )
        return Response(200, xml.encode(), {**_blob_headers(), "Content-Type": "application/xml"})

    def _lease(self, req: Request, key: tuple, blob: dict | None) -> Response:
        if blob is None:
            return _blob_error(404, "BlobNotFound")
        action = req.headers.get("x-ms-lease-action")
        lease = blob.get("lease")
        active = lease is not None and lease["expires"] > time.time()
        given = req.headers.get("x-ms-lease-id")
        if action == "acquire":
            if active and given != lease["id"]:
                return _blob_error(409, "LeaseAlreadyPresent")
            duration = int(req.headers.get("x-ms-lease-duration", "-1"))
            lease_id = req.headers.get("x-ms-proposed-lease-id") or str(uuid.uuid4())
            blob["lease"] = {
                "id": lease_id,
                "expires": time.time() + (duration if duration > 0 else 10**9),
                "duration": duration,
            }
            return Response(201, b"", {**_blob_headers(), "x-ms-lease-id": lease_id})
        if action == "renew":
            if lease is None or given != lease["id"]:
                return _blob_error(409, "LeaseIdMismatchWithLeaseOperation")
            lease["expires"] = time.time() + (lease["duration"] if lease["duration"] > 0 else 10**9)
            return Response(200, b"", {**_blob_headers(), "x-ms-lease-id": lease["id"]})
        if action == "release":
            if lease is None or given != lease["id"]:
                return _blob_error(409, "LeaseIdMismatchWithLeaseOperation")
            blob["lease"] = None
            return Response(200, b"", _blob_headers())
        if action == "break":
            blob["lease"] = None
            return Response(202, b"", {**_blob_headers(), "x-ms-lease-time": "0"})
        return _blob_error(400, "InvalidHeaderValue")

    # --- scoring ----------------------------------------------------------------------------------
    def _score(self, req: Request) -> Response:
        endpoint = req.host.split(".")[0]
        key = next((k for k in self.store if k.endswith(f"/onlineendpoints/{endpoint}")), None)
        if key is None:
            return _error(404, "NotFound", "no such endpoint")
        if req.headers.get("authorization") not in (f"Bearer {v}" for v in self.keys.values()):
            return _error(401, "Unauthorized", "invalid key")
        props = self.store[key]["properties"]
        traffic = {d: p for d, p in (props.get("traffic") or {}).items() if p}
        # The header routes to that deployment whatever the split (how-to-safely-rollout-online-
        # endpoints, "Test the new deployment"); without it a request goes by the traffic weights.
        target, via = req.headers.get("azureml-model-deployment"), "header"
        if not target and traffic:
            target, via = self.random.choices(list(traffic), weights=list(traffic.values()))[0], "traffic"
        if not target or f"{key}/deployments/{target.lower()}" not in self.store:
            self.scored.append(Scored(target or "", via, 404))
            return _error(404, "NoDeployment", f"no deployment {target}" if target else "no deployment takes traffic")
        messages = json.loads(req.body)["input_data"]["input_string"]
        if via == "traffic":  # mirrored copies: answered by the mirror deployment, the answer dropped
            for mirror, pct in (props.get("mirrorTraffic") or {}).items():
                if self.random.random() * 100 < pct:
                    self.scored.append(Scored(mirror, "mirror", self._answer(key, mirror, messages)[0]))
        status, text = self._answer(key, target, messages)
        self.scored.append(Scored(target, via, status))
        if status != 200:
            return _error(status, "ScoringError", text)
        return Response(200, {"output": text})

    def _answer(self, endpoint_key: str, deployment: str, messages: list) -> tuple[int, str]:
        state = self.store[f"{endpoint_key}/deployments/{deployment.lower()}"]["properties"]["provisioningState"]
        if state not in ("Succeeded", "Updating"):  # an instance that is not up yet, or is going
            return 502, f"deployment {deployment} is {state}"
        if self.config.answer is not None:
            return self.config.answer(deployment, messages)
        if self.config.scoring_status != 200:
            return self.config.scoring_status, "the model failed to answer (injected)"
        return 200, f"(emulated {deployment}) you said: {messages[-1]['content'][:40]}"

    # --- helpers ----------------------------------------------------------------------------------
    def _resource(self, req: Request, body: dict, *, state: str) -> dict:
        props = dict(body.get("properties") or {})
        props["provisioningState"] = state
        res = {
            "id": req.path,
            "name": _tail(req.path),
            "type": _arm_type(req.path),
            "properties": props,
            "systemData": {
                "createdAt": "2026-11-25T00:00:00Z",
                "createdBy": "tester@example.com",
                "createdByType": "User",
                "lastModifiedAt": "2026-11-25T00:00:00Z",
            },
        }
        for extra in ("tags", "location", "identity", "sku", "kind"):
            if extra in body:
                res[extra] = body[extra]
        if "/onlineendpoints/" in req.path.lower() or "/computes/" in req.path.lower():
            res.setdefault("location", LOCATION)
        return res

    def _datastore(self, ws_key: str) -> dict:
        ws_key = ws_key.split("/datastores")[0]
        return {
            "id": f"{ws_key}/datastores/workspaceblobstore",
            "name": "workspaceblobstore",
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": STORAGE_ACCOUNT,
                "containerName": "azureml-blobstore-test",
                "endpoint": "core.windows.net",
                "protocol": "https",
                "isDefault": True,
                "credentials": {"credentialsType": "None" if self.config.identity_datastore else "AccountKey"},
            },
        }


def _component_version(key: str) -> dict:
    inputs = {
        name: {"type": "string", "optional": True}
        for name in (
            "compute_model_import",
            "compute_preprocess",
            "compute_finetune",
            "compute_model_evaluation",
            "precision",
            "apply_lora",
            "lr_scheduler_type",
            "apply_deepspeed",
            "deepspeed_stage",
            "task_name",
        )
    }
    inputs.update(
        {
            name: {"type": "integer", "optional": True}
            for name in (
                "number_of_gpu_to_use_finetuning",
                "num_train_epochs",
                "per_device_train_batch_size",
                "per_device_eval_batch_size",
                "gradient_accumulation_steps",
                "max_seq_length",
                "lora_r",
                "lora_alpha",
                "warmup_steps",
                "seed",
            )
        }
    )
    inputs.update(
        {name: {"type": "number", "optional": True} for name in ("learning_rate", "lora_dropout", "weight_decay")}
    )
    inputs.update(
        {
            name: {"type": "uri_file", "optional": True}
            for name in ("train_file_path", "validation_file_path", "test_file_path")
        }
    )
    inputs["mlflow_model_path"] = {"type": "mlflow_model", "optional": True}
    spec = {
        "name": "chat_completion_pipeline",
        "version": "0.0.82",
        "type": "pipeline",
        "display_name": "Chat Completion Pipeline",
        "inputs": inputs,
        "outputs": {"pytorch_model_folder": {"type": "uri_folder"}, "mlflow_model_folder": {"type": "mlflow_model"}},
        "jobs": {},
    }
    return {
        "id": "azureml://registries/azureml/components/chat_completion_pipeline/versions/0.0.82",
        "name": "0.0.82",
        "type": "Microsoft.MachineLearningServices/registries/components/versions",
        "properties": {"componentSpec": spec, "isAnonymous": False, "properties": {}, "tags": {}},
    }


def _refused_traffic(props: dict, exists: Callable[[str], bool]) -> str:
    """Why Azure refuses an endpoint's traffic and mirror_traffic, or "".
    Sources: the REST spec (azure-rest-api-specs, machinelearningservices OnlineEndpointProperties):
    traffic "values need to sum to 100", and the safe-rollout how-to: "The total traffic
    percentage must sum to either 0% (to disable traffic) or 100%" (all 0 takes every deployment
    out); mirrorTraffic "values need to sum to utmost 50"; the safe-rollout
    how-to: traffic may only name existing deployments, mirrored traffic goes to one deployment,
    which takes no live traffic at the same time."""
    traffic = {d: p for d, p in (props.get("traffic") or {}).items() if p}
    mirror = {d: p for d, p in (props.get("mirrorTraffic") or {}).items() if p}
    missing = [d for d in [*traffic, *mirror] if not exists(d)]
    if missing:
        return f"traffic names deployments that do not exist: {', '.join(missing)}"
    if sum(traffic.values()) not in (0, 100):
        return (
            f"The total traffic percentage must sum to either 0% or 100%; traffic values sum to {sum(traffic.values())}"
        )
    if sum(mirror.values()) > 50 or len(mirror) > 1:
        return "mirror traffic goes to one deployment, at most 50 percent"
    if set(mirror) & set(traffic):
        return f"deployment {next(iter(set(mirror) & set(traffic)))} takes live traffic; it cannot also be mirrored"
    return ""


def _tail(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _trainer_metrics(loss: float, eval_loss: float, train_loss: float, steps: int = 10) -> dict:
    """A fine-tune's Trainer log: `loss` falling to `loss` over `steps`, learning_rate decaying,
    eval_loss at mid-run and at the end, and the end-of-training figures (distinctive values)."""
    return {
        "loss": [(s, round(loss + 1.25 * (steps - s) / steps, 4)) for s in range(1, steps + 1)],
        "learning_rate": [(s, round(2e-4 * (1 - s / (steps + 1)), 8)) for s in range(1, steps + 1)],
        "eval_loss": [(steps // 2, round(eval_loss + 0.2, 4)), (steps, eval_loss)],
        "train_loss": [(steps, train_loss)],
        "train_runtime": [(steps, 5400.25)],
        "train_samples_per_second": [(steps, 3.21)],
        "epoch": [(steps, 1.0)],
    }


def _blob_auth(req: Request) -> str:
    header = req.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return "bearer"
    if header.startswith("SharedKey "):
        return "sharedkey"
    if "sig" in req.query:
        return "sas:" + req.query["sig"]
    return "none"


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))


def _sub(key: str) -> str:
    return key.split("/")[2]


def _arm_type(path: str) -> str:
    parts = path.strip("/").split("/")
    kinds = [parts[i] for i in range(6, len(parts), 2)]
    return "Microsoft.MachineLearningServices/" + "/".join(kinds)


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}}, {"x-ms-error-code": code})


def _blob_headers() -> dict[str, str]:
    return {
        "x-ms-request-id": uuid.uuid4().hex,
        "x-ms-version": "2025-01-05",
        "Date": formatdate(usegmt=True),
        "ETag": '"0x8D' + uuid.uuid4().hex[:12].upper() + '"',
        "Last-Modified": formatdate(usegmt=True),
    }


def _blob_error(status: int, code: str) -> Response:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{code}</Message></Error>'
    return Response(
        status, body.encode(), {**_blob_headers(), "x-ms-error-code": code, "Content-Type": "application/xml"}
    )


E = AzureEmulator
ROUTES: list[tuple[str, str, Callable]] = [
    ("GET", WS, E.workspace),
    ("GET", WS + r"/computes/[^/]+", E.get),
    ("PUT", WS + r"/computes/[^/]+", E.put_lro),
    ("DELETE", WS + r"/computes/[^/]+", E.delete_lro),
    (
        "GET",
        r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.machinelearningservices/locations/(?P<loc>[^/]+)/vmsizes",
        E.vm_sizes,
    ),
    (
        "GET",
        r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.machinelearningservices/locations/(?P<loc>[^/]+)/usages",
        E.usages,
    ),
    (
        "GET",
        r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.machinelearningservices/locations/[^/]+/"
        r"mfeoperationsstatus/(?P<op>[^/]+)",
        E.operation,
    ),
    (
        "GET",
        r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.machinelearningservices/locations/[^/]+/"
        r"mfeoperationresults/(?P<op>[^/]+)",
        E.operation_result,
    ),
    ("GET", WS + r"/datastores", E.datastores),
    ("GET", WS + r"/datastores/[^/]+", E.datastore),
    ("POST", WS + r"/datastores/[^/]+/listsecrets", E.datastore_secrets),
    ("GET", WS + r"/(data|models|components|environments)/[^/]+/versions", E.list),
    ("GET", WS + r"/(data|models|components|environments)/[^/]+(/versions/[^/]+)?", E.get),
    ("PUT", WS + r"/(data|models|components|environments)/[^/]+(/versions/[^/]+)?", E.put),
    ("GET", WS + r"/jobs", E.list),
    ("GET", WS + r"/jobs/[^/]+", E.get),
    ("PUT", WS + r"/jobs/[^/]+", E.put),
    ("POST", WS + r"/jobs/[^/]+/cancel", E.job_cancel),
    ("GET", WS + r"/onlineendpoints/[^/]+", E.get),
    ("PUT", WS + r"/onlineendpoints/[^/]+", E.put_lro),
    ("DELETE", WS + r"/onlineendpoints/[^/]+", E.delete_lro),
    ("POST", WS + r"/onlineendpoints/[^/]+/listkeys", E.list_keys),
    ("GET", WS + r"/onlineendpoints/[^/]+/deployments", E.list),
    ("GET", WS + r"/onlineendpoints/[^/]+/deployments/[^/]+", E.get),
    ("PUT", WS + r"/onlineendpoints/[^/]+/deployments/[^/]+", E.put_lro),
    ("DELETE", WS + r"/onlineendpoints/[^/]+/deployments/[^/]+", E.delete_lro),
    ("POST", WS + r"/onlineendpoints/[^/]+/deployments/[^/]+/getlogs", E.get_logs),
    ("GET", r"/history/v1\.0" + WS + r"(/experiments/[^/]+)?/runs/(?P<run>[^/]+)/children", E.run_children),
    ("GET", r"/registrymanagement/v1\.0/registries/(?P<reg>[^/]+)/discovery", E.discovery),
    ("GET", r"/mlflow/v1\.0" + WS + r"/api/2\.0/mlflow/runs/get", E.mlflow_run),
    ("GET", r"/mlflow/v1\.0" + WS + r"/api/2\.0/mlflow/metrics/get-history", E.mlflow_history),
    ("GET", REG + r"/(models|components)/[^/]+(/versions/[^/]+)?", E.get),
    ("GET", REG + r"/(models|components)/[^/]+/versions", E.list),
]
