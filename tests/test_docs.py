from __future__ import annotations

import re

from orchestrator.docs import reference_markdown
from orchestrator.spec.validate import schema
from tests.conftest import ROOT


def test_readme_spec_reference_matches_the_schema():
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"<!-- reference:start -->\n(.*)<!-- reference:end -->", readme, re.S).group(1)
    assert section == reference_markdown(schema()), "README is stale: regenerate with `orchestrate schema --markdown`"


def test_reference_lists_every_leaf_key():
    text = reference_markdown(schema())
    for key in (
        "finetune.lora.alpha",
        "deployment.probes.liveness.initial_delay",
        "deployment.request.timeout_ms",
        "dataset.splits.train.percent",
        "smoke_test.parameters.max_new_tokens",
        "teardown.after_smoke_test",
    ):
        assert f"| `{key}` |" in text, key


def test_the_schema_file_is_the_composition_of_the_targets_fragments():
    """Editors read schemas/runspec.schema.json; validate composes it with each target's fragment."""
    import json

    on_disk = json.loads((ROOT / "schemas" / "runspec.schema.json").read_text())
    assert on_disk == schema(), "schemas/runspec.schema.json is stale: regenerate with `orchestrate schema`"
    branches = [entry["if"]["properties"]["target"]["const"] for entry in on_disk["allOf"]]
    assert branches == on_disk["properties"]["target"]["enum"] == ["azureml", "local"]
