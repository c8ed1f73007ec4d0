"""Safe updates: the new deployment goes live beside the serving one, tested before it takes traffic.

The rollout is the same on every target; a target only provides the endpoint's router (`Router`
in target.py: its deployments and their traffic, setting the split, calling one deployment by the
`azureml-model-deployment` header, deleting one, its logs, and the requests it served when the
target can count them). The stages call in here:

- deployment (target's own): the candidate `<deployment.name>-<hash of what it serves>` at 0 %
  traffic; a scale-only change keeps the name, so it updates that deployment in place.
- smoke_test (`gates`): one request to the candidate by header, then the evaluation: the same
  seeded conversations to the candidate and to the serving deployment, each scored against the
  reference answer (sacrebleu's chrF). It blocks only where the spec sets a margin or a floor.
- traffic (`shift`): the optional mirror, then each step's share, held while the candidate's
  failed requests stay under the step's bound; then the previous deployment is deleted.

Any failure or Ctrl-C in a gate or a step gives the serving deployment its traffic back, puts the
candidate's last log lines in the error and deletes the candidate (unless `--keep-failed`). A
killed apply resumes from what the router shows: steps already reached are not taken again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.naming import Served, deployment_name
from orchestrator.records import FinetuneRecord, RegisterRecord, SmokeRecord, TrafficRecord
from orchestrator.spec.model import RunSpec, Step

if TYPE_CHECKING:
    from orchestrator.plan import Observed
    from orchestrator.target import Router, Target

HEADER = "azureml-model-deployment"  # Azure routes a request with it to that deployment, whatever the split


class GateFailed(OrchestrateError):
    """A gate or a rollout step failed; the serving deployment has its traffic back."""


class RolledBack(KeyboardInterrupt):
    """Ctrl-C during the rollout, after the rollback: `done` says what the rollback did."""

    def __init__(self, done: str):
        super().__init__(done)
        self.done = done


def serving(deployments: list[Served], candidate: str) -> Served | None:
    """This run's deployment that takes the most traffic, other than the candidate."""
    ours = [s for s in deployments if s.ours and s.name != candidate and s.traffic > 0]
    return max(ours, key=lambda s: s.traffic) if ours else None


def describe(spec: RunSpec, candidate: str, previous: str | None) -> str:
    """What the rollout will do, in the words of the plan."""
    r = spec.deployment.rollout
    if not r.blue_green:
        return f"update {candidate} in place; smoke test; {spec.deployment.traffic}% traffic"
    if previous is None:
        return f"smoke and evaluate at 0 %; then {spec.deployment.traffic} %"
    steps = ", then ".join(f"{s.traffic} %" + (f" for {s.hold} s" if s.hold else "") for s in r.steps)
    mirror = f"mirror {r.mirror} % while held; " if r.mirror else ""
    end = f"keep {previous} at 0 %" if r.keep_previous else f"delete {previous}"
    return f"smoke and evaluate at 0 %; {mirror}traffic {steps}; then {end}"


# --- gates (the smoke_test stage) -------------------------------------------------------------------
def gates(t: Router, spec: RunSpec, splits: Mapping[str, dict], events: Events) -> SmokeRecord:
    """Smoke-test, then evaluate, the candidate at 0 %; on failure roll back and raise GateFailed."""
    from orchestrator import smoke

    candidate = deployment_name(spec)
    try:
        result = t.invoke(smoke.sample_messages(spec, dict(splits)), spec.smoke_test.parameters, deployment=candidate)
        if result["status"] != 200 or not result.get("answer"):
            raise GateFailed(
                f"smoke test of {candidate} failed: HTTP {result['status']} {result.get('error', 'empty answer')[:200]}"
            )
        events.emit("progress", "smoke_test", message=f"{candidate} answered in {result['latency_ms']:.0f} ms")
        scores = evaluate(t, spec, candidate, splits, events)
        loss = loss_gate(t, spec, candidate, events)
    except BaseException as exc:  # a failed gate, an error, Ctrl-C: the serving deployment keeps its traffic
        raise_after_rollback(t, spec, candidate, exc)
    detail = f"HTTP 200 in {result['latency_ms']:.0f} ms: {result['answer'][:80]!r}"
    if scores.get("candidate") is not None:
        detail += f"; {scores_text(scores)}"
    return SmokeRecord.from_dict({**result, "scores": scores, "loss": loss, "deployment": candidate, "detail": detail})


