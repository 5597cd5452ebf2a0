"""Numbers that JSON cannot hold, and numbers that are undefined: one way to store, read and show them.

A trainer can produce NaN (Pearson's r of a constant prediction, a class never predicted), ±inf (a loss that
blew up), and numpy or torch scalars. Bare ``NaN`` is not JSON, and SQLite's JSON functions reject it, so
`dumps` writes such a number as a small object, ``{"$float": "nan"}``, which every JSON reader takes, and `loads`
reads it back as a float. A number that is undefined for a known reason carries it: `Undefined` is a NaN with a
`reason` ("constant predictions"), stored as ``{"$float": "nan", "reason": "constant predictions"}``. `loads` also
reads the bare ``NaN`` and ``Infinity`` tokens that stores written before this module hold.

`text` shows any value as a table or a CLI does: "0.873", or "undefined (constant predictions)".
"""

from __future__ import annotations

import json
import math
from numbers import Integral, Real
from typing import Any

TAG = "$float"  # the key of a stored non-finite number: {"$float": "nan" | "inf" | "-inf"[, "reason": "..."]}
UNDEFINED = "undefined"
_WORDS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class Undefined(float):
    """A NaN that says why it is undefined. It computes as NaN (math.isnan is true, arithmetic gives plain
    NaN); `reason` is for the reader."""

    reason: str

    def __new__(cls, reason: str = "") -> Undefined:
        value = super().__new__(cls, math.nan)
        value.reason = reason
        return value

    def __reduce__(self) -> tuple:  # pickled (st.cache_data) and deep-copied (dataclasses.asdict) with its reason
        return (Undefined, (self.reason,))

    def __repr__(self) -> str:
        return f"Undefined({self.reason!r})"


def reason(value: object) -> str:
    """Why a value is undefined ("" when it says nothing, or is a number)."""
    return getattr(value, "reason", "") or ""


def is_number(value: object) -> bool:
    """A real number (bool is not one), finite or not."""
    return isinstance(value, Real) and not isinstance(value, bool)


def number(value: object) -> float | int:
    """value as a number (an int stays one) for a reader that expects one: a non-number (a string, None, a list
    written there by hand or by an old version) is Undefined, saying what was there."""
    if isinstance(value, Undefined):
        return value
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    if is_number(value):
        return float(value)
    if value is None:
        return Undefined("not recorded")
    shown = repr(value)
    return Undefined(f"not a number: {shown[:40] + '…' if len(shown) > 40 else shown}")


def count(value: object, default: int) -> int:
    """value as a whole count (processes, a place in line), or default where it is not a finite number."""
    return int(value) if is_number(value) and math.isfinite(value) else default  # type: ignore[arg-type]


def plain(obj: Any) -> Any:
    """obj with every number JSON cannot hold replaced by its stored form, numpy and torch scalars (and 0-d
    arrays) as Python numbers, arrays and tuples as lists, keys as strings. Anything else raises TypeError."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Integral):
        return int(obj)
    if isinstance(obj, Real):
        x = float(obj)
        if math.isfinite(x):
            return x
        stored: dict[str, str] = {TAG: "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}
        if reason(obj):
            stored["reason"] = reason(obj)
        return stored
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    item = getattr(obj, "item", None)  # numpy and torch scalars, 0-d arrays and one-element tensors
    tolist = getattr(obj, "tolist", None)
    if tolist is not None and getattr(obj, "ndim", 0):
        return plain(tolist())
    if item is not None:
        return plain(item())
    raise TypeError(f"cannot store a {type(obj).__name__} as JSON")


def dumps(obj: Any, **kwargs: Any) -> str:
    """JSON text that every reader takes (no bare NaN), for the run store and the CLIs' --json."""
    return json.dumps(plain(obj), allow_nan=False, ensure_ascii=False, **kwargs)


def _decoded(obj: dict) -> Any:
    if TAG in obj and set(obj) <= {TAG, "reason"} and obj[TAG] in _WORDS:
        if obj[TAG] == "nan":
            return Undefined(str(obj.get("reason", "")))
        return _WORDS[obj[TAG]]
    return obj


def loads(text: str) -> Any:
    """The inverse of `dumps`; also reads the bare NaN / Infinity tokens older stores hold (as NaN, ±inf)."""
    return json.loads(text, object_hook=_decoded, parse_constant=lambda word: _decoded({TAG: {
        "NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[word]}))


def _walk(obj: Any, leaf: Any) -> Any:
    """obj with every non-finite number replaced by leaf(number), containers kept."""
    if isinstance(obj, dict):
        return {k: _walk(v, leaf) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_walk(v, leaf) for v in obj]
    if is_number(obj) and not math.isfinite(obj):
        return leaf(obj)
    return obj


def public(obj: Any) -> Any:
    """Values for JSON printed to other programs (`--json`): a non-finite number is null, the JSON convention."""
    return _walk(obj, lambda _: None)


def public_dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(public(loads(dumps(obj))), allow_nan=False, ensure_ascii=False, **kwargs)


def shown(obj: Any) -> Any:
    """Values for a person to read as JSON: a non-finite number is its `text` ("undefined (constant predictions)")."""
    return _walk(obj, text)


WHY = ":why"  # a frame's column "pearson:why" says why its "pearson" is undefined, in the rows where it is NaN


def why_columns(row: dict[str, Any]) -> dict[str, str]:
    """For a row of numbers, the reasons of those that are NaN under their name + WHY ("undefined" when unknown)."""
    return {f"{k}{WHY}": reason(v) or UNDEFINED for k, v in row.items() if is_number(v) and math.isnan(v)}


def text(value: object, digits: int = 3, fmt: str = "") -> str:
    """A number as a table shows it ("0.873", or with fmt such as "+.3f" or ".1%"); NaN as "undefined" with its
    reason where known; ±inf as "∞"; a non-number as "undefined (not a number: …)"."""
    if not is_number(value):
        return text(number(value))
    x = float(value)  # type: ignore[arg-type]
    if math.isnan(x):
        why = reason(value)
        return f"{UNDEFINED} ({why})" if why else UNDEFINED
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if isinstance(value, Integral) and not fmt:
        return str(value)
    return format(value, fmt or f".{digits}f")
