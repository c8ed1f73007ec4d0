"""RunSpec: the validated spec as frozen dataclasses, defaults filled from the schema.

Built the SkyPilot way: every key is popped exactly once and leftovers are a bug, so a key the
schema allows but the model forgets can never be silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from orchestrator.spec.names import derived_endpoint_name, derived_register_name


def _take(data: dict, *, where: str) -> _Taker:
    return _Taker(dict(data), where)


class _Taker:
    """Pops keys off a dict and checks that nothing is left over."""

    def __init__(self, data: dict, where: str):
        self.data = data
        self.where = where

    def __call__(self, key: str, default: Any = None) -> Any:
        return self.data.pop(key, default)

    def done(self) -> None:
        # A leftover means the schema allows a key that this model does not read: a bug, not a user error.
        assert not self.data, f"{self.where}: keys not consumed by RunSpec: {sorted(self.data)}"


@dataclass(frozen=True)
class Workspace:
    subscription_id: str | None
    resource_group: str | None
    name: str | None
    config_file: str | None
    credential: str
    cloud: str


@dataclass(frozen=True)
class ModelRef:
    registry: str | None
    name: str
    version: str


@dataclass(frozen=True)
class Split:
    source_split: str
    percent: float


@dataclass(frozen=True)
class Dataset:
    source: str
    subset: str | None
    splits: dict  # role (train/validation/test) -> Split
    seed: int
    revision: str | None = None  # a Hub dataset's revision (sha, branch, tag)


@dataclass(frozen=True)
class Compute:
    name: str
    sku: str
    min_instances: int
    max_instances: int
    tier: str
    fallback: str = "none"  # none | dedicated: what a refused low-priority cluster becomes


@dataclass(frozen=True)
class Lora:
    enabled: bool
    r: int
    alpha: int
    dropout: float


@dataclass(frozen=True)
class DeepSpeed:
    enabled: bool
    stage: int


@dataclass(frozen=True)
class Finetune:
    epochs: int
    learning_rate: float
    batch_size: int
    gradient_accumulation_steps: int
    max_seq_length: int
    precision: str
    lora: Lora
    lr_scheduler: str
    warmup_steps: int
    weight_decay: float
    seed: int
    deepspeed: DeepSpeed
    gpus_per_node: Any  # "auto" or int
    num_nodes: int = 1
    instance_type: str | None = None  # serverless: the VM size when the spec has no compute


@dataclass(frozen=True)
class Probe:
    initial_delay: int
    period: int
    timeout: int
    failure_threshold: int
    success_threshold: int


@dataclass(frozen=True)
class Step:
    traffic: int
    hold: int  # seconds
    max_failed_percent: float


@dataclass(frozen=True)
class Rollout:
    strategy: str  # blue_green | in_place
    steps: tuple[Step, ...]
    mirror: int
    keep_previous: bool

    @property
    def blue_green(self) -> bool:
        return self.strategy == "blue_green"


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    name: str
    sku: str | None
    instance_count: int
    traffic: int
    liveness: Probe
    readiness: Probe
    timeout_ms: int
    max_concurrent_requests_per_instance: int
    rollout: Rollout = Rollout("blue_green", (), 0, False)


@dataclass(frozen=True)
class Evaluate:
    samples: int
    split: str
    metric: str
    margin: float | None
    floor: float | None
    max_new_tokens: int
    loss_margin: float | None = None  # the new model's loss_metric may exceed the serving one's by this
    loss_metric: str = "eval_loss"


@dataclass(frozen=True)
class SmokeTest:
    sample_from: Any  # a split role, or a tuple of {"role", "content"} messages
    temperature: float
    top_p: float
    do_sample: bool
    max_new_tokens: int
    evaluate: Evaluate = Evaluate(0, "test", "chrf", None, None, 64)

    @property
    def parameters(self) -> dict:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "do_sample": self.do_sample,
            "max_new_tokens": self.max_new_tokens,
        }


@dataclass(frozen=True)
class RunSpec:
    version: int
    name: str
    target: str
    workspace: Workspace | None
    model: ModelRef
    dataset: Dataset
    compute: Compute | None
    finetune: Finetune
    register_name: str
    deployment: Deployment
    smoke_test: SmokeTest
    teardown_after_smoke_test: bool
    source_path: str = ""
    # finetune fields the spec file sets itself (dotted, e.g. "lora.r"): they win over the base
    # model's published defaults; the others take those defaults (orchestrator/model_defaults.py).
    finetune_set: tuple[str, ...] = ()
    # What the moving references resolved to, from the lock file or the target: "model" (the base
    # model's version), "component" (chat_completion_pipeline's), "dataset" (a Hub revision). Not
    # part of the spec file: orchestrator/lockfile.py.
    pins: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("pins")
        return data

    @property
    def finetune_sku(self) -> str | None:
        """The VM size the fine-tune runs on: the cluster's, or the serverless instance type."""
        return self.compute.sku if self.compute is not None else self.finetune.instance_type


def build_runspec(data: dict, source_path: str = "", *, finetune_set: tuple[str, ...] = ()) -> RunSpec:
    """Build the typed spec from schema-valid data whose defaults are already filled."""
    top = _take(data, where="spec")
    target = top("target")
    name = top("name")
    workspace = _workspace(top("workspace"))
    spec = RunSpec(
        version=top("version"),
        name=name,
        target=target,
        workspace=workspace,
        model=_model(top("model"), target),
        dataset=_dataset(top("dataset")),
        compute=_compute(top("compute")),
        finetune=_finetune(top("finetune")),
        register_name="",
        deployment=_deployment(top("deployment"), derived_endpoint_name(name, _workspace_id(workspace))),
        smoke_test=_smoke_test(top("smoke_test")),
        teardown_after_smoke_test=_take(top("teardown"), where="teardown")("after_smoke_test"),
        source_path=source_path,
        finetune_set=finetune_set,
    )
    register = _take(top("register"), where="register")
    register_name = register("name") or derived_register_name(spec.model.name, name)
    register.done()
    top.done()
    return replace(spec, register_name=register_name)


