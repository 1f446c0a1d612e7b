"""Validate plain TOML data into typed dataclasses, generically, by type hints.

Every settings section is a dataclass with defaults. `build(cls, data, key)` checks each
key of `data` against the dataclass fields: an unknown key, a value of the wrong type or a
value rejected by the dataclass's own `__post_init__` raises `SettingsError` naming the
full key (``tickets.sla.urgent.value``), the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints


class SettingsError(ValueError):
    """A settings file or override that cannot be used; the message names the key.

    `problems` lists every mistake found (one line each, "settings: [key] ..."); a file with
    several mistakes reports all of them at once, not only the first.
    """

    def __init__(self, message: str | None = None, problems: list[str] | None = None) -> None:
        self.problems = list(problems) if problems else [message or ""]
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"settings: {len(self.problems)} problems\n" + "\n".join(
                "  " + p.removeprefix("settings: ") for p in self.problems)
        super().__init__(text)


def _combined(errors: list[SettingsError]) -> SettingsError:
    """One error carrying every problem of `errors` (nested tables' problems flattened)."""
    return SettingsError(problems=[p for e in errors for p in e.problems])


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin is list:
        return f"a list of {_describe(get_args(tp)[0])}"
    if origin is dict:
        return f"a table of {_describe(get_args(tp)[1])}"
    if origin in (Union, types.UnionType):
        parts = [a for a in get_args(tp) if a is not type(None)]
        return " or ".join(_describe(a) for a in parts)
    if dataclasses.is_dataclass(tp):
        return f"a table ({tp.__name__})"
    return str(tp)


def _fail(key: str, value: Any, expected: str) -> SettingsError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SettingsError(f"settings: [{key}] expected {expected}, got {shown}")


def convert(tp: Any, value: Any, key: str) -> Any:
    """Check `value` against type `tp`, converting TOML data (tables → dataclasses)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(key, value, _describe(tp))
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(key, value, _describe(tp))
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _fail(key, value, _describe(tp))
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(key, value, _describe(tp))
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise _fail(key, value, _describe(tp))
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, key)
            except SettingsError as exc:
                errors.append(exc)
        raise _fail(key, value, _describe(tp))
    if origin is list or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _fail(key, value, _describe(tp))
        item = get_args(tp)[0]
        out, errors = [], []
        for i, v in enumerate(value):
            try:
                out.append(convert(item, v, f"{key}[{i}]"))
            except SettingsError as exc:
                errors.append(exc)
        if errors:
            raise _combined(errors)
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(key, value, _describe(tp))
        vtype = get_args(tp)[1]
        out, errors = {}, []
        for k, v in value.items():
            try:
                out[str(k)] = convert(vtype, v, f"{key}.{k}")
            except SettingsError as exc:
                errors.append(exc)
        if errors:
            raise _combined(errors)
        return out
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise _fail(key, value, _describe(tp))
        return build(tp, value, key)
    raise SettingsError(f"settings: [{key}] has an unsupported type {tp!r} (a bug)")


def build(cls: type, data: dict, key: str = "") -> Any:
    """Build dataclass `cls` from a TOML table, failing on unknown keys and bad values.

    Every key is checked before failing, so the error lists all the table's mistakes; the
    dataclass's own checks (`__post_init__`) run only once its fields are each valid.
    """
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs, errors = {}, []
    for name, value in data.items():
        full = f"{key}.{name}" if key else name
        if name not in fields:
            known = ", ".join(sorted(fields))
            errors.append(SettingsError(f"settings: [{full}] is not a known key; expected one of: {known}"))
            continue
        try:
            kwargs[name] = convert(hints[name], value, full)
        except SettingsError as exc:
            errors.append(exc)
    if errors:
        raise _combined(errors)
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a __post_init__ check: it names the field, we add the path
        msg = str(exc)
        field_name = msg.split(":", 1)[0].strip()
        if field_name in fields:
            full = f"{key}.{field_name}" if key else field_name
            raise SettingsError(f"settings: [{full}] {msg.split(':', 1)[1].strip()}") from None
        raise SettingsError(f"settings: [{key or 'top level'}] {msg}") from None


def defaults_of(cls: type) -> Any:
    """An instance with every default (a dataclass whose fields all have defaults)."""
    return cls()


def to_plain(obj: Any) -> Any:
    """Dataclasses → plain dicts (for showing the effective settings)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


__all__ = ["SettingsError", "build", "convert", "to_plain", "defaults_of", "typing"]
