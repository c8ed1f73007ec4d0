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
