"""What a settings declaration (trm.settings) gives the outside world: the command-line
arguments for given values (what a workflow job runs and a manifest records), the keys a
workflow config section may give a command, and the JSON schema and help texts of a setting
(config/schema.yaml and config/README.md are generated from these)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trm.settings import Spec, specs

# ---- what the workflow passes ---------------------------------------------------------------------


class UndeclaredSettingError(KeyError):
    """A key the command does not declare: a bug in the caller (a workflow rule), not bad input."""

    def __str__(self) -> str:
        return str(self.args[0])


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


def to_argv(cls: type, values: Mapping[str, Any], command: str = "") -> list[str]:
    """The command-line arguments that give `values` (declared names -> values) to a command.

    None means "the command's default" and gives nothing; False gives nothing for a switch.
    A key the settings class does not declare raises UndeclaredSettingError.
    """
    declared = {s.name: s for s in specs(cls)}
    argv: list[str] = []
    tail: list[str] = []
    for key, value in values.items():
        spec = declared.get(key)
        if spec is None:
            raise UndeclaredSettingError(
                f"{command or cls.__name__} declares no setting {key!r} (declared: "
                f"{', '.join(declared)})"
            )
        if value is None:
            continue
        if spec.positional:
            tail += [_text(v) for v in (value if isinstance(value, list | tuple) else [value])]
            continue
        if spec.base is bool:
            if not isinstance(value, bool):
                raise UndeclaredSettingError(f"{command}: {key} must be true or false")
            argv += [spec.option] if value else []
        elif spec.is_mapping:
            if value:
                argv += [spec.option, *(f"{k}={_text(v)}" for k, v in value.items())]
        elif spec.is_list:
            items = list(value) if isinstance(value, list | tuple) else [value]
            if items:
                argv += [spec.option, *map(_text, items)]
        else:
            argv += [spec.option, _text(value)]
    if tail:
        argv += ["--", *tail] if any(t.startswith("-") for t in tail) else tail
    return argv


def config_settings(cls: type) -> list[Spec]:
    """The settings a workflow config section may give this command."""
    return [s for s in specs(cls) if s.role != "output" and s.config and not s.positional]


def select(cls: type, section: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `section` that `cls` declares as config settings (a job's params: a rule
    passes only what its command reads, so editing another key reruns nothing)."""
    names = {s.name for s in config_settings(cls)}
    return {k: v for k, v in section.items() if k in names}


# ---- schema and docs ------------------------------------------------------------------------------


def _json_type(tp: Any) -> dict[str, Any]:
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    return {"type": "string"}


def json_schema_of(spec: Spec) -> dict[str, Any]:
    """The JSON schema of one setting (what config/schema.yaml says about the key)."""
    item = _json_type(spec.item)
    if spec.check is not None:
        item |= spec.check.schema()
    if spec.choices is not None:
        item["enum"] = list(spec.choices)
    if spec.is_list:
        out: dict[str, Any] = {"type": "array", "items": item}
        if spec.unique:
            out["uniqueItems"] = True
        if spec.default != []:  # an empty list means "none" only where it is the default
            out["minItems"] = 1
    elif spec.is_mapping:
        out = {"type": "object", "additionalProperties": item}
        if spec.keys is not None:
            out["propertyNames"] = {"pattern": spec.keys}
    else:
        out = item
    if spec.type is not spec.base:
        out = {"anyOf": [out, {"type": "null"}]} if "type" in out else out
    out["description"] = spec.help
    if (
        not spec.required
        and spec.default not in (None, [], {})
        and not isinstance(spec.default, Path)
    ):
        out["default"] = spec.default
    return out


def default_text(spec: Spec) -> str:
    if spec.required:
        return "required"
    if spec.default is None:
        return "-"
    if isinstance(spec.default, list):
        return ", ".join(map(str, spec.default)) or "-"
    if isinstance(spec.default, dict):
        return ", ".join(f"{k}={v}" for k, v in spec.default.items()) or "-"
    return _text(spec.default)


def bounds_text(spec: Spec) -> str:
    parts = []
    if spec.check is not None:
        parts.append(f"{spec.check.kind}, {spec.check.describe()}")
    if spec.choices is not None:
        parts.append("one of " + ", ".join(map(str, spec.choices)))
    return "; ".join(parts)
