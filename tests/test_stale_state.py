"""Stale and mismatched state: a run folder's old weights never outlive a new run, a sweep never
reports levels its dataset cannot tell apart, and a command of one puzzle kind refuses a dataset
of another (trm.kinds.dataset_kind) instead of scoring it as garbage."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from small_datasets import answers, arc_dataset, arc_tasks, grid_dataset

from trm.cli import main
from trm.train.synthetic import write_grid_task


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("kinds")
    prefix = arc_tasks(base / "tasks", "--tasks", "training=4", "evaluation=3")
    arc = arc_dataset(prefix, base / "arc", num_aug=3)
    sudoku = grid_dataset(base / "sudoku", "sudoku")
    maze = grid_dataset(base / "maze", "maze")
    return {
        "arc": arc,
        "arc_p": answers(arc, base / "arc.npz"),
        "sudoku": sudoku,
        "sudoku_p": answers(sudoku, base / "sudoku.npz"),
        "maze": maze,
        "maze_p": answers(maze, base / "maze.npz"),
        "base": base,
    }


def _err(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "error" in x]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_dataset_kinds_are_read_from_what_their_builders_wrote(ds, tmp_path) -> None:
    from trm.kinds import dataset_kind

    assert [dataset_kind(ds[k]).name for k in ("arc", "sudoku", "maze")] == [
        "arc",
        "sudoku",
        "maze",
    ]
    assert dataset_kind(tmp_path) is None  # nothing says: the commands' own checks apply


# (command words, extra flags): every command that votes over augmented views
ARC_ONLY = [
    (["score", "arc"], ["--predictions", "{p}", "--out", "{o}"]),
    (["sweep"], ["--predictions", "{p}", "--out", "{o}.csv"]),
    (["analyse", "trajectory"], ["--predictions", "{p}", "--out", "{o}"]),
    (["compare", "sweep"], ["--run", "a={p}", "b={p2}", "--levels", "0", "--out", "{o}.json"]),
    (["predict", "--trajectory"], ["--checkpoint", "{p}", "--out", "{o}.npz"]),
    (["analyse", "ensemble"], ["--checkpoint", "{p}", "--out", "{o}"]),
]


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
@pytest.mark.parametrize(("words", "flags"), ARC_ONLY, ids=lambda x: " ".join(x))
def test_arc_only_commands_refuse_grid_datasets(ds, tmp_path, capsys, kind, words, flags) -> None:
    other = tmp_path / "copy.npz"
    other.write_bytes(ds[f"{kind}_p"].read_bytes())
    values = {"p": str(ds[f"{kind}_p"]), "p2": str(other), "o": str(tmp_path / "out")}
    argv = [*words, "--data", str(ds[kind]), "--no-progress", *(f.format(**values) for f in flags)]
    assert main(argv) == 2
    err = _err(capsys)
    title = kind.capitalize()
    assert f"holds {title} puzzles" in err and "is ARC only" in err and f"score {kind}" in err
    assert not list(tmp_path.glob("out*"))


@pytest.mark.parametrize(
    ("scorer", "data", "holds"),
    [("sudoku", "arc", "ARC"), ("maze", "sudoku", "Sudoku"), ("sudoku", "maze", "Maze")],
)
def test_grid_scorers_refuse_another_kind(ds, tmp_path, capsys, scorer, data, holds) -> None:
    out = tmp_path / "s"
    argv = ["score", scorer, "--data", str(ds[data]), "--predictions", str(ds[f"{data}_p"])]
    assert main([*argv, "--out", str(out)]) == 2
    err = _err(capsys)
    assert f"holds {holds} puzzles, not {scorer.capitalize()}" in err and not out.exists()


def _levels(path: Path) -> list[int]:
    with open(path) as f:
        return [int(r["level"]) for r in csv.DictReader(f)]


def test_default_sweep_levels_stop_at_the_datasets_views(ds, tmp_path, capsys) -> None:
    out = tmp_path / "sweep.csv"
    argv = ["sweep", "--data", str(ds["arc"]), "--predictions", str(ds["arc_p"]), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "levels [4, 16, 64, 256, 576, 1000] left out" in err and "at most 3" in err
    assert _levels(out) == [0, 1, 3]  # no row repeats a lower level's votes
    # levels given explicitly above the views are refused, naming them
    bad = tmp_path / "bad.csv"
    assert main([*argv, "--out", str(bad), "--levels", "0", "2", "5", "16"]) == 2
    err = _err(capsys)
    assert "--levels: [5, 16] exceed the 3 augmented view(s)" in err and not bad.exists()
    assert main([*argv, "--out", str(bad), "--levels", "0", "2", "2"]) == 2
    assert "--levels: 2 given more than once" in _err(capsys)


def test_compare_sweep_refuses_levels_above_the_views(ds, tmp_path, capsys) -> None:
    other = tmp_path / "b.npz"
    other.write_bytes(ds["arc_p"].read_bytes())
    out = tmp_path / "c.json"
    argv = ["compare", "sweep", "--data", str(ds["arc"]), "--no-progress", "--out", str(out)]
    assert main([*argv, "--run", f"a={ds['arc_p']}", f"b={other}", "--levels", "0", "8"]) == 2
    assert "[8] exceed the 3 augmented view(s)" in _err(capsys) and not out.exists()


def test_a_new_run_in_an_old_run_folder_leaves_none_of_its_weights(tmp_path, capsys) -> None:
    data = write_grid_task(tmp_path / "grid", n_groups=8, puzzles_per_group=2, side=3, seed=1)
    run = tmp_path / "run"
    base = ["train", "--data", str(data), "--out", str(run), "--no-progress", "model=tiny"]
    base += ["train=cpu_smoke", "device=cpu", "train.global_batch_size=8", "train.epochs=100"]
    base += ["train.keep_step_weights=true", "train.checkpoint_every=2", "model.halt_max_steps=2"]
    assert main([*base, "train.max_steps=6"]) == 0
    assert {"step_2", "step_4", "step_6", "final.json"} <= {p.name for p in run.iterdir()}
    (run / "state.pt").unlink()  # a run without a state to resume (crashed before saving one)
    (run / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main([*base, "train.max_steps=3", "train.checkpoint_every=0"]) == 0
    err = capsys.readouterr().err
    assert "removed its" in err and "step_6" in err and "final.json" in err
    names = {p.name for p in run.iterdir()}
    assert {p for p in names if p.startswith("step_")} == {"step_3"}
    assert json.loads((run / "final.json").read_text())["step"] == 3
    assert (run / "notes.txt").read_text() == "mine"  # not a training file: kept
    # predict then loads the new run's weights, the only ones there
    from trm.model.checkpoint import find_weights

    assert find_weights(run).name == "step_3"


def test_init_from_inside_the_run_folder_is_refused(tmp_path, capsys) -> None:
    data = write_grid_task(tmp_path / "grid", n_groups=8, puzzles_per_group=2, side=3, seed=1)
    run = tmp_path / "run"
    base = ["train", "--data", str(data), "--out", str(run), "--no-progress", "model=tiny"]
    base += ["train=cpu_smoke", "device=cpu", "train.global_batch_size=8", "train.epochs=100"]
    assert main([*base, "train.max_steps=2"]) == 0
    (run / "state.pt").unlink()
    capsys.readouterr()
    assert main([*base, "train.max_steps=2", f"train.init_from={run / 'step_2'}"]) == 2
    assert "contains the input" in _err(capsys)
    assert (run / "step_2").exists()  # not removed before being read


KILL_AT_STEP = r"""
import os, signal, sys
import trm.train.loop as L
step = L.Trainer.train_step

