"""The stages' records: typed hand-offs that read a state entry back and write it out unchanged."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.records import BY_STAGE, DeploymentRecord, EndpointRecord, RegisterRecord, as_dict
from orchestrator.stages import STAGES


def test_every_stage_has_its_record_type():
    assert set(BY_STAGE) == {s.name for s in STAGES}
    assert all(kind.stage == name for name, kind in BY_STAGE.items())


def test_an_entry_reads_back_typed_and_writes_out_the_same():
    entry = {"pid": 41, "port": 5001, "key_file": "/k", "scoring_uri": "http://127.0.0.1:5001/score", "detail": "d"}
    record = EndpointRecord.from_dict({**entry, "fingerprint": "f" * 64, "inputs": {}, "seconds": 1.5})
    assert (record.pid, record.port, record.scoring_uri) == (41, 5001, entry["scoring_uri"])
    assert record.extra == {"key_file": "/k"}  # the state's own bookkeeping is not the record's
    assert as_dict(record) == entry


def test_unset_fields_are_not_written_and_a_record_is_frozen():
    record = RegisterRecord(name="m", detail="m version 3")
    assert record.to_dict() == {"name": "m", "detail": "m version 3"} and record.ref == ""
    assert RegisterRecord(name="m", version="3").ref == "m:3"
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.version = "4"  # type: ignore[misc]


def test_nothing_recorded_is_an_empty_record():
    assert DeploymentRecord.from_dict(None) == DeploymentRecord()
    assert as_dict({"detail": "a target's plain dict"}) == {"detail": "a target's plain dict"}
