"""What observe read, handed to the stages of the same apply (Terraform's plan -> apply `Private`).

UNREAD means observe did not look (read it now); None means Azure said it does not exist.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final


class _Unread:
    def __repr__(self) -> str:
        return "UNREAD"


UNREAD: Final[Any] = _Unread()


@dataclass
class Seen:
    model: Any = None  # the registry's base model, resolved once per apply
    catalogs: dict[str, Any] = field(default_factory=dict)  # its catalog entry per version read (catalog.py)
    data_versions: dict[str, str] | None = None  # role -> data asset version found
    compute: Any = UNREAD  # the cluster, or None
    endpoint: Any = UNREAD  # the online endpoint, or None
    deployments: list | None = None  # the endpoint's deployments (None: not listed yet)
    registered: str | None = None  # the model version registered for this fingerprint, once found
    job: Any = None  # the completed fine-tune job of this fingerprint
    attach: str | None = None  # a running job of this fingerprint to re-attach to
    next_job_name: str | None = None  # the first free job name (Azure never reuses one)
    submitted: str | None = None  # the job this apply submitted or re-attached to
    sizes: dict[str, Any] | None = None  # the region's VM sizes by lower-case name
    usage_rows: list | None = None  # the region's quota rows (quota.Row), for the pre-flight
    tracking: str | None = None  # the workspace's MLflow REST base URL (tracking.py)
    # Set once Azure accepted (or refused) the endpoint's PUT: the fine-tune's job waits for it.
    endpoint_accepted: Future = field(default_factory=Future)
