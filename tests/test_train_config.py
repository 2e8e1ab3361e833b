"""Hydra presets hold the paper's values; arch dict construction; bad overrides."""

from __future__ import annotations

import pytest

from trm.data.format import DatasetMetadata
from trm.model.build import resolve_forward_dtype, train_model_config
from trm.train.config import apply_overrides, compose_config


def test_paper_presets() -> None:
    arc = compose_config(["model=arc_paper", "train=arc_paper"])
    m, t = arc.model, arc.train
    assert (m.hidden_size, m.num_heads, m.expansion, m.L_layers, m.H_cycles, m.L_cycles) == (
        512,
        8,
        4,
        2,
        3,
        4,
    )
    assert (m.halt_max_steps, m.puzzle_emb_len, m.pos_encodings, m.mlp_t) == (16, 16, "rope", False)
    assert m.puzzle_emb_ndim == 512 and m.forward_dtype == "auto"
    assert (t.global_batch_size, t.lr, t.lr_warmup_steps, t.beta1, t.beta2, t.weight_decay) == (
        768,
        1e-4,
        2000,
        0.9,
        0.95,
        0.1,
    )
    assert (t.puzzle_emb_lr, t.puzzle_emb_weight_decay, t.ema, t.ema_rate) == (
        1e-2,
        0.1,
        True,
        0.999,
    )
    sud = compose_config(["model=sudoku_mlp", "train=sudoku_maze"])
    assert sud.model.mlp_t is True and sud.model.pos_encodings == "none" and sud.model.L_cycles == 6
    assert (
        sud.train.lr,
        sud.train.weight_decay,
        sud.train.puzzle_emb_weight_decay,
        sud.train.epochs,
    ) == (1e-4, 1.0, 1.0, 50000)
    assert compose_config(["model=maze_paper"]).model.L_cycles == 4
    tiny = compose_config([])  # the defaults: tiny model, CPU smoke recipe
    assert (
        tiny.model.hidden_size == 64
        and tiny.train.global_batch_size == 32
        and tiny.device == "auto"
    )


def test_arch_config_from_dataset() -> None:
    cfg = compose_config(["model=arc_paper", "model.forward_dtype=auto"])
    meta = DatasetMetadata(0, 0, 0, 12, 900, 433, 48, 4.25, 432)
    arch = train_model_config(cfg.model, meta, local_batch_size=384, device="cpu")
    assert (
        arch["seq_len"],
        arch["vocab_size"],
        arch["num_puzzle_identifiers"],
        arch["batch_size"],
    ) == (900, 12, 433, 384)
    assert arch["forward_dtype"] == "float32" and "loss_type" not in arch
    assert resolve_forward_dtype("auto", "cuda") == "bfloat16"
    assert resolve_forward_dtype("float32", "cuda") == "float32"


def test_bad_overrides_are_clear() -> None:
    with pytest.raises(ValueError, match="no_such_key"):
        compose_config(["train.no_such_key=1"])
    with pytest.raises(ValueError, match="epochs_per_iter"):
        compose_config(["train.epochs=10", "train.epochs_per_iter=3"])
    with pytest.raises(ValueError, match="train.lr"):
        compose_config(["train.lr=-1"])
    cfg = compose_config([])
    assert apply_overrides(cfg, ["train.lr=0.5"]).train.lr == 0.5
    with pytest.raises(ValueError, match="--resume"):
        apply_overrides(cfg, ["model=arc_paper"])
