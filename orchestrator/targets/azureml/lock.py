"""The run lock on Azure: a 60 s blob lease, renewed while apply runs, on a blob per run name in
the workspace's default datastore. Two applies of the same spec from two machines cannot
interleave; a crashed holder's lease expires by itself within a minute; `--force-unlock` breaks it.

How it signs its blob calls is what the SDK's own uploads do (azure-ai-ml
`_artifacts/_artifact_utilities.get_datastore_info`): an identity-based datastore (credentials
`None`, common on workspaces with `systemDatastoresAuthMode: identity`) or a listSecrets that
fails is reached with the user's Azure AD token; otherwise with what listSecrets gives when asked
for an expirable secret, a SAS with an expiry (`se`), fetched again before it runs out.
ORCHESTRATE_LOCK_AUTH=token takes the token always. A renewal that fails is said at once; a lease
that is lost (broken, or not renewed for its 60 s) stops the apply before its next stage.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from orchestrator.errors import OrchestrateError
from orchestrator.state import LockHeld
from orchestrator.targets.azureml.calls import AzureError, call, first_line

LEASE_SECONDS = 60
RENEW_EVERY = 20.0  # ORCHESTRATE_LOCK_RENEW_SECONDS overrides (tests)
REFRESH_BEFORE = 300.0  # a SAS is fetched again this long before it expires (or at half its life)


class LeaseLock:
    def __init__(
        self,
        ml_client,
        run: str,
        *,
        force: bool = False,
        credential: Any = None,
        report: Callable[[str], None] | None = None,
    ):
        self.ml = ml_client
        self.run = run
        self.force = force
        self.credential = credential  # the user's azure-identity credential: Azure AD tokens to Blob
        self.report = report or (lambda line: print(line, file=sys.__stderr__, flush=True))
        self.blob: Any = None  # azure.storage.blob's BlobClient, once entered
        self.lease: Any = None
        self.signed_by = ""  # "token", "sas" or "key"
        self.expires: float | None = None  # when the SAS runs out (time.time()); None: no expiry
        self.fetched = 0.0  # when the SAS was fetched
        self.lost = ""  # why the lease was lost, once it was
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _blob_client(self):
        from azure.core.exceptions import HttpResponseError
        from azure.storage.blob import BlobClient

        store = call("read the default datastore", self.ml.datastores.get_default)
        secrets: Any = None
        secret = None
        identity = type(store.credentials).__name__ in ("NoneCredentialConfiguration", "AadCredentialConfiguration")
        if not identity and os.environ.get("ORCHESTRATE_LOCK_AUTH", "").lower() != "token":
            try:
                # The SDK's own call for its uploads: {"expirableSecret": true, "expireAfterHours": 1}.
                list_secrets = getattr(self.ml.datastores, "_list_secrets", None)
                if list_secrets is not None:
                    secrets = call("read the datastore's secret", list_secrets, store.name, expirable_secret=True)
                else:  # an SDK without it: its public way, the secret as the datastore carries it
                    found = call("read the datastore", self.ml.datastores.get_default, include_secrets=True)
                    secrets = found.credentials
                secret = getattr(secrets, "sas_token", None) or getattr(secrets, "key", None)
                secret = secret or getattr(secrets, "account_key", None)
            except (AzureError, HttpResponseError):
                secret = None  # no secrets to list (identity-based): the token, as the SDK falls back
        self.fetched = time.time()
        self.expires = _sas_expiry(secret) if secret else None  # an account key has no `se`
        self.signed_by = "token" if secret is None else ("sas" if self.expires is not None else "key")
        if secret is None and self.credential is None:
            raise OrchestrateError("the run lock needs an Azure credential (the datastore is identity-based)")
        account_url = f"{store.protocol}://{store.account_name}.blob.{store.endpoint}"
        return BlobClient(
            account_url, store.container_name, f"orchestrate/locks/{self.run}", credential=secret or self.credential
        )

    def check(self) -> None:
        """Raise if the lease was lost: the apply stops before its next billable call."""
        if self.lost:
            raise OrchestrateError(
                f"{self.lost}; the apply stopped before its next stage (finished stages are recorded: "
                "`orchestrate apply` resumes from there)"
            )

    def __enter__(self) -> LeaseLock:
        try:
            return self._enter()
        except AzureError as exc:
            if exc.status == 403 and self.signed_by == "token":
                raise OrchestrateError(
                    f"{exc}; the run lock reaches the workspace's identity-based datastore with your Azure AD "
                    "identity, which needs the Storage Blob Data Contributor role on its storage account"
                ) from None
            raise

    def _enter(self) -> LeaseLock:
        from azure.core.exceptions import ResourceExistsError

        self.blob = self._blob_client()
        if not call("check the run lock", self.blob.exists):
            try:
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

    def _refresh(self) -> None:
        """A fresh SAS (or key) before the one in hand runs out; the lease stays the same lease."""
        from azure.storage.blob import BlobLeaseClient

        self.blob = self._blob_client()
        self.lease = BlobLeaseClient(self.blob, lease_id=self.lease.id)

    def _due(self) -> bool:
        if self.expires is None:
            return False
        return self.expires - time.time() <= min(REFRESH_BEFORE, (self.expires - self.fetched) / 2)

    def _renew(self) -> None:
        from azure.core.exceptions import HttpResponseError

        every = float(os.environ.get("ORCHESTRATE_LOCK_RENEW_SECONDS", RENEW_EVERY))
        renewed = time.monotonic()
        failing = ""
        while not self._stop.wait(every):
            try:
                if self._due():
                    self._refresh()
                self.lease.renew()
            except Exception as exc:  # retried next round while the 60 s last; said at once
                code = getattr(exc, "error_code", None) or ""
                status = exc.status_code if isinstance(exc, HttpResponseError) else None
                if status == 403 and self.signed_by == "sas":
                    self.expires = time.time()  # refused: refresh the SAS next round
                if status == 409 and "Lease" in str(code):  # broken, or taken by another apply
                    self.lost = f"the run lock of {self.run} was lost ({code}): another apply may hold it"
                    self.report(f"error: {self.lost}")
                    return
                if not failing:
                    failing = first_line(exc)
                    self.report(f"warning: could not renew the run lock of {self.run}: {failing}; retrying")
                if time.monotonic() - renewed >= LEASE_SECONDS:
                    self.lost = f"the run lock of {self.run} lapsed: not renewed for {LEASE_SECONDS} s ({failing})"
                    self.report(f"error: {self.lost}")
                    return
                continue
            renewed = time.monotonic()
            if failing:
                self.report(f"the run lock of {self.run} is renewed again")
                failing = ""

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.lease is not None:
            try:
                self.lease.release()
            except Exception:  # an unreleased lease expires by itself within LEASE_SECONDS
                pass


def _sas_expiry(sas: str) -> float | None:
    """The `se` (signed expiry) of a SAS token, as time.time(); None when it has none."""
    values = parse_qs(sas.lstrip("?")).get("se")
    if not values:
        return None
    try:
        return datetime.fromisoformat(values[0].replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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
