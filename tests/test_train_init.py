"""train.init_from (start from given weights) and train.freeze (tensors kept fixed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trm.cli import main as trm_main
from trm.errors import UserError
from trm.train.config import compose_config
from trm.train.loop import train
from trm.train.state import load_state
from trm.train.synthetic import write_grid_task

BASE = [
    "model=tiny",
    "train=cpu_smoke",
    "device=cpu",
    "model.hidden_size=32",
    "model.halt_max_steps=2",
    "train.global_batch_size=16",
    "train.epochs=20",
    "train.lr=3e-3",
    "train.lr_warmup_steps=1",
    "train.ema=false",
    "train.checkpoint_every=0",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_grid_task(
        tmp_path_factory.mktemp("grid"), n_groups=16, puzzles_per_group=2, side=3, seed=1
    )


@pytest.fixture(scope="module")
def start(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A trained run to start from (6 steps, raw weights in step_6)."""
    run = tmp_path_factory.mktemp("start") / "run"
    result = train(compose_config([*BASE, "train.max_steps=6"]), data_dir, run, progress=False)
    assert result.finished and (run / "step_6").exists()
    return run


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_state(run)["model"]


def _start_weights(start: Path) -> dict[str, torch.Tensor]:
    prefix = "_orig_mod.model.inner."
    sd = torch.load(start / "step_6", weights_only=True)
    return {k[len(prefix) :]: v for k, v in sd.items()}


def test_init_from_continues_from_the_checkpoint(
    tmp_path: Path, data_dir: Path, start: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _start_weights(start)
    # With zero learning rates a step changes nothing: the run ends on exactly the loaded weights.
    frozen_lr = ["train.lr=0", "train.puzzle_emb_lr=0", "train.max_steps=2"]
    for i, source in enumerate((start, start / "step_6")):  # a run folder and a step_N file
        run = tmp_path / f"from{i}"
        train(
            compose_config([*BASE, *frozen_lr, f"train.init_from={source}"]),
            data_dir,
            run,
            progress=False,
        )
        got = _weights(run)
        assert got.keys() == expected.keys()
        assert all(torch.equal(got[k], expected[k]) for k in got)
    # The same through the command line, from a folder whose name Hydra would otherwise split.
    odd = tmp_path / "a=b,c"
    (odd / "sub").mkdir(parents=True)
    (odd / "sub" / "step_6").write_bytes((start / "step_6").read_bytes())
    run = tmp_path / "cli"
    argv = ["train", "--data", str(data_dir), "--out", str(run), "--no-progress"]
    assert trm_main([*argv, "--init-from", str(odd / "sub"), *BASE, *frozen_lr]) == 0
    assert all(torch.equal(_weights(run)[k], expected[k]) for k in expected)
    assert trm_main([*argv, "--resume", "--init-from", str(start)]) == 2
    assert "--init-from starts a new run" in capsys.readouterr().err
    # The reference's uncompiled layout (`model.inner.` keys) is accepted too.
    ref_file = tmp_path / "reference_layout" / "step_6"
    ref_file.parent.mkdir()
    torch.save({f"model.inner.{k}": v for k, v in expected.items()}, ref_file)
    run = tmp_path / "from_ref"
    train(
        compose_config([*BASE, *frozen_lr, f"train.init_from={ref_file}"]),
        data_dir,
        run,
        progress=False,
    )
    assert all(torch.equal(_weights(run)[k], expected[k]) for k in expected)
    # Without init_from the same seed starts elsewhere (the test above is not vacuous).
    run = tmp_path / "scratch"
    train(compose_config([*BASE, *frozen_lr]), data_dir, run, progress=False)
    assert not torch.equal(_weights(run)["lm_head.weight"], expected["lm_head.weight"])


def test_init_from_resizes_the_puzzle_table_only_on_request(tmp_path: Path, start: Path) -> None:
    other = write_grid_task(tmp_path / "other", n_groups=5, puzzles_per_group=2, side=3, seed=4)
    cfg = [*BASE, "train.lr=0", "train.puzzle_emb_lr=0", "train.max_steps=1"]
    with pytest.raises(UserError, match="init_resize_puzzle_emb"):
        train(
            compose_config([*cfg, f"train.init_from={start}"]),
            other,
            tmp_path / "r0",
            progress=False,
        )
    train(
        compose_config([*cfg, f"train.init_from={start}", "train.init_resize_puzzle_emb=true"]),
        other,
        tmp_path / "r1",
        progress=False,
    )
    table = _weights(tmp_path / "r1")["puzzle_emb.weights"]
    old = _start_weights(start)["puzzle_emb.weights"]
    assert table.shape[0] == 11 != old.shape[0]  # 10 puzzles + the blank identifier
    torch.testing.assert_close(table, old.mean(0, keepdim=True).expand_as(table))
    with pytest.raises(UserError, match="train.init_from"):
        train(
            compose_config([*cfg, f"train.init_from={tmp_path / 'missing'}"]),
            other,
            tmp_path / "r2",
            progress=False,
        )


def test_freeze_keeps_tensors_fixed(tmp_path: Path, data_dir: Path, start: Path) -> None:
    before = _start_weights(start)
    steps = ["train.max_steps=3", f"train.init_from={start}"]

    # dense: only the puzzle embeddings train (the reference's freeze_weights)
    run = tmp_path / "dense"
    train(compose_config([*BASE, *steps, "train.freeze=dense"]), data_dir, run, progress=False)
    after = _weights(run)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"puzzle_emb.weights"}

    # names and globs, and the puzzle table
    run = tmp_path / "some"
    train(
        compose_config([*BASE, *steps, "train.freeze=[embed_tokens.*,puzzle_emb]"]),
        data_dir,
        run,
        progress=False,
    )
    after = _weights(run)
    for k in ("embed_tokens.embedding_weight", "puzzle_emb.weights"):
        assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])
    assert load_state(run)["config"]["train"]["freeze"] == ["embed_tokens.*", "puzzle_emb"]

    with pytest.raises(UserError, match="matches no parameter"):
        train(compose_config([*BASE, "train.freeze=[no_such.*]"]), data_dir, tmp_path / "bad")
    with pytest.raises(UserError, match="nothing to train"):
        train(
            compose_config([*BASE, "train.freeze=[dense,puzzle_emb]"]),
            data_dir,
            tmp_path / "none",
        )
