"""Cross-field rules that JSON Schema cannot say, run on schema-valid data with defaults filled."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.errors import Diagnostic
from orchestrator.spec.load import LoadedSpec, json_path
from orchestrator.spec.names import derived_endpoint_name, derived_register_name

_MODEL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_PATHLIKE = ("./", "../", "/", "~")


def check(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    """The core's rules, then the rules of the spec's target (registry.TargetInfo.rules)."""
    from orchestrator import registry

    out: list[Diagnostic] = []
    for rule in (*_RULES, *registry.info(data["target"]).spec_rules()):
        out.extend(rule(data, loaded))
    return out


def at(loaded: LoadedSpec, path: tuple, message: str, hint: str = "", severity: str = "error") -> Diagnostic:
    mark = loaded.mark(path)
    return Diagnostic(loaded.path, mark.line, mark.col, message, json_path(path), hint, severity)


def _smoke_sample(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    sample = data["smoke_test"]["sample_from"]
    splits = data["dataset"]["splits"]
    if not isinstance(sample, str) or sample in splits:
        return []
    explicit = (
        "sample_from" in loaded.data.get("smoke_test", {}) if isinstance(loaded.data.get("smoke_test"), dict) else False
    )
    where = ("smoke_test", "sample_from") if explicit else ("dataset", "splits")
    return [
        at(
            loaded,
            where,
            f"smoke_test.sample_from names split '{sample}', which dataset.splits does not define",
            f"use one of: {', '.join(splits)}, add a '{sample}' split, or give inline messages",
        )
    ]


def _names(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    out = []
    if "name" not in data.get("register", {}):
        derived = derived_register_name(data["model"]["name"], data["name"])
        if not _MODEL_NAME.match(derived):
            out.append(
                at(
                    loaded,
                    ("model", "name"),
                    f"cannot derive a valid registered model name from model.name ({derived!r})",
                    "set register.name",
                )
            )
    if "endpoint" not in data["deployment"]:
        derived = derived_endpoint_name(data["name"])
        if not (3 <= len(derived) <= 32 and _ENDPOINT_NAME.match(derived)):
            out.append(
                at(
                    loaded,
                    ("name",),
                    f"derived endpoint name {derived!r} is not a valid endpoint name",
                    "set deployment.endpoint",
                )
            )
    return out


def _split_overlap(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    by_source: dict[str, list[tuple[str, float]]] = {}
    for role, split in data["dataset"]["splits"].items():
        by_source.setdefault(split["from"], []).append((role, split["percent"]))
    out = []
    for source, uses in by_source.items():
        total = sum(p for _, p in uses)
        if len(uses) > 1 and total > 100:
            roles = " + ".join(f"{r} {p:g}%" for r, p in uses)
            out.append(
                at(
                    loaded,
                    ("dataset", "splits", uses[-1][0], "percent"),
                    f"splits drawn from the same source split '{source}' take {roles} = {total:g}% (over 100%)",
                    "they are taken as disjoint slices: lower the percents, or use different source splits",
                )
            )
    return out


def _compute_bounds(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    compute = data.get("compute")
    if compute is None or compute["min_instances"] <= compute["max_instances"]:
        return []
    return [
        at(
            loaded,
            ("compute", "min_instances"),
            f"compute.min_instances ({compute['min_instances']}) exceeds max_instances ({compute['max_instances']})",
            "raise max_instances or lower min_instances",
        )
    ]


def _local_paths(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    # Only values written as paths are checked: anything else may be a Hub id, checked at apply.
    found = path_missing(loaded, ("dataset", "source"), data["dataset"]["source"])
    return [found] if found else []


def path_missing(loaded: LoadedSpec, path: tuple, value: str) -> Diagnostic | None:
    """An error at a value written as a path (./x, ../x, /x, ~/x) that points nowhere; else None."""
    base = Path(loaded.path).parent
    if not value.startswith(_PATHLIKE) or (base / Path(value).expanduser()).exists():
        return None
    return at(
        loaded,
        path,
        f"{'.'.join(path)} points to {value!r}, which does not exist",
        f"paths are relative to the spec file's folder ({base})",
    )


def _rollout(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    d = data["deployment"]
    rollout = d["rollout"]
    steps = rollout.get("steps")
    out = []
    if rollout["strategy"] == "in_place":
        for key, wrong in (("steps", steps and len(steps) > 1), ("mirror", rollout["mirror"])):
            if wrong:
                out.append(
                    at(
                        loaded,
                        ("deployment", "rollout", key),
                        f"deployment.rollout.{key} needs strategy blue_green: in_place has one deployment",
                        "remove it, or set deployment.rollout.strategy: blue_green",
                    )
                )
    if steps:
        percents = [step["traffic"] for step in steps]
        for i in range(1, len(percents)):
            if percents[i] <= percents[i - 1]:
                out.append(
                    at(
                        loaded,
                        ("deployment", "rollout", "steps", i, "traffic"),
                        f"rollout step {i + 1} takes {percents[i]}%, not more than step {i}'s {percents[i - 1]}%",
                        "each step takes more traffic than the one before",
                    )
                )
        if percents[-1] != d["traffic"]:
            out.append(
                at(
                    loaded,
                    ("deployment", "rollout", "steps", len(steps) - 1, "traffic"),
                    f"the last rollout step takes {percents[-1]}%, but deployment.traffic is {d['traffic']}%",
                    "the last step is where the rollout ends: make it deployment.traffic",
                )
            )
    return out


def _evaluate_split(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    # Only a split written in the spec is checked: the default (test) is skipped at apply when absent.
    written = loaded.data.get("smoke_test", {})
    written = written.get("evaluate", {}) if isinstance(written, dict) else {}
    split = data["smoke_test"]["evaluate"]["split"]
    if not isinstance(written, dict) or "split" not in written or split in data["dataset"]["splits"]:
        return []
    return [
        at(
            loaded,
            ("smoke_test", "evaluate", "split"),
            f"smoke_test.evaluate.split names split '{split}', which dataset.splits does not define",
            f"use one of: {', '.join(data['dataset']['splits'])}",
        )
    ]


_RULES = (
    _smoke_sample,
    _names,
    _split_overlap,
    _compute_bounds,
    _local_paths,
    _rollout,
    _evaluate_split,
)
