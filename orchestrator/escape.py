"""Text that came from outside (spec values, file names) made safe for the medium it goes to.

One function per medium: a terminal or log (`visible`: control characters shown as escapes,
so no ANSI, OSC-8 link or carriage return acts), a GitHub workflow command (`annotation_*`,
escaped as GitHub documents: `%`, CR and LF in the message, also `:` and `,` in a property), and
Markdown (`markdown_code`: an inline code span no value can leave, so nothing in it renders as a
heading, a mention, an image, a link, HTML or a comment).
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


def markdown_code(text: object, *, in_table: bool = False) -> str:
    """`text` as a CommonMark code span: on one line (a newline would end the paragraph and let the
    next line be a heading), fenced by more backticks than any run inside it, padded when it
    starts or ends with one. In a GFM table a pipe ends the cell even inside code: escaped there."""
    shown = visible(str(text))
    if in_table:
        shown = shown.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if shown[:1] == "`" or shown[-1:] == "`" or not shown.strip() else ""
    return f"{fence}{pad}{shown}{pad}{fence}"
