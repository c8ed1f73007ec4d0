from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import OrchestrateError
from orchestrator.estimate import KNOWN_ROWS, TOKENS_PER_S_PER_GPU, estimate, load_prices
from orchestrator.spec.validate import load_runspec
from tests.conftest import SPECS

PHI3 = load_runspec(SPECS / "phi4-ultrachat.yaml")


def with_finetune(**changes):
    return dataclasses.replace(PHI3, finetune=dataclasses.replace(PHI3.finetune, **changes))


def test_gpu_hours_follow_data_epochs_and_the_stated_throughput():
    e = estimate(PHI3)
    rows = -(-KNOWN_ROWS["HuggingFaceH4/ultrachat_200k"]["train_sft"] * 5 // 100)
    assert e.train_tokens == rows * 2048 and "max_seq_length" in e.tokens_basis
    assert e.throughput_per_gpu == TOKENS_PER_S_PER_GPU["a100"]
    assert e.finetune_gpu_hours == pytest.approx(rows * 2048 / 2500 / 3600)
    assert estimate(with_finetune(epochs=3)).finetune_gpu_hours == pytest.approx(3 * e.finetune_gpu_hours)
    assert estimate(PHI3, throughput=5000).finetune_gpu_hours == pytest.approx(e.finetune_gpu_hours / 2)
    assert e.endpoint_instance_hours_per_day == 24 and e.finetune_cost is None and e.endpoint_cost_per_day is None


def test_money_only_from_a_price_table(tmp_path):
    table = tmp_path / "prices.yaml"
    table.write_text("currency: EUR\nprices:\n  standard_nc24ads_a100_v4: 4.0\n  Standard_NC40ads_H100_v5: 3.0\n")
    on_h100 = dataclasses.replace(PHI3, deployment=dataclasses.replace(PHI3.deployment, sku="Standard_NC40ads_H100_v5"))
    e = estimate(on_h100, prices=load_prices(str(table)))
    assert e.finetune_cost == pytest.approx(e.finetune_wall_hours * 4.0) and e.endpoint_cost_per_day == 72.0
    table.write_text("currency: EUR\nprices:\n  standard_nc24ads_a100_v4: 4.0\n")
    result = CliRunner().invoke(cli, ["plan", str(SPECS / "phi4-ultrachat.yaml"), "--offline", "--prices", str(table)])
    assert "EUR 96.00 per day" in result.output and "not a quote" in result.output
    table.write_text("prices: [1, 2]\n")
    with pytest.raises(OrchestrateError, match="expected `prices"):
        load_prices(str(table))


def test_unknown_dataset_and_local_target():
    unknown = dataclasses.replace(PHI3, dataset=dataclasses.replace(PHI3.dataset, source="someone/else"))
    assert estimate(unknown).finetune_gpu_hours is None
    local = estimate(load_runspec(SPECS / "quickstart-local.yaml"))
    assert local.local and local.train_tokens > 0 and local.endpoint_instance_hours_per_day == 0


def test_diff_shows_the_change_in_the_estimate(tmp_path):
    old, new = tmp_path / "a.yaml", tmp_path / "b.yaml"
    text = (SPECS / "phi4-ultrachat.yaml").read_text()
    old.write_text(text)
    new.write_text(text.replace("instance_count: 1", "instance_count: 3"))
    result = CliRunner().invoke(cli, ["diff", str(old), str(new)])
    assert "compute: endpoint 24 -> 72 instance-hours/day (estimate)" in result.output
