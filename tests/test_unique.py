"""Duplicates refused wherever a record or a name must be unique: one input given twice, a key
repeated in one JSON object, a puzzle name listed twice, a task in two subsets, a repeated
prediction row, one checkpoint name with two sources; and generated task ids that never repeat
across subsets, seeds or settings (a model learns one embedding per name)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from small_datasets import answers, arc_dataset, arc_tasks, grid_dataset
from test_workflow_jobs import DEFAULT, workflow

from trm.cli import main
from trm.data.arc_generated import GeneratorConfig, generate_tasks
from trm.errors import InputError
from trm.workflow.config_check import check_config


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("unique")
    prefix = arc_tasks(base / "tasks", "--tasks", "training=4", "evaluation=3", "--tests", "2")
    arc = arc_dataset(prefix, base / "arc", num_aug=2)
    return {"prefix": prefix, "arc": arc, "arc_p": answers(arc, base / "arc.npz"), "base": base}


def _err(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "error" in x]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---- one input, once -----------------------------------------------------------------------------


def test_the_same_input_twice_in_one_setting_is_refused(ds, tmp_path, capsys) -> None:
    p, data = ds["arc_p"], ds["arc"]
    scores = tmp_path / "scores"
    assert main(["score", "arc", "--data", str(data), "--predictions", str(p), "--out", str(scores), "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    link = tmp_path / "link.npz"
    link.symlink_to(p)
    cases = [
        # the same predictions twice would vote twice (also through another spelling of the path)
        (["score", "arc", "--data", str(data), "--predictions", str(p), str(link)], "is given twice"),
        # a run compared with itself under two names
        (["compare", "runs", "--run", f"a={scores}", f"b={scores}/"], "b="),
        (["compare", "runs", "--run", f"a={scores}", f"a={scores}"], "'a' given twice"),
        (["compare", "runs", "--run", f"a={scores}", "--run", f"a={tmp_path}"], "'a' given twice"),
        (["compare", "sweep", "--data", str(data), "--levels", "0", "--run", f"x={p}", f"y={link}"], "names the same path as x="),
    ]  # fmt: skip
    for argv, needle in cases:
        out = tmp_path / "out"
        assert main([*argv, "--out", str(out)]) == 2, argv
        err = _err(capsys)
        assert needle in err, (argv, err)
        assert not out.exists()


# ---- names inside the files the commands read ------------------------------------------------------


def test_a_key_repeated_in_one_json_object_is_refused(ds, tmp_path, capsys) -> None:
    prefix = tmp_path / "arc"
    for part in ("challenges", "solutions"):
        for subset in ("training", "evaluation"):
            shutil.copy(f"{ds['prefix']}_{subset}_{part}.json", f"{prefix}_{subset}_{part}.json")
    path = Path(f"{prefix}_evaluation_challenges.json")
    tasks = json.loads(path.read_text())
    first = next(iter(tasks))
    # the same task id twice in one file: json keeps the last, silently
    text = (
        path.read_text().rstrip().rstrip("}")
        + f", {json.dumps(first)}: {json.dumps(tasks[first])}}}"
    )
    path.write_text(text)
    out = tmp_path / "d"
    argv = ["prepare", "arc", "--input-prefix", str(prefix), "--subsets", "training", "evaluation"]
    assert main([*argv, "--test-set", "evaluation", "--out", str(out), "--no-progress"]) == 2
    err = _err(capsys)
    assert str(path) in err and f"key {first!r} appears twice" in err and not out.exists()


@pytest.mark.parametrize("case", ["test_task_in_training", "different_copies"])
def test_a_task_id_in_two_subsets_is_refused(ds, tmp_path, capsys, case) -> None:
    prefix = tmp_path / "arc"
    for part in ("challenges", "solutions"):
        for subset in ("training", "evaluation"):
            shutil.copy(f"{ds['prefix']}_{subset}_{part}.json", f"{prefix}_{subset}_{part}.json")
    ev = {p: json.loads(Path(f"{prefix}_evaluation_{p}.json").read_text()) for p in ("challenges", "solutions")}  # fmt: skip
    tr = {p: json.loads(Path(f"{prefix}_training_{p}.json").read_text()) for p in ("challenges", "solutions")}  # fmt: skip
    tid = next(iter(ev["challenges"]))
    if case == "test_task_in_training":  # its test answers would be trained on
        for p in tr:
            tr[p][tid] = ev[p][tid]
        needle = "a test task's answers would be trained on"
    else:  # one id, two puzzles
        other = next(iter(tr["challenges"]))
        for p in tr:
            tr[p][tid] = tr[p].pop(other)
        needle = "its two copies differ"
    for p in tr:
        Path(f"{prefix}_training_{p}.json").write_text(json.dumps(tr[p]))
    out = tmp_path / "d"
    argv = ["prepare", "arc", "--input-prefix", str(prefix), "--subsets", "training", "evaluation"]
    assert main([*argv, "--test-set", "evaluation", "--out", str(out), "--no-progress"]) == 2
    err = _err(capsys)
    assert f"task {tid} is in subset training" in err and needle in err and not out.exists()


def test_a_puzzle_name_listed_twice_in_identifiers_json_is_refused(ds, tmp_path, capsys) -> None:
    data = tmp_path / "arc"
    shutil.copytree(ds["arc"], data)
    names = json.loads((data / "identifiers.json").read_text())
    names[2] = names[1]
    (data / "identifiers.json").write_text(json.dumps(names))
    out = tmp_path / "s"
    argv = ["score", "arc", "--data", str(data), "--predictions", str(ds["arc_p"]), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 2
    err = _err(capsys)
    assert f"name {names[1]!r} is listed twice (identifiers 1 and 2)" in err and not out.exists()


def test_a_repeated_prediction_row_is_refused(ds, tmp_path, capsys) -> None:
    """Each task has two test inputs: a row of input 0 copied over its input 1 keeps the
    identifier counts right, and would vote twice for one input and never for the other."""
    with np.load(ds["arc_p"]) as z:
        arrays = {k: z[k].copy() for k in z.files}
    ids = arrays["puzzle_identifiers"]
    r0 = 0
    r1 = int(np.flatnonzero(ids == ids[r0])[1])
    for k in arrays:
        arrays[k][r1] = arrays[k][r0]
    bad = tmp_path / "dup.npz"
    np.savez(bad, **arrays)
    out = tmp_path / "s"
    argv = ["score", "arc", "--data", str(ds["arc"]), "--predictions", str(bad), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 2
    err = _err(capsys)
    assert f"rows {r0} and {r1} both answer test input 0 of puzzle" in err and not out.exists()
    # the sweep reads the same rows
    assert main(["sweep", "--data", str(ds["arc"]), "--predictions", str(bad), "--out", str(tmp_path / "w.csv"), "--no-progress"]) == 2  # fmt: skip
    assert "a repeated row" in _err(capsys)


# ---- generated tasks -------------------------------------------------------------------------------


def _ids(**kw) -> dict[str, list[str]]:
    cfg = GeneratorConfig(min_size=2, max_size=3, **kw)
    return {s: list(sub.challenges) for s, sub in generate_tasks(cfg).items()}


def test_generated_task_ids_never_repeat_across_subsets_seeds_or_settings() -> None:
    subsets = _ids(tasks={"evaluation": 5, "evaluation2": 5, "eval": 5})
    flat = [t for ids in subsets.values() for t in ids]
    assert len(set(flat)) == len(flat) == 15
    seed0 = set(_ids(tasks={"evaluation": 6}, seed=0)["evaluation"])
    seed1 = set(_ids(tasks={"evaluation": 6}, seed=1)["evaluation"])
    assert not seed0 & seed1
    # another setting at the same seed draws other tasks: other names too
    other = set(_ids(tasks={"evaluation": 6}, seed=0, families=["reflect"])["evaluation"])
    assert not seed0 & other
    # and the same arguments give the same names (runs are reproducible)
    assert seed0 == set(_ids(tasks={"evaluation": 6}, seed=0)["evaluation"])


def test_adapting_to_tasks_of_another_seed_fits_every_one_of_them(tmp_path) -> None:
    """`trm adapt` copies a row by name: with ids that repeated across seeds, the tasks of seed
    1 were taken for seed 0's and never fitted. Now every one is new."""
    from trm.train.adapt import plan_rows

    a = _ids(tasks={"training": 4, "evaluation": 4}, seed=0)
    b = _ids(tasks={"training": 4, "evaluation": 4}, seed=1)
    plan = plan_rows(["<blank>", *a["training"], *a["evaluation"]], ["<blank>", *b["evaluation"]])
    assert plan.copied.tolist() == [0] and plan.new.size == 4


