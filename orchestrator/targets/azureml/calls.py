"""Every Azure call goes through `call`: bounded retries with backoff and jitter for what is
transient (429, 5xx, 409 while a resource is updating, a dropped connection), one clear error
with Azure's code and message for what is not, and the SDK's stray stdout prints sent to stderr.

azure-core already retries 429/5xx a few times inside each request; this layer adds what it does
not retry (409 Conflict, errors of long-running operations) and the last word on giving up.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import sys
import threading
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


class _Muted:
    """One of sys.stdout / sys.stderr sent nowhere while any holder (in any thread) needs it so.
    Reference-counted: contextlib.redirect_* in two threads at once can leave the stream
    swapped for good (the second saves the first's replacement)."""

    def __init__(self, name: str):
        self.name = name
        self.lock = threading.Lock()
        self.depth = 0
        self.saved = None

    @contextlib.contextmanager
    def __call__(self):
        with self.lock:
            if self.depth == 0:
                self.saved = getattr(sys, self.name)
                setattr(sys, self.name, io.StringIO())
            self.depth += 1
        try:
            yield
        finally:
            with self.lock:
                self.depth -= 1
                if self.depth == 0:
                    setattr(sys, self.name, self.saved)


# While any SDK call runs, sys.stdout goes nowhere: azure-ai-ml prints polling dots to stdout,
# which is for data (our own events hold the real streams).
quiet_sdk = _Muted("stdout")
# Around uploads: the SDK prints a colour reset to stderr after each.
quiet_stderr = _Muted("stderr")


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
            with quiet_sdk():
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
