"""The azureml target's spec rules (validate): what JSON Schema cannot say about Azure's names, VM
sizes and traffic. They run after the core's rules (spec/semantic.py), on schema-valid data."""

from __future__ import annotations

from orchestrator.errors import Diagnostic
from orchestrator.preflight import WARN_DAYS
from orchestrator.spec.load import LoadedSpec
from orchestrator.spec.semantic import at
from orchestrator.spec.skus import UNSUPPORTED_FOR_FINETUNE, gpus_for, series_of


def workspace_ids(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    ws = data.get("workspace")
    if ws is None:
        return []
    ids = ("subscription_id", "resource_group", "name")
    given = [k for k in ids if k in ws]
    if "config_file" in ws:
        return [
            at(
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
        at(
            loaded,
            ("workspace",),
            f"workspace is missing {', '.join(missing)}",
            "give subscription_id, resource_group and name, or config_file",
        )
    ]


def sku_path(data: dict) -> tuple[str, ...] | None:
    """Where the fine-tune's VM size is written: compute.sku, or finetune.instance_type (serverless)."""
    if data.get("compute") is not None:
        return ("compute", "sku")
    return ("finetune", "instance_type") if data["finetune"].get("instance_type") else None


def finetune_sku(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    where = sku_path(data)
    if where is None:
        return []
    sku = data[where[0]][where[1]]
    if sku.lower() in UNSUPPORTED_FOR_FINETUNE:
        return [
            at(
                loaded,
                where,
                f"{sku} (Tesla K80) is not supported for fine-tuning",
                "pick e.g. Standard_NC24ads_A100_v4 or Standard_ND96asr_v4",
            )
        ]
    return []


def gpus(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    where = sku_path(data)
    if where is None:
        return []
    sku = data[where[0]][where[1]]
    ft = data["finetune"]
    gpus = ft["gpus_per_node"]
    known = gpus_for(sku)
    out = []
    if gpus == "auto" and known is None:
        out.append(
            at(
                loaded,
                where,
                f"GPUs per node of {sku} are not known to orchestrate",
                f"set finetune.gpus_per_node to the number of GPUs of one {sku} node",
            )
        )
        return out
    if isinstance(gpus, int) and known is not None and gpus > known:
        out.append(
            at(
                loaded,
                ("finetune", "gpus_per_node"),
                f"finetune.gpus_per_node is {gpus} but {sku} has {known}",
                f"set it to {known} or auto",
            )
        )
    total = ((known if gpus == "auto" else gpus) or 0) * ft.get("num_nodes", 1)
    if ft["deepspeed"]["enabled"] and total <= 1:
        out.append(
            at(
                loaded,
                ("finetune", "deepspeed", "enabled"),
                f"DeepSpeed is on with one GPU per node ({sku}): "
                "ZeRO shards state across GPUs, so one GPU gains only its CPU offload and pays its overhead",
                "keep it if you rely on its memory savings; otherwise set enabled: false or use a multi-GPU SKU",
                severity="warning",
            )
        )
    return out


def retired_series(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    """A VM size whose series Azure retired (an error: it cannot run) or retires within 90 days (a
    warning); the dates are the sourced table of spec/skus.py. plan's pre-flight says the same."""
    from datetime import date

    where = [p for p in (sku_path(data), ("deployment", "sku")) if p is not None]
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
                at(
                    loaded,
                    path,
                    f"{sku}: the {series.name} series retired on {series.retired}",
                    f"move to {series.successor}",
                )
            )
        elif days <= WARN_DAYS:
            out.append(
                at(
                    loaded,
                    path,
                    f"{field} {sku}: the {series.name} series retires on {series.retired}, in {days} days",
                    f"move to {series.successor}",
                    severity="warning",
                )
            )
    return out


def traffic_split(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    """Azure takes only splits summing to 0 or 100: below 100, someone else's deployments must take
    the rest. Only plan can see them; validate says what it means."""
    traffic = data["deployment"]["traffic"]
    if traffic in (0, 100):
        return []
    return [
        at(
            loaded,
            ("deployment", "traffic"),
            f"deployment.traffic {traffic}: Azure accepts only splits that sum to 0 or 100, so deployments this run "
            f"did not make must take the other {100 - traffic}% (plan checks the endpoint and refuses otherwise)",
            "set 100 unless the endpoint serves deployments of its own",
            severity="warning",
        )
    ]


RULES = (workspace_ids, finetune_sku, gpus, retired_series, traffic_split)
