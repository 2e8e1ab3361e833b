"""docs/recipes.md, followed: a new puzzle kind and a new architecture added with exactly the
files the recipes name run through the real commands (prepare, train, predict, score). The third
recipe (a new analysis) was followed by a real addition: `trm analyse checkpoints`
(analyses.checkpoints), tested in tests/test_checkpoints_analysis.py."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest

import trm.cli.prepare
import trm.cli.score
from trm.cli import main
from trm.kinds import KINDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def flip_kind(monkeypatch):
    """Recipe "a new puzzle kind": its data module (tests/toy_recipes.py) + one registry entry."""
    from toy_recipes import FLIP_KIND

    monkeypatch.setitem(KINDS, "flip", FLIP_KIND)
    # the command modules build their commands from the registry when imported
    for mod in (trm.cli.prepare, trm.cli.score):
        importlib.reload(mod)
    yield
    monkeypatch.undo()
    for mod in (trm.cli.prepare, trm.cli.score):
        importlib.reload(mod)


def _train_predict(tmp_path: Path, data: Path, *model: str, config_dir: Path | None = None) -> Path:
    run = tmp_path / "run"
    train = ["train", "--data", str(data), "--out", str(run), "--no-progress"]
    train += ["--config-dir", str(config_dir)] if config_dir else []
    overrides = ["train=cpu_smoke", "train.max_steps=6", "train.global_batch_size=8", "device=cpu"]
    assert main([*train, *model, *overrides]) == 0
    preds = tmp_path / "predictions.npz"
    argv = ["predict", "--checkpoint", str(run), "--data", str(data), "--out", str(preds)]
    assert main([*argv, "--device", "cpu", "--no-progress"]) == 0
    return preds


def test_a_new_puzzle_kind_needs_its_module_and_one_registry_entry(flip_kind, tmp_path):
    data = tmp_path / "flip"
    prep = ["prepare", "flip", "--num", "48", "--num-test", "12", "--size", "3"]
    assert main([*prep, "--no-progress", "--out", str(data)]) == 0
    info = json.loads((data / "test" / "dataset.json").read_text())
    assert info["seq_len"] == 9 and info["vocab_size"] == 3
    preds = _train_predict(tmp_path, data, "model=tiny", "model.hidden_size=32")
    scores = tmp_path / "scores"
    argv = ["score", "flip", "--data", str(data), "--predictions", str(preds)]
    assert main([*argv, "--out", str(scores), "--n-boot", "100"]) == 0
    metrics = json.loads((scores / "metrics.json").read_text())
    assert 0.0 <= metrics["Flip/exact_accuracy"] <= 1.0 and metrics["n_examples"] == 12
    assert metrics["Flip/exact_accuracy_ci_method"] == "wilson"  # n < 30: Wilson


def test_a_new_architecture_needs_its_model_file_a_registry_entry_and_a_preset(
    monkeypatch, tmp_path
):
    """Recipe "a new architecture": trm/model/<name>.py (tests/toy_recipes.py TRMToy), its
    entries in trm/model/__init__.py (ARCHITECTURES, REFERENCE_NAMES), config/model/<name>.yaml."""
    from toy_recipes import TOY_PRESET, TRMToy

    import trm.model as M

    monkeypatch.setitem(M.ARCHITECTURES, "trm_toy", TRMToy)
    monkeypatch.setitem(
        M.REFERENCE_NAMES,
        "trm_toy",
        "recursive_reasoning.trm_toy@TinyRecursiveReasoningModel_ACTV1",
    )
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "model" / "trm_toy.yaml").write_text(TOY_PRESET)
    from trm.train.synthetic import write_grid_task

    data = write_grid_task(tmp_path / "data", n_groups=4, side=2, n_test=4)
    preds = _train_predict(tmp_path, data, "model=trm_toy", config_dir=config)
    saved = (tmp_path / "run" / "all_config.yaml").read_text()
    assert "trm_toy" in saved  # the run records its architecture ...
    from trm.model.build import build_model_for_checkpoint

    info = json.loads((data / "test" / "dataset.json").read_text())
    model, _ = build_model_for_checkpoint(
        tmp_path / "run",
        seq_len=info["seq_len"],
        vocab_size=info["vocab_size"],
        num_puzzle_identifiers=info["num_puzzle_identifiers"],
    )
    assert type(model) is TRMToy  # ... and the commands rebuild exactly that model from it
    assert preds.is_file()
