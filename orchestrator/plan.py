"""Plan: a pure function of a RunSpec and the observed state. No I/O, no cloud or ML imports.

Each stage gets a fingerprint (a hash of its own inputs and of the fingerprints of the stages it
depends on), a deterministic resource name and an action with a reason. A target's apply
executes exactly this value; renderers (table, markdown, JSON) only print it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator import __version__
from orchestrator.kinds import Action, KeepReason, PlanMode
from orchestrator.model_defaults import Setting, effective
from orchestrator.preflight import Check
from orchestrator.spec.model import RunSpec
from orchestrator.stages import BY_NAME, STAGES

FORMAT_VERSION = 1

CREATE, UPDATE, REPLACE, DELETE, SKIP = Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.SKIP
ACTIONS = tuple(Action)


@dataclass(frozen=True)
class Observed:
    """What a target found for one stage: the fingerprint and inputs it recorded, if any."""

    exists: bool
    fingerprint: str = ""
    inputs: Mapping[str, Any] | None = None
    detail: str = ""  # e.g. "Failed", "Succeeded": shown by status
    note: str = ""  # what the target knows that the plan should say (a job to re-attach, a pinned version)
    keep: KeepReason | None = None  # destroy leaves it, for this reason (decides the plan)
    kept: str = ""  # the target's words for it, shown in the plan
    pinned: str = ""  # what a moving reference resolved to (model version latest -> its id): saved plans check it
    # What the resource publishes for the stages after it: the base model's `model_specific_defaults`
    # tag ({component input: string}), applied to the fields the spec leaves unset.
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedStage:
    name: str
    resource: str
    action: Action
    reason: str
    fingerprint: str
    depends_on: tuple[str, ...]
    inputs: dict = field(default_factory=dict)
    changed: tuple[str, ...] = ()  # input keys (dotted) that differ from the observed ones


@dataclass(frozen=True)
class Plan:
    run: str
    target: str
    spec_path: str
    spec_digest: str
    stages: tuple[PlannedStage, ...]
    mode: PlanMode = PlanMode.APPLY
    observed: bool = False  # False: no target was asked, so everything shows as to create
    observed_digest: str = ""  # hash of the observed state this plan was made from (saved plans check it)
    settings: tuple[Setting, ...] = ()  # each fine-tune value and its source, once the model was read
    pins: Mapping[str, str] = field(default_factory=dict)  # what the moving references are pinned to
    notices: tuple[str, ...] = ()  # what the target says besides the stages ("... 16 is available")
    checks: tuple[Check, ...] = ()  # the pre-flight's verdicts (preflight.py); apply refuses on a failed one
    format_version: int = FORMAT_VERSION
    orchestrate_version: str = __version__

    @property
    def has_changes(self) -> bool:
        return any(s.action != SKIP for s in self.stages)

    def counts(self) -> dict[str, int]:
        return {action: sum(1 for s in self.stages if s.action == action) for action in ACTIONS}

    def summary(self) -> str:
        c = self.counts()
        return (
            f"{c[CREATE]} to create, {c[UPDATE]} to update, {c[REPLACE]} to replace, "
            f"{c[DELETE]} to delete, {c[SKIP]} unchanged."
        )

    def stage(self, name: str) -> PlannedStage:
        return next(s for s in self.stages if s.name == name)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["summary"] = self.counts()
        return data


def canonical(value: Any) -> str:
    """The one JSON text of a value that fingerprints hash: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def spec_digest(spec: RunSpec) -> str:
    data = spec.to_dict()
    data.pop("source_path", None)
    return digest(data)


def fingerprints(spec: RunSpec, until: str | None = None) -> dict[str, str]:
    """Every applicable stage's fingerprint, dependencies first (up to the stage `until`)."""
    out: dict[str, str] = {}
    for stage in STAGES:
        if not stage.applies(spec):
            continue
        deps = {name: out[name] for name in stage.depends_on if name in out}
        out[stage.name] = digest({"stage": stage.name, "inputs": stage.inputs(spec), "depends_on": deps})
        if stage.name == until:
            break
    return out


