"""The rollout's arithmetic and its rollback, on an in-memory endpoint router (the network boundary).

The targets' real routers are tested end to end: the emulator (tests/targets/azureml/test_rollout.py) and
the local endpoint (tests/targets/local/test_local_rollout.py).
"""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator import rollout
from orchestrator.events import Events
from orchestrator.naming import Served
from orchestrator.rollout import GateFailed
from orchestrator.spec.model import Step
from orchestrator.spec.validate import load_runspec
from tests.conftest import SPECS


class MemoryRouter:
    """An endpoint: deployments with traffic; `failing` deployments fail every request."""

    def __init__(self, traffic: dict[str, int], ours: set[str], failing: set[str] = frozenset()):
        self.traffic, self.ours, self.failing = dict(traffic), set(ours), set(failing)
        self.mirror: dict[str, int] = {}
        self.counts: dict[str, list[int]] = {}
        self.deleted: list[str] = []
        self.keep_failed = False

    def deployments(self) -> list[Served]:
        return [Served(n, n in self.ours, p, self.mirror.get(n, 0)) for n, p in self.traffic.items()]

    def set_traffic(self, traffic, mirror) -> None:
        assert set(traffic) <= set(self.traffic) and sum(traffic.values()) <= 100  # as Azure refuses
        self.traffic, self.mirror = {**self.traffic, **traffic}, dict(mirror)

    def invoke(self, messages, parameters, deployment=None) -> dict:
        return {"status": 500 if deployment in self.failing else 200, "answer": "ok", "latency_ms": 1.0}

    def delete_deployment(self, name: str) -> None:
        assert not self.traffic.get(name), "Azure refuses to delete a deployment that takes traffic"
        del self.traffic[name]
        self.deleted.append(name)

    def deployment_logs(self, name: str) -> str:
        return f"{name}: out of memory"

    def served(self, name: str):
        """Each read is a while later: 10 more requests have reached a deployment with traffic."""
        c = self.counts.setdefault(name, [0, 0])
        if self.traffic.get(name):
            c[0], c[1] = c[0] + 10, c[1] + (10 if name in self.failing else 0)
        return tuple(c)


ONE_STEP = (Step(100, 0, 5.0),)


def spec_with(steps=ONE_STEP, traffic=100, keep_previous=False):
    spec = load_runspec(SPECS / "quickstart-local.yaml")
    r = dataclasses.replace(spec.deployment.rollout, steps=tuple(steps), keep_previous=keep_previous)
    return dataclasses.replace(spec, deployment=dataclasses.replace(spec.deployment, rollout=r, traffic=traffic))


def test_steps_take_the_share_from_the_previous_deployment_and_leave_others_theirs():
    spec = spec_with(steps=[Step(10, 0, 5.0), Step(80, 0, 5.0)], traffic=80)
    new = rollout.deployment_name(spec)
    router = MemoryRouter({"blue-old": 80, "handmade": 20, new: 0}, ours={"blue-old", new})
    seen = []
    router.set_traffic = _spy(router.set_traffic, lambda t, m: seen.append(dict(t)))
    record = rollout.shift(router, spec, Events("json"), previous="blue-old")
    assert seen == [{"blue-old": 70, "handmade": 20, new: 10}, {"blue-old": 0, "handmade": 20, new: 80}]
    assert router.deleted == ["blue-old"] and record["deployment"] == new
    assert router.traffic == {"handmade": 20, new: 80}


def test_a_resumed_rollout_skips_the_steps_already_reached():
    spec = spec_with(steps=[Step(10, 0, 5.0), Step(50, 0, 5.0), Step(100, 0, 5.0)])
    new = rollout.deployment_name(spec)
    router = MemoryRouter({"blue-old": 50, new: 50}, ours={"blue-old", new})
    seen = []
    router.set_traffic = _spy(router.set_traffic, lambda t, m: seen.append(dict(t)))
    rollout.shift(router, spec, Events("json"), previous="blue-old")
    assert seen == [{"blue-old": 0, new: 100}]


