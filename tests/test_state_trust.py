"""State on disk is not trusted further than it deserves: a pid names one of our servers or is not
signalled; a state folder that is a symlink or someone else's is refused (issue 22, item 7)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import OrchestrateError
from orchestrator.state import RunState, atomic_write
from orchestrator.targets.local import endpoint
from tests.conftest import SPECS


def _orphan(*argv: str) -> int:
    """A process that is not this one's child (as after a reboot, or one started by anybody): its pid."""
    script = " ".join(f"'{a}'" for a in argv)
    out = subprocess.run(
        ["sh", "-c", f"setsid {script} >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, check=True
    )
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 5
    # Until setsid has made it a session leader and exec'd it (its command line is then argv).
    while time.monotonic() < deadline and not (endpoint.command_of(pid).startswith(argv[0]) and os.getpgid(pid) == pid):
        time.sleep(0.05)
    return pid


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's parent here may not reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_pid_that_is_not_one_of_our_servers_is_never_signalled():
    bystander = _orphan(sys.executable, "-c", "import time; time.sleep(60)")
    try:
        assert not endpoint.alive(bystander)  # a reused pid, or an edited state file
        endpoint.stop(bystander, grace_s=1)
        time.sleep(0.2)
        assert _running(bystander)  # still running: no SIGTERM, no SIGKILL
    finally:
        os.kill(bystander, 9)


def test_one_of_our_servers_is_alive_and_stops():
    # Started by an earlier orchestrate: not a child, but what it runs says it is the router.
    router = _orphan(sys.executable, "-c", "import time; time.sleep(60)", "orchestrator.targets.local.router")
    assert endpoint.alive(router)
    endpoint.stop(router, grace_s=5)
    deadline = time.monotonic() + 5
    while _running(router) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(router) and not endpoint.alive(router)


@pytest.fixture
def quickstart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORCHESTRATE_STATE_DIR", raising=False)
    spec = tmp_path / "quickstart.yaml"
    spec.write_text(
        (SPECS / "quickstart-local.yaml")
        .read_text()
        .replace("./data/quickstart-chat", str(SPECS / "data" / "quickstart-chat"))
    )
    return spec


@pytest.mark.parametrize("linked", [".orchestrate", ".orchestrate/quickstart"])
def test_a_state_folder_that_is_a_symlink_is_refused(quickstart, tmp_path, linked):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / ".orchestrate").mkdir(exist_ok=True) if linked != ".orchestrate" else None
    (tmp_path / linked).symlink_to(outside, target_is_directory=True)
    result = CliRunner().invoke(cli, ["plan", str(quickstart)])
    assert result.exit_code == 1
    assert f"state folder {linked} is a symbolic link; remove it" in result.output
    assert list(outside.iterdir()) == []  # nothing written through it


def test_a_state_folder_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can give a folder to another user")
    (tmp_path / "run").mkdir()
    os.chown(tmp_path / "run", 12345, 12345)
    with pytest.raises(OrchestrateError, match="belongs to another user"):
        RunState(tmp_path, "run")


def test_state_is_private(tmp_path):
    atomic_write(tmp_path / "root" / "run" / "state.json", "{}")
    for path, mode in ((tmp_path / "root", 0o700), (tmp_path / "root" / "run", 0o700)):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert stat.S_IMODE((tmp_path / "root" / "run" / "state.json").stat().st_mode) == 0o600
