"""The run lock on Azure: a 60 s blob lease, renewed while apply runs, on a blob per run name in
the workspace's default datastore. Two applies of the same spec from two machines cannot
interleave; a crashed holder's lease expires by itself within a minute; `--force-unlock` breaks it.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from typing import Any

from orchestrator.state import LockHeld
from orchestrator.targets.azureml.calls import AzureError, call, quiet_sdk

LEASE_SECONDS = 60
RENEW_EVERY = 20


class LeaseLock:
    def __init__(self, ml_client, run: str, *, force: bool = False):
        self.ml = ml_client
        self.run = run
        self.force = force
        self.blob: Any = None  # azure.storage.blob's BlobClient, once entered
        self.lease: Any = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _blob_client(self):
        from azure.storage.blob import BlobClient

        store = call("read the default datastore", self.ml.datastores.get_default, include_secrets=True)
        secret = getattr(store.credentials, "account_key", None) or getattr(store.credentials, "sas_token", None)
        account_url = f"{store.protocol}://{store.account_name}.blob.{store.endpoint}"
        return BlobClient(account_url, store.container_name, f"orchestrate/locks/{self.run}", credential=secret)

    def __enter__(self) -> LeaseLock:
        from azure.core.exceptions import ResourceExistsError

        self.blob = self._blob_client()
        if not call("check the run lock", self.blob.exists):
            try:
                with quiet_sdk():
                    self.blob.upload_blob(b"", overwrite=False)
            except ResourceExistsError:
                pass  # created by a concurrent apply a moment ago: the lease decides
        if self.force:
            self._break("break the run lock (--force-unlock)")
        mine = {
            "holder": f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since "
            f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
        }
        if not self._claim(mine):
            holder = self._holder()
            if holder.get("host") != socket.gethostname() or _alive(holder.get("pid")):
                raise LockHeld(self._held_message(holder))
            # The holder ran on this machine and its process is gone (killed): its lease is stale.
            self._break("break a dead apply's lock")
            if not self._claim(mine):
                raise LockHeld(self._held_message(self._holder()))
        # Named again under the lease: a claimant that lost the race may have written its name meanwhile.
        call("name the run lock holder", self.blob.set_blob_metadata, mine, lease=self.lease)
        self._renewer = threading.Thread(target=self._renew, daemon=True, name="orchestrate-lease")
        self._renewer.start()
        return self

    def _break(self, what: str) -> None:
        from azure.storage.blob import BlobLeaseClient

        call(what, BlobLeaseClient(self.blob).break_lease, lease_break_period=0)

    def _claim(self, mine: dict) -> bool:
        """Write our name, then take the lease: a held lease never shows a dead holder's name (which
        a later apply on this machine would take for a stale lock and break)."""
        try:
            call("name the run lock holder", self.blob.set_blob_metadata, mine, attempts=1)
        except AzureError as exc:
            if exc.status in (409, 412):  # leased: writing needs the lease id, and the holder's name stays
                return False
            raise
        try:
            self.lease = call("take the run lock", self.blob.acquire_lease, lease_duration=LEASE_SECONDS, attempts=1)
        except AzureError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def _holder(self) -> dict:
        try:
            return dict(self.blob.get_blob_properties().metadata or {})
        except Exception:  # the holder's name is a courtesy; the refusal stands without it
            return {}

    def _held_message(self, holder: dict) -> str:
        return (
            f"run {self.run} is locked on Azure by {holder.get('holder', 'another apply')}; wait for it to "
            "finish, or, if that apply is dead, run again with --force-unlock"
        )

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_EVERY):
            try:
                self.lease.renew()
            except Exception:  # a missed renewal is retried next round; the lease lasts 60 s
                continue

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.lease is not None:
            try:
                self.lease.release()
            except Exception:  # an unreleased lease expires by itself within LEASE_SECONDS
                pass


def _alive(pid: str | None) -> bool:
    try:
        number = int(pid or 0)
    except ValueError:
        return False
    if number <= 0:
        return False
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
