"""Text that came from outside (spec values, file names) made safe for the medium it goes to.

One function per medium: a terminal or log (`visible`: control characters shown as escapes,
so no ANSI, OSC-8 link or carriage return acts), and a GitHub workflow command (`annotation_*`,
escaped as GitHub documents: `%`, CR and LF in the message, also `:` and `,` in a property).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and the C1 controls (CSI, OSC, ... as single bytes).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# In a file name nothing is layout: a newline too would forge a line of its own.
CONTROL_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escaped(match: re.Match) -> str:
    return match.group(0).encode("unicode_escape").decode("ascii")


def visible(text: str) -> str:
    """For a terminal or a log: every control character (newlines too) as its escape (\\x1b, \\n)."""
    return CONTROL_IN_NAME.sub(_escaped, text)


def annotation_message(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation_property(text: str) -> str:
    return annotation_message(text).replace(":", "%3A").replace(",", "%2C")
