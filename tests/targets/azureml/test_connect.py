"""Which azure-identity credential each `workspace.credential` makes (no token is requested here)."""

from __future__ import annotations

import sys

import pytest

from orchestrator.errors import OrchestrateError
from orchestrator.targets.azureml import connect

identity = pytest.importorskip("azure.identity")


@pytest.mark.parametrize(
    "kind,cls",
    [
        ("cli", "AzureCliCredential"),
        ("environment", "EnvironmentCredential"),
        ("managed_identity", "ManagedIdentityCredential"),
        ("interactive", "InteractiveBrowserCredential"),
    ],
)
def test_each_kind_makes_its_credential(kind, cls):
    assert type(connect.credential(kind, "AzureCloud").inner).__name__ == cls


def test_default_adds_the_browser_only_with_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert isinstance(connect.credential("default", "AzureCloud").inner, identity.DefaultAzureCredential)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    chained = connect.credential("default", "AzureUSGovernment").inner
    assert isinstance(chained, identity.ChainedTokenCredential)
    assert [type(c).__name__ for c in chained.credentials] == ["DefaultAzureCredential", "InteractiveBrowserCredential"]


@pytest.mark.parametrize(
    "cloud,host",
    [
        ("AzureCloud", "login.microsoftonline.com"),
        ("AzureChinaCloud", "login.chinacloudapi.cn"),
        ("AzureUSGovernment", "login.microsoftonline.us"),
    ],
)
def test_sovereign_clouds_have_their_own_authority(cloud, host):
    assert connect.authority(cloud) == host


def test_workload_identity_without_its_environment_is_one_clear_error(monkeypatch):
    for name in ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(OrchestrateError, match="credential workload_identity: .*AZURE_FEDERATED_TOKEN_FILE"):
        connect.credential("workload_identity", "AzureCloud")
