"""The stages of a run, in the order apply executes them. Adding a stage: one module + this list."""

from __future__ import annotations

from orchestrator.stages.base import Stage
from orchestrator.stages.compute import ComputeStage
from orchestrator.stages.data import DataStage
from orchestrator.stages.deployment import DeploymentStage
from orchestrator.stages.endpoint import EndpointStage
from orchestrator.stages.finetune import FinetuneStage
from orchestrator.stages.model import ModelStage
from orchestrator.stages.register import RegisterStage
from orchestrator.stages.smoke_test import SmokeTestStage
from orchestrator.stages.teardown import TeardownStage
from orchestrator.stages.traffic import TrafficStage

STAGES: tuple[Stage, ...] = (
    DataStage(),
    ModelStage(),
    ComputeStage(),
    FinetuneStage(),
    RegisterStage(),
    EndpointStage(),  # runs alongside the fine-tune (EndpointStage.alongside)
    DeploymentStage(),  # blue/green: beside the serving one, at 0 % traffic (rollout.py)
    SmokeTestStage(),  # the gates, at 0 %: smoke test and evaluation of the new deployment
    TrafficStage(),  # the rollout's steps, then the previous deployment deleted
    TeardownStage(),
)

BY_NAME = {stage.name: stage for stage in STAGES}

__all__ = ["STAGES", "BY_NAME", "Stage"]
