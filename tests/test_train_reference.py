"""`trm train` against the reference's own training loop, bit for bit on CPU.

The oracle (tests/reference_train_oracle.py) runs the reference's pretrain.py from
../shared/reference in a subprocess, with a kernel-faithful AdamATan2 port and shims for the
third-party modules the CPU venv lacks (einops, argdantic, wandb, coolname, adam_atan2); it
needs only torch, numpy, pydantic, hydra and tqdm, which the project already depends on.
Without ../shared the tests skip, unless TRM_REQUIRE_SHARED=1 (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from trm.train.config import compose_config
from trm.train.data import PuzzleBatchSampler
from trm.train.loop import train
from trm.train.state import load_state

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference" / "TinyRecursiveModels-e7b6871"
ARC_MINI = SHARED / "golden" / "arc-mini" / "upstream-aug-8"
ORACLE = Path(__file__).resolve().parent / "reference_train_oracle.py"
ARCH_FROM_DATA = ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers")


def _require(path: Path) -> None:
    if path.exists():
        return
    why = f"{path} not found (../shared absent): cannot compare with the reference"
    if os.environ.get("TRM_REQUIRE_SHARED") == "1":
        pytest.fail(f"TRM_REQUIRE_SHARED=1 but {why}")
    pytest.skip(why)


def _run_oracle(tmp_path: Path, spec: dict) -> dict:
    spec_path, out = tmp_path / "oracle_spec.json", tmp_path / "oracle_out.pt"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(ORACLE), str(REFERENCE), str(spec_path), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, f"reference oracle failed:\n{proc.stderr[-4000:]}"
    return torch.load(out, weights_only=True)


def _strip(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    assert all(k.startswith(prefix) for k in sd), list(sd)[:3]
    return {k[len(prefix) :]: v for k, v in sd.items()}


def _assert_bitwise(ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], what: str) -> None:
    assert ours.keys() == ref.keys(), f"{what}: keys differ"
    differ = [k for k in ours if not torch.equal(ours[k], ref[k])]
    assert not differ, f"{what}: {len(differ)} tensor(s) differ from the reference, e.g. " + (
        ", ".join(
            f"{k} (max |diff| {(ours[k].double() - ref[k].double()).abs().max().item():.3g})"
            for k in differ[:4]
        )
    )


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_train_20_steps_equals_reference_loop(tmp_path: Path, one_thread: None) -> None:
    """Raw and EMA weights after 20 steps on generated 4x4 Sudoku: identical to the reference."""
    _require(REFERENCE)
    from trm.data.sudoku import SudokuSettings, prepare_sudoku

    data = tmp_path / "sudoku4"
    # 48 puzzles x (original + 1 augmentation) in 48 groups, one example each
    settings = SudokuSettings(source="generate", size=4, num=48, num_test=4, num_aug=1)
    prepare_sudoku(settings, data, command="test", progress=False)
    overrides = [
        "model=tiny",
        "train=cpu_smoke",
        "device=cpu",
        "model.halt_max_steps=3",
        "model.halt_exploration_prob=0.5",  # the exploration draws must match too
        "train.global_batch_size=16",
        "train.epochs=10",
        "train.epochs_per_iter=2",  # 5 passes of 6 batches: 30 batches
        "train.max_steps=20",  # so the EMA's final pass covers 10 batches
        "train.lr=3e-3",
        "train.lr_warmup_steps=4",
        "train.lr_min_ratio=0.1",
        "train.beta2=0.95",
        "train.weight_decay=0.1",
        "train.puzzle_emb_lr=1e-2",
        "train.ema=true",
        "train.ema_rate=0.9",
        "train.seed=3",
        "train.checkpoint_every=0",
    ]
    run = tmp_path / "run"
    result = train(compose_config(overrides), data, run, progress=False)
    assert result.finished and result.step == 20

    cfg = yaml.safe_load((run / "config.yaml").read_text())["train"]
    arch = yaml.safe_load((run / "all_config.yaml").read_text())["arch"]
    ref_config = {
        "arch": {k: v for k, v in arch.items() if k not in ARCH_FROM_DATA},
        "data_paths": [str(data)],
        "eval_interval": cfg["epochs_per_iter"],
        **{
            k: cfg[k]
            for k in (
                "global_batch_size",
                "epochs",
                "lr",
                "lr_min_ratio",
                "lr_warmup_steps",
                "weight_decay",
                "beta1",
                "beta2",
                "puzzle_emb_lr",
                "puzzle_emb_weight_decay",
                "seed",
                "ema",
                "ema_rate",
            )
        },
    }
    ref = _run_oracle(tmp_path, {"config": ref_config, "max_steps": 20})

    final = json.loads((run / "final.json").read_text())
    assert ref["batch_count"] == 30 == final["step"] + final["ema_final_batches"]
    raw = load_state(run)["model"]
    _assert_bitwise(raw, _strip(ref["raw"], "model.inner."), "raw weights")
    ema = torch.load(run / "step_20", weights_only=True)
    _assert_bitwise(
        _strip(ema, "_orig_mod.model.inner."), _strip(ref["ema"], "model.inner."), "EMA weights"
    )
    # the run really trained: the weights moved away from the initial ones
    initial = _strip(ref["initial"], "model.inner.")
    assert not torch.equal(raw["lm_head.weight"], initial["lm_head.weight"])


def test_arc_batches_in_reference_order_equal_the_reference_loader(tmp_path: Path) -> None:
    """The reference's DataLoader (one worker, seeded by torch) and the sampler's default order."""
    _require(REFERENCE)
    _require(ARC_MINI)
    seed, batch, epochs_per_iter, n = 5, 64, 2, 14
    sampler = PuzzleBatchSampler(
        ARC_MINI,
        global_batch_size=batch,
        seed=seed,
        epochs_per_iter=epochs_per_iter,
        example_order="reference",
    )
    ours = []
    for tb in sampler:
        ours.append((tb.iteration, tb.batch))
        if len(ours) == n:
            break
    assert ours[-1][0] >= 2, "the comparison should cross an iteration boundary"
    config = {
        "arch": {"name": "unused", "loss": {"name": "unused"}},
        "data_paths": [str(ARC_MINI)],
        "global_batch_size": batch,
        "epochs": epochs_per_iter * 4,
        "eval_interval": epochs_per_iter,
        "lr": 1e-4,
        "lr_min_ratio": 1.0,
        "lr_warmup_steps": 1,
        "weight_decay": 0.1,
        "beta1": 0.9,
        "beta2": 0.95,
        "puzzle_emb_lr": 1e-2,
        "puzzle_emb_weight_decay": 0.1,
        "seed": seed,
    }
    ref = _run_oracle(tmp_path, {"config": config, "train": False, "record_batches": n})
    assert len(ref["batches"]) == n
    for i, ((_it, a), b) in enumerate(zip(ours, ref["batches"], strict=True)):
        for key in ("inputs", "labels", "puzzle_identifiers"):
            assert torch.equal(a[key], b[key]), f"batch {i + 1}: {key} differs from the reference"
    # the per-iteration order is a different (documented) stream
    other = PuzzleBatchSampler(
        ARC_MINI, global_batch_size=batch, seed=seed, epochs_per_iter=epochs_per_iter
    )
    first = next(iter(other)).batch
    assert torch.equal(first["puzzle_identifiers"], ours[0][1]["puzzle_identifiers"])
    assert not np.array_equal(first["inputs"].numpy(), ours[0][1]["inputs"].numpy())
