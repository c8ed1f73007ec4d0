"""register on the local target: an MLflow model registry on a sqlite store under .orchestrate/.

The version carries the stage fingerprint as a tag; a re-apply with the same spec finds and reuses
it instead of registering the same model twice.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from orchestrator.errors import OrchestrateError

FINGERPRINT_TAG = "orchestrate.fingerprint"


def _store_errors(fn):
    """A locked or corrupt mlflow.db as one line, not a SQLAlchemy traceback (the registry is a
    file under .orchestrate/: another orchestrate may hold it, or it was truncated)."""

    @functools.wraps(fn)
    def wrapped(root: Path, *args, **kwargs):
        from mlflow.exceptions import MlflowException
        from sqlalchemy.exc import SQLAlchemyError  # mlflow's own dependency, loaded with it

        try:
            return fn(root, *args, **kwargs)
        except (SQLAlchemyError, MlflowException) as exc:
            why = str(getattr(exc, "orig", None) or getattr(exc, "message", None) or exc).strip().splitlines()[0]
            why = why.removeprefix("(sqlite3.OperationalError) ").removeprefix("(sqlite3.DatabaseError) ")
            raise OrchestrateError(
                f"the local model registry {root / 'mlflow.db'} cannot be used ({why}): if another orchestrate "
                "is using it, wait for it; else move the file away to start over"
            ) from None

    return wrapped


def _missing(exc) -> bool:
    return getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def _mlflow(root: Path):
    # mlflow costs seconds to import: only the register stage and destroy pay it.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow

    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{(root / 'mlflow.db').resolve()}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


@_store_errors
def find_version(root: Path, name: str, fingerprint: str) -> str | None:
    mlflow = _mlflow(root)
    client = mlflow.MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except mlflow.exceptions.MlflowException as exc:
        if _missing(exc):
            return None
        raise
    for v in versions:
        if v.tags.get(FINGERPRINT_TAG) == fingerprint:
            return v.version
    return None


@_store_errors
def register(
    root: Path, *, name: str, fingerprint: str, model_dir: Path, run: str, achieved: dict | None = None
) -> str:
    """Register the fine-tuned HF folder as an MLflow transformers model (task llm/v1/chat); the
    fine-tune's final metrics (`achieved`) are kept as a tag of the version."""
    from orchestrator import metrics

    version = find_version(root, name, fingerprint) or _log_version(root, name, fingerprint, model_dir, run)
    if achieved:
        _mlflow(root).MlflowClient().set_model_version_tag(name, version, metrics.TAG, metrics.to_tag(achieved))
    return version


def _log_version(root: Path, name: str, fingerprint: str, model_dir: Path, run: str) -> str:
    """A new version of `name` from the HF folder, tagged with its fingerprint and run."""
    mlflow = _mlflow(root)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    experiment = f"orchestrate-{run}"
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=(root / "mlartifacts").resolve().as_uri())
    mlflow.set_experiment(experiment)
    components = {
        "model": AutoModelForCausalLM.from_pretrained(model_dir),
        "tokenizer": AutoTokenizer.from_pretrained(model_dir),
    }
    with mlflow.start_run(run_name=f"{run}-register"):
        # Explicit requirements: MLflow's inference imports every candidate package (torchvision
        # among them, which must not be installed beside the pinned CPU torch).
        import torch
        import transformers

        info = mlflow.transformers.log_model(
            transformers_model=components,
            name="model",
            task="llm/v1/chat",
            registered_model_name=name,
            pip_requirements=[f"transformers=={transformers.__version__}", f"torch=={torch.__version__.split('+')[0]}"],
        )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_model_version_tag(name, version, FINGERPRINT_TAG, fingerprint)
    client.set_model_version_tag(name, version, "orchestrate.run", run)
    return version


@_store_errors
def version_tags(root: Path, name: str, version: str) -> dict[str, str]:
    """A registered version's tags, {} when it is not there."""
    mlflow = _mlflow(root)
    try:
        return dict(mlflow.MlflowClient().get_model_version(name, version).tags or {})
    except mlflow.exceptions.MlflowException as exc:
        if _missing(exc):
            return {}
        raise


@_store_errors
def model_path(root: Path, name: str, version: str) -> tuple[Path, Path]:
    """Local folders of a registered version's HF weights and its tokenizer."""
    mlflow = _mlflow(root)
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
    model = next((c for c in (local / "model", local) if (c / "config.json").is_file()), None)
    if model is None:
        raise FileNotFoundError(f"no config.json under {local}")
    tokenizer = next((c for c in (local / "components" / "tokenizer", model) if any(c.glob("tokenizer*"))), model)
    return model, tokenizer


@_store_errors
def delete_version(root: Path, name: str, version: str) -> None:
    mlflow = _mlflow(root)
    client = mlflow.MlflowClient()
    try:
        client.delete_model_version(name, version)
        if not client.search_model_versions(f"name='{name}'"):
            client.delete_registered_model(name)
    except mlflow.exceptions.MlflowException as exc:
        if not _missing(exc):
            raise
        # already gone: destroy is idempotent
