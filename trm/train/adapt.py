"""Test-time fitting of puzzle embeddings for tasks a checkpoint never saw (`trm adapt`).

TRM has no input for demonstrations at test time: a task is known only through its learned
puzzle-embedding row. A checkpoint trained on dataset A therefore has no row for the tasks of
another dataset B. Adaptation gives it one:

1. The embedding table is rebuilt for B's identifiers (B/identifiers.json): a row whose puzzle
   name exists in A (A/identifiers.json) is copied from A; every other row starts as the
   reference initialises puzzle embeddings (the model's own fresh table: zeros).
2. Only the new rows that have examples in B's train split (for a test task: its demonstration
   pairs, which the ARC builder stores there under the puzzle's own identifier) are fitted,
   with the reference's sign-SGD embedding optimizer for a fixed number of steps. All weights
   are frozen; afterwards every tensor but the fitted rows is checked to be bit-identical.
3. The result is a checkpoint folder (step_N + all_config.yaml) that `trm predict` loads for
   B, and adapt.json: steps, rows fitted, loss before and after, wall and CPU seconds, device.

Each step is one train-mode ACT step with the reference loss, the carry kept across batches
as in training (trm.train.loss.loss_step). The loss "before/after" is measured in eval mode
(the full halt_max_steps, as prediction runs) on a fixed sample of the fitted examples.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from torch import nn

from trm.errors import InputError
from trm.train import adapt_schema as S

if TYPE_CHECKING:
    from trm.cli.adapt import AdaptSettings


@dataclass
class RowPlan:
    """Where each row of the target table comes from (identifiers of the target dataset)."""

    copied: np.ndarray  # target ids whose puzzle name exists in the source
    copied_from: np.ndarray  # the source ids they are copied from
    new: np.ndarray  # target ids the source has no row for

    @property
    def total(self) -> int:
        return int(self.copied.size + self.new.size)


def plan_rows(source_names: Sequence[str], target_names: Sequence[str]) -> RowPlan:
    """Match the target's puzzle names against the source's (index = identifier)."""
    source_id = {name: i for i, name in enumerate(source_names)}
    copied, copied_from, new = [], [], []
    for i, name in enumerate(target_names):
        if name in source_id:
            copied.append(i)
            copied_from.append(source_id[name])
        else:
            new.append(i)
    as_ids = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
    return RowPlan(as_ids(copied), as_ids(copied_from), as_ids(new))


def expand_table(source: torch.Tensor, initial: torch.Tensor, plan: RowPlan) -> torch.Tensor:
    """The target table: `initial` (the fresh model's rows) with the copied rows from `source`."""
    table = initial.detach().clone().to(source.dtype)
    if plan.copied.size:
        table[torch.from_numpy(plan.copied)] = source[torch.from_numpy(plan.copied_from)]
    return table


def fit_rows(
    puzzle_identifiers: np.ndarray, puzzle_indices: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(example rows, fitted ids): the train-split examples of the puzzles named by `ids`."""
    wanted = np.isin(puzzle_identifiers, ids)
    puzzles = np.flatnonzero(wanted)
    starts, ends = puzzle_indices[puzzles], puzzle_indices[puzzles + 1]
    rows = (
        np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
        if puzzles.size
        else np.zeros(0, dtype=np.int64)
    )
    has_examples = ends > starts
    return rows.astype(np.int64), np.unique(puzzle_identifiers[puzzles[has_examples]])


def batch_rows(rows: np.ndarray, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Endless batches of `rows`: shuffled epochs, one after another (a batch may span two)."""
    rng = np.random.default_rng(seed)
    pending = np.zeros(0, dtype=np.int64)
    while True:
        while pending.size < batch_size:
            pending = np.concatenate([pending, rng.permutation(rows)])
        yield pending[:batch_size]
        pending = pending[batch_size:]


class ExampleReader:
    """Batches of a split's examples as the model takes them (int32; ignored labels -> -100)."""

    def __init__(self, data_dir: str | os.PathLike, split: str) -> None:
        from trm.data.format import load_split, read_metadata

        self.meta = read_metadata(data_dir, split)
        arrays = load_split(data_dir, split)  # inputs/labels stay memory-mapped
        self.inputs, self.labels = arrays["inputs"], arrays["labels"]
        self.puzzle_identifiers = np.asarray(arrays["puzzle_identifiers"])
        self.puzzle_indices = np.asarray(arrays["puzzle_indices"])
        # example row -> puzzle identifier
        counts = np.diff(self.puzzle_indices)
        self.row_ids = np.repeat(self.puzzle_identifiers, counts).astype(np.int32)

    def batch(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        from trm.train.data import read_rows

        inputs, labels = read_rows(self.inputs, self.labels, rows, self.meta.ignore_label_id)
        return {
            "inputs": torch.from_numpy(inputs),
            "labels": torch.from_numpy(labels),
            "puzzle_identifiers": torch.from_numpy(self.row_ids[rows]),
        }


@torch.no_grad()
def eval_loss(
    model: nn.Module,
    reader: ExampleReader,
    rows: np.ndarray,
    batch_size: int,
    loss_type: str,
) -> tuple[float, float]:
    """(mean per-example loss over labelled cells, share of exactly right answers) of eval-mode
    ACT for halt_max_steps steps, as prediction runs, on the example `rows`."""
    from trm.infer import predict
    from trm.train.data import IGNORE_LABEL_ID
    from trm.train.loss import get_loss_fn

    loss_fn = get_loss_fn(loss_type)
    total_loss, exact = 0.0, 0
    for lo in range(0, rows.size, batch_size):
        batch = reader.batch(rows[lo : lo + batch_size])
        out = predict(model, batch)
        labels = batch["labels"].to(out["logits"].device)
        mask = labels != IGNORE_LABEL_ID
        counts = mask.sum(-1).clamp_min(1)
        per_cell = loss_fn(out["logits"], labels, ignore_index=IGNORE_LABEL_ID)
        total_loss += float((per_cell.sum(-1) / counts).sum())
        right = (out["preds"] == labels) | ~mask
        exact += int(right.all(-1).sum())
    return total_loss / max(rows.size, 1), exact / max(rows.size, 1)


def _checkpoint_settings(weights: Path) -> dict[str, Any]:
    """The source run's all_config.yaml as a dict (empty when it has none)."""
    from trm.model.checkpoint import find_arch_config

    path = find_arch_config(weights)
    if path is None:
        return {}
    raw = yaml.safe_load(path.read_text())
    return raw if isinstance(raw, dict) else {}


def _loss_type(settings: dict[str, Any]) -> str:
    """The loss the checkpoint was trained with (all_config.yaml arch.loss), else the reference's."""
    arch = settings.get("arch")
    loss = arch.get("loss") if isinstance(arch, dict) else None
    name = loss.get("loss_type") if isinstance(loss, dict) else None
    return str(name or "stablemax_cross_entropy")


def _check_shapes(
    weights: Path,
    state: dict[str, torch.Tensor],
    saved: dict[str, Any] | None,
    data_dir: Path,
    seq_len: int,
    vocab_size: int,
) -> None:
    """A checkpoint whose sequence length or vocabulary does not fit the dataset: one line."""
    where = data_dir / "train" / "dataset.json"
    if saved is not None and "seq_len" in saved and int(saved["seq_len"]) != seq_len:
        raise InputError(
            f"{weights}: arch.seq_len {saved['seq_len']} (all_config.yaml) does not fit {where} "
            f"seq_len {seq_len}: the model was trained on another sequence length"
        )
    vocab_rows = next(
        (int(v.shape[0]) for k, v in state.items() if k.endswith("embed_tokens.embedding_weight")),
        None,
    )
    if vocab_rows is not None and vocab_rows != vocab_size:
        raise InputError(
            f"{weights}: embed_tokens has {vocab_rows} tokens but {where} has vocab_size "
            f"{vocab_size}: the model was trained on another vocabulary"
        )


def _check_hidden_size(weights: Path, state: dict[str, torch.Tensor], cfg: dict[str, Any]) -> None:
    """Model settings (all_config.yaml, --arch, --arch-override) whose width is not the weights'."""
    width = next(
        (int(v.shape[1]) for k, v in state.items() if k.endswith("embed_tokens.embedding_weight")),
        None,
    )
    if width is not None and int(cfg.get("hidden_size", width)) != width:
        raise InputError(
            f"{weights}: embed_tokens has hidden size {width} but the model settings "
            f"(all_config.yaml, --arch, --arch-override) give hidden_size {cfg['hidden_size']}"
        )


def _all_config(
    cfg: dict[str, Any], saved: dict[str, Any] | None, loss_type: str, data: Path, source: Path
) -> dict[str, Any]:
    """all_config.yaml of the adapted checkpoint: the model settings for the target dataset."""
    from trm.train.run_files import arch_section

    if saved and saved.get("forward_dtype"):
        cfg = {**cfg, "forward_dtype": saved["forward_dtype"]}  # a GPU predict keeps it
    return {
        "arch": arch_section(cfg, loss_type),
        "data_paths": [str(data)],
        "adapted_from": str(source),
    }


def adapt(s: AdaptSettings) -> dict[str, Any]:
    """Fit the puzzle-embedding rows of `s.data`'s unseen puzzles (module doc); write `s.out`.

    s.checkpoint: trained on `s.source_data` (its identifiers.json names the checkpoint's rows).
    Returns the summary written to OUT/adapt.json.
    """
    from trm.data.format import read_identifiers, read_metadata
    from trm.model.build import build_model, model_config, parse_overrides, resolve_forward_dtype
    from trm.model.checkpoint import (
        PUZZLE_EMB_KEY,
        CheckpointError,
        load_weights,
        puzzle_emb_rows,
        read_state_dict,
        resolve_checkpoint,
        step_number,
    )
    from trm.progress import progress as progress_bar
    from trm.train.finite import check_losses, check_weights
    from trm.train.loss import loss_step
    from trm.train.optim import SparseEmbeddingSignSGD
    from trm.train.params import weights_state_dict
    from trm.utils import atomic_dir, resolve_device, sha256_file, write_json

    wall0, cpu0 = time.perf_counter(), time.process_time()
    source_data, data, out = Path(s.source_data), Path(s.data), Path(s.out)
    weights, saved = resolve_checkpoint(s.checkpoint, s.step)
    state = read_state_dict(weights)
    emb_key = next((k for k in state if k.endswith(PUZZLE_EMB_KEY)), None)
    if emb_key is None:
        raise CheckpointError(
            f"{weights}: no {PUZZLE_EMB_KEY} tensor (puzzle_emb_ndim 0): nothing to adapt"
        )

    source_names = read_identifiers(source_data)
    rows = puzzle_emb_rows(state)
    if rows != len(source_names):
        raise InputError(
            f"{weights}: {PUZZLE_EMB_KEY} has {rows} rows but {source_data / 'identifiers.json'} "
            f"names {len(source_names)} puzzles: pass the dataset the checkpoint was trained on"
        )
    meta = read_metadata(data, "train")
    target_names = read_identifiers(data)
    if len(target_names) != meta.num_puzzle_identifiers:
        raise InputError(
            f"{data / 'identifiers.json'}: {len(target_names)} names but "
            f"{data / 'train' / 'dataset.json'} has num_puzzle_identifiers "
            f"{meta.num_puzzle_identifiers}"
        )
    _check_shapes(weights, state, saved, data, meta.seq_len, meta.vocab_size)

    device = resolve_device(s.device)
    if s.threads is not None and device == "cpu":
        torch.set_num_threads(s.threads)
    cfg = model_config(
        saved,
        meta.seq_len,
        meta.vocab_size,
        meta.num_puzzle_identifiers,
        batch_size=s.batch_size,
        preset=s.arch,
        overrides=parse_overrides(s.arch_override),
    )
    cfg["forward_dtype"] = resolve_forward_dtype("auto", device, cfg.get("forward_dtype"))
    _check_hidden_size(weights, state, cfg)
    loss_type = _loss_type(_checkpoint_settings(weights))

    # The fresh model's table is the reference initialisation of the new rows.
    torch.manual_seed(s.seed)
    model = build_model(cfg)
    plan = plan_rows(source_names, target_names)
    state = dict(state)
    state[emb_key] = expand_table(state[emb_key], model.puzzle_emb.weights, plan)
    load_weights(model, state, strict=True, source=weights)
    for p in model.parameters():
        p.requires_grad_(False)  # frozen: only the sign-SGD table update changes anything
    model.to(device)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}

    reader = ExampleReader(data, "train")
    fit_examples, fitted = fit_rows(reader.puzzle_identifiers, reader.puzzle_indices, plan.new)
    if s.steps > 0 and fit_examples.size == 0:
        raise InputError(
            f"{data / 'train'}: none of the {plan.new.size} puzzles missing from "
            f"{source_data / 'identifiers.json'} has training examples: nothing to fit"
        )
    rng = np.random.default_rng(s.seed)
    eval_rows = np.sort(
        rng.choice(fit_examples, min(s.eval_examples, fit_examples.size), replace=False)
    )
    loss_before, exact_before = eval_loss(model, reader, eval_rows, s.batch_size, loss_type)

    model.train()
    optimizer = SparseEmbeddingSignSGD(model.puzzle_emb, lr=s.lr, weight_decay=s.weight_decay)
    train_losses: list[float] = []
    bar = progress_bar(
        total=s.steps, desc="adapt", unit="step", disable=s.no_progress or s.steps == 0
    )
    carry = None
    batches = batch_rows(fit_examples, s.batch_size, s.seed)
    for step in range(1, s.steps + 1):
        batch = {k: v.to(device) for k, v in reader.batch(next(batches)).items()}
        if carry is None:
            carry = model.initial_carry(batch)
        loss, _, carry = loss_step(model, batch, carry=carry, loss_type=loss_type)
        (loss / s.batch_size).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        train_losses.append(float(loss.detach()) / s.batch_size)
        check_losses(step, {"loss": train_losses[-1]})  # stop at the first non-finite one
        bar.update(1)
        bar.set_postfix(loss=f"{train_losses[-1]:.3f}")
    bar.close()
    model.eval()
    check_weights(s.steps, model.state_dict().items())
    loss_after, exact_after = eval_loss(model, reader, eval_rows, s.batch_size, loss_type)
    check_losses(s.steps, {"evaluation loss after fitting": loss_after})
    _check_only_fitted_rows_changed(model, before, fitted)

    name = f"step_{step_number(weights) or 0}"
    with atomic_dir(out) as tmp:
        torch.save(weights_state_dict(model), tmp / name)
        all_config = _all_config(cfg, saved, loss_type, data, weights)
        (tmp / "all_config.yaml").write_text(yaml.safe_dump(all_config, sort_keys=False))
        summary = {
            S.KEY_KIND: S.SUMMARY_KIND,
            S.KEY_WEIGHTS: name,
            "source_checkpoint": str(weights),
            "source_sha256": sha256_file(weights),
            "source_data": str(source_data),
            "data": str(data),
            **S.fitting_settings(s),
            S.KEY_ROWS_TOTAL: plan.total,
            S.KEY_ROWS_COPIED: int(plan.copied.size),
            S.KEY_ROWS_NEW: int(plan.new.size),
            S.KEY_ROWS_FITTED: int(fitted.size),
            S.KEY_FIT_EXAMPLES: int(fit_examples.size),
            S.KEY_EVAL_EXAMPLES: int(eval_rows.size),
            S.KEY_LOSS_BEFORE: loss_before,
            S.KEY_LOSS_AFTER: loss_after,
            S.KEY_EXACT_BEFORE: exact_before,
            S.KEY_EXACT_AFTER: exact_after,
            "train_loss_first": train_losses[0] if train_losses else None,
            "train_loss_last": train_losses[-1] if train_losses else None,
            S.KEY_DEVICE: _device_name(device),
            S.KEY_WALL_S: round(time.perf_counter() - wall0, 3),
            S.KEY_CPU_S: round(time.process_time() - cpu0, 3),
        }
        write_json(tmp / S.SUMMARY_FILE, summary)
    return summary


def _device_name(device: str) -> str:
    """'cpu (N threads)' or the GPU's name, for the summary and the report."""
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    n = torch.get_num_threads()
    return f"{device} ({n} thread{'s' if n != 1 else ''})"


def _check_only_fitted_rows_changed(
    model: nn.Module, before: dict[str, torch.Tensor], fitted: np.ndarray
) -> None:
    """Every tensor but the fitted table rows must be bit-identical (a bug otherwise)."""
    from trm.model.checkpoint import PUZZLE_EMB_KEY

    after = model.state_dict()
    for key, old in before.items():
        new = after[key]
        if key == PUZZLE_EMB_KEY:
            keep = torch.ones(old.shape[0], dtype=torch.bool, device=old.device)
            keep[torch.from_numpy(fitted).to(old.device)] = False
            old, new = old[keep], new[keep]
        if not torch.equal(old, new):
            raise RuntimeError(f"trm adapt: {key} changed although only new rows are fitted")
