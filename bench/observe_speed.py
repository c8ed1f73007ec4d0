"""Benchmark: a no-op `orchestrate plan` on target azureml when every Azure request costs a round trip.

The emulator, in a process of its own (its CPU is Azure's, not ours), waits --latency seconds
(default 0.1) before answering each request, as a far region does. After one apply of 10 specs
(zero latency), four no-op plans are timed:
  - one spec, and a directory of the 10 specs, as built: a target reads its stages at once
    (AzureMLTarget.observe_workers), runs are read --parallel 16 at a time (plan's default) and
    share one credential and one client per workspace and registry;
  - the same two with the same code reading sequentially (observe_workers 1, --parallel 1; the
    credential and clients are shared as built).
Goal: the directory of 10 in under 2x the time of one spec. Then both again without the delay:
the client's CPU floor. Median of --runs, in this process (the SDK import is paid in the apply).
Run: python bench/observe_speed.py [--runs 3] [--latency 0.1] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.validate_speed import write_section  # noqa: E402
from tests.targets.azureml.conftest import SUBSCRIPTION, write_azure_spec  # noqa: E402
from tests.targets.azureml.emulator import AzureEmulator  # noqa: E402

SPECS = 10


class Remote:
    """The emulator in a process of its own: its TLS and JSON work must not share this process's
    GIL with the client's, or the benchmark would measure the emulator (Azure's CPU is not ours)."""

    def __init__(self, folder: Path):
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_serve, args=(folder, child), daemon=True)
        self.process.start()
        self.url, self.ca_file = self.conn.recv()

    def ask(self, *command):
        self.conn.send(command)
        return self.conn.recv()

    @property
    def requests(self) -> int:
        return self.ask("requests")

    def stop(self) -> None:
        self.ask("stop")
        self.process.join(5)


def _serve(folder: Path, conn) -> None:
    em = AzureEmulator(folder).start()
    conn.send((em.url, em.ca_file))
    while True:
        command, *args = conn.recv()
        if command == "latency":
            em.config.latency = args[0]
        elif command == "stop":
            em.stop()
            conn.send(None)
            return
        conn.send(len(em.requests) if command == "requests" else None)


def world() -> tuple[Remote, Path]:
    """An emulator and a folder of SPECS runs of the reference spec (own names, endpoints, clusters)."""
    folder = Path(tempfile.mkdtemp(prefix="orchestrate-observe-bench-"))
    em = Remote(folder / "emulator")
    values, unset = AzureEmulator.environment(em, folder, SUBSCRIPTION)  # type: ignore[arg-type]
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(values)
    specs = folder / "specs"
    specs.mkdir()
    text = write_azure_spec(folder).read_text()
    for i in range(SPECS):
        run = text.replace("name: phi4-ultrachat\n", f"name: run-{i:02d}\n")
        run = run.replace("endpoint: ultrachat-completion", f"endpoint: run-{i:02d}-ep")
        (specs / f"run-{i:02d}.yaml").write_text(run.replace("name: gpu-a100", f"name: gpu-{i:02d}"))
    return em, specs


def orchestrate(*args: str) -> int:
    from orchestrator.cli import cli

    try:
        cli.main(list(args), standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def timed_plan(em: Remote, path: Path, parallel: int) -> dict:
    before = em.requests
    started = time.perf_counter()
    code = orchestrate("plan", str(path), "--detailed-exitcode", "--parallel", str(parallel), "-o", "json")
    seconds = time.perf_counter() - started
    assert code == 0, f"plan of {path} was not a no-op (exit {code})"
    return {"seconds": seconds, "requests": em.requests - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--parallel", type=int, default=16, help="plan --parallel as built (its default: 16)")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    from orchestrator.targets.azureml.target import AzureMLTarget

    em, specs = world()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the plans' output, for the whole run
    sys.stdout = devnull
    assert orchestrate("apply", str(specs), "-y", "--parallel", "4") == 0
    em.ask("latency", args.latency)
    one = specs / "run-00.yaml"
    rows: dict[str, list[dict]] = {"one": [], "dir": [], "one_seq": [], "dir_seq": []}
    workers = AzureMLTarget.observe_workers
    for _ in range(args.runs):
        AzureMLTarget.observe_workers = workers
        rows["one"].append(timed_plan(em, one, args.parallel))
        rows["dir"].append(timed_plan(em, specs, args.parallel))
        AzureMLTarget.observe_workers = 1  # the baseline: the same code, reading one request at a time
        rows["one_seq"].append(timed_plan(em, one, 1))
        rows["dir_seq"].append(timed_plan(em, specs, 1))
    AzureMLTarget.observe_workers = workers
    em.ask("latency", 0.0)  # what is left without the round trips: this process's CPU
    rows["one_cpu"] = [timed_plan(em, one, args.parallel) for _ in range(args.runs)]
    rows["dir_cpu"] = [timed_plan(em, specs, args.parallel) for _ in range(args.runs)]
    sys.stdout = sys.__stdout__
    em.stop()

    def med(key: str, field: str = "seconds") -> float:
        return statistics.median(r[field] for r in rows[key])

    lines = [
        f"No-op `plan` on target azureml, every request delayed {args.latency * 1000:.0f} ms by the emulator; "
        f"median of {args.runs} (`python bench/observe_speed.py`).",
        "",
        "| plan | requests | as built | sequential baseline | speed-up |",
        "|---|---|---|---|---|",
        f"| 1 spec | {med('one', 'requests'):.0f} | {med('one'):.2f} s | {med('one_seq'):.2f} s | "
        f"{med('one_seq') / med('one'):.1f}x |",
        f"| directory of {SPECS} specs | {med('dir', 'requests'):.0f} | {med('dir'):.2f} s | {med('dir_seq'):.2f} s | "
        f"{med('dir_seq') / med('dir'):.1f}x |",
        "",
        f"{SPECS} specs take {med('dir') / med('one'):.2f}x the time of one as built (goal: under 2x); "
        f"{med('dir_seq') / med('one_seq'):.2f}x read sequentially. Without the delay, the same plans "
        f"take {med('one_cpu'):.2f} s and {med('dir_cpu'):.2f} s: the client's own work (the SDK's "
        "(de)serialisation, in one Python process), which bounds the directory's time from below.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "## No-op plan of many specs (azureml, latency-bound)\n\n" + text + "\n")


if __name__ == "__main__":
    main()
