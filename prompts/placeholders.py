"""``{name}`` placeholders in template text: find them, fill them.

Placeholders are ``{name}`` with ``name`` a lower-case identifier; every other brace is literal,
so JSON examples in the text need no escaping. Values are inserted in one pass and never read
again: a question containing ``{finding}`` stays as typed. A line holding only a placeholder
whose value is empty (an optional field not given) is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PLACEHOLDER", "fill", "placeholders", "substitute"]

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def fill(text: str, values: Mapping[str, str]) -> str:
    """Fill every placeholder, dropping lines that hold only a placeholder left empty."""
    kept = [
        line
        for line in text.split("\n")
        if not ((m := PLACEHOLDER.fullmatch(line.strip())) and values.get(m[1]) == "")
    ]
    return substitute("\n".join(kept), values)


def substitute(text: str, values: Mapping[str, str], keep_unknown: bool = False) -> str:
    def one(match: re.Match[str]) -> str:
        name = match[1]
        if name in values:
            return values[name]
        if keep_unknown:
            return match[0]
        raise KeyError(name)  # unreachable for validated templates

    return PLACEHOLDER.sub(one, text)


def placeholders(text: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))
