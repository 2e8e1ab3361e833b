"""The declaration machinery (trm.settings, trm.command): one declaration gives the parser, the
checks, the workflow's arguments and the output guard."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from trm.command import Command, Overwrite, Progress, build_parser, invoke, settings_from_namespace
from trm.errors import InputError, OutputBusyError, OutputRefusedError
from trm.outputs import is_marked, lock_path, marker_path
from trm.settings import (
    PROBABILITY,
    SEED,
    count,
    from_mapping,
    input_path,
    output_path,
    positive,
    setting,
)
from trm.settings_export import UndeclaredSettingError, to_argv


@dataclass(kw_only=True)
class Toy(Progress, Overwrite):
    data: Path = input_path("input folder")
    out: Path = output_path("output folder", folder=True)
    levels: list[int] = setting([0, 1, 4], check=count(0), help="levels")
    names: list[str] = setting([], help="names")
    runs: dict[str, Path] = input_path("NAME=DIR", {})
    seed: int = setting(0, check=SEED, help="seed")
    lr: float = setting(1e-3, check=positive(), help="learning rate")
    p: float = setting(0.5, check=PROBABILITY, help="a probability")
    mode: str = setting("a", choices=("a", "b"), help="mode")
    fast: bool = setting(False, help="a switch")


def _toy_run(s: Toy) -> int:
    s.out.mkdir(parents=True, exist_ok=True)
    (s.out / "result.json").write_text(json.dumps({"levels": s.levels}))
    return 0


TOY = Command("toy", Toy, _toy_run, help="a toy command")


def _parse(argv: list[str]) -> Toy:
    parser = build_parser([TOY], [])
    return settings_from_namespace(Toy, parser.parse_args(argv))


def test_lists_take_spaces_commas_and_repeats_alike(tmp_path: Path) -> None:
    base = ["toy", "--data", "d", "--out", "o"]
    assert _parse([*base, "--levels", "0", "1", "4"]).levels == [0, 1, 4]
    assert _parse([*base, "--levels", "0,1,4"]).levels == [0, 1, 4]
    assert _parse([*base, "--levels", "0,1", "--levels", "4"]).levels == [0, 1, 4]
    assert _parse(base).levels == [0, 1, 4]  # the declared default
    s = _parse([*base, "--runs", "a=x,y", "b=z"])
    assert s.runs == {"a": Path("x,y"), "b": Path("z")}  # paths keep their commas


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "-1"], "--seed: -1 is not a valid seed"),
        (["--seed", str(2**32)], "is not a valid seed"),
        (["--lr", "nan"], "--lr: nan is not a finite number"),
        (["--lr", "0"], "--lr: 0.0 is not a valid positive number"),
        (["--p", "1.5"], "--p: 1.5 is not a valid probability"),
        (["--mode", "c"], "--mode: 'c' is not one of a, b"),
        (["--levels", "1,x"], "--levels: expected a whole number, got 'x'"),
        (["--levels", "-2"], "--levels[0]: -2 is not a valid count"),
        (["--runs", "novalue"], "--runs: expected NAME=VALUE"),
    ],
)
def test_bad_values_are_one_line_naming_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        s = _parse(["toy", "--data", "d", "--out", "o", *argv])
        from trm.settings import check

        check(s)


def test_config_sections_are_checked_by_the_same_declaration() -> None:
    s = from_mapping(Toy, {"data": "d", "out": "o", "levels": [1, 2], "lr": 0.1}, "exp.toy")
    assert s.levels == [1, 2] and s.lr == 0.1
    with pytest.raises(InputError, match=r"exp.toy: unknown setting\(s\) 'lvls'"):
        from_mapping(Toy, {"data": "d", "out": "o", "lvls": [1]}, "exp.toy")
    with pytest.raises(InputError, match="exp.toy.seed: expected a whole number, got '3'"):
        from_mapping(Toy, {"data": "d", "out": "o", "seed": "3"}, "exp.toy")
    with pytest.raises(InputError, match="exp.toy.lr: inf is not a finite number"):
        from_mapping(Toy, {"data": "d", "out": "o", "lr": math.inf}, "exp.toy")


def test_workflow_arguments_round_trip_through_the_parser() -> None:
    values = {
        "data": "d",
        "out": "o",
        "levels": [0, 2],
        "runs": {"a": "x"},
        "lr": 0.25,
        "fast": True,
        "mode": None,  # None: the command's default
    }
    argv = to_argv(Toy, values)
    s = _parse(["toy", *argv])
    assert (s.levels, s.runs, s.lr, s.fast, s.mode) == ([0, 2], {"a": Path("x")}, 0.25, True, "a")
    with pytest.raises(UndeclaredSettingError, match="declares no setting 'level'"):
        to_argv(Toy, {"level": 3})
    assert (
        TOY.command_line(s) == "trm toy --data d --out o --levels 0 2 --runs a=x --lr 0.25 --fast"
    )


def test_help_has_no_doubled_percent_signs() -> None:
    @dataclass(kw_only=True)
    class Pct:
        x: int = setting(95, help="a 95 % interval")

    parser = build_parser([Command("pct", Pct, lambda s: 0, help="95 % intervals")], [])
    sub = parser._subparsers._group_actions[0].choices["pct"]  # type: ignore[union-attr]
    text = sub.format_help()
    assert "95 % interval" in text and "%%" not in text


def test_outputs_are_marked_and_replaced_only_when_marked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "out"
    s = _parse(["toy", "--data", str(data), "--out", str(out)])
    assert invoke(TOY, s) == 0
    assert is_marked(out, "trm toy") and marker_path(out) == out / ".trm-output.json"
    assert invoke(TOY, s) == 0  # its own output: replaced without --overwrite
    assert not lock_path(out).exists()  # the lock is gone after the run

    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    s2 = _parse(["toy", "--data", str(data), "--out", str(foreign)])
    with pytest.raises(OutputRefusedError, match="not written by trm"):
        invoke(TOY, s2)
    assert (foreign / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_an_output_overlapping_an_input_is_refused_even_with_overwrite(
    tmp_path: Path, where: str
) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "keep.txt").write_text("input")
    out = {"same": data, "inside": data / "sub" / "x", "contains": tmp_path}[where]
    s = _parse(["toy", "--data", str(data), "--out", str(out), "--overwrite"])
    with pytest.raises(OutputRefusedError, match="would destroy what the command reads"):
        invoke(TOY, s)
    assert (data / "sub" / "keep.txt").read_text() == "input"


def test_a_second_writer_fails_fast_and_a_dead_writers_lock_is_taken_over(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "out"
    lock = lock_path(out)
    # a live writer: this test's parent process (alive for the whole test)
    lock.write_text(f"{os.getppid()}@{os.uname().nodename} trm toy\n")
    s = _parse(["toy", "--data", str(data), "--out", str(out)])
    with pytest.raises(OutputBusyError, match=f"pid {os.getppid()}"):
        invoke(TOY, s)
    # a writer that died: a finished child's pid
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    lock.write_text(f"{dead.stdout.strip()}@{os.uname().nodename} trm toy\n")
    assert invoke(TOY, s) == 0
    assert not lock.exists()


def test_every_commands_help_renders_without_doubled_percent_signs() -> None:
    """`trm <command> --help` for every declared command and group: no crash on a literal "%"
    (argparse %-formats help strings) and no "%%" shown."""
    import contextlib
    import io

    from trm.cli import build_parser, commands

    parser = build_parser()
    words = {tuple(c.words[:i]) for c in commands() for i in range(1, len(c.words) + 1)}
    for path in sorted(words):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
            parser.parse_args([*path, "--help"])
        assert done.value.code == 0, path
        assert "%%" not in out.getvalue(), (path, out.getvalue())
