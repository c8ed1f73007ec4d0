from __future__ import annotations

import dataclasses

from orchestrator.plan import Observed, changed_keys, fingerprints, make_destroy_plan, make_plan
from orchestrator.spec.validate import load_runspec
from tests.conftest import SPECS, STAGE_ORDER

PHI3 = SPECS / "phi4-ultrachat.yaml"


def spec_with(**finetune_or_deployment):
    spec = load_runspec(PHI3)
    ft = {k: v for k, v in finetune_or_deployment.items() if hasattr(spec.finetune, k)}
    dep = {k: v for k, v in finetune_or_deployment.items() if hasattr(spec.deployment, k)}
    return dataclasses.replace(
        spec, finetune=dataclasses.replace(spec.finetune, **ft), deployment=dataclasses.replace(spec.deployment, **dep)
    )


def changed_stages(a, b):
    fa, fb = fingerprints(a), fingerprints(b)
    return [name for name in fa if fa[name] != fb.get(name)]


def observed_from(plan):
    return {s.name: Observed(True, s.fingerprint, s.inputs) for s in plan.stages}


def test_stage_order_and_deterministic_names():
    plan = make_plan(load_runspec(PHI3))
    assert [s.name for s in plan.stages] == STAGE_ORDER
    again = make_plan(load_runspec(PHI3))
    assert [s.resource for s in plan.stages] == [s.resource for s in again.stages]
    assert plan.stage("finetune").resource == f"phi4-ultrachat-ft-{plan.stage('finetune').fingerprint[:12]}"
    assert all(s.action == "create" for s in plan.stages)
    assert plan.summary() == "9 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged."


def test_learning_rate_reruns_finetune_and_what_follows_only():
    base = load_runspec(PHI3)
    # A new model is a new deployment (blue/green), so the traffic moves to it too.
    assert changed_stages(base, spec_with(learning_rate=1e-5)) == [
        "finetune",
        "register",
        "deployment",
        "smoke_test",
        "traffic",
    ]


def test_instance_count_changes_only_deployment_and_its_smoke_test():
    base = load_runspec(PHI3)
    assert changed_stages(base, spec_with(instance_count=3)) == ["deployment", "smoke_test"]


def test_traffic_change_touches_only_traffic():
    assert changed_stages(load_runspec(PHI3), spec_with(traffic=50)) == ["traffic"]


def test_scaling_the_cluster_does_not_rerun_the_finetune():
    base = load_runspec(PHI3)
    bigger = dataclasses.replace(base, compute=dataclasses.replace(base.compute, max_instances=4))
    assert changed_stages(base, bigger) == ["compute"]


def test_observed_state_drives_actions():
    base = load_runspec(PHI3)
    first = make_plan(base)
    same = make_plan(base, observed_from(first))
    assert not same.has_changes and same.summary().endswith("9 unchanged.")
    changed = make_plan(spec_with(learning_rate=1e-5, instance_count=2), observed_from(first))
    actions = {s.name: (s.action, s.reason) for s in changed.stages}
    assert actions["finetune"] == ("replace", "changed: learning_rate")
    assert actions["register"] == ("replace", "follows finetune (replace)")
    assert actions["deployment"][0] == "update" and "instance_count" in actions["deployment"][1]
    assert actions["endpoint"] == ("skip", "up to date")
    partial = make_plan(base, {"data": Observed(True, first.stage("data").fingerprint, first.stage("data").inputs)})
    assert partial.stage("data").action == "skip" and partial.stage("model").action == "create"


def test_destroy_plan_deletes_only_what_exists_in_reverse():
    base = load_runspec(PHI3)
    first = make_plan(base)
    observed = {"endpoint": Observed(True), "deployment": Observed(True)}
    plan = make_destroy_plan(base, observed)
    deletes = [s.name for s in plan.stages if s.action == "delete"]
    assert deletes == ["deployment", "endpoint"]
    assert plan.stages[0].name == "traffic" and plan.mode == "destroy"
    assert len(first.stages) == len(plan.stages)


def test_changed_keys_are_dotted():
    assert changed_keys({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": 1, "c": 3}, "e": 1}) == ["a.c", "d", "e"]


def test_plan_json_round_trips():
    import json

    plan = make_plan(load_runspec(PHI3))
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["format_version"] == 1 and data["summary"]["create"] == 9
    assert data["stages"][3]["inputs"]["learning_rate"] == 5e-6


def test_destroy_leaves_what_a_keep_reason_names_and_the_text_decides_nothing():
    from orchestrator.kinds import KeepReason

    spec = load_runspec(PHI3)
    prints = fingerprints(spec)
    observed = {name: Observed(True, fp) for name, fp in prints.items()}
    observed["finetune"] = Observed(True, prints["finetune"], keep=KeepReason.UNDELETABLE, kept="jobs stay")
    observed["endpoint"] = Observed(True, prints["endpoint"], kept="words alone")  # no reason: deleted
    by = {s.name: s for s in make_destroy_plan(spec, observed).stages}
    assert (by["finetune"].action, by["finetune"].reason) == ("skip", "kept: jobs stay")
    assert by["endpoint"].action == "delete"
    observed["finetune"] = Observed(True, prints["finetune"], keep=KeepReason.SHARED)
    assert {s.name: s for s in make_destroy_plan(spec, observed).stages}["finetune"].reason == "kept: shared"
