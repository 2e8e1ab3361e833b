"""`trm compare runs|sweep`: runs compared over the same tasks or test examples, paired, into one
comparisons file (trm.eval.paired; work in trm.eval.compare). Every comparison of the pipeline
is one of these: paper vs single mode, a grid's variants vs its base, the puzzle-ID ablation,
test-time adaptation, TRM vs the LLM baseline, and the sweep grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trm.command import Command, Group, Overwrite, Progress
from trm.eval.stats import Bootstrap
from trm.settings import PERCENT, count, input_path, output_path, setting

GROUPS = [
    Group(
        "compare",
        "paired comparisons of runs over the same tasks or test examples",
        "Each run other than the base minus the base, paired over the units both score (ARC: "
        "tasks, Sudoku/Maze: test examples): the difference with its 95 % interval and the "
        "interval's method, p and n, and both runs' values with their intervals. Writes one "
        "comparisons file (trm.eval.paired), which the report renders.",
    )
]


@dataclass(kw_only=True)
class CompareSettings(Bootstrap, Overwrite):
    base: str | None = setting(
        None, help="the run the others are compared with (default: the first)", config=False
    )
    label: dict[str, str] = setting(
        {}, help="NAME=TEXT: what a run is (shown in the report)", metavar="NAME=TEXT", config=False
    )
    title: str = setting("", help="what is compared (shown in the report)", config=False)
    out: Path = output_path("comparisons file (JSON) to write", folder=False)


@dataclass(kw_only=True)
class CompareRunsSettings(CompareSettings):
    run: dict[str, Path] = input_path(
        "NAME=SCORE_DIR: an output folder of `trm score <kind>` or `trm llm score`, per run",
        metavar="NAME=SCORE_DIR",
    )
    paper: dict[str, float] = setting(
        {},
        check=PERCENT,
        help="NAME=PERCENT: the paper's figure for a run (shown beside it)",
        metavar="NAME=PERCENT",
        config=False,
    )


@dataclass(kw_only=True)
class CompareSweepSettings(CompareSettings, Progress):
    data: Path = input_path("prepared ARC dataset folder (its test split is voted)")
    run: dict[str, Path] = input_path(
        "NAME=PREDICTIONS: a predictions file on the test split of --data, per run",
        metavar="NAME=PREDICTIONS",
    )
    levels: list[int] = setting(
        help="augmented views voted besides each task's original view, e.g. 0 1 4 16",
        check=count(0),
        unique=True,
    )


def _check_names(s: CompareSettings, **named: dict[str, Any]) -> None:
    from trm.errors import InputError

    for flag, values in named.items():
        unknown = sorted(set(values) - set(s.run))
        if unknown:
            raise InputError(f"--{flag} names runs not given with --run: {unknown}")


def _finish(s: CompareSettings, records: list[dict[str, Any]], **about: Any) -> int:
    from trm.eval.paired import write_comparisons
    from trm.eval.schema import CI_METHOD_SHORT
    from trm.report.fmt import interval, pct, pts

    base = records[0]["b"]  # trm.eval.compare checked it (default: the first run)
    write_comparisons(
        s.out, records, title=s.title, base=base, runs=list(s.run), labels=dict(s.label), **about
    )
    for r in records:
        where = "".join(f", {k} {v}" for k, v in r["context"].items() if k[:2] not in ("a_", "b_"))
        print(
            f"{r['a']} vs {r['b']}, {r['metric']}{where}: {pct(r['a_value'])} vs "
            f"{pct(r['b_value'])}, {pts(r['diff'])} "
            f"{interval(r['diff_ci_low'], r['diff_ci_high'], CI_METHOD_SHORT[r['diff_ci_method']], True)}, "
            f"p = {r['p_value']:.3g}, n = {r['n']} {r['unit']}s"
        )
    return 0


def compare_runs(s: CompareRunsSettings) -> int:
    from trm.eval.compare import compare_runs as run

    _check_names(s, label=s.label, paper=s.paper)
    return _finish(s, run(s.run, s.base, s), paper=dict(s.paper))


def compare_sweep(s: CompareSweepSettings) -> int:
    from trm.eval.compare import compare_sweep as run
    from trm.kinds import require_voted

    require_voted(s.data, "`trm compare sweep`")
    _check_names(s, label=s.label)
    records = run(s.data, s.run, s.levels, s.base, s, progress=not s.no_progress)
    return _finish(s, records, levels=list(s.levels))


COMMANDS = [
    Command(
        "compare runs",
        CompareRunsSettings,
        compare_runs,
        help="score folders compared with a base run, paired over tasks (ARC) or test examples",
        description="Each --run NAME=SCORE_DIR is an output folder of `trm score <kind>` or "
        "`trm llm score` on the same test set. ARC: pass@1 and pass@2 per task (per_input.csv); "
        "Sudoku and Maze: exact accuracy per test example (per_example.csv). Writes one record "
        "per (run other than the base, metric): the run's and the base's value with their 95 % "
        "intervals, and the run minus the base with its paired interval, p and n. E.g. paper vs "
        "single mode: --run paper=DIR single=DIR --base single.",
    ),
    Command(
        "compare sweep",
        CompareSweepSettings,
        compare_sweep,
        help="ARC: runs x test-time votes, pass@2 of each run against the base at equal votes",
        description="Each --run NAME=PREDICTIONS is a predictions file on the test split of "
        "--data (the same test examples for every run). At every level K (each task's original "
        "view plus its first K augmented views, as `trm sweep`): pass@2 over tasks of each run "
        "and the base with 95 % intervals, and the run minus the base, paired over tasks.",
    ),
]
