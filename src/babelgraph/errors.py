"""One exception type for every mistake a user can make, and the checks every input boundary shares.

The CLI prints ``BabelgraphError`` messages as a single line and exits with status 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import math
import re

_SURROGATE = re.compile("[\ud800-\udfff]")


class BabelgraphError(Exception):
    """A user-facing error: the message says what went wrong and what to do about it."""


def check_text(text: str, what: str) -> str:
    """``text`` unchanged, or a :class:`BabelgraphError` if it holds a lone surrogate: what Python makes of
    bytes that are not UTF-8 in a command line or a file read with ``surrogateescape``, and what no tokenizer,
    file or terminal accepts."""
    match = _SURROGATE.search(text)
    if match is None:
        return text
    code = ord(match.group())
    where = f"at character {match.start()}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: one undecodable byte
        detail = f"byte 0x{code - 0xDC00:02x} {where} is not UTF-8"
    else:
        detail = f"lone surrogate U+{code:04X} {where}"
    raise BabelgraphError(f"{what} is not valid UTF-8 text ({detail}): save or type it as UTF-8")


def check_finite(value: float, what: str) -> float:
    """``value`` as a float, or a :class:`BabelgraphError` for NaN and infinities (``1e999`` reads as inf)."""
    number = float(value)
    if not math.isfinite(number):
        raise BabelgraphError(f"{what} must be a finite number, got {value!r}")
    return number


def one_line(message: object) -> str:
    """``message`` as one printable line: newlines folded, undecodable characters escaped."""
    text = " ".join(str(message).splitlines()) or type(message).__name__
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
