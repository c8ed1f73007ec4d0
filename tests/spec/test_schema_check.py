"""The built-in schema checker against the jsonschema package, the reference implementation."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from orchestrator.spec.schema_check import Checker
from orchestrator.spec.validate import _inline_refs, _validator, schema
from tests.spec.mutations import ALL_PATHS, VALID, VALUES

REFERENCE = Draft202012Validator(schema())
INLINED = Checker(_inline_refs(schema(), schema()))


def verdicts(errors) -> set:
    # jsonschema reports a `false` subschema at the parent's path; keep keyword + path otherwise.
    return {(e.validator, tuple(e.absolute_path)) for e in errors if e.validator is not None}


def same_verdict(instance) -> None:
    ours = list(INLINED.iter_errors(instance))
    theirs = list(REFERENCE.iter_errors(instance))
    assert verdicts(ours) == verdicts(theirs), instance
    assert any(e.validator is None for e in ours) == any(e.validator is None for e in theirs)


def test_the_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(schema())


def test_unknown_keywords_are_refused_when_built():
    with pytest.raises(ValueError, match="uniqueItems"):
        Checker({"type": "array", "uniqueItems": True})


@pytest.mark.parametrize("instance", [
    None, [], "text", 3, {}, {"version": True}, {"version": 1.0}, {"version": 1, "name": 5},
    {"target": "local", "workspace": {}, "deployment": {"instance_count": 2}},
    {"finetune": {"gpus_per_node": "auto"}}, {"finetune": {"gpus_per_node": 0}},
    {"finetune": {"gpus_per_node": 1.0}}, {"finetune": {"lora": {"enabled": 1}}},
    {"smoke_test": {"sample_from": [{"role": "user", "content": ""}]}}, {"smoke_test": {"sample_from": []}},
    {"dataset": {"splits": {"train": {"from": "a", "percent": 0}, "other": {}}}},
])
def test_same_verdicts_on_hand_picked_instances(instance):
    same_verdict(instance)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), VALUES), min_size=1, max_size=4))
def test_same_verdicts_on_mutated_specs(mutations):
    data = copy.deepcopy(VALID)
    for path, value in mutations:
        parent = data
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent[path[-1]] = value
    same_verdict(data)


def test_validate_uses_the_built_in_checker():
    assert isinstance(_validator(), Checker)
