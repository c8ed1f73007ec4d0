"""What a fine-tune achieved, in one vocabulary for both targets: the Hugging Face Trainer's log
keys, which the finetune step of `chat_completion_pipeline` logs to the pipeline's root run
(azureml-acft-accelerator `FinetuneCallback.on_log`, `log_metrics_at_root`) and the local trainer
records under the same names.

Final values are kept with the registered model (tags), so the serving model's figures can be read
without its job; the histories of `loss`, `eval_loss` and `learning_rate` draw the curve.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The final figures worth keeping, in the order they are shown.
FINAL = (
    "loss",
    "train_loss",
    "eval_loss",
    "learning_rate",
    "epoch",
    "train_runtime",
    "train_samples_per_second",
    "total_flos",
)
SHOWN = ("loss", "train_loss", "eval_loss")  # in one line: status, apply, the report
CURVES = ("loss", "eval_loss", "learning_rate")  # histories read and drawn
TAG = "orchestrate.metrics"  # the model tag that holds the final figures (JSON of numbers)
GATED = ("eval_loss", "train_loss")  # what smoke_test.evaluate.loss may bound
BARS = "▁▂▃▄▅▆▇█"


def final(values: Mapping[str, Any]) -> dict[str, float]:
    """The known figures among `values`, as numbers (NaN and non-numbers dropped)."""
    out = {}
    for key in FINAL:
        try:
            number = float(values[key])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[key] = number
    return out


def to_tag(values: Mapping[str, float]) -> str:
    return json.dumps({k: float(f"{v:.8g}") for k, v in final(values).items()}, sort_keys=True)


def from_tags(tags: Mapping[str, str] | None) -> dict[str, float]:
    try:
        return final(json.loads((tags or {}).get(TAG, "") or "{}"))
    except (json.JSONDecodeError, AttributeError):
        return {}


def split_ref(ref: str) -> tuple[str, str]:
    """(name, version) of a model as a deployment names it: `name/versions/N`, `name:N` or `name/N`."""
    text = ref.split("/models/")[-1].replace("/versions/", ":")
    name, sep, version = text.rpartition(":")
    if not sep:
        name, _, version = text.rpartition("/")
    return name, version


def line(values: Mapping[str, float], *, keys: Sequence[str] = SHOWN) -> str:
    """'loss 1.234, train_loss 1.301, eval_loss 1.402' (what is known of `keys`)."""
    return ", ".join(f"{k} {values[k]:.4g}" for k in keys if k in values) or "no metrics"


def against(
    new: Mapping[str, float], old: Mapping[str, float], *, keys: Sequence[str] = SHOWN, label: str = "serving"
) -> str:
    """'eval_loss 1.402 (serving 1.520, -0.118), ...' for the keys both have, else line(new)."""
    parts = []
    for k in keys:
        if k not in new:
            continue
        text = f"{k} {new[k]:.4g}"
        if k in old:
            text += f" ({label} {old[k]:.4g}, {new[k] - old[k]:+.3g})"
        parts.append(text)
    return ", ".join(parts) or "no metrics"


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """The curve in one line of block characters, resampled to at most `width` points."""
    points = [v for v in values if math.isfinite(v)]
    if not points:
        return ""
    if len(points) > width:
        points = [points[int(i * len(points) / width)] for i in range(width)]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(BARS[min(len(BARS) - 1, int((v - low) / span * (len(BARS) - 1) + 0.5))] for v in points)


def curve_text(history: Mapping[str, Sequence[Sequence[float]]]) -> str:
    """'loss 2.31 ▇▆▅▄▃▂▂▁ 1.12' for the training loss, and eval_loss likewise when recorded."""
    out = []
    for key in ("loss", "eval_loss"):
        values = [float(v) for _, v in history.get(key, ())]
        if len(values) >= 2:
            out.append(f"{key} {values[0]:.3g} {sparkline(values)} {values[-1]:.3g}")
    return "; ".join(out)


def plot(history: Mapping[str, Sequence[Sequence[float]]], path: Path, title: str) -> Path | None:
    """A PNG of the training loss and the evaluation loss against the step; None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label, style in (("loss", "training loss", "-"), ("eval_loss", "evaluation loss", "o-")):
        points = history.get(key) or []
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], style, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title(f"{title}: fine-tune")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def serving_of(t: Any) -> tuple[str, dict[str, float]] | None:
    """(model, its kept metrics) of this run's deployment that serves now, other than the candidate."""
    from orchestrator.naming import deployment_name
    from orchestrator.rollout import serving

    current = serving(t.deployments(), deployment_name(t.spec))
    if current is None or not current.model:
        return None
    values = t.model_metrics(current.model)
    return (current.model, values) if values else None


def announce(t: Any, events: Any, final_values: dict, curves: dict, folder: Path) -> dict:
    """Say what the fine-tune achieved (against the serving model's figures when it has them), draw
    the curve; the stage's record of it: {metrics, curves, loss_curve}."""
    try:
        png = plot(curves, folder / "loss.png", t.spec.name)
    except Exception:  # a curve is a courtesy: a broken matplotlib or a full disk must not fail the run
        png = None
    try:
        served = serving_of(t)
    except Exception:  # the comparison is a courtesy: the figures stand without it
        served = None
    text = against(final_values, served[1]) if served else line(final_values)
    curve = curve_text(curves)
    events.emit(
        "metrics",
        "finetune",
        message=f"achieved {text}" + (f"; {curve}" if curve else "") + (f"; curve {png}" if png else ""),
        metrics=final_values,
        serving={"model": served[0], "metrics": served[1]} if served else None,
    )
    return {"metrics": final_values, "curves": curves, "loss_curve": str(png) if png else ""}
