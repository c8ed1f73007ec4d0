"""The fine-tune's metrics, read from the workspace's MLflow tracking server over its REST API.

The API lives under `/api/2.0/mlflow` of the workspace's tracking URI (`mlFlowTrackingUri`,
azureml://<region>.api.azureml.ms/mlflow/v1.0/<workspace id>, read as https), with the Azure AD
token orchestrate already holds (azureml-examples sdk/python/using-mlflow/using-rest-api). Not
azureml-mlflow: it pulls mlflow itself (hundreds of MB) for two GETs, and `validate` must stay
light. `runs/get` gives each metric's latest value (users report `search_runs` missing metrics,
azure-sdk-for-python #39198); `metrics/get-history` its history. The run id is the job's name: the
component logs to the pipeline's root run, which is orchestrate's job.

Metrics are a courtesy: a read that fails says so in one line and never fails the apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator import metrics
from orchestrator.errors import OrchestrateError

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget

SCOPE = "https://management.azure.com/.default"
TIMEOUT = 30


class Unreadable(OrchestrateError):
    """The tracking server did not answer the metrics (404, auth, network)."""


def base(t: AzureMLTarget) -> str:
    if t.seen.tracking is None:
        ws = t.azure("read the workspace", t.ml.workspaces.get, t.ml.workspace_name)
        uri = str(getattr(ws, "mlflow_tracking_uri", "") or "")
        if not uri.startswith("azureml://"):
            raise Unreadable("the workspace names no MLflow tracking URI")
        t.seen.tracking = "https://" + uri[len("azureml://") :].rstrip("/") + "/api/2.0/mlflow"
    return t.seen.tracking


_tokens: dict[int, Any] = {}  # credential id -> its last AccessToken (a CLI credential runs `az` per token)


def _token(t: AzureMLTarget) -> str:
    import time

    held = _tokens.get(id(t._cred))
    if held is None or held.expires_on - 300 < time.time():
        held = _tokens[id(t._cred)] = t._cred.get_token(SCOPE)
    return held.token


def _get(t: AzureMLTarget, route: str, params: dict) -> dict:
    """The JSON of one GET; Unreadable for any failure (a token refused, a bad answer): metrics
    never fail an apply whose job has completed."""
    try:
        return _request(t, route, params)
    except Unreadable:
        raise
    except Exception as exc:  # a credential that cannot sign in now, a body that is not JSON
        raise Unreadable(f"the tracking server's answer could not be read ({type(exc).__name__})") from None


def _request(t: AzureMLTarget, route: str, params: dict) -> dict:
    import requests

    token = _token(t)
    try:
        response = requests.get(
            f"{base(t)}/{route}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        )
    except requests.RequestException as exc:
        raise Unreadable(f"the tracking server could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        try:
            code = response.json().get("error_code", "")
        except ValueError:
            code = ""
        raise Unreadable(f"HTTP {response.status_code} {code}".strip() + " from the tracking server")
    return response.json()


def latest(t: AzureMLTarget, run_id: str) -> dict[str, float]:
    """Each metric's latest value (runs/get), and the step of the latest `loss` as `step`."""
    data = _get(t, "runs/get", {"run_id": run_id}).get("run", {}).get("data", {})
    values: dict[str, Any] = {}
    for m in data.get("metrics") or []:
        values[m.get("key")] = m.get("value")
        if m.get("key") == "loss":
            values["step"] = m.get("step")
    out = metrics.final(values)
    if isinstance(values.get("step"), int | float):
        out["step"] = float(values["step"])
    return out


def history(t: AzureMLTarget, run_id: str, key: str) -> list[list[float]]:
    """[[step, value], ...] of one metric, in step order, every page."""
    points: list[list[float]] = []
    token = ""
    for _ in range(100):  # pages; a fine-tune logs hundreds of points, not millions
        params = {"run_id": run_id, "metric_key": key, **({"page_token": token} if token else {})}
        data = _get(t, "metrics/get-history", params)
        points += [[float(m.get("step") or 0), float(m["value"])] for m in data.get("metrics") or [] if "value" in m]
        token = data.get("next_page_token") or ""
        if not token:
            break
    return sorted(points)


def read(t: AzureMLTarget, run_id: str) -> tuple[dict[str, float], dict[str, list[list[float]]]]:
    """(final figures, histories of the curves) of a finished job."""
    final = latest(t, run_id)
    final.pop("step", None)
    return final, {key: points for key in metrics.CURVES if (points := history(t, run_id, key))}
