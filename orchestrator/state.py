"""Run state on disk (`.orchestrate/<run>/state.json`, atomic writes) and the per-run lock.

The local target keeps its whole truth here; a stage record is written only after the stage's
effect exists, so a killed apply leaves a state that the next apply resumes from.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import OrchestrateError

STATE_VERSION = 1


class LockHeld(OrchestrateError):
    pass


def private_dir(path: Path) -> Path:
    """`path` and the folders missing above it, made 0700 (mkdir's parents=True ignores the mode)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    return path


def atomic_write(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write via a temp file + rename, so readers never see half a file. Private by default: state,
    routes and ports are this user's (folders 0700, files 0600)."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a quota, a read-only folder: the old file stands, no .tmp left
        tmp.unlink(missing_ok=True)
        raise OrchestrateError(f"cannot write {path}: {exc.strerror or exc}") from None


def trusted_dir(path: Path, *, allow_link: bool = False) -> Path:
    """A state folder this user may write and delete in: refused when it is a symlink (git can
    commit one, and destroy deletes beneath it) or belongs to someone else."""
    if path.is_symlink() and not allow_link:
        raise OrchestrateError(f"state folder {path} is a symbolic link; remove it (orchestrate makes its own)")
    try:
        owner = path.stat().st_uid
    except FileNotFoundError:
        return path
    if owner != os.geteuid():
        raise OrchestrateError(f"state folder {path} belongs to another user (uid {owner}); remove it or use your own")
    return path


class RunState:
    """The recorded stages of one run: {stage: {fingerprint, inputs, resource, ...}}."""

    def __init__(self, root: Path, run: str):
        # ORCHESTRATE_STATE_DIR is the user's own choice (a link to another disk is fine); the
        # default .orchestrate/ and every run folder come with the checkout, so they are checked.
        trusted_dir(root, allow_link="ORCHESTRATE_STATE_DIR" in os.environ)
        self.dir = trusted_dir(root / run)
        self.path = self.dir / "state.json"
        self._writing = threading.Lock()  # stages running alongside record from their own thread

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": STATE_VERSION, "stages": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OrchestrateError(f"state file {self.path} is corrupt ({exc}); move it away to start over") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
            raise OrchestrateError(
                f"state file {self.path} is corrupt (not a state object); move it away to start over"
            )
        return data

    def stages(self) -> dict[str, dict]:
        return self.load().get("stages", {})

    def record(self, stage: str, entry: dict) -> None:
        with self._writing:
            data = self.load()
            data.setdefault("stages", {})[stage] = entry
            atomic_write(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def record_stage(self, planned, record: dict) -> dict:
        """Record what a planned stage made, with the fingerprint and inputs behind it; return the entry."""
        entry = {"fingerprint": planned.fingerprint, "inputs": planned.inputs, "resource": planned.resource, **record}
        self.record(planned.name, entry)
        return entry

    def forget(self, stage: str) -> None:
        with self._writing:
            data = self.load()
            if data.get("stages", {}).pop(stage, None) is not None:
                atomic_write(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")


class RunLock:
    """An exclusive lock per run name: a second apply of the same spec is refused, naming the holder.

    flock is released by the kernel when the holder dies, so a crash never leaves a stale lock.
    """

    def __init__(self, root: Path, run: str):
        self.path = root / run / "lock"
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LockHeld(f"run is locked by {holder}; wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
