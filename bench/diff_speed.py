"""Benchmark: `orchestrate diff` of two revisions of a spec, as a whole process (goal < 0.5 s).

Builds a scratch git repository with the reference spec and a second commit that changes two fields,
then times `orchestrate diff HEAD~1..HEAD specs/phi4.yaml` against bare interpreter start-up.
Run: python bench/diff_speed.py [--runs 15] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.validate_speed import wall, write_section  # noqa: E402


def make_repo() -> Path:
    repo = Path(tempfile.mkdtemp(prefix="orchestrate-diff-bench-"))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    spec = (ROOT / "specs" / "phi4-ultrachat.yaml").read_text()
    (repo / "specs").mkdir()
    (repo / "specs" / "phi4.yaml").write_text(spec)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    (repo / "specs" / "phi4.yaml").write_text(
        spec.replace("learning_rate: 5.0e-6", "learning_rate: 1.0e-5").replace("instance_count: 1", "instance_count: 2")
    )
    subprocess.run(["git", "commit", "-qam", "two"], cwd=repo, check=True, env=env)
    return repo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--write")
    args = parser.parse_args()
    repo = make_repo()
    orchestrate = Path(sys.executable).with_name("orchestrate")
    cmd = [
        str(orchestrate) if orchestrate.exists() else sys.executable,
        *([] if orchestrate.exists() else ["-m", "orchestrator"]),
        "diff",
        "HEAD~1..HEAD",
        "specs/phi4.yaml",
    ]
    diff_times = wall(cmd, args.runs, cwd=repo)
    bare = wall([sys.executable, "-c", "pass"], args.runs, cwd=repo)
    text = (
        "\n".join(
            [
                f"## diff speed ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, median of {args.runs} runs)",
                "",
                "| what | time | against |",
                "|---|---|---|",
                f"| python -c 'pass' (interpreter start) | {statistics.median(bare):.3f} s | |",
                "| orchestrate diff HEAD~1..HEAD specs/phi4.yaml "
                "(2 git reads, 2 validations, per-field fingerprints) | "
                f"{statistics.median(diff_times):.3f} s | goal < 0.5 s |",
            ]
        )
        + "\n"
    )
    print(text)
    if args.write:
        write_section(Path(args.write), text)


if __name__ == "__main__":
    main()
