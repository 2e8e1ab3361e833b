"""Accuracy-vs-augmentations sweep: level semantics, nesting, random draws, CSV."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from trm.cli import main
from trm.eval import arc as V
from trm.eval.stats import Bootstrap
from trm.eval.sweep import sweep_processed, write_sweep_csv

AUGS = [0, 3, 12, 5, 8, 1, 10]


def load_bench():
    """benchmarks/bench_score.py holds the synthetic dataset/prediction generators."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_score.py"
    spec = importlib.util.spec_from_file_location("bench_score", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> V.ProcessedPredictions:
    d = tmp_path_factory.mktemp("sweep")
    bench = load_bench()
    bench.build_synthetic_dataset(d, 7, AUGS, [2, 1, 3, 1, 1, 2, 1], seed=11, max_side=6)
    bench.synthesize_predictions(d, d / "p.npz", seed=1, n_wrong=3)
    return V.process_predictions(d, d / "p.npz", progress=False)


def test_level_zero_is_single_mode_and_full_level_is_paper_mode(processed):
    pp = processed
    assert np.array_equal(V.level_rows(pp, 0), V.mode_rows(pp, "single"))
    single = V.vote(pp, V.mode_rows(pp, "single"))
    assert V.vote(pp, V.level_rows(pp, 0)).metrics == single.metrics
    paper = V.vote(pp)
    for level in (max(AUGS), 1000):
        assert len(V.level_rows(pp, level)) == len(pp.q)
        assert V.vote(pp, V.level_rows(pp, level)).metrics == paper.metrics


def test_level_k_keeps_the_first_k_augmented_copies_in_builder_order(processed):
    pp = processed
    ts = pp.test_set
    for level in (1, 4):
        kept = set(pp.puzzle_identifiers[V.level_rows(pp, level)].tolist())
        for t in range(len(ts.task_names)):
            ids = np.flatnonzero(ts.id_task == t)  # identifier order = generation order
            plain = [i for i in ids if "|||" not in ts.identifiers[i]]
            augmented = [i for i in ids if "|||" in ts.identifiers[i]]
            assert set(plain) <= kept
            assert kept & set(augmented) == set(augmented[:level])


def test_levels_are_nested_and_votes_grow(processed):
    pp = processed
    levels = [0, 1, 2, 4, 8, 16]
    previous_rows, previous_votes = set(), None
    for level in levels:
        rows = set(V.level_rows(pp, level).tolist())
        votes = V.vote(pp, np.array(sorted(rows))).n_votes
        assert previous_rows <= rows
        if previous_votes is not None:
            assert (votes >= previous_votes).all()
        previous_rows, previous_votes = rows, votes
    # effective votes: 1 + min(level, augmentations the task has), per test input
    res = V.vote(pp, V.level_rows(pp, 4))
    expected = [1 + min(4, AUGS[t]) for t in pp.test_set.input_task]
    assert res.n_votes.tolist() == expected


def test_random_draws_are_per_task_permutations_and_nested(processed):
    pp = processed
    ts = pp.test_set
    ranks = V.random_aug_ranks(ts, np.random.default_rng(0))
    for t, n_aug in enumerate(AUGS):
        aug_ids = np.flatnonzero((ts.id_task == t) & (ts.id_aug_rank > 0))
        assert sorted(ranks[aug_ids].tolist()) == list(range(1, n_aug + 1))
    assert not np.array_equal(ranks, ts.id_aug_rank)
    small = set(V.level_rows(pp, 2, ranks).tolist())
    large = set(V.level_rows(pp, 5, ranks).tolist())
    assert small <= large and len(small) < len(large)


def test_sweep_table_and_csv(processed, tmp_path):
    rows = sweep_processed(
        processed, [0, 2, 12], draws=3, boot=Bootstrap(n_boot=500, seed=0), progress=False
    )
    assert [r["level"] for r in rows] == [0, 2, 12]
    assert rows[-1]["pass@2"] == V.vote(processed).metrics["ARC/pass@2"]
    for r in rows:
        assert r["pass@1_ci_low"] <= r["pass@1"] <= r["pass@1_ci_high"]
        assert r["pass@1"] <= r["pass@2"]
        assert r["n_test_inputs"] == len(processed.test_set.input_task)
        assert r["pass@1_draws_min"] <= r["pass@1_draws_mean"] <= r["pass@1_draws_max"]
    assert rows[0]["pass@1_draws_std"] == 0.0  # level 0: no augmented copy to choose
    assert rows[0]["min_votes"] == 1 and rows[-1]["mean_votes"] > rows[1]["mean_votes"]
    out = tmp_path / "acc_vs_aug.csv"
    write_sweep_csv(rows, out)
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3
    for col in (
        "level",
        "pass@1",
        "pass@1_ci_low",
        "pass@1_ci_high",
        "pass@2",
        "pass@2_ci_low",
        "pass@2_ci_high",
        "mean_votes",
        "min_votes",
        "n_test_inputs",
    ):
        assert col in table[0]
    assert float(table[1]["pass@2"]) == rows[1]["pass@2"]


@pytest.fixture
def sweep_inputs(tmp_path) -> tuple:
    bench = load_bench()
    bench.build_synthetic_dataset(tmp_path, 3, [0, 2, 3], [1, 2, 1], seed=5, max_side=5)
    bench.synthesize_predictions(tmp_path, tmp_path / "p.npz", seed=0)
    return tmp_path, tmp_path / "p.npz"


def test_sweep_runs_no_model(sweep_inputs, monkeypatch, tmp_path_factory):
    """The sweep re-votes stored predictions: building or running any model is an error here."""
    import torch

    import trm.eval.predict.batches
    import trm.infer
    import trm.model.build

    def no_inference(*args, **kwargs):
        raise AssertionError("trm sweep ran the model")

    monkeypatch.setattr(torch.nn.Module, "__init__", no_inference)
    monkeypatch.setattr(torch.nn.Module, "__call__", no_inference)
    monkeypatch.setattr(trm.infer, "predict", no_inference)
    monkeypatch.setattr(trm.model.build, "build_model_for_dataset", no_inference)
    monkeypatch.setattr(trm.eval.predict.batches, "predict_batch", no_inference)
    data, preds = sweep_inputs
    out = tmp_path_factory.mktemp("sweep_out") / "sweep.csv"
    args = ["sweep", "--data", str(data), "--predictions", str(preds), "--out", str(out)]
    assert main([*args, "--levels", "0,1,2", "--n-boot", "100", "--no-progress"]) == 0
    with open(out) as f:
        assert [r["level"] for r in csv.DictReader(f)] == ["0", "1", "2"]


def test_sweep_replaces_only_its_own_csv(sweep_inputs, tmp_path_factory, capsys):
    data, preds = sweep_inputs
    out = tmp_path_factory.mktemp("sweep_out") / "sweep.csv"
    base = ["sweep", "--data", str(data), "--predictions", str(preds), "--levels", "0,1"]
    base += ["--n-boot", "100", "--no-progress", "--out"]
    out.write_text("a,b\n1,2\n")
    assert main([*base, str(out)]) == 2
    assert "is a file not written by trm, not by `trm sweep`" in capsys.readouterr().err
    assert out.read_text() == "a,b\n1,2\n"
    assert main([*base, str(out), "--overwrite"]) == 0
    assert main([*base, str(out)]) == 0  # its own earlier CSV is replaced
    before = preds.read_bytes()
    assert main([*base, str(preds), "--overwrite"]) == 2  # the input itself: always refused
    assert "would destroy what the command reads" in capsys.readouterr().err
    assert preds.read_bytes() == before


def test_levels_take_commas_spaces_and_repeats_alike(sweep_inputs, tmp_path_factory):
    """The contract spelling `--levels 0,1,4` and the list spelling `--levels 0 1 4` (and a
    repeated flag) give the same table."""
    data, preds = sweep_inputs
    base = ["sweep", "--data", str(data), "--predictions", str(preds), "--n-boot", "100"]
    spellings = {
        "commas": ["--levels", "0,1,3"],
        "spaces": ["--levels", "0", "1", "3"],
        "repeated": ["--levels", "0,1", "--levels", "3"],
    }
    tables, folder = {}, tmp_path_factory.mktemp("levels")
    for name, levels in spellings.items():
        out = folder / f"{name}.csv"
        assert main([*base, *levels, "--out", str(out), "--no-progress"]) == 0
        tables[name] = out.read_bytes()
    assert tables["commas"] == tables["spaces"] == tables["repeated"]
    with open(folder / "spaces.csv") as f:
        assert [r["level"] for r in csv.DictReader(f)] == ["0", "1", "3"]


def test_default_levels_are_the_declared_ones():
    from trm.cli.sweep import SweepSettings
    from trm.settings import spec_of

    assert spec_of(SweepSettings, "levels").default == [0, 1, 4, 16, 64, 256, 576, 1000]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--levels", "1,a"], "--levels: expected a whole number, got 'a'"),
        (["--levels", "0", "-1"], "--levels[1]: -1 is not a valid count (>= 0)"),
        (["--levels", "1,4", "1"], "--levels: 1 given more than once"),
        (["--levels", ","], "--levels: give at least one level"),
        (["--draws", "-1"], "--draws: -1 is not a valid count"),
        (["--n-boot", "50"], "--n-boot: 50 is not a valid count (>= 100"),
        (["--seed", "-3"], "--seed: -3 is not a valid seed"),
    ],
)
def test_bad_values_are_one_line_errors(sweep_inputs, tmp_path_factory, capsys, argv, message):
    data, preds = sweep_inputs
    out = tmp_path_factory.mktemp("bad") / "sweep.csv"
    base = ["sweep", "--data", str(data), "--predictions", str(preds), "--out", str(out)]
    assert main([*base, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trm sweep: error: {message}") and err.count("\n") == 1, err
    assert not out.exists()


def test_the_workflow_sweep_section_is_passed_as_it_stands():
    """Field names are the config keys: the section becomes the command's flags unchanged."""
    from trm.cli import build_parser
    from trm.cli.sweep import COMMANDS, SweepSettings
    from trm.command import settings_from_namespace
    from trm.settings_export import select

    section = {"levels": [0, 1, 4], "draws": 2, "n_boot": 200, "seed": 3}
    argv = COMMANDS[0].argv(select(SweepSettings, section))
    assert argv[:1] == ["sweep"] and "--levels" in argv
    required = ["--data", "d", "--predictions", "p.npz", "--out", "o.csv"]
    ns = build_parser().parse_args([*argv, *required])
    s = settings_from_namespace(SweepSettings, ns)
    assert (s.levels, s.draws, s.n_boot, s.seed) == ([0, 1, 4], 2, 200, 3)
