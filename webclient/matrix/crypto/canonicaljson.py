"""Canonical JSON (spec appendix "Canonical JSON"): the one byte string every implementation
signs and verifies for the same object.

Sorted keys (by code point), no insignificant whitespace, UTF-8 with non-ASCII characters kept
as they are, and numbers only as integers in [-(2**53)+1, (2**53)-1]. A float that is a whole
number (`1e10`, `-0.0`, what a JSON parser gives for such input) is written as that integer, as
the spec's examples require; any other float, NaN or infinity is refused rather than signed in
a form another client would encode differently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .errors import CanonicalJsonError

MAX_SAFE_INTEGER = 2**53 - 1


def _integer(value: int) -> int:
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise CanonicalJsonError(f"The number {value} is too large for canonical JSON.")
    return value


def _normalise(value: Any) -> Any:
    """A copy of `value` with every number as an int, every mapping as a dict with str keys."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return _integer(int(value))
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return _integer(int(value))
        raise CanonicalJsonError(f"Canonical JSON allows only whole numbers, not {value!r}.")
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError(f"Canonical JSON keys must be strings, not {key!r}.")
            result[key] = _normalise(item)
        return result
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    raise CanonicalJsonError(f"A {type(value).__name__} cannot be written as JSON.")


def canonical_json(value: Any) -> bytes:
    """The canonical JSON encoding of `value`, as the UTF-8 bytes that get signed."""
    text = json.dumps(
        _normalise(value),
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
        allow_nan=False,
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate has no UTF-8 form
        raise CanonicalJsonError("The JSON has a string that is not valid Unicode.") from error
