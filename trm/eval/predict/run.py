"""`trm predict`'s glue: settings -> the test rows, the model and the identifiers it is fed,
the shard plan, the batch loop over this rank's missing shards, the merge and the meta record.

Output: the predictions file of trm.eval.predictions (preds int32), in dataset order; plus
`<stem>.meta.json` with the checkpoint's sha256, data dir, device, dtype, seconds, examples/s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trm.errors import UserError
from trm.eval.predict import shards as S
from trm.eval.predict.batches import BatchLoop
from trm.eval.predict.distributed import Group, Ranks, process_group
from trm.eval.predict.identifiers import (
    ModelIdentifiers,
    model_identifiers,
    training_metadata,
    use_mean_embedding,
)
from trm.utils import sha256_file, write_json

if TYPE_CHECKING:
    from trm.cli.predict import PredictSettings


def meta_path_for(out: str | os.PathLike) -> Path:
    """predictions.npz -> predictions.meta.json."""
    out = Path(out)
    stem = out.name[: -len(".npz")] if out.name.endswith(".npz") else out.name
    return out.with_name(stem + ".meta.json")


@dataclass
class ExampleRows:
    """The example rows of a dataset's test split, of which the first `n` are predicted."""

    meta: Any  # the split's DatasetMetadata
    inputs: np.ndarray  # [rows, seq_len], memory-mapped
    row_ids: np.ndarray  # [rows] the puzzle identifier of every row
    n: int

    @property
    def total(self) -> int:
        return int(self.inputs.shape[0])


def load_example_rows(data_dir: Path, max_examples: int | None = None) -> ExampleRows:
    from trm.data.format import load_split, read_metadata

    meta = read_metadata(data_dir, "test")
    arrays = load_split(data_dir, "test")
    inputs, indices = arrays["inputs"], np.asarray(arrays["puzzle_indices"])
    n_total = int(inputs.shape[0])
    if (
        inputs.ndim != 2
        or inputs.shape[1] != meta.seq_len
        or indices.shape != (len(arrays["puzzle_identifiers"]) + 1,)
        or int(indices[-1]) != n_total
    ):
        raise UserError(
            f"{data_dir}/test: inputs {inputs.shape}, puzzle_identifiers "
            f"{arrays['puzzle_identifiers'].shape} and puzzle_indices {indices.shape} do not "
            f"fit together or seq_len {meta.seq_len} in dataset.json"
        )
    # One identifier per puzzle in the dataset; a puzzle (ARC: a task's augmented copy) can
    # hold several test examples, and every example row needs its puzzle's identifier.
    row_ids = np.repeat(np.asarray(arrays["puzzle_identifiers"]), np.diff(indices))
    n = min(n_total, max_examples) if max_examples else n_total
    if n == 0:
        raise UserError(f"{data_dir}/test has no examples")
    return ExampleRows(meta, inputs, row_ids, n)


def build_model(
    s: PredictSettings, rows: ExampleRows, device: str
) -> tuple[Any, dict[str, Any], ModelIdentifiers]:
    """The model (shaped for the dataset it was trained on) and the identifiers it is fed."""
    from trm.model.build import build_model_for_dataset, parse_overrides

    ids_dir = Path(s.puzzle_ids_from) if s.puzzle_ids_from else None
    model_meta = training_metadata(s.data, rows.meta, ids_dir) if ids_dir else rows.meta
    model, info = build_model_for_dataset(
        s.checkpoint,
        ids_dir or s.data,
        split="train" if ids_dir else "test",
        step=s.step,
        preset=s.arch,
        overrides=parse_overrides([f"{k}={v}" for k, v in s.arch_override.items()]),
        resize_puzzle_emb=s.resize_puzzle_emb,
        device=device,
        dtype=s.dtype,
        batch_size=s.batch_size,
    )
    if s.puzzle_ids == "mean":
        use_mean_embedding(model)
    ids = model_identifiers(
        rows.row_ids[: rows.n],
        mode=s.puzzle_ids,
        seed=s.puzzle_id_seed,
        num_identifiers=model_meta.num_puzzle_identifiers,
        data_dir=Path(s.data),
        ids_dir=ids_dir,
    )
    return model, info, ids


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU threads set for the block (when given) and restored after it."""
    import torch

    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _fingerprint(path: Path) -> dict[str, Any]:
    """Cheap identity for the resume check (sha256 of a GB file is computed once, at the end)."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _claim_shards(shards_dir: Path, plan: dict[str, Any], overwrite: bool) -> int:
    """This command's shard folder (returns how many shards it already holds).

    The caller holds the output's lock, so shards there are the leftovers of a run that died:
    resumed when planned as this run; planned otherwise, refused (hours of computed shards are
    not thrown away for a mistyped flag) unless --overwrite, which starts over; never planned
    (killed before its plan was written: no shard either), removed. A folder another program
    wrote is refused (replaced with --overwrite). The marker is written before anything else,
    so a run killed at any point leaves a folder the next run recognises."""
    import sys

    from trm import outputs
    from trm.cli.predict import COMMAND

    outputs.check_replaceable(shards_dir, COMMAND.marker, overwrite=overwrite, option="--out")
    ours = outputs.is_marked(shards_dir, COMMAND.marker)
    if shards_dir.exists() and ours:
        diffs = S.plan_differences(shards_dir, plan)
        if diffs and not overwrite:
            raise UserError(
                f"{shards_dir} holds shards of an earlier run with other settings ("
                + "; ".join(diffs)
                + "): rerun with the same settings to resume, or pass --overwrite to start over"
            )
        if diffs != []:
            why = "; ".join(diffs) if diffs else "no readable plan.json"
            print(f"trm predict: starting over in {shards_dir} ({why})", file=sys.stderr)
            ours = False
    if shards_dir.exists() and not ours:
        shutil.rmtree(shards_dir)  # empty, a dead run's other plan, or --overwrite
    shards_dir.mkdir(parents=True, exist_ok=True)
    outputs.write_marker(shards_dir, COMMAND.marker, folder=True)
    return S.check_or_write_plan(shards_dir, plan)


