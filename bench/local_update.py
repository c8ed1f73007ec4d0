"""A blue/green update of the local quickstart under client load: requests served and failed while
it runs, and how long until the new model takes all the traffic.

    python bench/local_update.py [--write BENCHMARKS.md]

Applies specs/quickstart-local.yaml (SmolLM2-135M-Instruct) in a scratch folder, starts a client
calling the endpoint in a loop (8 new tokens, no deployment header), applies a learning-rate
change, stops the client, destroys. The baseline, in the same run: the client's latency in the
30 s before the update, against its latency during it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.validate_speed import write_section  # noqa: E402
from orchestrator import smoke  # noqa: E402


def orchestrate(*args: str, cwd: Path, env: dict) -> list[dict]:
    """Run the CLI with -o json; its NDJSON events."""
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args, "-o", "json"], cwd=cwd, env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"orchestrate {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


class Client(threading.Thread):
    def __init__(self, uri: str, key: str):
        super().__init__(daemon=True)
        self.uri, self.key, self.stop, self.calls = uri, key, threading.Event(), []

    def run(self) -> None:
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        while not self.stop.is_set():
            started = time.time()
            r = smoke.invoke(self.uri, self.key, messages, {"max_new_tokens": 8, "do_sample": False}, timeout_s=120)
            self.calls.append((started, r["status"], r["latency_ms"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="orchestrate-update-"))
    env = {**os.environ, "ORCHESTRATE_STATE_DIR": str(work / "state"), "PYTHONPATH": str(ROOT)}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    shutil.copytree(ROOT / "specs", work / "specs")
    spec = work / "specs" / "quickstart-local.yaml"
    try:
        first = orchestrate("apply", str(spec), "-y", cwd=work, env=env)
        state = json.loads((work / "state" / "quickstart" / "state.json").read_text())["stages"]
        uri = state["endpoint"]["scoring_uri"]
        client = Client(uri, (work / "state" / "quickstart" / "endpoint.key").read_text().strip())
        client.start()
        time.sleep(30)  # the baseline: the endpoint as it serves before the update
        spec.write_text(spec.read_text().replace("learning_rate: 2.0e-4", "learning_rate: 1.0e-4"))
        update_started = time.time()
        events = orchestrate("apply", str(spec), "-y", cwd=work, env=env)
        update_done = time.time()
        time.sleep(5)
        client.stop.set()
        client.join(timeout=150)
        orchestrate("destroy", str(spec), "-y", cwd=work, env=env)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def at(event: str, stage: str) -> float:
        return next(e["time"] for e in events if e["event"] == event and e["stage"] == stage)

    def tokens_per_s(applied: list[dict]) -> float:
        detail = next(e["detail"] for e in applied if e["event"] == "finished" and e["stage"] == "finetune")
        return float(re.search(r"([\d.]+) tokens/s", detail).group(1))

    full = at("finished", "traffic")
    before = [c for c in client.calls if c[0] < update_started]
    during = [c for c in client.calls if update_started <= c[0] <= update_done]
    failed = sum(1 for c in during if c[1] != 200)
    p50_before = statistics.median(c[2] for c in before)
    p50_during = statistics.median(c[2] for c in during)
    text = "\n".join(
        [
            f"## local update under load ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, quickstart, "
            "learning rate 2e-4 -> 1e-4)",
            "",
            "`python bench/local_update.py`: a client calls the endpoint in a loop (8 new tokens, no header) "
            "while the update applies.",
            "",
            "| what | figure | against |",
            "|---|---|---|",
            f"| requests during the update | {len(during)} served, {failed} failed | goal 0 failed |",
            f"| start of the update -> new model takes 100 % | {full - update_started:.1f} s (fine-tune included) | |",
            f"| new deployment started -> takes 100 % (gates, traffic, old one deleted) | "
            f"{full - at('started', 'deployment'):.1f} s | |",
            f"| fine-tune while the old deployment serves the client | {tokens_per_s(events):.0f} tokens/s | "
            f"{tokens_per_s(events) / tokens_per_s(first):.2f}x the first apply's {tokens_per_s(first):.0f} "
            "(nothing serving) |",
            f"| client p50 latency during the update | {p50_during:.0f} ms | "
            f"{p50_during / p50_before:.2f}x the {p50_before:.0f} ms before it (same run) |",
            f"| scoring URI | unchanged ({uri.rsplit(':', 1)[0]}:<port>/score) | |",
        ]
    )
    print(text)
    if args.write:
        write_section(Path(args.write), text + "\n")


if __name__ == "__main__":
    main()
