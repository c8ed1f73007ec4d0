"""Spec files at git revisions: which changed between two revisions (or a revision and the working
tree), including added, removed and renamed ones, and their contents. Reads with the git CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

from orchestrator.errors import OrchestrateError

SPEC_SUFFIXES = (".yaml", ".yml")


def _git(*args: str, cwd: Path) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    except FileNotFoundError:
        raise OrchestrateError("git is not installed; compare two files with `orchestrate diff OLD NEW`") from None
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise OrchestrateError(f"git {' '.join(args[:2])} failed: {message[-1] if message else proc.returncode}")
    return proc.stdout


def repo_root(cwd: Path) -> Path:
    return Path(_git("rev-parse", "--show-toplevel", cwd=cwd).decode().strip())


def is_revision(text: str, cwd: Path) -> bool:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{text}^{{commit}}"], cwd=cwd, capture_output=True
    )
    return proc.returncode == 0


def changed_specs(
    old_rev: str, new_rev: str | None, paths: list[str], cwd: Path
) -> list[tuple[str | None, str | None]]:
    """(old path, new path) of every spec file that differs; None marks an added or removed side.

    new_rev None means the working tree, untracked spec files included. Paths are repo-relative.
    """
    revs = [old_rev] + ([new_rev] if new_rev else [])
    # -z everywhere git lists paths: without it git quotes a path with non-ASCII bytes or a newline
    # ("specs/prod-\303\251.yaml"), which then names no file and the change goes unseen.
    out = _git("diff", "--name-status", "-z", "-M", "--no-color", *revs, "--", *paths, cwd=cwd).decode()
    fields = out.split("\0")
    pairs: list[tuple[str | None, str | None]] = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        if status.startswith(("R", "C")):
            pairs.append((fields[i + 1], fields[i + 2]))
            i += 3
            continue
        name = fields[i + 1]
        pairs.append((None, name) if status == "A" else (name, None) if status == "D" else (name, name))
        i += 2
    if new_rev is None:
        untracked = _git("ls-files", "-z", "--others", "--exclude-standard", "--full-name", "--", *paths, cwd=cwd)
        pairs.extend((None, name) for name in untracked.decode().split("\0") if name)
    specs = [(a, b) for a, b in pairs if (b or a or "").endswith(SPEC_SUFFIXES)]
    # A changed lock file (orchestrator/lockfile.py) changes what its spec runs: compare the spec.
    named = {name for pair in specs for name in pair if name}
    for a, b in pairs:
        lock = b or a or ""
        spec = lock[: -len(".lock")] + ".yaml" if lock.endswith(".lock") else ""
        if spec and spec not in named:
            specs.append((spec, spec))
            named.add(spec)
    return specs


def read(rev: str | None, path: str, root: Path) -> bytes:
    """A repo-relative file at a revision, or in the working tree when rev is None."""
    if rev is None:
        return (root / path).read_bytes()
    return _git("show", f"{rev}:{path}", cwd=root)


def read_optional(rev: str | None, path: str, root: Path) -> bytes | None:
    """Like read, or None when the file does not exist there (a spec without a lock file)."""
    if rev is None:
        file = root / path
        return file.read_bytes() if file.is_file() else None
    proc = subprocess.run(["git", "cat-file", "-e", f"{rev}:{path}"], cwd=root, capture_output=True)
    return read(rev, path, root) if proc.returncode == 0 else None
