"""The data stage on a local folder: the same rows from JSONL, JSON and Parquet, and no network."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orchestrator import dataprep
from orchestrator.errors import OrchestrateError
from orchestrator.spec.validate import load_runspec
from orchestrator.targets.local.sample_data import write_dataset
from tests.conftest import ROOT, SPECS


def _spec(folder, write_spec):
    text = (SPECS / "quickstart-local.yaml").read_text().replace("./data/quickstart-chat", str(folder))
    return load_runspec(write_spec(text))


def _written(result):
    return {role: dataprep.read_jsonl(info["path"]) for role, info in result.items()}


def test_local_jsonl_makes_no_network_connection(tmp_path, write_spec, recording_proxy):
    """Run in a fresh interpreter, so nothing imported earlier by other tests hides an import-time call."""
    folder = write_dataset(tmp_path / "chat", train=40, test=10)
    spec_path = write_spec((SPECS / "quickstart-local.yaml").read_text().replace("./data/quickstart-chat", str(folder)))
    code = (
        "import sys; from pathlib import Path; from orchestrator.spec.validate import load_runspec; "
        "from orchestrator import dataprep; "
        "print(dataprep.prepare(load_runspec(sys.argv[1]), Path(sys.argv[2]))['train']['rows'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(spec_path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "24"  # 60 % of 40
    assert "datasets" not in proc.stderr
    assert recording_proxy.seen == []


def test_jsonl_json_and_parquet_give_the_same_rows(tmp_path, write_spec):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    jsonl = write_dataset(tmp_path / "jsonl", train=30, test=10)
    as_json, as_parquet = tmp_path / "json", tmp_path / "parquet"
    as_json.mkdir(), as_parquet.mkdir()
    for split in ("train", "test"):
        rows = dataprep.read_jsonl(jsonl / f"{split}.jsonl")
        (as_json / f"{split}.json").write_text(json.dumps(rows))
        pq.write_table(pyarrow.Table.from_pylist(rows), as_parquet / f"{split}.parquet")
    results = [
        _written(dataprep.prepare(_spec(folder, write_spec), tmp_path / f"out-{folder.name}"))
        for folder in (jsonl, as_json, as_parquet)
    ]
    assert results[0] == results[1] == results[2]
    assert len(results[0]["train"]) == 18 and len(results[0]["test"]) == 10


def test_a_bad_row_is_named(tmp_path):
    folder = write_dataset(tmp_path / "chat", train=5, test=5)
    with (folder / "train.jsonl").open("a") as fh:
        fh.write("\n{not json\n")  # a blank line is skipped, not counted
    rows = dataprep.JsonlRows(folder / "train.jsonl")
    assert len(rows) == 6 and rows[4]["messages"]
    with pytest.raises(OrchestrateError, match=r"train.jsonl: row 6 is not valid JSON"):
        rows[5]
