"""config/schema.yaml and config/README.md are generated from the command declarations, and
every key the schema allows reaches the real command's parsed settings (or a rule consumes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from trm.cli import build_parser
from trm.command import settings_from_namespace
from trm.settings import specs
from trm.workflow import schema as G
from trm.workflow.jobs import JOBS, declared
from trm.workflow.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config/schema.yaml").read_text())


def test_schema_and_readme_are_generated_from_the_declarations():
    schema, readme = G.generate()
    assert (ROOT / "config/schema.yaml").read_text() == schema, (
        "run python -m trm.workflow.schema --write"
    )
    assert (ROOT / "config/README.md").read_text() == readme, (
        "run python -m trm.workflow.schema --write"
    )


def test_every_command_the_workflow_runs_is_declared():
    commands = {j.command for j in JOBS.values() if "{kind}" not in j.command}
    assert {c for c in commands if declared(c) is None} == set()


def _sample(schema: dict[str, Any]) -> Any:
    """A value the schema accepts, distinct from common defaults."""
    if "anyOf" in schema:
        return _sample(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    if kind == "integer":
        return min(int(low) + 7, int(schema.get("maximum", 10**9)))
    if kind == "number":
        return min(float(low) + 0.25, float(schema.get("maximum", 1e9)))
    if kind == "boolean":
        return True
    if kind == "array":
        return [_sample(schema.get("items", {}))] * 1
    if kind == "object":
        return {"first": _sample(schema.get("additionalProperties", {"type": "string"}))}
    return "some-value"


def _required(cls: type) -> dict[str, Any]:
    """Dummy values for the settings a command requires (inputs, outputs)."""
    out = {}
    for spec in specs(cls):
        if spec.required:
            item = spec.choices[0] if spec.choices else {int: 1, float: 1.0}.get(spec.item, "x")
            out[spec.name] = {"x": item} if spec.is_mapping else [item] if spec.is_list else item
    return out


def _normalise(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _readers(path: str) -> list[tuple[str, tuple[str, ...] | None, set[str]]]:
    return G.readers().get(path, [])


@pytest.mark.parametrize("path", sorted(SECTIONS))
def test_every_schema_key_reaches_a_command_or_a_rule(path: str) -> None:
    parser = build_parser()
    section = SECTIONS[path]
    props = SCHEMA["$defs"][path]["properties"]
    readers = _readers(path)
    for key, spec in props.items():
        if key in section.rule_keys:
            continue  # consumed by the rules (the README says how)
        accepted = []
        for name, keys, claimed in readers:
            if (keys and key not in keys) or (not keys and key in claimed):
                continue
            cmd = declared(name)
            if key not in {s.name for s in specs(cmd.settings)}:
                continue
            value = _sample(spec)
            ns = parser.parse_args(cmd.argv({**_required(cmd.settings), key: value}))
            got = getattr(settings_from_namespace(cmd.settings, ns), key)
            assert _normalise(got) == _normalise(value), (path, key, name, got)
            accepted.append(name)
        assert accepted, f"{path}.{key}: no declared command reads it"


def test_one_default_per_setting():
    """The schema's default of a declared setting is the declaration's (the CLI's)."""
    for path in SECTIONS:
        props = SCHEMA["$defs"][path]["properties"]
        for name, keys, claimed in _readers(path):
            for spec in specs(declared(name).settings):
                if (keys and spec.name not in keys) or (not keys and spec.name in claimed):
                    continue  # a key this job reads from another section
                if spec.required:
                    continue  # the job always gives it (e.g. compare sweep's levels)
                if spec.name in props and "default" in props[spec.name]:
                    assert props[spec.name]["default"] == spec.default, (path, spec.name)


def test_no_workflow_default_in_rules_or_scripts():
    """Omitting a key gives the command's default: rules and adapters set none of their own."""
    for f in [*(ROOT / "rules").glob("*.smk"), *(ROOT / "workflow/scripts").glob("*.py")]:
        text = f.read_text()
        assert '"dtypes": ["float32"]' not in text, f
        assert '.get("n_boot"' not in text and "n_boot" not in text, f