def test_failed_requests_during_a_hold_give_the_traffic_back_and_delete_the_new_one():
    spec = spec_with(steps=[Step(10, 1, 5.0), Step(100, 0, 5.0)])
    new = rollout.deployment_name(spec)
    router = MemoryRouter({"blue-old": 100, new: 0}, ours={"blue-old", new}, failing={new})
    with pytest.raises(GateFailed) as caught:
        rollout.shift(router, spec, Events("json"), previous="blue-old")
    message = str(caught.value)
    assert f"{new} failed 10 of 10 requests at 10%" in message and "blue-old has 100% again" in message
    assert f"last log lines of {new}: {new}: out of memory" in message
    assert router.traffic == {"blue-old": 100} and router.deleted == [new]


def test_ctrl_c_during_a_step_rolls_back_and_stays_an_interrupt():
    spec = spec_with(steps=[Step(10, 0, 5.0), Step(100, 0, 5.0)])
    new = rollout.deployment_name(spec)
    router = MemoryRouter({"blue-old": 100, new: 0}, ours={"blue-old", new})
    calls = []

    def set_traffic(traffic, mirror):
        calls.append(dict(traffic))
        if len(calls) == 2:
            raise KeyboardInterrupt
        MemoryRouter.set_traffic(router, traffic, mirror)

    router.set_traffic = set_traffic
    with pytest.raises(KeyboardInterrupt):
        rollout.shift(router, spec, Events("json"), previous="blue-old")
    assert calls[-1] == {"blue-old": 100, new: 0} and router.deleted == [new]


def test_keep_failed_keeps_the_new_deployment_at_zero():
    spec = spec_with()
    new = rollout.deployment_name(spec)
    router = MemoryRouter({"blue-old": 100, new: 0}, ours={"blue-old", new})
    router.keep_failed = True
    said = rollout.rollback(router, new, "blue-old")
    assert router.deleted == [] and f"{new} is kept at 0% (--keep-failed)" in said


def test_a_serving_deployment_that_fails_after_a_scale_change_keeps_its_traffic():
    spec = spec_with()
    name = rollout.deployment_name(spec)
    router = MemoryRouter({name: 100}, ours={name})
    said = rollout.rollback(router, name, None)
    assert said.startswith(f"{name} keeps its 100%: nothing else serves")
    assert router.traffic == {name: 100} and router.deleted == []


def test_the_name_follows_what_serves_and_fits_azure():
    spec = spec_with()
    long = dataclasses.replace(spec, deployment=dataclasses.replace(spec.deployment, name="a" * 32))
    name = rollout.deployment_name(long)
    assert len(name) == 32 and name.startswith("a" * 25 + "-")
    scaled = dataclasses.replace(spec, deployment=dataclasses.replace(spec.deployment, instance_count=3))
    assert rollout.deployment_name(scaled) == rollout.deployment_name(spec)
    retrained = dataclasses.replace(spec, finetune=dataclasses.replace(spec.finetune, learning_rate=1e-5))
    assert rollout.deployment_name(retrained) != rollout.deployment_name(spec)


def test_the_verdict_blocks_only_on_a_margin_or_a_floor():
    spec = spec_with()
    ev = spec.smoke_test.evaluate

    def with_gate(**kw):
        return dataclasses.replace(
            spec, smoke_test=dataclasses.replace(spec.smoke_test, evaluate=dataclasses.replace(ev, **kw))
        )

    scores = {"candidate": 20.0, "serving": 40.0}
    assert rollout.verdict(spec, scores).startswith("reported")
    assert rollout.verdict(with_gate(margin=5), scores).startswith("blocked: more than 5 below")
    assert rollout.verdict(with_gate(margin=25), scores) == "passed"
    assert rollout.verdict(with_gate(floor=30), {"candidate": 20.0, "serving": None}).startswith("blocked: below")
    assert rollout.verdict(with_gate(margin=5), {"candidate": 20.0, "serving": None}).startswith("reported")


def _spy(fn, also):
    def spied(traffic, mirror):
        also(traffic, mirror)
        return fn(traffic, mirror)

    return spied
