"""YAML configuration files (presets, robot config) checked against their dataclass's type hints.

One checker for every config file, so a quoted number (`iterations: '200'`) or a typo'd key is
refused on load with the file, the key, the expected type and the value given, instead of ending
in a TypeError deep inside a run. Strings are never turned into numbers: YAML reads `'200'` and
`1e-3` (no dot) as text, and guessing would hide the mistake.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from chord_core.errors import ChordError

# plural words for list elements: "a list of numbers"
_PLURAL = {bool: "booleans (true/false)", int: "integers", float: "numbers", str: "strings"}
_WORDS = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
          type(None): "null", dict: "a mapping"}


def describe(hint: Any) -> str:
    """The words for a type hint in an error message ("a list of 3 numbers")."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return f"one of {list(args)}"
    if origin in (list, tuple) and args:
        if origin is list or args[-1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_plural(args[0])}"
        return f"a list [{', '.join(describe(a) for a in args)}]"
    return _WORDS.get(hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    return _PLURAL.get(hint) or f"items, each {describe(hint)}"


def matches(hint: Any, value: Any) -> bool:
    """Whether `value` (as YAML gives it) has type `hint`; ints pass as floats, bools never as numbers."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (int, float):
        return not isinstance(value, bool) and isinstance(value, int if hint is int else (int, float))
    if origin in (Union, types.UnionType):
        return any(matches(a, value) for a in args)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (list, tuple):  # YAML has no tuples: a list stands for one
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(a, v) for a, v in zip(args, value))
        return all(matches(args[0], v) for v in value)
    return isinstance(value, hint)


def check_fields(cls: type, values: Mapping[str, Any], source: str, what: str) -> dict[str, Any]:
    """`values` as keyword arguments of dataclass `cls` (lists become tuples where the field is a
    tuple), or a ChordError naming `source`, the key, the expected type and the value given."""
    hints = typing.get_type_hints(cls)
    known = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ChordError(f"{source}: unknown {what} keys {unknown}; known keys: {known}")
    out = {}
    for key, value in values.items():
        hint = hints[key]
        if not matches(hint, value):
            raise ChordError(f"{source}: {key} must be {describe(hint)}, got {value!r} "
                             f"({type(value).__name__}){_unquote_hint(hint, value)}")
        out[key] = tuple(value) if typing.get_origin(hint) is tuple else value
    return out


def read_config(path: Path, cls: type, what: str) -> dict[str, Any]:
    """The YAML mapping in `path` as checked keyword arguments of dataclass `cls` (see check_fields)."""
    if not path.is_file():
        raise ChordError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ChordError(f"{path}: not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ChordError(f"{path}: a {what} must be a mapping of {cls.__name__} fields, got {type(data).__name__}")
    return check_fields(cls, data, str(path), what)


def read_description(path: Path, cls: type, what: str) -> Any:
    """An instance of dataclass `cls` from `path`, every field required (the descriptions that come
    beside a scan); None when there is no such file."""
    if not path.is_file():
        return None
    values = read_config(path, cls, what)
    if missing := [f.name for f in dataclasses.fields(cls) if f.name not in values]:
        raise ChordError(f"{path}: the {what} lacks {missing}")
    return cls(**values)


def _unquote_hint(hint: Any, value: Any) -> str:
    """The fix when the value would pass with its quoted numbers read as numbers (YAML 1.1 reads
    `'200'`, and `1e-3` without a dot, as text)."""

    def number(item: Any) -> Any:
        if not isinstance(item, str):
            return item
        for kind in (int, float):
            try:
                return kind(item)
            except ValueError:
                pass
        return item

    items = value if isinstance(value, list) else [value]
    unquoted = [number(v) for v in items]
    if unquoted == items or not matches(hint, unquoted if isinstance(value, list) else unquoted[0]):
        return ""
    if any(isinstance(v, str) and "e" in v.lower() and "." not in v for v in items):
        return "; YAML reads an exponent without a dot as text: write 1.0e-3, not 1e-3"
    return "; write numbers without quotes"
