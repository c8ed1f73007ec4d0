"""Cross-field rules that JSON Schema cannot say, run on schema-valid data with defaults filled."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.errors import Diagnostic
from orchestrator.preflight import WARN_DAYS
from orchestrator.spec.load import LoadedSpec, json_path
from orchestrator.spec.names import derived_endpoint_name, derived_register_name
from orchestrator.spec.skus import UNSUPPORTED_FOR_FINETUNE, gpus_for, series_of

_MODEL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_PATHLIKE = ("./", "../", "/", "~")


def check(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule in _RULES:
        out.extend(rule(data, loaded))
    return out


def _at(loaded: LoadedSpec, path: tuple, message: str, hint: str = "", severity: str = "error") -> Diagnostic:
    mark = loaded.mark(path)
    return Diagnostic(loaded.path, mark.line, mark.col, message, json_path(path), hint, severity)


def _workspace_ids(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    ws = data.get("workspace")
    if data["target"] != "azureml" or ws is None:
        return []
    ids = ("subscription_id", "resource_group", "name")
    given = [k for k in ids if k in ws]
    if "config_file" in ws:
        return [
            _at(
                loaded,
                ("workspace", k),
                f"workspace.{k} given together with workspace.config_file",
                "use either config_file or the three ids, not both",
            )
            for k in given
        ]
    missing = [k for k in ids if k not in ws]
    if not missing:
        return []
    return [
        _at(
            loaded,
            ("workspace",),
            f"workspace is missing {', '.join(missing)}",
            "give subscription_id, resource_group and name, or config_file",
        )
    ]


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
        _at(
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
                _at(
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
                _at(
                    loaded,
                    ("name",),
                    f"derived endpoint name {derived!r} is not a valid endpoint name",
                    "set deployment.endpoint",
                )
            )
    return out


def _sku_path(data: dict) -> tuple[str, ...] | None:
    """Where the fine-tune's VM size is written: compute.sku, or finetune.instance_type (serverless)."""
    if data["target"] != "azureml":
        return None
    if data.get("compute") is not None:
        return ("compute", "sku")
    return ("finetune", "instance_type") if data["finetune"].get("instance_type") else None


def _finetune_sku(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    where = _sku_path(data)
    if where is None:
        return []
    sku = data[where[0]][where[1]]
    if sku.lower() in UNSUPPORTED_FOR_FINETUNE:
        return [
            _at(
                loaded,
                where,
                f"{sku} (Tesla K80) is not supported for fine-tuning",
                "pick e.g. Standard_NC24ads_A100_v4 or Standard_ND96asr_v4",
            )
        ]
    return []


def _gpus(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    where = _sku_path(data)
    if where is None:
        return []
    sku = data[where[0]][where[1]]
    ft = data["finetune"]
    gpus = ft["gpus_per_node"]
    known = gpus_for(sku)
    out = []
    if gpus == "auto" and known is None:
        out.append(
            _at(
                loaded,
                where,
                f"GPUs per node of {sku} are not known to orchestrate",
                f"set finetune.gpus_per_node to the number of GPUs of one {sku} node",
            )
        )
        return out
    if isinstance(gpus, int) and known is not None and gpus > known:
        out.append(
            _at(
                loaded,
                ("finetune", "gpus_per_node"),
                f"finetune.gpus_per_node is {gpus} but {sku} has {known}",
                f"set it to {known} or auto",
            )
        )
    total = ((known if gpus == "auto" else gpus) or 0) * ft.get("num_nodes", 1)
    if ft["deepspeed"]["enabled"] and total <= 1:
        out.append(
            _at(
                loaded,
                ("finetune", "deepspeed", "enabled"),
                f"DeepSpeed is on with one GPU per node ({sku}): "
                "ZeRO shards state across GPUs, so one GPU gains only its CPU offload and pays its overhead",
                "keep it if you rely on its memory savings; otherwise set enabled: false or use a multi-GPU SKU",
                severity="warning",
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
                _at(
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
        _at(
            loaded,
            ("compute", "min_instances"),
            f"compute.min_instances ({compute['min_instances']}) exceeds max_instances ({compute['max_instances']})",
            "raise max_instances or lower min_instances",
        )
    ]


def _local_paths(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    # Only values written as paths are checked: anything else may be a Hub id, checked at apply.
    base = Path(loaded.path).parent
    out = []
    checks = [(("dataset", "source"), data["dataset"]["source"])]
    if data["target"] == "local":
        checks.append((("model", "name"), data["model"]["name"]))
    for path, value in checks:
        if value.startswith(_PATHLIKE) and not (base / Path(value).expanduser()).exists():
            out.append(
                _at(
                    loaded,
                    path,
                    f"{'.'.join(path)} points to {value!r}, which does not exist",
                    f"paths are relative to the spec file's folder ({base})",
                )
            )
    return out


def _rollout(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    d = data["deployment"]
    rollout = d["rollout"]
    steps = rollout.get("steps")
    out = []
    if rollout["strategy"] == "in_place":
        for key, wrong in (("steps", steps and len(steps) > 1), ("mirror", rollout["mirror"])):
            if wrong:
                out.append(
                    _at(
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
                    _at(
                        loaded,
                        ("deployment", "rollout", "steps", i, "traffic"),
                        f"rollout step {i + 1} takes {percents[i]}%, not more than step {i}'s {percents[i - 1]}%",
                        "each step takes more traffic than the one before",
                    )
                )
        if percents[-1] != d["traffic"]:
            out.append(
                _at(
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
        _at(
            loaded,
            ("smoke_test", "evaluate", "split"),
            f"smoke_test.evaluate.split names split '{split}', which dataset.splits does not define",
            f"use one of: {', '.join(data['dataset']['splits'])}",
        )
    ]


def _retired_series(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    """A VM size whose series Azure retired (an error: it cannot run) or retires within 90 days (a
    warning); the dates are the sourced table of spec/skus.py. plan's pre-flight says the same."""
    from datetime import date

    where = [p for p in (_sku_path(data), ("deployment", "sku")) if p is not None]
    today, out = date.today(), []
    for path in where:
        sku = data[path[0]].get(path[1])
        series = series_of(sku) if sku else None
        if series is None:
            continue
        days = (series.retired - today).days
        field = ".".join(path)
        if days <= 0:
            out.append(
                _at(
                    loaded,
                    path,
                    f"{sku}: the {series.name} series retired on {series.retired}",
                    f"move to {series.successor}",
                )
            )
        elif days <= WARN_DAYS:
            out.append(
                _at(
                    loaded,
                    path,
                    f"{field} {sku}: the {series.name} series retires on {series.retired}, in {days} days",
                    f"move to {series.successor}",
                    severity="warning",
                )
            )
    return out


def _traffic_split(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    """Azure takes only splits summing to 0 or 100: below 100, someone else's deployments must take
    the rest. Only plan can see them; validate says what it means."""
    traffic = data["deployment"]["traffic"]
    if data["target"] != "azureml" or traffic in (0, 100):
        return []
    return [
        _at(
            loaded,
            ("deployment", "traffic"),
            f"deployment.traffic {traffic}: Azure accepts only splits that sum to 0 or 100, so deployments this run "
            f"did not make must take the other {100 - traffic}% (plan checks the endpoint and refuses otherwise)",
            "set 100 unless the endpoint serves deployments of its own",
            severity="warning",
        )
    ]


_RULES = (
    _workspace_ids,
    _smoke_sample,
    _names,
    _finetune_sku,
    _gpus,
    _split_overlap,
    _compute_bounds,
    _local_paths,
    _rollout,
    _evaluate_split,
    _retired_series,
    _traffic_split,
)
