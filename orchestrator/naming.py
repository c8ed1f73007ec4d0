"""The names both targets and the core agree on: which deployment serves a spec, and one
deployment behind the endpoint as a router shows it. Pure, and apart from rollout.py, so plan,
stages and targets can name a deployment without importing the rollout (an import cycle before)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.spec.model import RunSpec


@dataclass(frozen=True)
class Served:
    """One deployment behind the endpoint, as the router shows it."""

    name: str
    ours: bool  # made by this run (foreign deployments are never touched)
    traffic: int
    mirror: int = 0
    model: str = ""
    state: str = "Succeeded"


def deployment_name(spec: RunSpec) -> str:
    """The deployment that serves this spec. blue_green: `<name>-<6 hex>` from what it serves (the
    registered model's fingerprint and the SKU), so the same model is the same deployment, a scale
    change keeps it and a new model is a new one; within Azure's 32 characters. in_place: the name."""
    d = spec.deployment
    if not d.rollout.blue_green:
        return d.name
    from orchestrator.plan import digest, fingerprints

    served = digest({"register": fingerprints(spec, until="register").get("register"), "sku": d.sku})
    return f"{d.name[:25].rstrip('-')}-{served[:6]}"
