"""Facts about Azure GPU VM sizes that validate can check offline (apply asks Azure instead)."""

from __future__ import annotations

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