def run_predict(
    s: PredictSettings, *, on_shard_written: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Predict the test examples of `s.data` with `s.checkpoint`; write `s.out` and its meta
    JSON; return the meta record (empty on ranks other than 0). Resumable: complete shards under
    `<out>.shards/` are kept. torch's thread count is restored on return.
    `on_shard_written(start, end)` is called after each shard is saved."""
    ranks = Ranks.from_env()
    device = ranks.device(s.device)
    with torch_threads(ranks.threads(s.threads, device)):
        rows = load_example_rows(Path(s.data), s.max_examples)
        model, info, ids = build_model(s, rows, device)
        with process_group(ranks, device) as group:
            return _predict(s, rows, model, info, ids, device, group, on_shard_written)


def _predict(
    s: PredictSettings,
    rows: ExampleRows,
    model: Any,
    info: dict[str, Any],
    ids: ModelIdentifiers,
    device: str,
    group: Group,
    on_shard_written: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    import torch

    from trm.eval.predict.steps import step_hasher
    from trm.progress import progress as progress_bar

    out, ranks = Path(s.out), group.ranks
    steps = int(s.halt_max_steps or info["config"]["halt_max_steps"])
    step_count = steps if s.trajectory else 0
    rows_per_shard = s.batch_size * s.shard_batches
    ids_dir = Path(s.puzzle_ids_from) if s.puzzle_ids_from else None
    plan = {
        "checkpoint": _fingerprint(Path(info["weights"])),
        "data_dir": str(Path(s.data).resolve()),
        "num_examples": rows.n,
        "rows_per_shard": rows_per_shard,
        "batch_size": s.batch_size,
        "config": info["config"],
        "act_steps": steps,
        "trajectory": s.trajectory,
        "puzzle_ids": s.puzzle_ids,
        "puzzle_id_seed": s.puzzle_id_seed,
        "puzzle_ids_from": str(ids_dir.resolve()) if ids_dir else None,
    }
    shards_dir = S.shards_dir_for(out)
    resumed = int(group.from_main(lambda: _claim_shards(shards_dir, plan, s.overwrite)))

    ranges = S.shard_ranges(rows.n, rows_per_shard)
    todo = [
        (a, b)
        for a, b in ranges[ranks.rank :: ranks.world]
        if not S.shard_is_complete(
            shards_dir / S.shard_name(a, b), b - a, rows.meta.seq_len, step_count
        )
    ]
    loop = BatchLoop(
        model,
        device,
        s.batch_size,
        compile=s.compile,
        num_steps=s.halt_max_steps,
        step_count=step_count,
        step_fields=step_hasher(Path(s.data), rows.row_ids[: rows.n]) if s.trajectory else None,
    )
    todo_rows = sum(b - a for a, b in todo)
    bar = progress_bar(
        total=todo_rows,
        unit="ex",
        desc=f"predict[rank {ranks.rank}/{ranks.world}]" if ranks.world > 1 else "predict",
        disable=s.no_progress or (ranks.rank != 0 and ranks.world > 1),
        smoothing=0.1,
    )
    t0 = time.perf_counter()
    with torch.inference_mode():
        for a, b in todo:
            answers = loop.run(rows.inputs, ids.ids, a, b, on_rows=bar.update)
            S.save_shard(shards_dir / S.shard_name(a, b), answers)
            if on_shard_written is not None:
                on_shard_written(a, b)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    bar.close()

    stats = group.gather((todo_rows, seconds))
    record: dict[str, Any] = {}
    if ranks.rank == 0:
        S.merge_shards(out, shards_dir, ranges, rows.inputs, rows.row_ids, step_count)
        computed, wall = sum(r for r, _ in stats), max(t for _, t in stats)
        record = meta_record(s, rows, info, ids, device, ranks.world, steps)
        record |= {
            "computed_examples": computed,
            "resumed_shards": resumed,
            "seconds": wall,
            "examples_per_s": (computed / wall) if wall > 0 else None,
        }
        write_json(meta_path_for(out), record)
        shutil.rmtree(shards_dir, ignore_errors=True)
    group.barrier()
    return record


def meta_record(
    s: PredictSettings,
    rows: ExampleRows,
    info: dict[str, Any],
    ids: ModelIdentifiers,
    device: str,
    world: int,
    steps: int,
) -> dict[str, Any]:
    """What `<stem>.meta.json` says about a run (timings are added by the caller)."""
    import torch

    return {
        "predictions": str(s.out),
        "checkpoint": info["weights"],
        "checkpoint_sha256": sha256_file(info["weights"]),
        "data_dir": str(s.data),
        "num_examples": rows.n,
        "dataset_test_examples": rows.total,
        "max_examples": s.max_examples,
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "world_size": world,
        "dtype": info["config"].get("forward_dtype"),
        "batch_size": s.batch_size,
        "compile": s.compile,
        "halt_max_steps": info["config"].get("halt_max_steps"),
        "act_steps": steps,
        "trajectory": s.trajectory,
        "puzzle_ids": s.puzzle_ids,
        "puzzle_id_seed": s.puzzle_id_seed,
        "puzzle_ids_from": str(s.puzzle_ids_from) if s.puzzle_ids_from else None,
        **ids.record(),
        "arch_source": info["arch_source"],
        "config": info["config"],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
