"""The pre-flight's pure parts: lifecycle dates, the registry's catalog entry, quota rows as Azure
names them, and the split that stays when deployments leave."""

from __future__ import annotations

from datetime import date

import pytest

from orchestrator import preflight
from orchestrator.naming import Served
from orchestrator.preflight import Verdict
from orchestrator.rollout import without
from orchestrator.spec.skus import series_of
from orchestrator.targets.azureml import catalog, quota

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("when", "verdict", "words"),
    [
        (date(2025, 8, 30), Verdict.FAIL, "is retired: its fine-tune retirement was 2025-08-30"),
        (TODAY, Verdict.FAIL, "is retired"),
        (date(2027, 3, 2), Verdict.WARN, "retires in 90 days: its fine-tune retirement is 2027-03-02"),
        (date(2027, 3, 3), Verdict.OK, "is current"),
    ],
)
def test_retirement_fails_past_the_date_and_warns_within_90_days(when, verdict, words):
    check = preflight.retirement("model lifecycle", "model X", {"fine-tune retirement": when}, TODAY, "Y")
    assert check.verdict == verdict and words in check.message
    assert ("successor: Y" in check.message) == (verdict != Verdict.OK)


def test_the_earliest_date_decides():
    dates = {"inference retirement": date(2027, 1, 1), "fine-tune retirement": date(2026, 12, 1)}
    assert "fine-tune retirement was 2026-12-01" in preflight.retirement("m", "model X", dates, TODAY).message


def test_refuse_says_every_failure_in_one_line_and_nothing_for_warnings():
    preflight.refuse([preflight.warn("a", "soon"), preflight.undecided("b", "unknown"), preflight.ok("c", "fine")])
    with pytest.raises(preflight.PreflightFailed) as caught:
        preflight.refuse([preflight.fail("a", "first"), preflight.ok("b", "x"), preflight.fail("c", "second")])
    assert str(caught.value) == "first; second; nothing was created"


def test_the_catalog_reads_system_metadata_first_and_tags_second():
    modern = catalog.from_version(
        "Phi-4",
        "8",
        {
            "system_metadata": {
                "supportedComputes": {"finetuneComputes": ["A"], "inferenceComputes": ["B", "C"]},
                "deprecation": {"inferenceRetirementDate": "2027-01-31T00:00:00.000000Z"},
            },
            "tags": {"finetune_compute_allow_list": "['old']"},
        },
    )
    assert modern.finetune_allow == ("A",) and modern.inference_allow == ("B", "C")
    assert modern.dates == {"inference retirement": date(2027, 1, 31)} and not modern.archived
    legacy = catalog.from_version(
        "Phi-3-mini-4k-instruct",
        "15",
        {
            "isArchived": True,
            "tags": {"finetune_compute_allow_list": "['X', 'Y']", "FinetuneRetirementDate": "2025-08-30"},
        },
    )
    assert legacy.archived and legacy.finetune_allow == ("X", "Y") and legacy.inference_allow is None
    assert legacy.dates == {"fine-tune retirement": date(2025, 8, 30)} and legacy.successor == "Phi-4"
    assert catalog.from_version("m", "1", {"system_metadata": "not json"}).finetune_allow is None


def test_vm_series_retirements_are_found_by_size():
    assert series_of("STANDARD_NC6S_V3").name == "NCv3"
    assert series_of("Standard_NC24ads_A100_v4") is None


# Rows as azure-rest-api-specs stable/2025-12-01 examples/Usage/list.json names and scopes them.
def _rows(*specs) -> list[quota.Row]:
    return [quota.Row(quota._key(label), tier, scope, used, limit, label) for label, tier, scope, used, limit in specs]


def test_a_family_matches_its_display_name_and_the_region_row_capped_by_the_workspace_decides():
    rows = _rows(
        ("Standard NCADSA100v4 Family Cluster Dedicated vCPUs", "Dedicated", "region", 60, 96),
        ("Standard NCADSA100v4 Family Cluster Dedicated vCPUs", "Dedicated", "workspace", 10, 40),
        ("Standard NCADSA100v4 Family Cluster Dedicated vCPUs", "Dedicated", "cluster", 0, 96),
    )
    free, where = quota._free(rows, "standardNCADSA100v4Family", "Dedicated")
    assert free == 30 and "workspace: limit 40, in use 10" in where  # min(96 - 60, 40 - 10); no cluster row


def test_the_premium_storage_s_is_dropped_only_when_that_leaves_one_family():
    rows = _rows(("Standard NCv3 Family Cluster Dedicated vCPUs", "Dedicated", "region", 6, 24))
    assert quota._free(rows, "standardNCSv3Family", "Dedicated")[0] == 18
    both = _rows(
        ("Standard DSv2 Family Cluster Dedicated vCPUs", "Dedicated", "region", 2, 24),
        ("Standard Dv2 Family Cluster Dedicated vCPUs", "Dedicated", "region", 0, 24),
    )
    assert quota._free(both, "standardDSv2Family", "Dedicated")[0] == 22  # the exact row, not Dv2's


def test_low_priority_rows_without_a_family_limit_fall_back_to_the_regional_total():
    rows = _rows(
        ("Standard NC Family Cluster LowPriority vCPUs", "LowPriority", "region", 18, -1),
        ("Total Cluster LowPriority Regional vCPUs", "LowPriority", "region", 18, 50),
        ("Standard NC Family Cluster Dedicated vCPUs", "Dedicated", "region", 12, 24),
    )
    free, where = quota._free(rows, "standardNCFamily", "LowPriority")
    assert free == 32 and "Total Cluster LowPriority Regional vCPUs" in where


def test_no_row_for_a_family_is_undecided():
    rows = _rows(("Standard NC Family Cluster Dedicated vCPUs", "Dedicated", "region", 12, 24))
    assert quota._free(rows, "standardNDSv2Family", "Dedicated") == (
        None,
        "Azure reports no Dedicated usage row for this family",
    )


def test_the_deployments_that_stay_share_the_whole_split():
    def served(name, traffic, ours=False):
        return Served(name, ours, traffic, 0, "m:1", "Succeeded")

    assert without([served("a", 80, True), served("b", 20)], {"a"}) == {"a": 0, "b": 100}
    assert without([served("a", 50, True), served("b", 25), served("c", 25)], {"a"}) == {"a": 0, "b": 50, "c": 50}
    assert without([served("a", 34, True), served("b", 33), served("c", 33)], {"a"}) == {"a": 0, "b": 50, "c": 50}
    assert without([served("a", 100, True), served("b", 0)], {"a"}) == {"a": 0, "b": 0}
