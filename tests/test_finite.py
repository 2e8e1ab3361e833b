"""Finite or nothing: non-finite or out-of-range hyper-parameters are refused before any output,
and training stops at the first non-finite loss or weights, writing nothing of that step (no
final.json, no new step_N), so a diverged run never looks finished or gets scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trm.cli import main
from trm.train.synthetic import write_grid_task

BASE = (
    "model=tiny train=cpu_smoke device=cpu train.global_batch_size=16 train.epochs=100 "
    "train.max_steps=6 train.lr_warmup_steps=1 train.cpu_threads=1 model.halt_max_steps=2"
).split()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_grid_task(tmp_path_factory.mktemp("grid"), n_groups=16, side=3, seed=1)


def _train(data: Path, out: Path, *overrides: str) -> int:
    return main(
        ["train", "--data", str(data), "--out", str(out), "--no-progress", *BASE, *overrides]
    )


def _one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.lr=nan", "train.lr: nan is not a finite number"),
        ("train.weight_decay=inf", "train.weight_decay: inf is not a finite number"),
        ("train.puzzle_emb_lr=-inf", "train.puzzle_emb_lr: -inf is not a finite number"),
        ("train.ema_rate=nan", "train.ema_rate: nan is not a finite number"),
        ("train.beta2=1.0", "train.beta2: 1.0 is not a valid Adam beta (>= 0 and < 1)"),
        ("train.lr_min_ratio=1.5", "train.lr_min_ratio: 1.5 is not a valid probability"),
        ("model.rms_norm_eps=nan", "model.rms_norm_eps: nan is not a finite number"),
        ("model.rms_norm_eps=0", "model.rms_norm_eps: 0 is not a valid positive number"),
        ("model.rope_theta=inf", "model.rope_theta: inf is not a finite number"),
        ("model.expansion=-2", "model.expansion: -2 is not a valid positive number"),
        ("model.halt_exploration_prob=1.5", "model.halt_exploration_prob: 1.5 is not a valid"),
        ("model.halt_max_steps=1000000000", "model.halt_max_steps: 1000000000 is not a valid"),
        ("train.seed=-1", "train.seed: -1 is not a valid seed"),
        ("train.seed=4294967296", "train.seed: 4294967296 is not a valid seed"),
    ],
)
def test_bad_hyper_parameters_are_refused_before_any_output(
    data, tmp_path, capsys, override, named
):
    out = tmp_path / "run"
    assert _train(data, out, override) == 2
    err = _one_line(capsys)
    assert err.startswith("trm train: error: ") and named in err, err
    assert not out.exists()


def test_training_stops_at_the_first_non_finite_loss_and_saves_nothing_of_it(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    # a learning rate that diverges within a few steps (finite, so not refused up front)
    assert _train(data, out, "train.lr=1e30", "train.checkpoint_every=1") == 2
    err = _one_line(capsys)
    assert "step " in err and "not finite" in err and "nothing of this step was saved" in err
    step = int(err.split("step ")[1].split(":")[0])
    assert 1 <= step < 6
    # no final weights, no step_N of that step, no state of it: the folder does not look finished
    assert not (out / "final.json").exists()
    assert not (out / f"step_{step}").exists()
    logged = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == list(range(1, step))  # every logged step was finite
    if (out / "state.pt").exists():  # checkpoints of the steps before it are finite ones
        from trm.train.state import load_state

        assert int(load_state(out)["step"]) < step


def test_a_finite_run_is_unchanged_by_the_checks(data: Path, tmp_path: Path) -> None:
    """The checks read the weights; they change no value (the loop's equality with the
    reference trainer is tests/test_train_reference.py; this one: two runs, equal bytes)."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert _train(data, a, "train.lr=3e-3") == 0
    assert _train(data, b, "train.lr=3e-3") == 0
    assert (a / "step_6").read_bytes() == (b / "step_6").read_bytes()
    assert json.loads((a / "final.json").read_text())["step"] == 6


def test_weights_that_stop_being_finite_are_named(tmp_path: Path) -> None:
    import torch

    from trm.train.finite import NonFiniteError, check_weights, nonfinite_count

    good, bad = torch.ones(3), torch.tensor([1.0, float("inf")])
    assert int(nonfinite_count([good, good])) == 0
    assert int(nonfinite_count([good, bad, torch.tensor([float("nan")])])) == 2
    with pytest.raises(NonFiniteError, match="step 7: weights 'w2' are not finite"):
        check_weights(7, [("w1", good), ("w2", bad)])


ARCH_OVERRIDES = {  # --arch-override KEY=VALUE (a YAML value) -> the one line it gives
    "rms_norm_eps=.nan": "--arch-override rms_norm_eps: nan is not a finite number",
    "rms_norm_eps=nan": "--arch-override rms_norm_eps: nan is not a finite number",
    "halt_exploration_prob=-0.5": "--arch-override halt_exploration_prob: -0.5 is not",
    "hidden_size=100000000": "--arch-override hidden_size: 100000000 is not a valid size",
    "rope_theta=.inf": "--arch-override rope_theta: inf is not a finite number",
}


@pytest.mark.parametrize("override", sorted(ARCH_OVERRIDES))
def test_model_overrides_of_predict_are_refused_before_any_work(data, tmp_path, capsys, override):
    named = ARCH_OVERRIDES[override]
    run = tmp_path / "run"
    assert _train(data, run, "train.lr=3e-3", "train.max_steps=1") == 0
    capsys.readouterr()
    out = tmp_path / "p.npz"
    argv = ["predict", "--checkpoint", str(run), "--data", str(data), "--out", str(out)]
    assert main([*argv, "--arch-override", override, "--no-progress"]) == 2
    assert named in _one_line(capsys)
    assert not out.exists()


def test_workflow_start_up_refuses_what_trm_train_refuses(tmp_path: Path) -> None:
    from test_workflow_jobs import DEFAULT, workflow

    from trm.workflow.config_check import check_config

    def edit(c: dict) -> None:
        train = c["experiments"]["sudoku-smoke"]["train"]
        train.update(lr=float("nan"), seed=-3, beta1=1.0)
        c["experiments"]["sudoku-smoke"]["model"].update(rms_norm_eps=float("inf"))

    problems = check_config(workflow(DEFAULT, edit), cache_dir=tmp_path)
    for needle in (
        "experiments.sudoku-smoke.train.lr: nan is not a finite number",
        "experiments.sudoku-smoke.train.seed: -3 is not a valid seed",
        "experiments.sudoku-smoke.train.beta1: 1.0 is not a valid Adam beta",
        "experiments.sudoku-smoke.model.rms_norm_eps: inf is not a finite number",
    ):
        assert any(needle in p for p in problems), (needle, problems)


def test_schema_carries_the_bounds_trm_train_checks() -> None:
    import yaml

    from trm.model.build import MODEL_BOUNDS
    from trm.train.config import TRAIN_BOUNDS

    root = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((root / "config" / "schema.yaml").read_text())["$defs"]
    train = schema["train_overrides"]["properties"]
    model = schema["model_overrides"]["properties"]
    assert train["seed"]["minimum"] == 0 and train["seed"]["maximum"] == 2**32 - 1
    assert train["beta1"]["exclusiveMaximum"] == 1.0
    assert model["halt_exploration_prob"]["maximum"] == 1.0
    assert set(TRAIN_BOUNDS) <= set(train) and set(MODEL_BOUNDS) <= set(model)