def loss_gate(t: Any, spec: RunSpec, candidate: str, events: Events) -> dict:
    """The new model's fine-tune loss (smoke_test.evaluate.loss_metric) against the serving model's,
    as each registered model keeps it: always reported, blocking only with loss_margin."""
    ev = spec.smoke_test.evaluate
    key = ev.loss_metric
    reg = t.record(RegisterRecord)
    new = t.model_metrics(reg.ref).get(key) if reg.ref else None
    if new is None:
        new = (t.record(FinetuneRecord).metrics or {}).get(key)
    current = serving(t.deployments(), candidate)
    old = t.model_metrics(current.model).get(key) if current is not None and current.model else None
    out: dict[str, Any] = {"metric": key, "candidate": new, "serving": old}
    if new is None:
        out["verdict"] = f"not recorded (the fine-tune logged no {key})"
    elif old is None:
        out["verdict"] = "reported (no serving model with it to compare)"
    elif ev.loss_margin is not None and new > old + ev.loss_margin:
        out["verdict"] = f"blocked: more than {ev.loss_margin:g} above the serving model's"
    else:
        out["verdict"] = "passed" if ev.loss_margin is not None else "reported (no loss_margin set)"
    shown = f"{key} {new:.4g}" if new is not None else f"{key} unknown"
    if old is not None:
        shown += f" (serving {old:.4g})"
    events.emit("gate", "smoke_test", message=f"fine-tune {shown}: {out['verdict']}", **out)
    if out["verdict"].startswith("blocked"):
        raise GateFailed(f"fine-tune {shown}: {out['verdict']}")
    return out


def evaluate(t: Router, spec: RunSpec, candidate: str, splits: Mapping[str, dict], events: Events) -> dict:
    """{metric, samples, candidate, serving, serving_deployment, verdict}; raises GateFailed when
    the spec's margin or floor says so. The same conversations every time (seeded)."""
    ev = spec.smoke_test.evaluate
    if ev.samples == 0:
        return {}
    path = splits.get(ev.split, {}).get("path")
    if not path:
        return {"skipped": f"no {ev.split} split to evaluate on"}
    conversations = sample_conversations(Path(path), ev.samples, spec.dataset.seed)
    if not conversations:
        return {"skipped": f"the {ev.split} split has no conversation ending in an assistant turn"}
    current = serving(t.deployments(), candidate)
    params = {"temperature": 0.0, "top_p": 1.0, "do_sample": False, "max_new_tokens": ev.max_new_tokens}
    scores: dict[str, Any] = {"metric": ev.metric, "samples": len(conversations)}
    for who, name in (("candidate", candidate), ("serving", current.name if current else None)):
        if name is None:
            scores[who] = None
            continue
        answers = []
        for prompt, _ in conversations:
            r = t.invoke(prompt, params, deployment=name)
            if r["status"] != 200:
                raise GateFailed(f"evaluation of {name}: HTTP {r['status']} {r.get('error', '')[:200]}")
            answers.append(r.get("answer", ""))
        scores[who] = round(score(ev.metric, answers, [ref for _, ref in conversations]), 2)
        if who == "serving":
            scores["serving_deployment"] = name
    scores["verdict"] = verdict(spec, scores)
    events.emit("gate", "smoke_test", message=f"evaluation {scores_text(scores)}: {scores['verdict']}", **scores)
    if scores["verdict"].startswith("blocked"):
        raise GateFailed(f"evaluation {scores_text(scores)}: {scores['verdict']}")
    return scores


def verdict(spec: RunSpec, scores: Mapping[str, Any]) -> str:
    ev = spec.smoke_test.evaluate
    new, old = scores["candidate"], scores.get("serving")
    if ev.floor is not None and new < ev.floor:
        return f"blocked: below the floor of {ev.floor:g}"
    if ev.margin is not None and old is not None and new < old - ev.margin:
        return f"blocked: more than {ev.margin:g} below the serving deployment"
    if ev.floor is None and (ev.margin is None or old is None):
        return "reported (no margin or floor set)"
    return "passed"


def scores_text(scores: Mapping[str, Any]) -> str:
    text = f"{scores['metric']} {scores['candidate']:.1f} on {scores['samples']} conversations"
    if scores.get("serving") is not None:
        text += f" (serving {scores['serving_deployment']}: {scores['serving']:.1f})"
    return text


def sample_conversations(path: Path, n: int, seed: int) -> list[tuple[list[dict], str]]:
    """n conversations of a split (seeded), each cut before its last assistant turn: (prompt, reference)."""
    from orchestrator import dataprep

    out = []
    for record in dataprep.read_jsonl(path):
        messages = record["messages"]
        if len(messages) >= 2 and messages[-1]["role"] == "assistant":
            out.append(([dict(m) for m in messages[:-1]], messages[-1]["content"]))
    return random.Random(seed).sample(out, min(n, len(out)))


def score(metric: str, answers: list[str], references: list[str]) -> float:
    """The corpus score of the answers against the references (sacrebleu, the field's chrF)."""
    try:
        from sacrebleu.metrics import CHRF
    except ImportError:
        raise OrchestrateError(
            "the evaluation needs sacrebleu: pip install 'orchestrate-llm[local]' (or [azureml]), "
            "or set smoke_test.evaluate.samples: 0"
        ) from None
    return CHRF().corpus_score(answers, [references]).score


