"""Typed settings from YAML files, mappings and command lines: one loader for build, train and refine.

A settings class is a dataclass whose fields may be dataclasses in turn (sections: `TrainConfig.optim`,
`BuildConfig.sources`). `from_dict` builds one from a mapping, checking every value against its field's type and
refusing unknown keys, each error naming the key's full path (`config.yaml.optim.max_steps: expected int, got
'many'`); `load` reads a YAML file and applies `section.key=value` overrides (the value read as YAML) first;
`from_namespace` takes the fields of parsed command-line arguments.

transformers' `HfArgumentParser` reads dataclasses from YAML and the command line too, but flat (one dataclass
per section, every key at the top level), without checking the values' types in `parse_dict`/`parse_yaml_file`,
and without fields that are dataclasses or mappings; the run and build configs need all three.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import yaml

T = TypeVar("T")


def from_dict(cls: type[T], data: Any, where: str) -> T:
    """Dataclass `cls` from a mapping, nested dataclass fields from nested mappings; unknown keys and wrongly typed
    values raise ValueError naming them (`where` is the name of the whole, e.g. the file)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    hints = get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        inner = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        if dataclasses.is_dataclass(hint) or (inner and value is not None):
            kwargs[name] = from_dict(inner[0] if inner else hint, value, f"{where}.{name}")
        else:
            kwargs[name] = check_type(value, hint, f"{where}.{name}")
    return cls(**kwargs)


def check_type(value: Any, hint: Any, where: str) -> Any:
    """`value` if it fits type `hint`, else ValueError naming `where`. Ints are accepted as floats, and so are
    strings like "3e-4", which PyYAML (YAML 1.1) reads as text; tuples take lists (YAML has no tuples)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is not type(None):
                try:
                    return check_type(value, option, where)
                except ValueError:
                    pass
    elif (origin or hint) is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif (
        (origin or hint) is float
        and isinstance(value, str)
        and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value)
    ):
        return float(value)
    elif (origin or hint) is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif (origin or hint) in (list, tuple) and isinstance(value, list | tuple):
        items = [check_type(v, _item_type(hint, i), f"{where}[{i}]") for i, v in enumerate(value)]
        return items if (origin or hint) is list else tuple(items)
    elif (origin or hint) is dict and isinstance(value, dict):
        if not args:
            return value
        return {check_type(k, args[0], where): check_type(v, args[1], f"{where}.{k}") for k, v in value.items()}
    elif hint in (str, bool) and isinstance(value, hint):
        return value
    raise ValueError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _item_type(hint: Any, i: int) -> Any:
    args = typing.get_args(hint)
    if not args:
        return Any
    if typing.get_origin(hint) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return args[i] if i < len(args) else Any
    return args[0]


def apply_overrides(data: dict, overrides: Iterable[str], option: str = "--set") -> dict:
    """`data` (a nested mapping, changed in place) with each "section.key=value" of `overrides` set, the value
    read as YAML; ValueError naming `option` for an item without "="."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"{option} takes section.key=value, got {item!r}")
        dotted, value = item.split("=", 1)
        keys = dotted.strip().split(".")
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = yaml.safe_load(value)
    return data


def read_yaml(path: str | os.PathLike, what: str = "config") -> dict:
    """The mapping of YAML file `path` ({} for an empty file); ValueError if it holds something else."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a {what} is a mapping of settings, got {type(data).__name__}")
    return data


def load(cls: type[T], path: str | os.PathLike | None = None, overrides: Iterable[str] = (), what: str = "config") -> T:
    """The settings of YAML file `path` (default: all defaults) with `overrides` ("section.key=value") applied.
    Raises ValueError on unknown keys or wrong types, OSError on an unreadable file."""
    data = read_yaml(path, what) if path is not None else {}
    return from_dict(cls, apply_overrides(data, overrides), str(path or "config"))


def from_namespace(cls: type[T], args: Any, exclude: Iterable[str] = (), **overrides: Any) -> T:
    """`cls` from the attributes of parsed command-line `args` (an `argparse.Namespace`) that name one of its
    fields (same names; `exclude` left out), then `overrides`, each value type-checked."""
    names = {f.name for f in dataclasses.fields(cls)} - set(exclude)
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return from_dict(cls, {**values, **overrides}, "arguments")


def to_dict(config: Any) -> dict:
    """The nested mapping of a settings dataclass, as `from_dict` reads it back (and `yaml.safe_dump` writes it)."""
    return dataclasses.asdict(config)


__all__ = ["apply_overrides", "check_type", "from_dict", "from_namespace", "load", "read_yaml", "to_dict"]
