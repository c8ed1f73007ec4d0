"""The desired Azure ML objects, built offline with the real azure-ai-ml entity classes.

Entities only: no client, no calls. The operations (create, wait, retry) live elsewhere in this
package; `orchestrate render` dumps these same objects as CLI v2 YAML.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import yaml

from orchestrator import __version__
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import short
from orchestrator.stages.finetune import FinetuneStage
from orchestrator.targets.azureml import pipeline


def tags(spec: RunSpec, stage: str, fingerprint: str) -> dict[str, str]:
    """Tags on every resource: how the next apply recognises what this run made."""
    return {
        "orchestrate.run": spec.name,
        "orchestrate.stage": stage,
        "orchestrate.fingerprint": fingerprint,
        "orchestrate.version": __version__,
    }


def is_ours(resource, spec: RunSpec) -> bool:
    """Whether a resource's tags say this run made it."""
    return (getattr(resource, "tags", None) or {}).get("orchestrate.run") == spec.name


def tagged_fingerprint(resource) -> str:
    return (getattr(resource, "tags", None) or {}).get("orchestrate.fingerprint", "")


def state_of(value) -> str:
    """An SDK status or provisioning state as Azure spells it ("Completed", not "JobStatus.COMPLETED")."""
    return str(getattr(value, "value", value) or "")


def data_asset_ref(spec: RunSpec, role: str, fingerprint: str) -> str:
    return f"azureml:{spec.name}-{role}:{short(fingerprint)}"


def pipeline_job(
    spec: RunSpec,
    prints: dict[str, str],
    *,
    model_id: str,
    data_paths: dict[str, str],
    gpus: int,
    component: str | None = None,
    name: str | None = None,
):
    """The fine-tune PipelineJob; `name` differs from job_name() only for a rerun after a failed job."""
    # azure.ai.ml costs ~1.5 s to import: only render and apply pay it.
    from azure.ai.ml import load_job

    job = pipeline.pipeline_job(
        spec,
        job_name=name or FinetuneStage.job_name(spec, prints["finetune"]),
        model_id=model_id,
        data_paths=data_paths,
        gpus=gpus,
        component=component,
        tags=tags(spec, "finetune", prints["finetune"]),
    )
    return load_job(io.StringIO(yaml.safe_dump(job, sort_keys=False)))


def model(spec: RunSpec, prints: dict[str, str], *, job: str, version: str | None, achieved: Mapping | None = None):
    """The registered model; `achieved`: the fine-tune's final metrics, kept as a tag with it."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    from orchestrator import metrics

    model_tags = tags(spec, "register", prints["register"])
    if achieved:
        model_tags[metrics.TAG] = metrics.to_tag(achieved)
    return Model(
        name=spec.register_name,
        version=version,  # a positive integer: workspace models take no other (register.py)
        type=AssetTypes.MLFLOW_MODEL,
        path=f"azureml://jobs/{job}/outputs/trained_model",
        description=f"{spec.model.name} fine-tuned by orchestrate run {spec.name}",
        tags=model_tags,
    )


def endpoint(spec: RunSpec, prints: dict[str, str], *, traffic: dict[str, int] | None = None):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    return ManagedOnlineEndpoint(
        name=spec.deployment.endpoint,
        auth_mode="key",
        traffic=traffic,
        description=f"orchestrate run {spec.name}",
        tags=tags(spec, "endpoint", prints["endpoint"]),
    )


def deployment(spec: RunSpec, prints: dict[str, str], *, name: str, model_ref: str):
    from azure.ai.ml.entities import ManagedOnlineDeployment, OnlineRequestSettings, ProbeSettings

    d = spec.deployment

    def probe(p):
        return ProbeSettings(
            initial_delay=p.initial_delay,
            period=p.period,
            timeout=p.timeout,
            failure_threshold=p.failure_threshold,
            success_threshold=p.success_threshold,
        )

    return ManagedOnlineDeployment(
        name=name,
        endpoint_name=d.endpoint,
        model=model_ref,
        instance_type=d.sku,
        instance_count=d.instance_count,
        liveness_probe=probe(d.liveness),
        readiness_probe=probe(d.readiness),
        request_settings=OnlineRequestSettings(
            request_timeout_ms=d.timeout_ms, max_concurrent_requests_per_instance=d.max_concurrent_requests_per_instance
        ),
        tags=tags(spec, "deployment", prints["deployment"]),
    )