@pytest.mark.parametrize("key", ["a/b", "../up", ".hidden", "x y", "a;b", ""])
def test_a_generated_subset_name_must_be_file_safe(tmp_path, capsys, key: str) -> None:
    out = tmp_path / "tasks"
    assert main(["prepare", "arc-tasks", "--tasks", f"{key}=3", "--out", str(out)]) == 2
    err = _err(capsys)
    assert "--tasks" in err and not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(InputError, match="not a valid name"):
        GeneratorConfig(tasks={key or "/": 3}).validate()


# ---- the workflow's config -------------------------------------------------------------------------


def test_one_checkpoint_name_with_two_sources_is_refused(tmp_path) -> None:
    def edit(c: dict) -> None:
        sudoku = c["experiments"]["sudoku-smoke"]
        twin = json.loads(json.dumps(sudoku))
        del sudoku["train"]
        del twin["train"]
        sudoku["checkpoint"] = {"name": "ck", "path": str(tmp_path), "file": "step_1"}
        twin["checkpoint"] = {"name": "ck", "path": str(tmp_path / "other"), "file": "step_1"}
        c["experiments"]["sudoku-twin"] = twin
        c["run"] = [*c["run"], "sudoku-twin"]

    problems = check_config(workflow(DEFAULT, edit), cache_dir=tmp_path)
    assert any(
        "experiments.sudoku-twin.checkpoint: checkpoint 'ck' is also defined by experiment "
        "'sudoku-smoke' with another source (path:" in p
        for p in problems
    ), problems

    def same_source_other_file(c: dict) -> None:  # two weights files of one fetch: fine
        edit(c)
        twin = c["experiments"]["sudoku-twin"]["checkpoint"]
        twin.update(path=str(tmp_path), file="step_2")

    problems = check_config(workflow(DEFAULT, same_source_other_file), cache_dir=tmp_path)
    assert not any("another source" in p for p in problems), problems


