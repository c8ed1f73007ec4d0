"""`orchestrate render`: the resolved Azure ML entities as CLI v2 YAML files (`az ml ... create -f`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from orchestrator.naming import deployment_name
from orchestrator.plan import fingerprints
from orchestrator.spec.model import RunSpec
from orchestrator.stages.model import registry_uri
from orchestrator.targets.azureml import entities, pipeline

SCHEMA_BASE = "https://azuremlschemas.azureedge.net/latest"


def render(spec: RunSpec, out_dir: Path) -> list[Path]:
    """Write pipeline-job.yaml, model.yaml, endpoint.yaml and deployment.yaml; return their paths."""
    # azure-ai-ml warns on stderr about its own experimental schema classes; not the user's concern.
    logging.getLogger("azure.ai.ml").setLevel(logging.ERROR)
    prints = fingerprints(spec)
    version = spec.pins.get("model", spec.model.version)  # the locked version, when there is a lock
    model_id = registry_uri(spec.model.registry, "models", spec.model.name, version)
    data_paths = {role: entities.data_asset_ref(spec, role, prints["data"]) for role in spec.dataset.splits}
    job = entities.pipeline_job(
        spec, prints, model_id=model_id, data_paths=data_paths, gpus=pipeline.gpus_per_node(spec)
    )
    # The model's version is the next free integer of the workspace, known only there: the file
    # leaves it for Azure to number, and the deployment names the newest (`@latest`).
    model = entities.model(spec, prints, job=job.name, version=None)
    endpoint = entities.endpoint(spec, prints)
    deployment = entities.deployment(
        spec, prints, name=deployment_name(spec), model_ref=f"azureml:{spec.register_name}@latest"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, kind, entity in (
        ("pipeline-job.yaml", "pipelineJob", job),
        ("model.yaml", "model", model),
        ("endpoint.yaml", "managedOnlineEndpoint", endpoint),
        ("deployment.yaml", "managedOnlineDeployment", deployment),
    ):
        # Not entity.dump(path): azure-ai-ml 1.35's ManagedOnlineEndpoint.dump ignores its
        # destination and writes nothing. _to_dict() is what every dump() serialises.
        data = {"$schema": f"{SCHEMA_BASE}/{kind}.schema.json", **json.loads(json.dumps(entity._to_dict()))}
        path = out_dir / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written
