"""The closed sets of words decisions are made on: plan actions, plan modes, diff statuses.

str-valued enums: JSON and comparisons with the plain words keep working, and a typo in code is
an AttributeError instead of a silently false comparison. Reasons stay free text, for people only.
Kept free of imports so that `validate`, which renders none of these, pays nothing for them.
"""

from __future__ import annotations

from enum import Enum


class _Word(str, Enum):
    def __str__(self) -> str:  # f-strings and format() give the word, on every Python version
        return str(self.value)


class Action(_Word):
    """What apply does to a stage's resource (Terraform's plans.Action)."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    SKIP = "skip"


class PlanMode(_Word):
    APPLY = "apply"
    DESTROY = "destroy"


class DiffStatus(_Word):
    """What happened to one spec between two revisions."""

    MODIFIED = "modified"
    UNCHANGED = "unchanged"
    ADDED = "added"
    REMOVED = "removed"
    RENAMED = "renamed"
    INVALID = "invalid"


class KeepReason(_Word):
    """Why destroy leaves a resource this run made (the plan's reason adds the target's words)."""

    UNDELETABLE = "undeletable"  # the target cannot delete it (an Azure ML job stays in the run history)
    SHARED = "shared"  # it holds what this run did not make (an endpoint's other deployments)
