"""Generated ARC tasks (`trm prepare arc-tasks`): determinism, valid grids, rules that do what
they say, files that flow through the ARC readers and `trm prepare arc`, and a tiny TRM that
learns them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trm.cli import main as trm_main
from trm.cli.prepare import ARC_TASKS
from trm.data.arc_generated import (
    FAMILIES,
    PREFIX_NAME,
    GeneratorConfig,
    generate_tasks,
    prepare_arc_tasks,
)
from trm.data.arc_sources import load_subsets
from trm.settings_export import UndeclaredSettingError
from trm.utils import sha256_file

SMALL = GeneratorConfig(tasks={"training": 12, "evaluation": 6}, seed=3)


def _grids(subsets) -> list[tuple[str, list]]:
    out = []
    for sub in subsets.values():
        for tid, task in sub.challenges.items():
            for pair in task["train"]:
                out += [(tid, pair["input"]), (tid, pair["output"])]
            out += [(tid, pair["input"]) for pair in task["test"]]
        for tid, grids in sub.solutions.items():
            out += [(tid, g) for g in grids]
    return out


def test_same_seed_same_tasks_other_seed_other_tasks() -> None:
    a, b = generate_tasks(SMALL), generate_tasks(SMALL)
    for subset in a:
        assert a[subset].challenges == b[subset].challenges
        assert a[subset].solutions == b[subset].solutions
    c = generate_tasks(GeneratorConfig(tasks=SMALL.tasks, seed=4))
    assert a["evaluation"].challenges != c["evaluation"].challenges
    # the two subsets are drawn from separate streams: no task appears in both
    ins = {json.dumps(t["test"]) for t in a["training"].challenges.values()}
    assert not ins & {json.dumps(t["test"]) for t in a["evaluation"].challenges.values()}


def test_every_grid_is_a_valid_arc_grid() -> None:
    cfg = GeneratorConfig(tasks={"training": 30, "evaluation": 30}, min_size=2, max_size=9)
    subsets = generate_tasks(cfg)
    for tid, grid in _grids(subsets):
        arr = np.asarray(grid)
        assert arr.ndim == 2 and arr.dtype.kind == "i", tid
        assert all(len(row) == len(grid[0]) for row in grid), tid
        assert 2 <= min(arr.shape) and max(arr.shape) <= 9, (tid, arr.shape)
        assert arr.min() >= 0 and arr.max() <= 9, tid
    for sub in subsets.values():
        # no single-colour answer (e.g. all background): a constant prediction never scores
        answers = [p["output"] for t in sub.challenges.values() for p in t["train"]]
        answers += [g for grids in sub.solutions.values() for g in grids]
        assert all(np.unique(g).size > 1 for g in answers)
        assert len(sub.challenges) == 30
        for task in sub.challenges.values():
            assert len(task["train"]) == cfg.demos and len(task["test"]) == cfg.tests
            assert "output" not in task["test"][0]  # outputs live in the solutions file
        # families cycle, so each subset covers every family
        assert {r["family"] for r in sub.rules.values()} == set(FAMILIES)


def _expected(rule: dict, grid: np.ndarray) -> np.ndarray:
    """The rule recomputed from its recorded parameters, independently of the generator."""
    family = rule["family"]
    if family == "colour_map":
        out = grid.copy()
        for a, b in rule["swaps"]:
            out[grid == a], out[grid == b] = b, a
        return out
    if family == "fill_background":
        return np.where(grid == 0, rule["fill"], grid)
    if family == "keep_colour":
        return np.where(grid == rule["keep"], grid, 0)
    if family == "reflect":
        return {
            "flip_lr": np.fliplr,
            "flip_ud": np.flipud,
            "rot180": lambda g: np.rot90(g, 2),
            "transpose": np.transpose,
        }[rule["transform"]](grid)
    if family == "shift":
        h, w = grid.shape
        out = np.zeros_like(grid)
        for i in range(h):
            for j in range(w):
                ii, jj = i + rule["dy"], j + rule["dx"]
                if 0 <= ii < h and 0 <= jj < w:
                    out[ii, jj] = grid[i, j]
        return out
    if family == "gravity":
        # cells keep their order along the fall axis and pile up at the named side
        axis_grid = {"down": grid, "up": grid[::-1], "right": grid.T, "left": grid.T[::-1]}
        g = axis_grid[rule["direction"]]
        out = np.zeros_like(g)
        for j in range(g.shape[1]):
            cells = [v for v in g[:, j] if v != 0]
            out[g.shape[0] - len(cells) :, j] = cells
        back = {"down": out, "up": out[::-1], "right": out.T, "left": out[::-1].T}
        return back[rule["direction"]]
    raise AssertionError(f"unknown family {family}")


def test_outputs_follow_the_recorded_rule() -> None:
    subsets = generate_tasks(GeneratorConfig(tasks={"training": 36, "evaluation": 12}, seed=1))
    for sub in subsets.values():
        for tid, task in sub.challenges.items():
            rule = sub.rules[tid]
            pairs = [(p["input"], p["output"]) for p in task["train"]]
            pairs += list(zip([p["input"] for p in task["test"]], sub.solutions[tid], strict=True))
            for inp, out in pairs:
                np.testing.assert_array_equal(
                    np.asarray(out), _expected(rule, np.asarray(inp)), err_msg=f"{tid} {rule}"
                )
            # every test pair changes something, so copying the input never scores
            for inp, out in pairs[len(task["train"]) :]:
                assert np.asarray(inp).shape != np.asarray(out).shape or inp != out, tid


def test_files_load_through_the_arc_readers_and_prepare(tmp_path: Path) -> None:
    tasks_dir = tmp_path / "tasks"
    cmd = ["prepare", "arc-tasks", "--out", str(tasks_dir), "--tasks", "training=6"]
    assert trm_main([*cmd, "evaluation=4", "--seed", "7"]) == 0
    prefix = tasks_dir / PREFIX_NAME
    manifest = json.loads((tasks_dir / "manifest.json").read_text())
    for rec in manifest["outputs"]:
        assert sha256_file(tasks_dir / rec["path"]) == rec["sha256"]
    assert manifest["counts"]["evaluation"]["tasks"] == 4
    assert manifest["params"]["seed"] == 7

    loaded = load_subsets(["training", "evaluation"], ["evaluation"], input_prefix=prefix)
    assert [len(tasks) for _, tasks in loaded.subsets] == [6, 4]
    generated = generate_tasks(GeneratorConfig(tasks={"training": 6, "evaluation": 4}, seed=7))
    for subset, tasks in loaded.subsets:
        for task in tasks:
            expected = generated[subset].solutions[task.task_id]
            got = [o.tolist() for _, o in task.pairs(["test"])]
            assert got == expected, task.task_id

    num_aug = 3
    out = tmp_path / "data"
    rc = trm_main(
        ["prepare", "arc", "--no-progress", "--input-prefix", str(prefix), "--subsets"]
        + ["training", "evaluation", "--test-set", "evaluation", "--num-aug", str(num_aug)]
        + ["--out", str(out)]
    )
    assert rc == 0
    ids = json.loads((out / "identifiers.json").read_text())
    assert len(ids) == 1 + 10 * (1 + num_aug)  # every task gets all its augmentations
    test_meta = json.loads((out / "test" / "dataset.json").read_text())
    assert test_meta["total_groups"] == 4  # the evaluation tasks' test pairs
    assert set(json.loads((out / "test_puzzles.json").read_text())) == set(
        generated["evaluation"].challenges
    )
    # each evaluation task's demonstrations are trained under the same identifiers it is tested on
    train_ids = set(np.load(out / "train" / "all__puzzle_identifiers.npy").tolist())
    test_ids = set(np.load(out / "test" / "all__puzzle_identifiers.npy").tolist())
    assert test_ids <= train_ids


def test_same_arguments_write_identical_files(tmp_path: Path) -> None:
    cfg = GeneratorConfig(tasks={"training": 4, "evaluation": 3}, seed=5)
    a = prepare_arc_tasks(tmp_path / "a", cfg)
    b = prepare_arc_tasks(tmp_path / "b", cfg)
    assert a["outputs"] == b["outputs"]  # paths, sizes and sha256


def test_config_args_round_trip(tmp_path: Path) -> None:
    settings = {
        "tasks": {"training": 5, "evaluation": 2},
        "families": ["colour_map", "gravity"],
        "demos": 2,
        "max_size": 4,
        "density": 0.7,
        "seed": 9,
    }
    # what the workflow passes: the dataset.generate section as it stands
    argv = ARC_TASKS.argv({**settings, "out": tmp_path / "tasks"})
    assert trm_main(argv) == 0
    params = json.loads((tmp_path / "tasks" / "manifest.json").read_text())["params"]
    assert params["tasks"] == {"training": 5, "evaluation": 2}
    assert params["families"] == ["colour_map", "gravity"]
    assert (params["demos"], params["max_size"], params["density"], params["seed"]) == (
        2,
        4,
        0.7,
        9,
    )
    with pytest.raises(UndeclaredSettingError, match=r"declares no setting 'task'"):
        ARC_TASKS.argv({"task": 3})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tasks", "training=x"], "--tasks training: expected a whole number, got 'x'"),
        (["--tasks", "16"], "--tasks: expected NAME=VALUE, got '16'"),
        (["--tasks", "training=0"], "--tasks: 0 is not a valid count (>= 1 and <= 100,000)"),
        (["--tasks", "training=1e9"], "--tasks: 1000000000 is not a valid count"),
        (["--min-size", "6", "--max-size", "4"], "--min-size/--max-size: need min <= max"),
        (["--max-size", "31"], "--max-size: 31 is not a valid size (>= 1 and <= 30)"),
        (["--demos", "1000000"], "--demos: 1000000 is not a valid count (>= 1 and <= 100)"),
        (["--colours", "9"], "--colours: 9 is not a valid count (>= 2 and <= 8)"),
        (["--density", "0"], "--density: 0.0 is not a valid positive number (> 0 and <= 1)"),
        (["--density", "nan"], "--density: nan is not a finite number"),
        (["--seed", "-1"], "--seed: -1 is not a valid seed"),
        (["--families", "colour_map,nope"], "--families[1]: 'nope' is not one of colour_map"),
    ],
)
def test_bad_arguments_fail_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    out = tmp_path / "tasks"
    assert trm_main(["prepare", "arc-tasks", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial output


@pytest.mark.slow
def test_tiny_trm_learns_generated_tasks_above_chance(tmp_path: Path) -> None:
    """Learning, not just running: after a short CPU training the evaluation tasks' test
    outputs are predicted cell by cell far better than the most frequent label would."""
    import torch

    from trm.train.config import compose_config
    from trm.train.loop import train

    cfg = GeneratorConfig(
        tasks={"training": 4, "evaluation": 4},
        families=("colour_map", "fill_background", "keep_colour"),
        demos=6,
        min_size=2,
        max_size=3,  # few cells per output: a short training gets most of them right
        seed=0,
    )
    prepare_arc_tasks(tmp_path / "tasks", cfg)
    data = tmp_path / "data"
    prefix = str(tmp_path / "tasks" / PREFIX_NAME)
    assert (
        trm_main(
            ["prepare", "arc", "--no-progress", "--input-prefix", prefix, "--subsets", "training"]
            + ["evaluation", "--test-set", "evaluation", "--num-aug", "1", "--out", str(data)]
            + ["--canvas", "4"]  # 16-token rows: the model is built for the dataset's seq_len
        )
        == 0
    )
    run = tmp_path / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI box is shared; one thread is fastest under contention
    try:
        result = train(
            compose_config(
                ["model=tiny", "train=cpu_smoke", "device=cpu", "model.H_cycles=1"]
                + ["model.L_cycles=1", "model.halt_max_steps=2", "train.global_batch_size=8"]
                + ["train.epochs=1000", "train.max_steps=40", "train.lr=3e-3"]
                + ["train.lr_warmup_steps=10", "train.puzzle_emb_lr=0.1"]
                + ["train.checkpoint_every=0"]
            ),
            data,
            run,
            progress=False,
        )
    finally:
        torch.set_num_threads(threads)
    assert result.finished
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["lm_loss"] for r in rows if "lm_loss" in r]
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10]), (losses[:10], losses[-10:])

    preds_file = tmp_path / "predictions.npz"
    assert (
        trm_main(
            ["predict", "--checkpoint", str(run), "--data", str(data), "--out", str(preds_file)]
            + ["--device", "cpu", "--no-progress"]
        )
        == 0
    )
    preds = np.load(preds_file)["preds"]
    labels = np.load(data / "test" / "all__labels.npy")
    assert preds.shape == labels.shape and labels.shape[1] == 16
    cells = labels > 0  # 0 = padding, not scored
    accuracy = float((preds[cells] == labels[cells]).mean())
    majority = float(np.bincount(labels[cells]).max() / cells.sum())
    assert accuracy > majority + 0.1, (accuracy, majority)
