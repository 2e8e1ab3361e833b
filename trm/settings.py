"""Settings declared once: a command's settings are one dataclass, each field one setting.

A field says its name (the config key and, with dashes, the flag), its type (the annotation),
its default, its help, and optionally a `Range` (seed, count, size, probability, ...) and
choices. From that one declaration come:

- the command-line parser (`trm.command` builds argparse from it),
- the value checks (`check`: types, finiteness, bounds and choices, one line naming the field),
- what the workflow passes and the schema and docs of each setting (trm.settings_export:
  `to_argv` turns a config section as it stands into the flags; config/schema.yaml and
  config/README.md are generated from `json_schema_of`).

Lists have one spelling everywhere: the values after the flag, separated by spaces, and for
numbers and names also by commas (`--levels 0 1 4` = `--levels 0,1,4`); the flag may be
repeated. Mappings are NAME=VALUE items (`--run paper=DIR single=DIR`).

Inputs and outputs are declared as such (`input_path`, `output_path`) so that the output guard
(trm.command) checks every output against every input of the same command by construction.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, Literal

from trm.errors import InputError
from trm.ranges import (  # noqa: F401 (the kinds of values, re-exported: trm.ranges)
    FRACTION,
    NAME_PATTERN,
    NAME_RULE,
    PERCENT,
    PROBABILITY,
    SEED,
    SEED_MAX,
    Range,
    check_number,
    count,
    non_negative,
    positive,
    size,
)

REQUIRED: Any = MISSING  # a setting without a default must be given

Role = Literal["setting", "input", "output"]


# ---- field declarations ---------------------------------------------------------------------------


def setting(
    default: Any = REQUIRED,
    *,
    help: str,
    check: Range | None = None,
    choices: Sequence[Any] | None = None,
    flag: str | None = None,
    metavar: str | None = None,
    positional: bool = False,
    config: bool = True,
    keys: str | None = None,
    unique: bool = False,
) -> Any:
    """One setting of a command. `config=False`: command line only (e.g. --no-progress).
    `keys`: the pattern of a mapping's names; `unique`: a list whose values may not repeat."""
    return _field(
        default,
        role="setting",
        help=help,
        check=check,
        keys=keys,
        unique=unique,
        choices=choices,
        flag=flag,
        metavar=metavar,
        positional=positional,
        config=config,
    )


def input_path(
    help: str,
    default: Any = REQUIRED,
    *,
    flag: str | None = None,
    metavar: str | None = None,
    positional: bool = False,
    config: bool = False,
) -> Any:
    """A file or folder the command reads. Outputs are never allowed to be, contain or lie
    inside one (trm.command). `config=True`: a workflow config key too (a source a user
    names, e.g. dataset.input_prefix), not a file another job writes."""
    return _field(
        default,
        role="input",
        help=help,
        flag=flag,
        metavar=metavar,
        positional=positional,
        config=config,
    )


def output_path(
    help: str,
    default: Any = REQUIRED,
    *,
    folder: bool,
    flag: str | None = None,
    metavar: str | None = None,
    incremental: bool = False,
) -> Any:
    """A file (folder=False) or folder the command writes. `incremental`: written in place over
    time (a training run) rather than renamed into place when complete."""
    return _field(
        default,
        role="output",
        help=help,
        flag=flag,
        metavar=metavar,
        config=False,
        folder=folder,
        incremental=incremental,
    )


