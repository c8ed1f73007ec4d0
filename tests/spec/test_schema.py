"""The schema file is valid Draft 2020-12 and validate checks specs with the jsonschema package."""

from __future__ import annotations

import yaml
from jsonschema import Draft202012Validator

from orchestrator.spec.validate import _validator, schema
from tests.conftest import SPECS


def test_the_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(schema())


def test_validate_uses_the_jsonschema_package():
    """Its Draft 2020-12 validator, extended only so that `pattern` anchors as JSON Schema's `$` does."""
    validator = _validator()
    assert validator.META_SCHEMA == Draft202012Validator.META_SCHEMA
    assert set(validator.VALIDATORS) == set(Draft202012Validator.VALIDATORS)
    assert validator.VALIDATORS["pattern"] is not Draft202012Validator.VALIDATORS["pattern"]


def test_inlined_refs_give_the_same_verdicts_as_the_schema_file():
    """validate hands jsonschema the schema with its local $refs inlined (faster); same verdicts."""
    as_written = Draft202012Validator(schema())
    spec = yaml.safe_load((SPECS / "phi4-ultrachat.yaml").read_text())
    spec["dataset"]["splits"]["train"]["percent"] = 0  # in $defs/split
    spec["compute"]["sku"] = "nc6"  # $defs/vm_size
    spec["deployment"]["probes"]["liveness"]["period"] = "ten"  # $defs/probe
    spec["smoke_test"]["sample_from"] = [{"role": "robot", "content": "hi"}]  # $defs/message
    found = {(e.validator, tuple(e.absolute_path)) for e in _validator().iter_errors(spec)}
    assert found == {(e.validator, tuple(e.absolute_path)) for e in as_written.iter_errors(spec)}
    assert len(found) == 4, found
