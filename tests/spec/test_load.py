from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.errors import SpecError
from orchestrator.spec.load import MAX_BYTES, load_spec, load_text, load_text_bytes


def diags(text: str, **kw):
    with pytest.raises(SpecError) as exc:
        load_text(text, "s.yaml", **kw)
    return exc.value.diagnostics


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("5e-6", 5e-6),  # PyYAML's YAML 1.1 rules read this as a string
        ("5.0e-6", 5e-6),
        ("1_000", "1_000"),  # no underscores in YAML 1.2 ints
        ("010", 10),  # YAML 1.2: decimal, not octal
        ("0o10", 8),
        ("0x1F", 31),
        ("yes", "yes"),  # YAML 1.1 booleans are plain strings in 1.2
        ("on", "on"),
        ("True", True),
        ("false", False),
        ("~", None),
        ("", None),
        ("-.inf", -math.inf),
        ("'5'", "5"),
        ("!!str 5", "5"),
        ("!!float 1", 1),
    ],
)
def test_yaml12_core_scalars(raw, expected):
    assert load_text(f"v: {raw}\n", "s.yaml").data["v"] == expected


def test_marks_are_one_based_lines_and_columns():
    loaded = load_text("a:\n  b: 1\n  c: [x, y]\n", "s.yaml")
    assert loaded.marks[("a", "b")].line == 2 and loaded.marks[("a", "b")].col == 6
    assert loaded.key_marks[("a", "c")].line == 3 and loaded.key_marks[("a", "c")].col == 3
    assert loaded.marks[("a", "c", 1)].col == 10
    assert loaded.mark(("a", "missing", "deeper")) == loaded.marks[("a",)]


def test_env_interpolation_substitutes_and_stays_text():
    text = "id: ${env:SUB}\nurl: https://${env:HOST}/x\n"
    loaded = load_text(text, "s.yaml", env={"SUB": "0042", "HOST": "h"}, env_paths=None)  # anywhere
    assert loaded.data == {"id": "0042", "url": "https://h/x"}


def test_env_escape_keeps_literal():
    assert load_text("a: $${env:X}\n", "s.yaml", env={}).data["a"] == "${env:X}"


def test_missing_env_var_is_named_and_located():
    [d] = diags("a: 1\nb: ${env:NOPE_NOT_SET}\n", env={}, env_paths=None)
    assert "NOPE_NOT_SET" in d.message and d.line == 2 and d.json_path == "$.b"


def test_no_interpolation_when_disabled():
    assert load_text("a: ${env:X}\n", "s.yaml", env={}, interpolate=False, env_paths=None).data["a"] == "${env:X}"


@pytest.mark.parametrize(
    "text, fragment, line",
    [
        ("a: !!python/object:os.system x\n", "tag", 1),
        ("a: 1\nb: !custom 2\n", "tag", 2),
        ("a: 1\na: 2\n", "duplicate key 'a'", 2),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "merge keys", 3),
        ("a: [1, 2\n", "invalid YAML", 2),
        ("a: 1\n b: 2\n", "invalid YAML", 2),
        ("", "empty", 1),
        ("# only a comment\n", "empty", 1),
        ("a: 1\n---\nb: 2\n", "more than one YAML document", 3),
    ],
)
def test_refusals_are_located(text, fragment, line):
    [d, *_] = diags(text)
    assert fragment in d.message and d.line == line


def test_billion_laughs_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    [d] = diags("\n".join(lines) + "\n")
    assert "expands to more than" in d.message


def test_binary_large_and_non_utf8_files(tmp_path):
    for raw, fragment in (
        (b"\x00\x01\x02", "binary"),
        (b"a: \xff\xfe\n", "UTF-8"),
        (b"a: " + b"x" * (MAX_BYTES + 1), "larger than"),
    ):
        with pytest.raises(SpecError) as exc:
            load_text_bytes(raw, "f.yaml")
        assert fragment in exc.value.diagnostics[0].message
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="directory"):
        load_spec(tmp_path)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_loads_or_fails_with_a_located_diagnostic(text):
    try:
        load_text(text, "s.yaml", env={})
    except SpecError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert d.line >= 1 and d.col >= 1 and d.message


def test_env_is_read_only_for_the_workspace_ids_and_never_into_output():
    """register.name: x${env:SECRET} printed the secret in plan, saved plans and annotations (issue 22)."""
    secret = "s3cr3t-value-42"
    text = "workspace:\n  subscription_id: ${env:SUB}\nregister:\n  name: x${env:SECRET}\n"
    [d] = diags(text, env={"SUB": "0042", "SECRET": secret})
    assert (d.line, d.json_path) == (4, "$.register.name")
    assert "${env:SECRET} is not allowed here" in d.message and secret not in d.format() + d.format_github()
    ok = load_text("workspace:\n  subscription_id: ${env:SUB}\n  name: $${env:LITERAL}\n", "s.yaml", env={"SUB": "1"})
    assert ok.data == {"workspace": {"subscription_id": "1", "name": "${env:LITERAL}"}}