def train_step(self, batch):
    if self.step + 1 == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)  # no handler, no cleanup: a crash
    return step(self, batch)

L.Trainer.train_step = train_step
from trm.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_run_killed_before_its_first_checkpoint_is_restarted_cleanly(tmp_path, capsys) -> None:
    """The dead run left its lock, configs and metrics but no state.pt: the next `trm train`
    takes the lock over, removes that run's files and trains as if it had never run."""
    import os
    import subprocess
    import sys

    from trm import outputs

    data = write_grid_task(tmp_path / "grid", n_groups=8, puzzles_per_group=2, side=3, seed=1)
    common = ["--no-progress", "model=tiny", "train=cpu_smoke", "device=cpu", "train.epochs=100"]
    common += ["train.global_batch_size=8", "train.max_steps=5", "model.halt_max_steps=2"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(ref), *common]) == 0
    argv = ["train", "--data", str(data), "--out", str(run), *common]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT_STEP, "4", *argv], env=env, capture_output=True
    )
    assert proc.returncode == -9
    assert outputs.lock_path(run).exists() and not (run / "state.pt").exists()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    capsys.readouterr()
    assert main(argv) == 0
    assert "removed its all_config.yaml, config.yaml, metrics.jsonl" in capsys.readouterr().err
    assert (run / "step_5").read_bytes() == (ref / "step_5").read_bytes()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 5
    assert not outputs.lock_path(run).exists()
