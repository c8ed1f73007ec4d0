"""Both targets (and the test fake) implement the declared contract, for every stage.

mypy checks the same statically: get_target() returns a Target, built from either class."""

from __future__ import annotations

import inspect

import pytest

from orchestrator.stages import STAGES
from orchestrator.stages.shared import HANDLERS as SHARED
from orchestrator.target import BaseTarget, Target
from tests.fake_target import FakeTarget


def _targets() -> list[type[BaseTarget]]:
    # Importing a target imports neither torch nor azure (they are imported by the stages).
    import importlib

    from orchestrator import registry

    classes = []
    for name in registry.names():
        module, _, cls = registry.info(name).cls.partition(":")
        classes.append(getattr(importlib.import_module(module), cls))
    from tests.third_target.target import ThirdTarget  # a registered one, in the tests

    return [*classes, ThirdTarget, FakeTarget]


@pytest.mark.parametrize("cls", _targets(), ids=lambda c: c.__name__)
def test_every_stage_has_observe_apply_and_destroy(cls):
    # The target's own handlers and the shared ones cover every stage; a registered target has no
    # handler of its own for a shared stage (the executor's fake replaces them to record calls).
    assert set(cls.handlers) | set(SHARED) == {s.name for s in STAGES}, cls
    if cls is not FakeTarget:
        assert not set(cls.handlers) & set(SHARED), cls
    for name, handler in {**SHARED, **cls.handlers}.items():
        assert callable(handler.observe) and callable(handler.apply), (cls, name)
        assert handler.destroy is None or callable(handler.destroy), (cls, name)
        # observe (target, fingerprint, cached); apply (target, planned, events, ready); destroy (target, entry)
        assert len(inspect.signature(handler.observe).parameters) == 3, (cls, name)
        assert len(inspect.signature(handler.apply).parameters) == 4, (cls, name)
        if handler.destroy is not None:
            assert len(inspect.signature(handler.destroy).parameters) == 2, (cls, name)


@pytest.mark.parametrize("cls", _targets(), ids=lambda c: c.__name__)
def test_each_target_has_what_the_protocol_lists(cls):
    members = [m for m in dir(Target) if not m.startswith("_")]
    assert {"observe", "lock", "apply_stage", "destroy_stage", "left_running", "invoke", "scoring_uri"} <= set(members)
    for member in members:
        wanted = getattr(Target, member)
        got = getattr(cls, member, None)
        assert got is not None, f"{cls.__name__} lacks {member}"
        if callable(wanted):
            want_params = list(inspect.signature(wanted).parameters)
            got_params = list(inspect.signature(got).parameters)
            assert got_params[: len(want_params)] == want_params, (cls.__name__, member, got_params)
