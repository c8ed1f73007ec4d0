"""The base model's published defaults, applied where the spec is silent (pure functions)."""

from __future__ import annotations

from orchestrator.model_defaults import effective, parse_tag
from orchestrator.plan import fingerprints
from orchestrator.spec.validate import load_runspec
from tests.conftest import SPECS


def test_the_tag_reads_as_json_or_a_python_literal():
    assert parse_tag('{"learning_rate": "7e-06"}') == {"learning_rate": "7e-06"}
    assert parse_tag("{'num_train_epochs': 2}") == {"num_train_epochs": "2"}  # the notebook's literal_eval form
    assert parse_tag("not a dict") == {} and parse_tag(None) == {} and parse_tag("[1, 2]") == {}


def test_unreadable_or_refused_values_leave_the_default(write_spec):
    text = (SPECS / "phi4-ultrachat.yaml").read_text().replace("  precision: fp16\n", "").replace("  seed: 42\n", "")
    spec = load_runspec(write_spec(text))
    assert "precision" not in spec.finetune_set and "seed" not in spec.finetune_set
    used, settings = effective(spec, {"precision": "8", "seed": "forty-two", "warmup_steps": "100"})
    assert used.finetune.precision == spec.finetune.precision and used.finetune.seed == spec.finetune.seed
    assert used.finetune.warmup_steps == 0  # the spec sets warmup_steps: 0, so the model's 100 loses
    sources = {s.field: s.source for s in settings}
    assert sources["precision"] == "default" and sources["warmup_steps"] == "spec"


def test_a_published_default_moves_the_finetune_fingerprint(write_spec):
    text = (SPECS / "phi4-ultrachat.yaml").read_text().replace("  learning_rate: 5.0e-6\n", "")
    spec = load_runspec(write_spec(text))
    a, _ = effective(spec, {"learning_rate": "7e-06"})
    b, _ = effective(spec, {"learning_rate": "8e-06"})
    assert fingerprints(a)["finetune"] != fingerprints(b)["finetune"]
    assert fingerprints(a)["data"] == fingerprints(b)["data"]


def test_the_input_table_reads_back_what_it_writes():
    """What the pipeline job sends, published as a model's defaults, gives a spec that sets nothing
    the same fine-tune: the table's two directions agree, field by field."""
    import dataclasses

    from orchestrator.model_defaults import INPUTS, component_inputs

    spec = load_runspec(SPECS / "phi4-ultrachat.yaml")
    sent = component_inputs(spec.finetune)
    assert list(sent) == list(INPUTS) and sent["precision"] == "16" and sent["apply_lora"] == "true"
    silent = dataclasses.replace(spec, finetune_set=())
    used, settings = effective(silent, {name: str(value) for name, value in sent.items()})
    assert used.finetune == spec.finetune
    assert {s.source for s in settings} == {"model default"}