# --- traffic steps (the traffic stage) ----------------------------------------------------------------
def observe_traffic(
    spec: RunSpec, deployments: list[Served], fingerprint: str, done: Callable[[], Observed]
) -> Observed:
    """Done (`done()`) when the deployment has its share, nothing is mirrored and no other
    deployment of this run is left; else what the rollout will do, for the plan."""
    from orchestrator.plan import Observed

    candidate = deployment_name(spec)
    by = {s.name: s for s in deployments}
    share = by[candidate].traffic if candidate in by else 0
    left = [s for s in deployments if s.ours and s.name != candidate]
    keep = spec.deployment.rollout.keep_previous or not spec.deployment.rollout.blue_green
    if share == spec.deployment.traffic and share and not any(s.mirror for s in deployments):
        if keep or not left:
            return done()
    current = serving(deployments, candidate)
    previous = current.name if current else (left[0].name if left and share else None)
    return Observed(bool(share), "", None, note=describe(spec, candidate, previous))


def apply_traffic(t: Target, spec: RunSpec, events: Events) -> TrafficRecord:
    """The traffic stage on any target: in place, the spec's share; blue/green, the steps from
    where they stand, the previous deployment remembered so a resumed apply retires the same one."""
    candidate = deployment_name(spec)
    if not spec.deployment.rollout.blue_green:
        _route(t, candidate, spec.deployment.traffic, None)
        return TrafficRecord(deployment=candidate, detail=f"{candidate}={spec.deployment.traffic}%")
    recorded = t.record(TrafficRecord)
    previous = recorded.previous if recorded.candidate == candidate else None
    if previous is None:
        current = serving(t.deployments(), candidate)
        previous = current.name if current else None
    started = TrafficRecord(candidate=candidate, previous=previous)
    t.state.record("traffic", {**started.to_dict(), "fingerprint": "", "inputs": None})
    return TrafficRecord(**shift(t, spec, events, previous), previous=previous, candidate=candidate)


def shift(t: Router, spec: RunSpec, events: Events, previous: str | None) -> dict:
    """Take the rollout's steps from where the router shows the candidate now, then delete the
    previous deployment. `previous`: what served when the rollout started (recorded, for resume)."""
    candidate = deployment_name(spec)
    r = spec.deployment.rollout
    try:
        if previous is None:
            _route(t, candidate, spec.deployment.traffic, None)
        else:
            for i, step in enumerate(r.steps):
                now = next((s for s in t.deployments() if s.name == candidate), None)
                if now is not None and now.traffic >= step.traffic:
                    continue  # reached before a kill: a resumed apply goes on from here
                if i == 0 and r.mirror:
                    t.set_traffic({s.name: s.traffic for s in t.deployments()}, {candidate: r.mirror})
                    events.emit("progress", "traffic", message=f"mirroring {r.mirror}% of live traffic to {candidate}")
                    hold(t, candidate, step, events, spec, what="mirrored")
                _route(t, candidate, step.traffic, previous)
                events.emit("progress", "traffic", message=f"{candidate} takes {step.traffic}%")
                if step.hold:
                    hold(t, candidate, step, events, spec, what=f"at {step.traffic}%")
    except BaseException as exc:
        raise_after_rollback(t, spec, candidate, exc, previous)
    deleted = retire(t, candidate, keep=previous if r.keep_previous else None)
    split = ", ".join(f"{s.name}={s.traffic}%" for s in t.deployments() if s.traffic)
    return {"deployment": candidate, "detail": split + (f"; deleted {', '.join(deleted)}" if deleted else "")}


def hold(t: Router, name: str, step: Step, events: Events, spec: RunSpec, *, what: str) -> None:
    """Watch the candidate for the step's hold: its failed requests (as the router counts them, or
    probe requests by header where it cannot) must stay within the step's bound."""

    start = t.served(name)
    probes = sent = failed = 0
    deadline = time.monotonic() + step.hold
    period = min(10.0, max(step.hold / 10, 0.5))
    messages = [{"role": "user", "content": "Say OK."}]
    if isinstance(spec.smoke_test.sample_from, tuple):
        messages = [dict(m) for m in spec.smoke_test.sample_from]
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(period, left))
        counts = t.served(name)
        if counts is None or start is None:  # the target cannot count: probe it
            r = t.invoke(messages, {**spec.smoke_test.parameters, "max_new_tokens": 8}, deployment=name)
            probes += 1
            sent, failed = probes, failed + (r["status"] != 200)
        else:
            sent, failed = counts[0] - start[0], counts[1] - start[1]
        if sent and failed * 100 / sent > step.max_failed_percent:
            raise GateFailed(
                f"{name} failed {failed} of {sent} requests {what} ({failed * 100 / sent:.0f}% > "
                f"{step.max_failed_percent:g}%)"
            )
    events.emit("progress", "traffic", message=f"{name} held {step.hold}s {what}: {failed} of {sent} requests failed")