def test_an_experiment_listed_twice_in_run_is_refused(tmp_path) -> None:
    problems = check_config(
        workflow(DEFAULT, lambda c: c.update(run=[*c["run"], c["run"][0]])), cache_dir=tmp_path
    )
    assert any("is listed twice" in p for p in problems), problems


def test_a_generated_subset_name_in_the_config_is_checked_at_start_up(tmp_path) -> None:
    def edit(c: dict) -> None:
        gen = c["experiments"]["arc-generated"]["dataset"]["generate"]
        gen["tasks"] = {"training": 4, "eval/../x": 4}

    problems = check_config(workflow(DEFAULT, edit), cache_dir=tmp_path)
    assert any(
        "experiments.arc-generated.dataset.generate.tasks: 'eval/../x' is not a valid name" in p
        for p in problems
    ), problems


def test_grid_datasets_are_unaffected(tmp_path) -> None:
    """Sudoku's identifiers.json lists '<blank>' and one name; a repeated '<blank>' (the
    reference's unused identifiers) is not a duplicate name."""
    data = grid_dataset(tmp_path / "s")
    names = json.loads((data / "identifiers.json").read_text())
    (data / "identifiers.json").write_text(json.dumps(["<blank>", *names]))
    from trm.data.format import read_identifiers

    assert read_identifiers(data)[:2] == ["<blank>", "<blank>"]


def test_a_variant_written_twice_in_a_config_file_is_named_before_any_job(tmp_path) -> None:
    """PyYAML (and so Snakemake) keeps the second of two equal keys silently: a grid variant
    written twice would vanish from the grid. The workflow names the file and line instead."""
    from workflow_helpers import copy_workflow, snakemake, tail

    wf = copy_workflow(tmp_path / "repo")
    (wf / "config" / "dup.yaml").write_text(
        "experiments:\n"
        "  sudoku-smoke:\n"
        "    variants:\n"
        "      base: {}\n"
        "      wide: {model: {hidden_size: 128}}\n"
        "      wide: {train: {ema: true}}\n"
    )
    proc = snakemake(wf, "-n", "--cores", "1", "report", "--configfile", "config/dup.yaml")
    out = tail(proc)
    assert proc.returncode != 0
    assert "config/dup.yaml: malformed YAML at line 6" in out and "'wide' appears twice" in out
    assert "Job stats" not in out


@pytest.mark.parametrize(
    ("name", "flags", "named"),
    [
        ("sweep", ["--levels", "0", "4", "4"], "--levels: 4 given more than once"),
        ("compare sweep", ["--levels", "1,2,1"], "--levels: 1 given more than once"),
        ("bench", ["--batch-sizes", "8", "8"], "--batch-sizes: 8 given more than once"),
        ("prepare arc", ["--subsets", "training", "training"], "--subsets: training given"),
    ],
)
def test_a_value_repeated_in_a_list_that_must_be_distinct_is_refused(
    tmp_path, capsys, name, flags, named
) -> None:
    from test_validators import _argv

    from trm.cli import command

    assert main([*_argv(command(name), tmp_path), *flags]) == 2
    assert named in _err(capsys)
    assert list(tmp_path.iterdir()) == []


def test_repeated_levels_in_the_workflow_config_are_named_at_start_up(tmp_path) -> None:
    def edit(c: dict) -> None:
        c["experiments"]["arc-generated"]["sweep"]["levels"] = [0, 1, 1]
        c["experiments"]["arc-generated"]["bench"]["batch_sizes"] = [32, 32]

    problems = check_config(workflow(DEFAULT, edit), cache_dir=tmp_path)
    for needle in ("sweep.levels: 1 given more than once", "bench.batch_sizes: 32 given more"):
        assert any(needle in p for p in problems), (needle, problems)
