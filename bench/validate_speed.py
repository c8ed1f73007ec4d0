"""Benchmark: how fast `orchestrate validate` is, against `import azure.ai.ml` in the same run.

Goals (issues 3 and 12): validate of the reference spec as a whole process (the jsonschema package
checks it) >= 5x faster than `python -c "import azure.ai.ml"`; 1,000 specs validated in one process
under 2 s. This machine's speed wanders by up to 2x from minute to minute, so the in-process figure
is the median of several batches of 1,000, with the fastest batch beside it.
Run: python bench/validate_speed.py [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "phi4-ultrachat.yaml"


def wall(cmd: list[str], runs: int, cwd: Path = ROOT) -> list[float]:
    env = {**os.environ, "AZURE_SUBSCRIPTION_ID": os.environ.get("AZURE_SUBSCRIPTION_ID", "bench")}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=cwd)
        times.append(time.perf_counter() - start)
    return times


def in_process(count: int, batches: int) -> list[float]:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("AZURE_SUBSCRIPTION_ID", "bench")
    from orchestrator.spec.validate import check_file

    check_file(SPEC)  # the validator built once, as in any long-lived process
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(count):
            assert check_file(SPEC, build=False).ok  # what `validate` does: the verdict, no RunSpec
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", help="append the results as a section of this Markdown file")
    args = parser.parse_args()
    orchestrate = Path(sys.executable).with_name("orchestrate")
    validate_cmd = (
        [str(orchestrate), "validate", str(SPEC)]
        if orchestrate.exists()
        else [sys.executable, "-m", "orchestrator", "validate", str(SPEC)]
    )
    baseline = wall([sys.executable, "-c", "import azure.ai.ml"], args.runs)
    validate = wall(validate_cmd, args.runs)
    bare = wall([sys.executable, "-c", "pass"], args.runs)
    batches = in_process(1000, 5)
    thousand = statistics.median(batches)
    med_v, med_b, med_p = statistics.median(validate), statistics.median(baseline), statistics.median(bare)
    rows = [
        ("python -c 'pass' (interpreter start)", f"{med_p:.3f} s", ""),
        ("python -c 'import azure.ai.ml' (baseline)", f"{med_b:.3f} s", ""),
        (
            "orchestrate validate specs/phi4-ultrachat.yaml",
            f"{med_v:.3f} s",
            f"{med_b / med_v:.1f}x faster than baseline (goal >= 5x)",
        ),
        (
            "1,000 x check_file(phi4) in one process, median of 5 batches",
            f"{thousand:.3f} s",
            f"{thousand:.2f} s of 2 s budget (fastest batch {min(batches):.2f} s)",
        ),
    ]
    text = [
        f"## validate speed ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"median of {args.runs} runs)",
        "",
        "| what | time | against |",
        "|---|---|---|",
    ]
    text += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    out = "\n".join(text) + "\n"
    print(out)
    if args.write:
        write_section(Path(args.write), out)


def write_section(path: Path, section: str) -> None:
    """Put a "## ..." results section into a Markdown file, replacing the one of the same title."""
    path.write_text(_replace_section(path.read_text(), section) if path.exists() else section, encoding="utf-8")


def _replace_section(existing: str, section: str) -> str:
    head = section.splitlines()[0].split(" (")[0]
    kept, skipping = [], False
    for line in existing.splitlines():
        if line.startswith("## "):
            skipping = line.startswith(head)
        if not skipping:
            kept.append(line)
    return ("\n".join(kept).rstrip() + "\n\n" + section).lstrip()


if __name__ == "__main__":
    main()