def retire(t: Router, candidate: str, keep: str | None) -> list[str]:
    """Delete this run's deployments that take no traffic, except the candidate (and `keep`)."""
    deleted = []
    for s in t.deployments():
        if s.ours and s.name not in (candidate, keep) and not s.traffic and not s.mirror:
            t.delete_deployment(s.name)
            deleted.append(s.name)
    return deleted


def _route(t: Router, candidate: str, percent: int, previous: str | None) -> None:
    """Give the candidate `percent`, taken from the previous deployment first, then from this
    run's others, then (only when the split would pass 100) from the rest."""
    deployments = t.deployments()
    split = {s.name: s.traffic for s in deployments}
    split.setdefault(candidate, 0)
    need = percent - split[candidate]
    ours = {s.name for s in deployments if s.ours}
    order = [previous] if previous in split else []
    order += [n for n in split if n in ours and n not in order and n != candidate]
    order += [n for n in split if n not in order and n != candidate]
    split[candidate] = percent
    free = 100 - sum(split.values())
    need = max(0, -free) if need > 0 else 0
    for name in order:
        if need <= 0:
            break
        take = min(split[name], need)
        split[name] -= take
        need -= take
    t.set_traffic(split, {})


def without(deployments: list[Served], leaving: set[str]) -> dict[str, int]:
    """The split once `leaving` are taken out: they get 0 and the others share 100 in the
    proportions they had (largest remainder), since Azure takes only splits that sum to 0 or 100
    (how-to-safely-rollout-online-endpoints); all 0 when nothing else took traffic."""
    staying = {s.name: s.traffic for s in deployments if s.name not in leaving}
    split = {s.name: 0 for s in deployments if s.name in leaving}
    total = sum(staying.values())
    if not total:
        return {**split, **{name: 0 for name in staying}}
    shares = {name: traffic * 100 / total for name, traffic in staying.items()}
    floors = {name: int(share) for name, share in shares.items()}
    left = 100 - sum(floors.values())
    for name in sorted(shares, key=lambda n: shares[n] - floors[n], reverse=True)[:left]:
        floors[name] += 1
    return {**split, **floors}


# --- rollback ---------------------------------------------------------------------------------------
def raise_after_rollback(
    t: Router, spec: RunSpec, candidate: str, exc: BaseException, previous: str | None = None
) -> None:
    """Put the serving deployment back, delete the candidate unless kept, then raise `exc`
    (a KeyboardInterrupt stays one) with what was done added to the message."""
    blue_green = spec.deployment.rollout.blue_green
    if isinstance(exc, KeyboardInterrupt) and not blue_green:
        raise exc  # in place there is nothing to go back to: Ctrl-C must not take the traffic away
    try:
        done = rollback(t, candidate, previous, delete=blue_green)
    except Exception as again:  # the rollback itself failed: say so, keep the first error
        done = f"rollback failed too: {again}"
    if isinstance(exc, KeyboardInterrupt):
        raise RolledBack(done) from None
    if isinstance(exc, OrchestrateError):
        raise GateFailed(f"{exc}; {done}") from None
    raise exc  # a bug: rolled back all the same, and its traceback kept


def rollback(t: Router, candidate: str, previous: str | None, *, delete: bool = True) -> str:
    """The candidate's traffic back to the serving deployment (or to 0 % when none serves), no
    mirror; the candidate deleted when `delete` and not `--keep-failed`. What was done, in words."""
    ds = t.deployments()
    back = previous or (s.name if (s := serving(ds, candidate)) else None)
    split = {s.name: s.traffic for s in ds}
    moved = split.get(candidate, 0)
    if delete and back is None and moved:  # it was serving already (a scale-only update): keep it
        logs = t.deployment_logs(candidate)
        return f"{candidate} keeps its {moved}%: nothing else serves" + (f"; last log lines: {logs}" if logs else "")
    said = []
    if moved or any(s.mirror for s in ds):
        if back is not None:
            split[back] = split.get(back, 0) + moved
        split[candidate] = 0
        t.set_traffic(split, {})
        said.append(f"{back} has {split[back]}% again" if back else f"{candidate}'s traffic is back to 0%")
    elif back is not None:
        said.append(f"{back} kept its {split.get(back, 0)}%")
    logs = t.deployment_logs(candidate)
    if logs:
        said.append(f"last log lines of {candidate}: {logs}")
    if not delete or candidate not in split:
        pass
    elif t.keep_failed:
        said.append(f"{candidate} is kept at 0% (--keep-failed)")
    else:
        t.delete_deployment(candidate)
        said.append(f"{candidate} deleted")
    return "; ".join(said)
