"""A tolerant JSON reader for model text: the values a model meant, however it wrote them.

Models write JSON the way people do: inside ```json fences or bare in prose, with single quotes,
trailing commas, unquoted keys, numbers as strings, and cut off at the token limit. So this is a
small recursive-descent reader rather than :func:`json.loads`. A container cut off at the end of
the text comes back as a :class:`PartialList` or :class:`PartialDict` holding what it held;
:func:`json_values` finds every outermost value in a text and skips what is not JSON.
"""

from __future__ import annotations

import math
import re

__all__ = ["NUMBER", "Malformed", "PartialDict", "PartialList", "Reader", "json_values"]


class PartialList(list[object]):
    """A list the text ended inside of."""


class PartialDict(dict[str, object]):
    """An object the text ended inside of."""


class Malformed(Exception):
    """Not JSON at this position (internal: the scanner moves on)."""


_WS = frozenset(" \t\r\n")
NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")  # no nested repeats
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_WORDS: dict[str, object] = {
    "true": True,
    "false": False,
    "null": None,
    "none": None,
    "nan": math.nan,
    "infinity": math.inf,
    "inf": math.inf,
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_MAX_DEPTH = 10  # a box list nests 5 deep at most ({"boxes": [{"box_2d": [[...]]}]})


class Reader:
    """Recursive descent over one string; ``cut`` is set when the text ends inside a value."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.cut = False

    def skip(self, i: int) -> int:
        while i < self.n and self.s[i] in _WS:
            i += 1
        return i

    def value(self, i: int, depth: int = 0) -> tuple[object, int]:
        i = self.skip(i)
        if i >= self.n:
            self.cut = True
            return None, self.n
        c = self.s[i]
        if c in "[{":
            if depth >= _MAX_DEPTH:
                raise Malformed
            return self.array(i, depth + 1) if c == "[" else self.object(i, depth + 1)
        if c in "\"'":
            return self.string(i)
        number = NUMBER.match(self.s, i)
        if number:
            return float(number.group()), number.end()
        word = _WORD.match(self.s, i)
        if word and word.group().lower() in _WORDS:
            return _WORDS[word.group().lower()], word.end()
        raise Malformed

    def string(self, i: int) -> tuple[str, int]:
        quote, i = self.s[i], i + 1
        chars: list[str] = []
        while i < self.n:
            c = self.s[i]
            if c == quote:
                return "".join(chars), i + 1
            if c == "\\" and i + 1 < self.n:
                nxt = self.s[i + 1]
                hexa = self.s[i + 2 : i + 6]
                if (
                    nxt == "u"
                    and len(hexa) == 4
                    and all(h in "0123456789abcdefABCDEF" for h in hexa)
                ):
                    chars.append(chr(int(hexa, 16)))
                    i += 6
                    continue
                chars.append(_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            chars.append(c)
            i += 1
        self.cut = True
        return "".join(chars), self.n

    def array(self, i: int, depth: int) -> tuple[list[object], int]:
        out: list[object] = []
        i += 1
        while True:
            i = self.skip(i)
            if i >= self.n:
                self.cut = True
                return PartialList(out), self.n
            if self.s[i] == "]":
                return out, i + 1
            if self.s[i] == ",":  # leading, doubled and trailing commas are tolerated
                i += 1
                continue
            item, i = self.value(i, depth)
            out.append(item)
            if self.cut:
                return PartialList(out), self.n
            i = self.skip(i)
            if i < self.n and self.s[i] not in ",]":
                raise Malformed

    def object(self, i: int, depth: int) -> tuple[dict[str, object], int]:
        out: dict[str, object] = {}
        i += 1
        while True:
            i = self.skip(i)
            if i >= self.n:
                self.cut = True
                return PartialDict(out), self.n
            c = self.s[i]
            if c == "}":
                return out, i + 1
            if c == ",":
                i += 1
                continue
            if c in "\"'":
                key, i = self.string(i)
            elif word := _WORD.match(self.s, i):
                key, i = word.group(), word.end()
            else:
                raise Malformed
            i = self.skip(i)
            if self.cut or i >= self.n:
                self.cut = True
                return PartialDict(out), self.n
            if self.s[i] != ":":
                raise Malformed
            item, i = self.value(i + 1, depth)
            out[key] = item
            if self.cut:
                return PartialDict(out), self.n
            i = self.skip(i)
            if i < self.n and self.s[i] not in ",}":
                raise Malformed


_OPENER = re.compile(r"[\[{]")


def json_values(text: str) -> list[tuple[int, int, object]]:
    """Every JSON-like value in ``text`` as ``(start, end, value)``, outermost ones only."""
    reader = Reader(text)
    found = []
    i = 0
    while match := _OPENER.search(text, i):
        j = match.start()
        reader.cut = False
        try:
            value, end = reader.value(j)
        except Malformed:
            i = j + 1
            continue
        found.append((j, end, value))
        i = end
    return found
