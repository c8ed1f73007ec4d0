"""connect: the credential the spec names, the workspace MLClient and the model registry client.

Nothing here hard-codes an endpoint or touches proxies: HTTPS_PROXY and custom CA bundles
(REQUESTS_CA_BUNDLE) work as they do for azure-core everywhere.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

from orchestrator.errors import OrchestrateError
from orchestrator.spec.model import RunSpec, Workspace

CREDENTIALS = ("default", "cli", "environment", "managed_identity", "workload_identity", "interactive")
HINTS = {
    "default": "sign in with `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET",
    "cli": "sign in with `az login` (and `az account set -s <subscription>`)",
    "environment": "set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or a certificate path)",
    "managed_identity": "run on an Azure host with a managed identity, or choose another credential",
    "workload_identity": "set AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID (Kubernetes)",
    "interactive": "complete the browser sign-in",
}


def authority(cloud: str) -> str:
    from azure.identity import AzureAuthorityHosts

    return {
        "AzureCloud": AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
        "AzureChinaCloud": AzureAuthorityHosts.AZURE_CHINA,
        "AzureUSGovernment": AzureAuthorityHosts.AZURE_GOVERNMENT,
    }[cloud]


class SharedTokens:
    """One token per scope for the whole process. Every operation group of MLClient has its own
    token policy, so without this `cli` would run `az account get-access-token` about 18 times in
    one apply (each a second or so with the real az). Tokens are reused until 5 minutes before
    they expire."""

    MARGIN = 300

    def __init__(self, inner):
        self.inner = inner
        self._tokens: dict = {}
        self._lock = threading.Lock()

    def _cached(self, key, fetch):
        with self._lock:
            token = self._tokens.get(key)
            if token is None or token.expires_on - self.MARGIN <= time.time():
                token = self._tokens[key] = fetch()
            return token

    def get_token(self, *scopes, claims=None, tenant_id=None, **kwargs):
        return self._cached(
            ("token", scopes, claims, tenant_id),
            lambda: self.inner.get_token(*scopes, claims=claims, tenant_id=tenant_id, **kwargs),
        )

    def get_token_info(self, *scopes, options=None):
        if not hasattr(self.inner, "get_token_info"):
            opts = options or {}
            return self.get_token(*scopes, claims=opts.get("claims"), tenant_id=opts.get("tenant_id"))
        key = ("info", scopes, tuple(sorted((options or {}).items())))
        return self._cached(key, lambda: self.inner.get_token_info(*scopes, options=options))

    def close(self) -> None:
        getattr(self.inner, "close", lambda: None)()


def workspace_of(spec: RunSpec) -> Workspace:
    """The spec's workspace; the schema requires it for target azureml."""
    if spec.workspace is None:
        raise OrchestrateError("target azureml needs a workspace section (subscription_id, resource_group, name)")
    return spec.workspace


# While several runs of one command are read together (plan DIR), they share what is costly to
# make per run: the credential (one `az` call per scope instead of one per run) and the MLClients
# (each costs ~50 ms of CPU, and the registry client a discovery round trip). None: no sharing.
_shared: dict | None = None
_shared_lock = threading.RLock()


@contextlib.contextmanager
def sharing():
    """Share credentials and clients between the targets made inside (one command's runs)."""
    global _shared
    with _shared_lock:
        outer, _shared = _shared, ({} if _shared is None else _shared)
    try:
        yield
    finally:
        with _shared_lock:
            _shared = outer


def _once(key: tuple, make):
    """make(), or what it made for the same key while sharing."""
    with _shared_lock:
        if _shared is None:
            return make()
        if key not in _shared:
            _shared[key] = make()
        return _shared[key]


def credential(kind: str, cloud: str):
    """The azure-identity credential for `workspace.credential` (or --credential), tokens shared."""
    quiet_sdk_logs()
    return _once(("credential", kind, cloud), lambda: SharedTokens(_credential(kind, cloud)))


