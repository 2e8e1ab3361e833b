"""A tiny checkpoint and dataset written from scratch, for the tests of untrusted inputs
(test_contained_inputs.py, test_limits.py), and the one-line-error assertion they share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from trm.cli import main
from trm.data.puzzle_csv import write_identifiers, write_single_example_split

SEQ, VOCAB, IDS, ROWS = 4, 6, 1, 3
ARCH = {
    "name": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"},
    "hidden_size": 16,
    "num_heads": 2,
    "expansion": 2,
    "H_cycles": 1,
    "L_cycles": 1,
    "H_layers": 0,
    "L_layers": 1,
    "puzzle_emb_ndim": 16,
    "puzzle_emb_len": 1,
    "halt_max_steps": 2,
    "halt_exploration_prob": 0.1,
    "pos_encodings": "rope",
    "forward_dtype": "float32",
    "mlp_t": False,
    "no_ACT_continue": True,
}


def write_checkpoint(folder: Path, arch: dict | None = None, step: int = 1) -> Path:
    """A run folder: step_<step> (random weights of ARCH) and all_config.yaml."""
    from trm.model import from_reference_config

    folder.mkdir(parents=True, exist_ok=True)
    cfg = {
        **{k: v for k, v in ARCH.items() if k not in ("name", "loss")},
        "seq_len": SEQ,
        "vocab_size": VOCAB,
        "num_puzzle_identifiers": IDS,
        "batch_size": 2,
    }
    torch.manual_seed(0)
    model = from_reference_config(cfg)
    torch.save(model.state_dict(), folder / f"step_{step}")
    (folder / "all_config.yaml").write_text(yaml.safe_dump({"arch": {**ARCH, **(arch or {})}}))
    return folder


def write_dataset(root: Path, **meta_changes: object) -> Path:
    """A dataset of ROWS test (and train) examples of SEQ tokens, one puzzle each (the Sudoku
    layout); `meta_changes` replace fields of dataset.json."""
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, VOCAB, size=(ROWS, SEQ)).astype(np.uint8)
    for split in ("train", "test"):
        (root / split).mkdir(parents=True, exist_ok=True)
        write_single_example_split(root, split, inputs, inputs.copy(), 1, VOCAB, meta_changes)
    write_identifiers(root)
    return root


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run `trm argv`: exit status 2, one line `trm <command>: error: ...` naming every needle,
    no traceback. Returns the line."""
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith(f"trm {argv[0]}") and ": error: " in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def predict_argv(checkpoint: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "predict",
        "--checkpoint",
        str(checkpoint),
        "--data",
        str(data),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--no-progress",
        *extra,
    ]
