"""One validator per kind of value (trm.settings: seed, count, size, probability, ...), used by
every command and by the workflow's schema: a bad value is one line naming the option, exit 2,
no traceback, before any work. The tests enumerate the declared commands, so a new command or
setting is covered without being listed here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from trm.cli import commands, main
from trm.settings import SEED, SEED_MAX, Spec, specs


def _dummy(spec: Spec, tmp: Path) -> list[str]:
    """Command-line words giving `spec` some well-formed value (checks come later)."""
    item = spec.item
    if spec.choices:
        one = str(spec.choices[0])
    elif item is Path:
        one = str(tmp / spec.name)
    elif item in (int, float):
        one = "1"
    else:
        one = "x"
    return [f"a={one}"] if spec.is_mapping else [one]


def _argv(cmd: Any, tmp: Path, **given: str) -> list[str]:
    """The command's words, every required setting with a dummy value, and `given` (name ->
    text), so that only the given values can be wrong."""
    words, tail = list(cmd.words), []
    for spec in specs(cmd.settings):
        if spec.name in given:
            value = [given[spec.name]]
        elif spec.required:
            value = _dummy(spec, tmp)
        else:
            continue
        if spec.positional:
            tail += value
        else:
            words += [spec.option, *value]
    return [*words, *tail]


SEEDS = [
    (cmd, spec)
    for cmd in commands()
    for spec in specs(cmd.settings)
    if spec.check == SEED and not spec.positional
]


def test_every_seed_setting_uses_the_seed_validator() -> None:
    named = {
        (c.name, s.name)
        for c in commands()
        for s in specs(c.settings)
        if "seed" in s.name and s.role == "setting"
    }
    assert named == {(c.name, s.name) for c, s in SEEDS}
    assert len(SEEDS) >= 12  # prepare (3 kinds + tasks), score (3), compare, sweep, llm, ...


@pytest.mark.parametrize("value", ["-1", str(SEED_MAX + 1), "1.5", "nan"])
@pytest.mark.parametrize(("cmd", "spec"), SEEDS, ids=[f"{c.name} {s.option}" for c, s in SEEDS])
def test_a_bad_seed_is_one_line_in_every_command(
    cmd: Any, spec: Spec, value: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = _argv(cmd, tmp_path, **{spec.name: value})
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"trm {cmd.name}: error: {spec.option}: "), err
    assert list(tmp_path.iterdir()) == []  # nothing read, nothing written


NUMBERS = [
    (cmd, spec)
    for cmd in commands()
    for spec in specs(cmd.settings)
    if spec.item in (int, float) and not spec.positional and spec.choices is None
]


def test_every_number_a_command_takes_has_bounds() -> None:
    """A count, size, seed, probability or positive number: a declared Range, never a check
    written by hand in the command (and so in the schema too)."""
    unbounded = [f"trm {c.name} {s.option}" for c, s in NUMBERS if s.check is None]
    assert unbounded == []


@pytest.mark.parametrize(("cmd", "spec"), NUMBERS, ids=[f"{c.name} {s.option}" for c, s in NUMBERS])
def test_a_non_finite_or_out_of_range_number_is_one_line(
    cmd: Any, spec: Spec, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    r = spec.check
    assert r is not None
    bad = ["nan", "inf"]
    whole = spec.item is int
    if r.min is not None:
        bad.append(str(int(r.min) - 1 if whole else r.min - 1.0))
    if r.max is not None:
        bad.append(str(int(r.max) + 1 if whole else r.max * 2 + 1))
    for value in bad:
        text = f"a={value}" if spec.is_mapping else value
        argv = _argv(cmd, tmp_path, **{spec.name: text})
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert re.search(rf"{re.escape(spec.option)}[ :\[]", err), (argv, err)


def test_no_hand_written_argparse_types_are_left() -> None:
    root = Path(__file__).resolve().parents[1] / "trm"
    left = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if re.search(r"type=(int|float)\b", p.read_text())
    ]
    assert left == []


def test_the_workflow_schema_carries_every_seeds_bounds() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    text = (root / "config" / "schema.yaml").read_text()
    schema = yaml.safe_load(text)

    def seeds(node: Any, path: str = "") -> list[tuple[str, Any]]:
        if isinstance(node, dict):
            out = []
            for k, v in node.items():
                if "seed" in str(k) and isinstance(v, dict) and "description" in v:
                    out.append((f"{path}.{k}", v))
                out += seeds(v, f"{path}.{k}")
            return out
        return []

    found = seeds(schema)
    assert len(found) >= 8
    for where, s in found:
        inner = s.get("anyOf", [s])[0]
        assert (inner.get("minimum"), inner.get("maximum")) == (0, SEED_MAX), where


@pytest.mark.parametrize(
    ("section", "key"),
    [("dataset", "seed"), ("score", "seed"), ("analyses", "puzzle_id_seed")],
)
@pytest.mark.parametrize("value", [-1, SEED_MAX + 1])
def test_a_bad_seed_in_the_workflow_config_is_named_at_start_up(
    tmp_path: Path, section: str, key: str, value: int
) -> None:
    from test_workflow_jobs import DEFAULT, workflow

    from trm.workflow.config_check import check_config

    def edit(c: dict) -> None:
        c["experiments"]["arc-generated"].setdefault(section, {})[key] = value

    problems = check_config(workflow(DEFAULT, edit), cache_dir=tmp_path)
    needle = f"experiments.arc-generated.{section}.{key}: {value} is not a valid seed"
    assert any(needle in p for p in problems), problems
