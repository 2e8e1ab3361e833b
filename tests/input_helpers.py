"""A tiny checkpoint and dataset written from scratch, for the tests of untrusted inputs
(test_contained_inputs.py, test_limits.py), and the one-line-error assertion they share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from trm.cli import main
from trm.data.format import DatasetMetadata, array_path, write_metadata

SEQ, VOCAB, IDS, ROWS = 4, 6, 3, 3
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
    """A dataset of ROWS test (and train) examples of SEQ tokens; `meta_changes` edit
    dataset.json after it is written."""
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, VOCAB, size=(ROWS, SEQ)).astype(np.uint8)
    arrays = {
        "inputs": inputs,
        "labels": inputs.copy(),
        "puzzle_identifiers": np.arange(1, ROWS + 1, dtype=np.int32) % IDS,
        "puzzle_indices": np.arange(ROWS + 1, dtype=np.int32),
        "group_indices": np.arange(ROWS + 1, dtype=np.int32),
    }
    for split in ("train", "test"):
        for name, arr in arrays.items():
            p = array_path(root, split, name)
            p.parent.mkdir(parents=True, exist_ok=True)
            np.save(p, arr)
        meta = DatasetMetadata(
            pad_id=0,
            ignore_label_id=0,
            blank_identifier_id=0,
            vocab_size=VOCAB,
            seq_len=SEQ,
            num_puzzle_identifiers=IDS,
            total_groups=ROWS,
            mean_puzzle_examples=1.0,
            total_puzzles=ROWS,
        )
        write_metadata(root, split, meta)
        if meta_changes:
            path = root / split / "dataset.json"
            path.write_text(json.dumps({**json.loads(path.read_text()), **meta_changes}))
    (root / "identifiers.json").write_text(json.dumps(["<blank>", "a", "b"]))
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
