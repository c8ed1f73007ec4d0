"""Benchmark: a fresh `orchestrate apply` (target azureml) in a world with Azure's operation times.

The emulator's operations last what Azure's do, scaled down by --scale (default 100: a minute is
0.6 s), from the SDK's recorded live session test_online_deployment_create (azure-sdk-assets):
endpoint create 50 s, deployment create 390 s; and assumed (not recorded): cluster create 60 s,
the fine-tune job 30 min. Polls are paced as on Azure, scaled the same: the SDK's LRO polls by
`x-ms-retry-after-ms` (30 s), orchestrate's own job and resource reads by ORCHESTRATE_POLL_SECONDS (30 s).

Reported, median of --runs:
- the apply's wall time against the critical path of its operations (all of them as measured, but
  the endpoint's create, made during the job) and against the sum of all of them;
- the status reads made while waiting, per operation, against the most a poll interval allows
  (its duration / the interval, plus the first and last read): polls must not hammer.
Run: python bench/azure_timing.py [--runs 3] [--scale 100] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import azure_apply  # noqa: E402
from bench.validate_speed import write_section  # noqa: E402

AZURE_SECONDS = {"onlineendpoints": 50.0, "deployments": 390.0, "computes": 60.0, "job": 1800.0}
AZURE_POLL_SECONDS = 30.0


def world(scale: float):
    em, spec = azure_apply.world(False)  # a fresh emulator and spec, this process pointed at them
    em.config.seconds = {"operation": 0.0, **{k: v / scale for k, v in AZURE_SECONDS.items()}}
    em.config.lro_ticks = 1
    em.config.job_ticks = 1
    poll = AZURE_POLL_SECONDS / scale
    em.config.retry_after_ms = int(poll * 1000)
    os.environ["ORCHESTRATE_POLL_SECONDS"] = str(poll)
    return em, spec, poll


def apply(scale: float) -> dict:
    em, spec, poll = world(scale)
    wall = azure_apply.apply(em, spec)["seconds"]
    reads = []  # (what, reads, allowed)
    durations = []  # (what, seconds) of every operation, the job's included
    for op_id, op in em.operations.items():
        seconds = (op.ended or time.time()) - op.started
        n = sum(1 for r in em.requests if r.method == "GET" and op_id in r.path)
        kind = "delete" if op.delete else op.resource.split("/")[-2]
        if kind == "onlineendpoints":
            kind = "endpoint create" if not any(d[0].startswith("endpoint") for d in durations) else "endpoint update"
        reads.append((kind, n, seconds / poll + 2))
        durations.append((kind, seconds))
    for key in em.jobs_started:
        name = key.rsplit("/", 1)[-1]
        n = sum(1 for r in em.requests if r.method == "GET" and r.path.split("?")[0].lower().endswith(f"/jobs/{name}"))
        reads.append(("job", n, AZURE_SECONDS["job"] / scale / poll + 2))
        durations.append(("job", AZURE_SECONDS["job"] / scale))
    em.stop()
    total = sum(seconds for _, seconds in durations)
    overlapped = sum(seconds for kind, seconds in durations if kind == "endpoint create")  # during the job
    return {"wall": wall, "reads": reads, "sum": total, "critical": total - overlapped, "ops": len(durations)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    saved = dict(os.environ)
    apply(args.scale * 10)  # warm-up: imports
    rows = [apply(args.scale) for _ in range(args.runs)]
    os.environ.clear()
    os.environ.update(saved)
    critical = statistics.median(r["critical"] for r in rows)
    total = statistics.median(r["sum"] for r in rows)
    wall = statistics.median(r["wall"] for r in rows)
    worst = max(n / allowed for r in rows for _, n, allowed in r["reads"])
    by_kind: dict[str, list] = {}
    for r in rows:
        for kind, n, allowed in r["reads"]:
            by_kind.setdefault(kind, []).append((n, allowed))
    lines = [
        f"## azureml apply with Azure's operation times ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"median of {args.runs} runs, scale 1/{args.scale:g}, `python bench/azure_timing.py`)",
        "",
        "| | seconds (scaled) | on Azure |",
        "|---|---|---|",
        f"| fresh apply, wall | {wall:.2f} | {wall * args.scale / 60:.0f} min |",
        f"| critical path: every operation but the endpoint's create | {critical:.2f} | "
        f"{critical * args.scale / 60:.0f} min |",
        f"| sum of every operation ({rows[0]['ops']}: cluster, endpoint, job, deployment, traffic updates) | "
        f"{total:.2f} | {total * args.scale / 60:.0f} min |",
        "",
        f"wall / critical path = {wall / critical:.2f}x; wall / sum = {wall / total:.2f}x (the endpoint is made "
        "during the job). The rest is the run's own work between operations (plan, data upload, register, "
        "smoke test, the rollout's hold).",
        "",
        "| operation | status reads (median) | allowed at one read per poll interval |",
        "|---|---|---|",
        *(
            f"| {kind} | {statistics.median(n for n, _ in v):.0f} | {statistics.median(a for _, a in v):.0f} |"
            for kind, v in sorted(by_kind.items())
        ),
        "",
        f"Worst reads / allowed over all operations and runs: {worst:.2f} (at most 1: no operation is polled "
        "more than once per interval).",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        write_section(args.write, section)


if __name__ == "__main__":
    main()