def _field(default: Any, **meta: Any) -> Any:
    if isinstance(default, list | dict):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# ---- introspection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One declared setting as the parser, the checks and the workflow see it."""

    name: str
    type: Any  # the annotation, resolved
    default: Any  # REQUIRED when none
    role: Role
    help: str
    check: Range | None = None
    choices: tuple[Any, ...] | None = None
    flag: str | None = None
    metavar: str | None = None
    positional: bool = False
    config: bool = True
    folder: bool = False
    incremental: bool = False
    keys: str | None = None  # the pattern a mapping's names match
    unique: bool = False  # a list's values may not repeat

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def option(self) -> str:
        """How a user names it: the flag, or the positional's metavar."""
        if self.positional:
            return self.metavar or self.name.upper()
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def base(self) -> Any:
        """The type without `| None`."""
        return _strip_optional(self.type)

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.base) is list

    @property
    def is_mapping(self) -> bool:
        return typing.get_origin(self.base) is dict

    @property
    def item(self) -> Any:
        """The element type of a list, the value type of a mapping, else the type itself."""
        args = typing.get_args(self.base)
        if self.is_list:
            return args[0]
        if self.is_mapping:
            return args[1]
        return self.base


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def specs(cls: type) -> list[Spec]:
    """The declared settings of a settings dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        if "role" not in meta:
            raise TypeError(f"{cls.__name__}.{f.name}: declare it with setting()/input_path()")
        default: Any = REQUIRED
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        choices = meta.pop("choices", None)
        out.append(
            Spec(
                name=f.name,
                type=hints[f.name],
                default=default,
                choices=tuple(choices) if choices is not None else None,
                **meta,
            )
        )
    return out


def spec_of(cls: type, name: str) -> Spec:
    for s in specs(cls):
        if s.name == name:
            return s
    raise KeyError(f"{cls.__name__} declares no setting {name!r}")


# ---- values from text (the command line) and from YAML/JSON (the workflow) ----------------------


def _scalar_from_text(tp: Any, text: str, where: str) -> Any:
    if tp is bool:
        low = text.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise InputError(f"{where}: expected true or false, got {text!r}")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            try:  # 1e3 is a valid count if it is a whole number
                value = float(text)
            except ValueError:
                raise InputError(f"{where}: expected a whole number, got {text!r}") from None
            if not value.is_integer():
                raise InputError(f"{where}: expected a whole number, got {text!r}") from None
            return int(value)
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise InputError(f"{where}: expected a number, got {text!r}") from None
    if tp is Path:
        if text == "":
            raise InputError(f"{where}: expected a path, got an empty string")
        return Path(text)
    return text


def from_text(spec: Spec, values: Sequence[str] | str, where: str | None = None) -> Any:
    """The typed value of `spec` from command-line text (a list option: its words)."""
    where = where or spec.option
    if spec.is_list:
        words: list[str] = []
        splits = spec.item in (int, float, str)  # paths keep their commas
        for w in [values] if isinstance(values, str) else values:
            words += [p for p in w.split(",") if p != ""] if splits else [w]
        return [_scalar_from_text(spec.item, w, where) for w in words]
    if spec.is_mapping:
        out: dict[str, Any] = {}
        for item in [values] if isinstance(values, str) else values:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise InputError(f"{where}: expected NAME=VALUE, got {item!r}")
            if key in out:
                raise InputError(f"{where}: {key!r} given twice")
            out[key] = _scalar_from_text(spec.item, value, f"{where} {key}")
        return out
    assert isinstance(values, str)
    return _scalar_from_text(spec.base, values, where)


def _type_name(tp: Any) -> str:
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, "a path" if tp is Path else getattr(tp, "__name__", str(tp))
    )


def _coerce_scalar(tp: Any, value: Any, where: str) -> Any:
    """A value from YAML/JSON as `tp`, without guessing: "3" is not a number, 2.5 not a count."""
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            return int(value)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is Path:
        if isinstance(value, str | Path) and str(value) != "":
            return Path(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise InputError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def coerce(spec: Spec, value: Any, where: str) -> Any:
    """A value given in a mapping (config section, report spec) as the declared type."""
    if value is None:
        if spec.type is not spec.base or spec.default is None:  # Optional: None allowed
            return None
        raise InputError(f"{where}: a value is required (got null)")
    if spec.is_list:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            value = [value] if isinstance(value, int | float | str | Path) else value
        if not isinstance(value, Sequence):
            raise InputError(f"{where}: expected a list, got {value!r}")
        return [_coerce_scalar(spec.item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if spec.is_mapping:
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: expected a mapping NAME: VALUE, got {value!r}")
        return {str(k): _coerce_scalar(spec.item, v, f"{where}.{k}") for k, v in value.items()}
    return _coerce_scalar(spec.base, value, where)


# ---- checks ---------------------------------------------------------------------------------------


def _check_scalar(spec: Spec, value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: {value!r} is not a finite number")
    if spec.check is not None and isinstance(value, int | float) and not isinstance(value, bool):
        spec.check.check(where, value)
    if spec.choices is not None and value not in spec.choices:
        raise InputError(f"{where}: {value!r} is not one of {', '.join(map(str, spec.choices))}")


def _check_keys(spec: Spec, value: Any, where: str) -> None:
    """A mapping's names match `keys`; a `unique` list repeats no value."""
    if spec.unique and isinstance(value, list):
        repeated = sorted({str(v) for i, v in enumerate(value) if v in value[:i]})
        if repeated:
            raise InputError(f"{where}: {', '.join(repeated)} given more than once")
    if spec.keys is None or not isinstance(value, Mapping):
        return
    for key in value:
        if not re.match(spec.keys, str(key)):
            rule = NAME_RULE if spec.keys == NAME_PATTERN else f"matching {spec.keys}"
            raise InputError(f"{where}: {str(key)!r} is not a valid name ({rule})")


def check(settings: Any, where: str | None = None) -> None:
    """Refuse a settings object whose values break their declaration (types, finiteness,
    bounds, choices, required values), with one line naming the option."""
    for spec in specs(type(settings)):
        value = getattr(settings, spec.name)
        name = f"{where}.{spec.name}" if where else spec.option
        if value is REQUIRED or (value is None and spec.required):
            raise InputError(f"{name} is required")
        if value is None:
            continue
        value = coerce(spec, value, name)
        setattr(settings, spec.name, value)
        _check_keys(spec, value, name)
        items = value.values() if spec.is_mapping else value if spec.is_list else [value]
        for i, v in enumerate(items):
            _check_scalar(spec, v, f"{name}[{i}]" if spec.is_list else name)


def check_values(
    cls: type, values: Mapping[str, Any], where: str, sep: str = "."
) -> dict[str, Any]:
    """Check the values a mapping gives some of `cls`'s settings (a config section read by a
    command, the fields of a file): the same types, bounds and choices as on the command line,
    one line naming `where<sep>key`. Keys `cls` does not declare are not its business here.
    Returns the checked values as their declared types."""
    out: dict[str, Any] = {}
    for spec in specs(cls):
        if spec.name in values and values[spec.name] is not None:
            name = f"{where}{sep}{spec.name}"
            value = coerce(spec, values[spec.name], name)
            _check_keys(spec, value, name)
            items = value.values() if spec.is_mapping else value if spec.is_list else [value]
            for i, v in enumerate(items):
                _check_scalar(spec, v, f"{name}[{i}]" if spec.is_list else name)
            out[spec.name] = value
    return out


def from_mapping(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Build and check settings from a mapping whose keys are the declared names (a config
    section, a spec file entry); an unknown or missing key is an error naming `where.key`."""
    declared = {s.name: s for s in specs(cls)}
    unknown = [k for k in values if k not in declared]
    if unknown:
        raise InputError(
            f"{where}: unknown setting(s) {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(declared)}"
        )
    kwargs = {}
    for name, spec in declared.items():
        if name in values:
            kwargs[name] = coerce(spec, values[name], f"{where}.{name}")
        elif spec.required:
            raise InputError(f"{where}: {name!r} is required")
    obj = cls(**kwargs)
    check(obj, where)
    return obj
