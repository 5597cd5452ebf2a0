"""A study's settings are one frozen dataclass: this module is how it is written down and read back.

`to_dict` / `read` are its only serialisation (what a queued run stores, what the worker reads); `add_flags` /
`from_flags` make a command line from its fields, so a field added to the dataclass is a flag, is stored with a
queued run and is read back, with no other edit. A nested dataclass field (a freeze strategy's settings) is
flattened into flags of its own. A field's metadata can say more:

    flag   the flag's name when it is not the field's ("class-weights" for class_weighted)
    help   what the flag says in --help
    sweep  the flag takes several values and the command line makes one config per value (--strategies);
           sweep_default: the values when the flag is not given (else the base config's one value)
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar

C = TypeVar("C")


def to_dict(cfg: object) -> dict:
    """JSON-ready: nested settings as tables, tuples as lists."""
    out = {}
    for f in fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        out[f.name] = to_dict(value) if is_dataclass(value) else list(value) if isinstance(value, tuple) else value
    return out


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _nested(kind: Any) -> type | None:
    return kind if isinstance(kind, type) and is_dataclass(kind) else None


def _is_tuple(kind: Any) -> bool:
    return typing.get_origin(kind) is tuple


def read(cls: type[C], stored: Mapping, labels: tuple[str, ...] = ()) -> tuple[C, list[str]]:
    """The config a stored table describes, and the stored settings this version no longer has (to be said).

    A field missing from the table (added since the run was stored) takes its default; a key that is neither a
    field nor one of the study's labels (names, class lists written beside the settings) is a removed setting:
    left out and named. ValueError/TypeError when a value does not fit its field (its dataclass says which)."""
    hints, values, removed = _hints(cls), {}, []
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    for key, value in stored.items():
        if key not in names:
            if key not in labels:
                removed.append(key)
            continue
        kind = hints[key]
        if _nested(kind) and isinstance(value, Mapping):
            value, inner = read(_nested(kind), value)  # type: ignore[arg-type]
            removed += [f"{key}.{k}" for k in inner]
        elif _is_tuple(kind) and isinstance(value, list | tuple):
            value = tuple(value)
        values[key] = value
    return cls(**values), removed


def removed_message(removed: list[str]) -> str:
    """What a page or the worker says about settings an older version stored and this one no longer has."""
    if not removed:
        return ""
    return (f"stored with setting(s) this version no longer has: {', '.join(removed)} (ignored; the run uses the "
            "current settings' defaults for anything new)")


def _flag(f: dataclasses.Field) -> str:
    return "--" + f.metadata.get("flag", f.name).replace("_", "-")


def _scalar(kind: Any) -> tuple[type, bool]:
    """The argparse type of a field, and whether None is allowed."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return kind, False


def add_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """One flag per field (nested dataclasses flattened); none has a default, so from_flags keeps the base's."""
    hints = _hints(cls)
    for f in fields(cls):  # type: ignore[arg-type]
        kind, dest = hints[f.name], prefix + f.name
        if _nested(kind):
            add_flags(parser, _nested(kind), dest + "__")  # type: ignore[arg-type]
            continue
        common = {"dest": dest, "default": argparse.SUPPRESS, "help": f.metadata.get("help")}
        if f.metadata.get("sweep"):
            parser.add_argument(_flag(f), nargs="+", **common)
        elif _is_tuple(kind):
            parser.add_argument(_flag(f), nargs="*", type=typing.get_args(kind)[0], **common)
        elif kind is bool:
            parser.add_argument(_flag(f), action=argparse.BooleanOptionalAction, **common)
        else:
            scalar, optional = _scalar(kind)
            parser.add_argument(_flag(f), type=_or_none(scalar) if optional else scalar, **common,
                                **({"metavar": f"{scalar.__name__.upper()}|none"} if optional else {}))


def _or_none(scalar: type) -> Any:
    def convert(text: str) -> object:
        return None if text.lower() == "none" else scalar(text)
    convert.__name__ = scalar.__name__  # argparse names the type in its error message
    return convert


def _given(args: argparse.Namespace, cls: type, base: object, prefix: str = "") -> dict:
    hints, out = _hints(cls), {}
    for f in fields(cls):  # type: ignore[arg-type]
        dest = prefix + f.name
        if _nested(hints[f.name]):
            inner = _given(args, _nested(hints[f.name]), getattr(base, f.name), dest + "__")  # type: ignore[arg-type]
            if inner:
                out[f.name] = replace(getattr(base, f.name), **inner)
        elif hasattr(args, dest) and not f.metadata.get("sweep"):
            value = getattr(args, dest)
            out[f.name] = tuple(value) if _is_tuple(hints[f.name]) else value
    return out


def _sweeps(cls: type, prefix: str = "") -> Iterator[tuple[tuple[str, ...], str, tuple]]:
    """(path of field names, argparse dest, values when not given) of every sweep field."""
    hints = _hints(cls)
    for f in fields(cls):  # type: ignore[arg-type]
        if _nested(hints[f.name]):
            for path, dest, default in _sweeps(_nested(hints[f.name]), prefix + f.name + "__"):  # type: ignore[arg-type]
                yield (f.name, *path), dest, default
        elif f.metadata.get("sweep"):
            yield (f.name,), prefix + f.name, tuple(f.metadata.get("sweep_default", ()))


def _set(cfg: C, path: tuple[str, ...], value: object) -> C:
    if len(path) == 1:
        return replace(cfg, **{path[0]: value})  # type: ignore[type-var]
    return replace(cfg, **{path[0]: _set(getattr(cfg, path[0]), path[1:], value)})  # type: ignore[type-var]


def from_flags(args: argparse.Namespace, base: C) -> list[C]:
    """The configs a parsed command line asks for: the base with every given flag set, one per sweep value."""
    cfg = replace(base, **_given(args, type(base), base))  # type: ignore[type-var]
    out = [cfg]
    for path, dest, default in _sweeps(type(base)):
        values = getattr(args, dest, default)
        if values:
            out = [_set(c, path, v) for c in out for v in values]
    return out