def _workspace_id(ws: Workspace | None) -> str | None:
    """The workspace's ARM id when the spec names it (not with a config file, unread here)."""
    if ws is None or not (ws.subscription_id and ws.resource_group and ws.name):
        return None
    return (
        f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{ws.name}"
    )


def _workspace(data: dict | None) -> Workspace | None:
    if data is None:
        return None
    t = _take(data, where="workspace")
    ws = Workspace(t("subscription_id"), t("resource_group"), t("name"), t("config_file"), t("credential"), t("cloud"))
    t.done()
    return ws


def _model(data: dict, target: str) -> ModelRef:
    t = _take(data, where="model")
    from orchestrator import registry as targets

    registry = t("registry", targets.info(target).model_registry)
    ref = ModelRef(registry=registry, name=t("name"), version=str(t("version")))
    t.done()
    return ref


def _dataset(data: dict) -> Dataset:
    t = _take(data, where="dataset")
    splits = {}
    for role, split in t("splits").items():
        s = _take(split, where=f"dataset.splits.{role}")
        splits[role] = Split(source_split=s("from"), percent=float(s("percent")))
        s.done()
    ds = Dataset(source=t("source"), subset=t("subset"), splits=splits, seed=t("seed"), revision=t("revision"))
    t.done()
    return ds


def _compute(data: dict | None) -> Compute | None:
    if data is None:
        return None
    t = _take(data, where="compute")
    c = Compute(t("name"), t("sku"), t("min_instances"), t("max_instances"), t("tier"), t("fallback", "none"))
    t.done()
    return c


def _finetune(data: dict) -> Finetune:
    t = _take(data, where="finetune")
    lora = _take(t("lora"), where="finetune.lora")
    ds = _take(t("deepspeed"), where="finetune.deepspeed")
    ft = Finetune(
        epochs=t("epochs"),
        learning_rate=float(t("learning_rate")),
        batch_size=t("batch_size"),
        gradient_accumulation_steps=t("gradient_accumulation_steps"),
        max_seq_length=t("max_seq_length"),
        precision=t("precision"),
        lora=Lora(lora("enabled"), lora("r"), lora("alpha"), float(lora("dropout"))),
        lr_scheduler=t("lr_scheduler"),
        warmup_steps=t("warmup_steps"),
        weight_decay=float(t("weight_decay")),
        seed=t("seed"),
        deepspeed=DeepSpeed(ds("enabled"), ds("stage")),
        gpus_per_node=t("gpus_per_node"),
        num_nodes=t("num_nodes", 1),
        instance_type=t("instance_type"),
    )
    for part in (t, lora, ds):
        part.done()
    return ft


def _probe(data: dict, where: str) -> Probe:
    t = _take(data, where=where)
    p = Probe(t("initial_delay"), t("period"), t("timeout"), t("failure_threshold"), t("success_threshold"))
    t.done()
    return p


def _deployment(data: dict, default_endpoint: str) -> Deployment:
    t = _take(data, where="deployment")
    probes = _take(t("probes"), where="deployment.probes")
    request = _take(t("request"), where="deployment.request")
    traffic = t("traffic")
    dep = Deployment(
        endpoint=t("endpoint") or default_endpoint,
        name=t("name"),
        sku=t("sku"),
        instance_count=t("instance_count"),
        traffic=traffic,
        liveness=_probe(probes("liveness"), "deployment.probes.liveness"),
        readiness=_probe(probes("readiness"), "deployment.probes.readiness"),
        timeout_ms=request("timeout_ms"),
        max_concurrent_requests_per_instance=request("max_concurrent_requests_per_instance"),
        rollout=_rollout(t("rollout"), traffic),
    )
    for part in (t, probes, request):
        part.done()
    return dep


def _rollout(data: dict, traffic: int) -> Rollout:
    t = _take(data, where="deployment.rollout")
    steps = []
    for i, step in enumerate(t("steps") or [{"traffic": traffic}]):
        s = _take(step, where=f"deployment.rollout.steps[{i}]")
        steps.append(Step(s("traffic"), s("hold", 0), float(s("max_failed_percent", 5))))
        s.done()
    rollout = Rollout(t("strategy"), tuple(steps), t("mirror"), t("keep_previous"))
    t.done()
    return rollout


def _evaluate(data: dict) -> Evaluate:
    t = _take(data, where="smoke_test.evaluate")
    margin, floor, loss_margin = t("margin"), t("floor"), t("loss_margin")
    ev = Evaluate(
        t("samples"),
        t("split"),
        t("metric"),
        None if margin is None else float(margin),
        None if floor is None else float(floor),
        t("max_new_tokens"),
        None if loss_margin is None else float(loss_margin),
        t("loss_metric"),
    )
    t.done()
    return ev


def _smoke_test(data: dict) -> SmokeTest:
    t = _take(data, where="smoke_test")
    params = _take(t("parameters"), where="smoke_test.parameters")
    sample = t("sample_from")
    if isinstance(sample, list):
        sample = tuple({"role": m["role"], "content": m["content"]} for m in sample)
    st = SmokeTest(
        sample,
        float(params("temperature")),
        float(params("top_p")),
        params("do_sample"),
        params("max_new_tokens"),
        _evaluate(t("evaluate")),
    )
    params.done()
    t.done()
    return st
