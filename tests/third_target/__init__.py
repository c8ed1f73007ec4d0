"""A third target, only in the tests: its package and one line in registry.TARGETS (the tests set
it there) are all it takes, which is what the registry promises a target author.

Its resources are entries of one JSON file in the run's folder, and its endpoint is a router in
that file: every stage runs and can be observed by the next command, nothing is served. Its
schema fragment adds nothing to the core's and its spec rules are none.
"""

from __future__ import annotations

from orchestrator.registry import TargetInfo

TARGET = TargetInfo(name="third", cls="tests.third_target.target:ThirdTarget", schema="schema.json")