def quiet_sdk_logs() -> None:
    """Keep the Azure SDK's own log lines (a failed sign-in prints the whole credential chain,
    15 lines) off stderr: orchestrate says what failed in one line. ORCHESTRATE_DEBUG shows them."""
    import logging

    if not os.environ.get("ORCHESTRATE_DEBUG"):
        logging.getLogger("azure").setLevel(logging.CRITICAL)


def _credential(kind: str, cloud: str):
    import azure.identity as identity

    host = authority(cloud)
    if kind == "default":
        default = identity.DefaultAzureCredential(authority=host)
        if sys.stdin.isatty() and sys.stderr.isatty():
            return identity.ChainedTokenCredential(default, identity.InteractiveBrowserCredential(authority=host))
        return default
    makers = {
        "cli": identity.AzureCliCredential,
        "environment": lambda: identity.EnvironmentCredential(authority=host),
        "managed_identity": identity.ManagedIdentityCredential,
        "workload_identity": lambda: identity.WorkloadIdentityCredential(authority=host),
        "interactive": lambda: identity.InteractiveBrowserCredential(authority=host),
    }
    if kind not in makers:
        raise OrchestrateError(f"unknown credential {kind!r}; choose one of {', '.join(CREDENTIALS)}")
    try:
        return makers[kind]()
    except ValueError as exc:  # e.g. WorkloadIdentityCredential without its environment
        raise OrchestrateError(f"credential {kind}: {exc}; {HINTS[kind]}") from None


def auth_error(kind: str, exc: Exception) -> OrchestrateError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return OrchestrateError(f"authentication failed with credential {kind}: {first}; {HINTS.get(kind, '')}")


def workspace_client(spec: RunSpec, cred):
    """MLClient for the spec's workspace: from config_file, or from the three ids."""
    ws = workspace_of(spec)
    base = os.path.dirname(spec.source_path) if ws.config_file else ""
    return _once(("workspace", id(cred), ws, base), lambda: _workspace_client(spec, cred))


def _workspace_client(spec: RunSpec, cred):
    import logging

    from azure.ai.ml import MLClient

    from orchestrator.targets.azureml.calls import mute_sdk_prints

    # The SDK logs "Check: endpoint ... exists" at INFO on its own stderr handler; our events say it.
    logging.getLogger("azure.ai.ml.operations._online_deployment_operations").setLevel(logging.WARNING)
    mute_sdk_prints()  # its polling dots and upload colour resets

    ws = workspace_of(spec)
    if ws.config_file:
        from pathlib import Path

        base = Path(spec.source_path).parent if spec.source_path else Path(".")
        path = (base / ws.config_file).expanduser()
        if not path.is_file():
            raise OrchestrateError(
                f"workspace.config_file {path} not found (download config.json from the Azure portal)"
            )
        try:
            return MLClient.from_config(cred, path=str(path), cloud=ws.cloud, show_progress=False)
        except Exception as exc:  # the SDK raises its own ValidationException for a malformed file
            raise OrchestrateError(f"workspace.config_file {path}: {str(exc).splitlines()[0]}") from None
    missing = [k for k in ("subscription_id", "resource_group", "name") if not getattr(ws, k)]
    if missing:
        raise OrchestrateError(f"workspace is missing {', '.join(missing)} (or give workspace.config_file)")
    return MLClient(cred, ws.subscription_id, ws.resource_group, ws.name, cloud=ws.cloud, show_progress=False)


def registry_client(spec: RunSpec, cred):
    """MLClient for the model's registry (the system registry `azureml` for the reference workflow)."""
    from azure.ai.ml import MLClient

    registry, cloud = spec.model.registry or "azureml", workspace_of(spec).cloud
    return _once(
        ("registry", id(cred), registry, cloud),
        lambda: MLClient(cred, registry_name=registry, cloud=cloud, show_progress=False),
    )
