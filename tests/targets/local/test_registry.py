"""The local model registry (MLflow on sqlite under .orchestrate/): a corrupt or locked database is
one line, not a SQLAlchemy traceback halfway through a destroy (issue 22, item 12)."""

from __future__ import annotations

import sqlite3

import pytest

from orchestrator.errors import OrchestrateError

pytest.importorskip("mlflow")


def test_a_corrupt_registry_database_is_one_line(tmp_path):
    from orchestrator.targets.local import registry

    (tmp_path / "mlflow.db").write_bytes(b"this is not a sqlite database, it was truncated or overwritten\n" * 40)
    for call in (
        lambda: registry.find_version(tmp_path, "m", "fp"),
        lambda: registry.delete_version(tmp_path, "m", "1"),
    ):
        with pytest.raises(OrchestrateError) as caught:
            call()
        message = str(caught.value)
        assert "\n" not in message and "mlflow.db cannot be used (file is not a database)" in message
        assert "move the file away to start over" in message


def test_a_locked_registry_database_is_one_line(tmp_path):
    from orchestrator.targets.local import registry

    registry.find_version(tmp_path, "m", "fp")  # creates the store
    holder = sqlite3.connect(tmp_path / "mlflow.db", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another orchestrate, mid-write
    try:
        with pytest.raises(OrchestrateError, match=r"database is locked\): if another orchestrate is using it"):
            registry.delete_version(tmp_path, "m", "1")
    finally:
        holder.rollback()
        holder.close()
