"""Random mutations of the valid Phi-3 spec, shared by the property-based tests."""

from __future__ import annotations

import yaml
from hypothesis import strategies as st

from tests.conftest import SPECS

VALID = yaml.safe_load((SPECS / "phi4-ultrachat.yaml").read_text().replace("${env:AZURE_SUBSCRIPTION_ID}", "sub"))


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))


ALL_PATHS = list(_paths(VALID))
# Any JSON-ish value, plus words the schema gives meaning to (so branches such as target: local
# and gpus_per_node: auto are reached, not only type errors).
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["auto", "local", "test", "fp16", "Standard_NC6s_v3"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
