"""The output guard, for EVERY command the CLI has (issue 19): each output tried against each
input of the same command (is, inside, contains), against a foreign folder and file, and
against another command's output. A new command is covered without touching this file.

The command's own function never runs here: it is replaced by one that fails the test, so a
guard that lets an output through is a failure, not a destroyed input.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest

from trm.cli import build_parser, commands
from trm.command import Command, invoke
from trm.errors import OutputRefusedError
from trm.outputs import write_marker
from trm.settings import Spec, specs

COMMANDS = commands()
WITH_OUTPUTS = [c for c in COMMANDS if any(s.role == "output" for s in specs(c.settings))]


def _must_not_run(settings: Any) -> int:
    raise AssertionError("the guard let the output through: the command ran")


def _guarded_only(cmd: Command) -> Command:
    return dataclasses.replace(cmd, run=_must_not_run)


def _value(spec: Spec, tmp: Path) -> Any:
    """A value that passes the declaration's checks."""
    if spec.role in ("input", "output"):
        path = tmp / f"{spec.role}-{spec.name}"
        if spec.role == "input":
            path.mkdir(parents=True, exist_ok=True)
            (path / "content.txt").write_text(f"the user's {spec.name}\n")
        if spec.is_mapping:
            return {"a": path}
        return [path] if spec.is_list else path
    if not spec.required:
        return spec.default
    if spec.choices:
        return [spec.choices[0]] if spec.is_list else spec.choices[0]
    item = spec.item
    low = spec.check.min if spec.check is not None and spec.check.min is not None else 1
    scalar = {int: int(low) + 1, float: float(low) + 1.0, str: "x", bool: False}.get(item, "x")
    if spec.is_mapping:
        return {"a": scalar}
    return [scalar] if spec.is_list else scalar


def _settings(cmd: Command, tmp: Path, **override: Any) -> Any:
    values = {s.name: _value(s, tmp) for s in specs(cmd.settings)}
    values.update(override)
    return cmd.settings(**values)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        h.update(str(f.relative_to(folder)).encode())
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()


def _cases() -> list[tuple[Command, Spec, Spec]]:
    out = []
    for cmd in WITH_OUTPUTS:
        declared = specs(cmd.settings)
        for o in (s for s in declared if s.role == "output"):
            for i in (s for s in declared if s.role == "input"):
                out.append((cmd, o, i))
    return out


def test_every_command_module_declares_commands() -> None:
    """The enumeration below is not empty: every `trm` subcommand comes from a declaration."""
    assert len(COMMANDS) >= 2
    parser = build_parser()
    top = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    declared_words = {c.words[0] for c in COMMANDS}
    assert declared_words <= set(top)


@pytest.mark.parametrize("where", ["is", "inside", "contains"])
@pytest.mark.parametrize(
    ("cmd", "out_spec", "in_spec"),
    _cases(),
    ids=[f"{c.name}:{o.name}<-{i.name}" for c, o, i in _cases()],
)
def test_an_output_never_overlaps_an_input_even_with_overwrite(
    tmp_path: Path, cmd: Command, out_spec: Spec, in_spec: Spec, where: str
) -> None:
    settings = _settings(cmd, tmp_path)
    inp_value = getattr(settings, in_spec.name)
    inp = (
        next(iter(inp_value.values()))
        if isinstance(inp_value, dict)
        else (inp_value[0] if isinstance(inp_value, list) else inp_value)
    )
    before = _digest(tmp_path)
    out = {"is": inp, "inside": inp / "sub" / "out", "contains": inp.parent}[where]
    value: Any = [out] if out_spec.is_list else out
    settings = dataclasses.replace(settings, **{out_spec.name: value})
    if hasattr(settings, "overwrite"):
        settings.overwrite = True
    with pytest.raises(OutputRefusedError, match="would destroy"):
        invoke(_guarded_only(cmd), settings)
    assert _digest(tmp_path) == before


@pytest.mark.parametrize("cmd", WITH_OUTPUTS, ids=[c.name for c in WITH_OUTPUTS])
@pytest.mark.parametrize("foreign", ["folder", "file", "another command's output"])
def test_a_foreign_output_is_replaced_only_with_overwrite(
    tmp_path: Path, cmd: Command, foreign: str
) -> None:
    settings = _settings(cmd, tmp_path / "inputs")
    for spec in (s for s in specs(cmd.settings) if s.role == "output"):
        target = tmp_path / f"users-{spec.name}"
        if foreign == "file":
            target.write_text("the user's notes\n")
        else:
            target.mkdir()
            (target / "thesis.tex").write_text("years of work\n")
            if foreign == "another command's output":
                write_marker(target, "trm some-other-command", folder=True)
        before = _digest(tmp_path)
        s = dataclasses.replace(settings, **{spec.name: [target] if spec.is_list else target})
        with pytest.raises(OutputRefusedError, match="--overwrite"):
            invoke(_guarded_only(cmd), s)
        assert _digest(tmp_path) == before


TWO_OUTPUTS = [c for c in WITH_OUTPUTS if sum(s.role == "output" for s in specs(c.settings)) > 1]


@pytest.mark.parametrize("cmd", TWO_OUTPUTS, ids=[c.name for c in TWO_OUTPUTS])
def test_two_outputs_of_one_command_may_not_overlap(tmp_path: Path, cmd: Command) -> None:
    """`trm report --out X --bundle X` would leave only the bundle."""
    settings = _settings(cmd, tmp_path)
    first, second = [s for s in specs(cmd.settings) if s.role == "output"][:2]
    same = tmp_path / "same"
    settings = dataclasses.replace(settings, **{first.name: same, second.name: same})
    with pytest.raises(OutputRefusedError, match="would destroy"):
        invoke(_guarded_only(cmd), settings)