def make_plan(
    spec: RunSpec,
    observed: Mapping[str, Observed | None] | None = None,
    notices: Sequence[str] = (),
    checks: Sequence[Check] = (),
) -> Plan:
    """The apply plan. `observed` None means no target was asked: every stage is to create.
    `spec` carries its pins (lockfile.py): the target's `spec` after observe, or `lockfile.locked`."""
    digest_of_spec = spec_digest(spec)
    spec, settings = with_model_defaults(spec, observed)
    prints = fingerprints(spec)
    planned: dict[str, PlannedStage] = {}
    torn = (observed or {}).get("teardown")
    torn_down = torn is not None and torn.exists and torn.fingerprint == prints.get("teardown")
    for stage in STAGES:
        if not stage.applies(spec):
            continue
        seen = observed.get(stage.name) if observed is not None else None
        inputs = stage.inputs(spec)
        if torn_down and stage.name in BY_NAME["teardown"].removes:
            # The spec asks for the endpoint to go once its smoke test passed, and it went: that is done.
            action, reason = SKIP, "torn down after its smoke test passed (teardown is up to date)"
            changed: tuple[str, ...] = ()
        else:
            action, reason, changed = _decide(stage, inputs, prints[stage.name], seen, planned, observed is not None)
        planned[stage.name] = PlannedStage(
            stage.name,
            stage.resource(spec, prints[stage.name]),
            action,
            reason,
            prints[stage.name],
            stage.depends_on,
            inputs,
            changed,
        )
    return Plan(
        spec.name,
        spec.target,
        spec.source_path,
        digest_of_spec,
        tuple(planned.values()),
        observed=observed is not None,
        observed_digest=observed_digest(observed),
        settings=settings,
        pins=dict(spec.pins),
        notices=tuple(notices),
        checks=tuple(checks),
    )


def with_model_defaults(
    spec: RunSpec, observed: Mapping[str, Observed | None] | None
) -> tuple[RunSpec, tuple[Setting, ...]]:
    """The spec as the run uses it: the fields it leaves unset take what the observed base model
    publishes (nothing offline). The targets apply the same function to their own copy."""
    published: dict[str, str] = {}
    for seen in (observed or {}).values():
        if seen is not None:
            published.update(seen.settings)
    if not published:
        return spec, ()
    return effective(spec, published)


def make_destroy_plan(spec: RunSpec, observed: Mapping[str, Observed | None], keep: tuple[str, ...] = ()) -> Plan:
    """Delete what exists, last stage first; anything the target did not find, or `keep` names, is left alone."""
    prints = fingerprints(spec)
    planned = []
    for stage in reversed(STAGES):
        seen = observed.get(stage.name)
        if stage.name not in prints:
            continue
        if seen is not None and seen.exists and stage.name in keep:
            action, reason = SKIP, "kept, as asked"
        elif seen is not None and seen.exists and seen.keep is not None:
            action, reason = SKIP, f"kept: {seen.kept or seen.keep}"
        elif seen is not None and seen.exists:
            action, reason = DELETE, "created by this run"
        else:
            action, reason = SKIP, "nothing to delete"
        planned.append(
            PlannedStage(
                stage.name,
                stage.resource(spec, prints[stage.name]),
                action,
                reason,
                prints[stage.name],
                stage.depends_on,
                stage.inputs(spec),
            )
        )
    return Plan(
        spec.name,
        spec.target,
        spec.source_path,
        spec_digest(spec),
        tuple(planned),
        mode=PlanMode.DESTROY,
        observed=True,
        observed_digest=observed_digest(observed),
    )


def observed_digest(observed: Mapping[str, Observed | None] | None) -> str:
    """What a saved plan remembers of the state it saw: which stages exist, at which fingerprint."""
    if observed is None:
        return ""
    return digest(
        {
            name: [o.exists, o.fingerprint] + ([o.pinned] if o.pinned else [])
            for name, o in sorted(observed.items())
            if o is not None
        }
    )


def _decide(
    stage, inputs: dict, fingerprint: str, seen: Observed | None, planned: dict[str, PlannedStage], was_observed: bool
) -> tuple[Action, str, tuple[str, ...]]:
    if not was_observed:
        return CREATE, "not created yet", ()
    if seen is None or not seen.exists:
        return CREATE, seen.note if seen is not None and seen.note else "not created yet", ()
    if seen.fingerprint == fingerprint:
        return SKIP, f"up to date; {seen.note}" if seen.note else "up to date", ()
    changed = tuple(changed_keys(seen.inputs or {}, inputs)) if seen.inputs is not None else ()
    if changed:
        return stage.on_change, "changed: " + ", ".join(changed), changed
    upstream = [name for name in stage.depends_on if name in planned and planned[name].action != SKIP]
    if upstream:
        return stage.on_change, "follows " + ", ".join(f"{n} ({planned[n].action})" for n in upstream), ()
    return stage.on_change, seen.note or "fingerprint differs from the recorded one", ()


def changed_keys(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings."""
    keys = sorted(set(old) | set(new))
    out: list[str] = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(changed_keys(a, b, name + "."))
        elif canonical(a) != canonical(b):
            out.append(name)
    return out
