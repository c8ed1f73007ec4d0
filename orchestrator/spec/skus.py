"""Facts about Azure GPU VM sizes that validate can check offline (apply asks Azure instead)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# GPUs per node, keyed by the lower-cased size name. Source: Azure GPU-accelerated VM size docs
# (NCv3, NC A100 v4, NC H100 v5, NDv2, ND A100 v4, ND H100 v5, NCasT4_v3, original NC).
GPUS_PER_NODE: dict[str, int] = {
    "standard_nc6": 1,
    "standard_nc12": 2,
    "standard_nc24": 4,
    "standard_nc24r": 4,
    "standard_nc6s_v3": 1,
    "standard_nc12s_v3": 2,
    "standard_nc24s_v3": 4,
    "standard_nc24rs_v3": 4,
    "standard_nc4as_t4_v3": 1,
    "standard_nc8as_t4_v3": 1,
    "standard_nc16as_t4_v3": 1,
    "standard_nc64as_t4_v3": 4,
    "standard_nc24ads_a100_v4": 1,
    "standard_nc48ads_a100_v4": 2,
    "standard_nc96ads_a100_v4": 4,
    "standard_nd40rs_v2": 8,
    "standard_nd96asr_v4": 8,
    "standard_nd96amsr_a100_v4": 8,
    "standard_nc40ads_h100_v5": 1,
    "standard_nc80adis_h100_v5": 2,
    "standard_nd96isr_h100_v5": 8,
}

# Original NC series (Tesla K80): Azure ML's fine-tuning components refuse them.
UNSUPPORTED_FOR_FINETUNE = frozenset({"standard_nc6", "standard_nc12", "standard_nc24", "standard_nc24r"})


def gpus_for(sku: str) -> int | None:
    """GPUs per node of a known size, or None when the table does not know it."""
    return GPUS_PER_NODE.get(sku.lower())


@dataclass(frozen=True)
class Series:
    name: str
    sizes: frozenset[str]  # lower-case VM size names
    retired: date
    successor: str
    source: str


# VM series retirements that touch fine-tuning and serving SKUs; each row with its source.
SERIES = (
    Series(
        "NCv3",
        frozenset({"standard_nc6s_v3", "standard_nc12s_v3", "standard_nc24s_v3", "standard_nc24rs_v3"}),
        date(2025, 9, 30),
        "the NC A100 v4 series (Standard_NC24ads_A100_v4)",
        "MicrosoftDocs/azure-docs articles/virtual-machines/ncv3-nc6s-nc12s-nc24s-retirement.md; "
        "azure-compute-docs sizes/gpu-accelerated/ncv3-series.md (NC24rs_v3); azureml-examples 334bb09",
    ),
)


def series_of(sku: str) -> Series | None:
    return next((s for s in SERIES if sku.lower() in s.sizes), None)
