"""Every Azure call goes through `call`: bounded retries with backoff and jitter for what is
transient (429, 5xx, 409 while a resource is updating, a dropped connection), one clear error
with Azure's code and message for what is not; the SDK's stray prints are muted at their source
(mute_sdk_prints).

azure-core already retries 429/5xx a few times inside each request; this layer adds what it does
not retry (409 Conflict, errors of long-running operations) and the last word on giving up.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from orchestrator.errors import OrchestrateError

T = TypeVar("T")
ATTEMPTS = 6
BASE_SECONDS = 2.0
CAP_SECONDS = 60.0
TRANSIENT = {408, 409, 429, 500, 502, 503, 504}


class AzureError(OrchestrateError):
    def __init__(self, message: str, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


# The SDK prints to the process's streams from three modules on the calls we make: a dot on stdout
# at every poll of a long-running operation (azure/ai/ml/_utils/_azureml_polling.py,
# AzureMLPolling.update_status, whatever MLClient's show_progress says), and a colour reset on
# stderr after each upload (_artifacts/_blob_storage_helper.py, _gen2_storage_helper.py). stdout
# is for data (apply -o json is NDJSON). Each of those modules looks `print` up in its own globals
# first: a `print` there mutes those three modules and nothing else, where swapping sys.stdout
# for the process took every thread's output with it while a call ran (our own events included).
CHATTY = (
    "azure.ai.ml._utils._azureml_polling",
    "azure.ai.ml._artifacts._blob_storage_helper",
    "azure.ai.ml._artifacts._gen2_storage_helper",
)


def _sdk_print(*values, **options) -> None:
    """The `print` of the SDK's chatty modules: nothing, or stderr under ORCHESTRATE_DEBUG."""
    if os.environ.get("ORCHESTRATE_DEBUG"):
        print(*values, **{**options, "file": sys.stderr})


def mute_sdk_prints() -> None:
    """Give the SDK's chatty modules the `print` above (idempotent; azure.ai.ml is imported by now)."""
    import importlib

    for name in CHATTY:
        importlib.import_module(name).print = _sdk_print  # type: ignore[attr-defined]


def call(
    what: str,
    fn: Callable[..., T],
    *args,
    attempts: int = ATTEMPTS,
    sleep=time.sleep,
    retry_conflict: bool = True,
    **kwargs,
) -> T:
    """fn(*args, **kwargs) with retries. ResourceNotFoundError passes through for callers to handle.
    retry_conflict=False: a 409 is raised at once, for a caller that waits it out (waits.patiently)."""
    transient = TRANSIENT if retry_conflict else TRANSIENT - {409}
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, **kwargs)
        except ResourceNotFoundError:
            raise
        except ClientAuthenticationError:
            raise
        except HttpResponseError as exc:
            status = exc.status_code
            code, message = error_parts(exc)
            if status not in transient or attempt == attempts:
                tried = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise AzureError(
                    f"{what} failed{tried}: {status or ''} {code}: {message}".replace("  ", " "), status, code
                ) from None
            delay = retry_after(exc) or backoff(attempt)
        except (ServiceRequestError, ServiceResponseError, ConnectionError) as exc:
            if attempt == attempts:
                raise AzureError(f"{what} failed after {attempt} attempts: network error: {first_line(exc)}") from None
            delay = backoff(attempt)
        sleep(delay)
    raise AssertionError("unreachable")


def backoff(attempt: int) -> float:
    """Exponential with full jitter: base 2 s doubling up to 60 s (ORCHESTRATE_RETRY_BASE_SECONDS scales it)."""
    base = float(os.environ.get("ORCHESTRATE_RETRY_BASE_SECONDS", BASE_SECONDS))
    return random.uniform(0, min(CAP_SECONDS, base * 2 ** (attempt - 1)))


def retry_after(exc) -> float | None:
    """The server's own hint, in seconds: x-ms-retry-after-ms, retry-after-ms or Retry-After."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("x-ms-retry-after-ms", 1000), ("retry-after-ms", 1000), ("retry-after", 1)):
        value = lowered.get(name)
        if value:
            try:
                return min(CAP_SECONDS, float(value) / scale)
            except ValueError:
                continue
    return None


def error_parts(exc) -> tuple[str, str]:
    """Azure's error code and message, without the SDK's multi-line decoration."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    return str(code), first_line(message)


def first_line(value) -> str:
    """An error's first meaningful line, at most 500 characters, any SAS signature in it blanked
    (`sig=...`: a storage URL in an error must not carry its secret to the output)."""
    text = str(value).strip()
    shown = text
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Code:", "Message:")):
            shown = line
            break
    return re.sub(r"(sig=)[^&\s]+", r"\1...", shown)[:500]
