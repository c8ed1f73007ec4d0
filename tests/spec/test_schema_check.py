"""The built-in schema checker against the jsonschema package, the reference implementation."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from orchestrator.spec.schema_check import Checker
from orchestrator.spec.validate import _inline_refs, _validator, schema
from tests.conftest import SPECS

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


_VALID = yaml.safe_load((SPECS / "phi3-ultrachat.yaml").read_text().replace("${env:AZURE_SUBSCRIPTION_ID}", "sub"))


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))


_ALL_PATHS = list(_paths(_VALID))
_values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["auto", "local", "test", "fp16", "Standard_NC6s_v3"]),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_ALL_PATHS), _values), min_size=1, max_size=4))
def test_same_verdicts_on_mutated_specs(mutations):
    data = copy.deepcopy(_VALID)
    for path, value in mutations:
        parent = data
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent[path[-1]] = value
    same_verdict(data)


def test_validate_uses_the_built_in_checker():
    assert isinstance(_validator(), Checker)
