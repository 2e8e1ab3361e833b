"""Inference over a dataset (`trm predict`): one eval-mode ACT pass over every test example.

It is the expensive step (ARC-AGI-1 at 1000 augmentations: 385,815 examples x 16 ACT steps),
so the work is cut into shards of `shard_batches` batches, each written atomically under
`<out>.shards/` with its row range in the file name. A pre-empted run resumes by skipping the
shards that exist. Under `torchrun` (WORLD_SIZE > 1) rank r computes shards r, r+W, r+2W, ...
and rank 0 merges after a barrier. Everything downstream (scoring, sweeps) reuses the file.

Output: the predictions file of trm.eval.predictions (preds int32), in dataset order; plus
`<stem>.meta.json` with the checkpoint's sha256, data dir, device, dtype, seconds, examples/s.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trm.errors import UserError
from trm.eval.predictions import STEP_FIELDS, write_predictions
from trm.utils import atomic_path, read_json, sha256_file, write_json

PLAN_FILE = "plan.json"
_SHARD_RE = re.compile(r"^rows_(\d+)-(\d+)\.npz$")


def shard_ranges(n: int, rows_per_shard: int) -> list[tuple[int, int]]:
    """Contiguous [start, end) row ranges covering 0..n."""
    if rows_per_shard <= 0:
        raise ValueError(f"rows per shard must be positive, got {rows_per_shard}")
    return [(s, min(s + rows_per_shard, n)) for s in range(0, n, rows_per_shard)]


def shard_name(start: int, end: int) -> str:
    return f"rows_{start:010d}-{end:010d}.npz"


def shards_dir_for(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".shards")


def meta_path_for(out: str | os.PathLike) -> Path:
    """predictions.npz -> predictions.meta.json."""
    out = Path(out)
    stem = out.name[: -len(".npz")] if out.name.endswith(".npz") else out.name
    return out.with_name(stem + ".meta.json")


def _dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def _checkpoint_fingerprint(path: Path) -> dict[str, Any]:
    """Cheap identity for the resume check (sha256 of a GB file is computed once, at the end)."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _check_or_write_plan(shards_dir: Path, plan: dict[str, Any]) -> int:
    """Create the shards folder with plan.json, or check an existing one matches; returns the
    number of shard files already present."""
    plan_file = shards_dir / PLAN_FILE
    if plan_file.exists():
        old = read_json(plan_file, "shard plan")
        diffs = [f"{k}: {old.get(k)!r} then, {v!r} now" for k, v in plan.items() if old.get(k) != v]
        if diffs:
            raise UserError(
                f"{shards_dir} holds shards of an earlier run with other settings ("
                + "; ".join(diffs)
                + "): rerun with the same settings to resume, or remove that folder to start over"
            )
    else:
        shards_dir.mkdir(parents=True, exist_ok=True)
        write_json(plan_file, plan)
    return sum(1 for p in shards_dir.iterdir() if _SHARD_RE.match(p.name))


def _save_shard(path: Path, preds: np.ndarray, q_halt: np.ndarray, **steps: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, preds=preds, q_halt_logits=q_halt, **steps)


def _load_shard(
    path: Path, rows: int, seq_len: int, step_count: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    with np.load(path) as z:
        preds, q = z["preds"], z["q_halt_logits"]
        steps = {k: z[k] for k in STEP_FIELDS if k in z.files}
    bad_steps = step_count and any(
        k not in steps or steps[k].shape != (rows, step_count) for k in STEP_FIELDS
    )
    if preds.shape != (rows, seq_len) or q.shape != (rows,) or bad_steps:
        raise UserError(
            f"shard {path} has preds {preds.shape} / q_halt_logits {q.shape}, expected ({rows}, {seq_len})"
            + (f" and per-step fields of shape ({rows}, {step_count})" if step_count else "")
        )
    return preds, q, steps


def _shard_is_complete(path: Path, rows: int, seq_len: int, step_count: int = 0) -> bool:
    """True when a resumable shard exists and reads back whole; a corrupted one (killed disk,
    truncated copy) is removed with a warning so that it is recomputed instead of crashing."""
    if not path.exists():
        return False
    try:
        _load_shard(path, rows, seq_len, step_count)
        return True
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, UserError) as e:
        warnings.warn(
            f"discarding corrupted prediction shard {path} ({type(e).__name__}: {e}); "
            "recomputing it",
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        return False


def is_predictions_output(path: Path) -> bool:
    """recognise(): a predictions file that `trm predict` wrote (its meta JSON names it)."""
    if is_shards_folder(shards_dir_for(path)):
        return True  # stopped between writing the file and its meta JSON
    meta = meta_path_for(path)
    try:
        return path.is_file() and read_json(meta, "predict meta").get("predictions") is not None
    except (UserError, OSError, ValueError, AttributeError):
        return False


def is_shards_folder(path: Path) -> bool:
    """recognise(): an interrupted `trm predict`'s shard folder (it holds the shard plan)."""
    return (path / PLAN_FILE).is_file()


def predict_batch(
    model: Any,
    inputs: np.ndarray,
    puzzle_ids: np.ndarray,
    device: str,
    compile: bool = False,
    num_steps: int | None = None,
    record_steps: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """trm.infer.predict on one batch of dataset rows, in the model's configured forward dtype
    -> (preds int32 [B, seq], q_halt float32 [B]); with `record_steps` also every step's
    tokens [steps, B, seq] and q_halt logits [steps, B]."""
    import torch

    from trm.infer import predict

    batch = {
        "inputs": torch.from_numpy(np.array(inputs, dtype=np.int32)).to(device),
        "puzzle_identifiers": torch.from_numpy(np.array(puzzle_ids, dtype=np.int32)).to(device),
    }
    out = predict(
        model,
        batch,
        compile=compile,
        dtype=model.config.dtype,
        num_steps=num_steps,
        record_steps=record_steps,
    )
    preds = out["preds"].to(torch.int32).cpu().numpy()
    q_halt = out["q_halt_logits"].float().cpu().numpy()
    if not record_steps:
        return preds, q_halt
    step_tokens = out["step_preds"].cpu().numpy()
    step_q = out["step_q_halt_logits"].float().cpu().numpy()
    return preds, q_halt, step_tokens, step_q


def run_predict(
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    batch_size: int = 256,
    device: str = "auto",
    dtype: str = "auto",
    max_examples: int | None = None,
    shard_batches: int = 16,
    step: int | None = None,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    resize_puzzle_emb: bool = False,
    progress: bool = True,
    threads: int | None = None,
    compile: bool = False,
    on_shard_written: Callable[[int, int], None] | None = None,
    trajectory: bool = False,
    num_steps: int | None = None,
    puzzle_ids: str = "true",
    puzzle_id_seed: int = 0,
    puzzle_ids_from: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Predict every test example of `data_dir` with `checkpoint`; write `out` and its meta JSON.

    Resumable (complete shards under `<out>.shards/` are kept) and torchrun-aware. Returns the
    meta record. `threads`: CPU threads for torch (default: torch's own choice, or the cores
    divided among the ranks under torchrun); restored on return. `on_shard_written(start, end)`
    is called after each shard is saved.

    `trajectory` (ARC datasets) also stores every ACT step's canonical answer hash and q_halt
    logit (trm.eval.predictions.STEP_FIELDS). `num_steps` runs that many ACT steps instead of
    the model's halt_max_steps (test-time depth). `puzzle_ids` feeds the model other puzzle
    identifiers (trm.eval.analyses.puzzle_ids; the file keeps the dataset's).
    `puzzle_ids_from`: the dataset the checkpoint was trained on, when it is not `data_dir`;
    each test puzzle is fed that dataset's identifier of the same name, else of its task's
    un-augmented name (trm.eval.analyses.name_ids); `puzzle_ids` then applies in its id space.
    """
    import torch

    from trm.data.format import load_split, read_metadata
    from trm.model.build import build_model_for_dataset
    from trm.model.checkpoint import resolve_checkpoint
    from trm.utils import resolve_device

    if batch_size <= 0:
        raise UserError(f"--batch-size must be positive, got {batch_size}")
    if max_examples is not None and max_examples <= 0:
        raise UserError(f"--max-examples must be positive, got {max_examples}")
    if num_steps is not None and num_steps <= 0:
        raise UserError(f"--halt-max-steps must be positive, got {num_steps}")
    from trm.eval.analyses.puzzle_ids import check_mode, replacement_table, use_mean_embedding

    check_mode(puzzle_ids)
    out = Path(out)
    data_dir = Path(data_dir)
    from trm.outputs import check_output_path

    for path, kind, recognise in (
        (out, "predictions file", is_predictions_output),
        (shards_dir_for(out), "predict shards folder", is_shards_folder),
    ):
        check_output_path(
            path,
            kind=kind,
            recognise=recognise,
            inputs=[data_dir, checkpoint, *([puzzle_ids_from] if puzzle_ids_from else [])],
            overwrite=overwrite,
        )
    rank, world, local_rank = _dist_info()
    device = resolve_device(device)
    if device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    old_threads = torch.get_num_threads()
    if threads is None and device == "cpu" and world > 1:
        threads = max(1, (os.cpu_count() or 1) // world)  # ranks on one machine share its cores
    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads must be positive, got {threads}")
        torch.set_num_threads(threads)

    try:
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
        puzzle_ids_data = np.repeat(np.asarray(arrays["puzzle_identifiers"]), np.diff(indices))
        n = min(n_total, max_examples) if max_examples else n_total
        if n == 0:
            raise UserError(f"{data_dir}/test has no examples")

        weights, _ = resolve_checkpoint(checkpoint, step)
        # The model's shape (embedding rows) is that of the dataset it was trained on.
        ids_dir = Path(puzzle_ids_from) if puzzle_ids_from else None
        model_meta = _check_same_shape(data_dir, meta, ids_dir) if ids_dir else meta
        model, info = build_model_for_dataset(
            checkpoint,
            ids_dir or data_dir,
            split="train" if ids_dir else "test",
            step=step,
            preset=preset,
            overrides=overrides,
            resize_puzzle_emb=resize_puzzle_emb,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
        )
        steps = int(num_steps or info["config"]["halt_max_steps"])
        if puzzle_ids == "mean":
            use_mean_embedding(model)
        id_table = replacement_table(puzzle_ids, model_meta.num_puzzle_identifiers, puzzle_id_seed)
        model_ids = np.asarray(puzzle_ids_data[:n], dtype=np.int64)
        name_mapping = None
        if ids_dir is not None:
            from trm.eval.analyses.name_ids import map_by_name

            name_mapping = map_by_name(data_dir, ids_dir, model_ids)
            model_ids = name_mapping.table[model_ids].astype(np.int64)
        model_ids = id_table[model_ids]
        step_hasher = (
            _step_hasher(data_dir, np.asarray(puzzle_ids_data[:n])) if trajectory else None
        )
        rows_per_shard = batch_size * shard_batches
        plan = {
            "checkpoint": _checkpoint_fingerprint(weights),
            "data_dir": str(data_dir.resolve()),
            "num_examples": n,
            "rows_per_shard": rows_per_shard,
            "batch_size": batch_size,
            "config": info["config"],
            "act_steps": steps,
            "trajectory": trajectory,
            "puzzle_ids": puzzle_ids,
            "puzzle_id_seed": puzzle_id_seed,
            "puzzle_ids_from": str(ids_dir.resolve()) if ids_dir else None,
        }
        shards_dir = shards_dir_for(out)

        dist = None
        if world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        try:
            # rank 0 owns the plan file; the others learn its verdict by broadcast (no one hangs)
            verdict: list[Any] = [None, 0]
            if rank == 0:
                try:
                    verdict = [None, _check_or_write_plan(shards_dir, plan)]
                except UserError as e:
                    verdict = [str(e), 0]
            if dist is not None:
                dist.broadcast_object_list(verdict, src=0)
            if verdict[0]:
                raise UserError(verdict[0])
            resumed_shards = int(verdict[1])

            ranges = shard_ranges(n, rows_per_shard)
            mine = ranges[rank::world]
            todo = [
                (s, e)
                for s, e in mine
                if not _shard_is_complete(
                    shards_dir / shard_name(s, e), e - s, meta.seq_len, steps if trajectory else 0
                )
            ]
            todo_rows = sum(e - s for s, e in todo)
            from trm.progress import progress as progress_bar

            bar = progress_bar(
                total=todo_rows,
                unit="ex",
                desc=f"predict[rank {rank}/{world}]" if world > 1 else "predict",
                disable=not progress or (rank != 0 and world > 1),
                smoothing=0.1,
            )
            t0 = time.perf_counter()
            with torch.inference_mode():
                for s, e in todo:
                    preds = np.empty((e - s, meta.seq_len), dtype=np.int32)
                    q_halt = np.empty((e - s,), dtype=np.float32)
                    step_arrays = _empty_steps(e - s, steps) if trajectory else {}
                    for b in range(s, e, batch_size):
                        be = min(b + batch_size, e)
                        got = predict_batch(
                            model,
                            inputs[b:be],
                            model_ids[b:be],
                            device,
                            compile,
                            num_steps=num_steps,
                            record_steps=trajectory,
                        )
                        preds[b - s : be - s], q_halt[b - s : be - s] = got[0], got[1]
                        if step_hasher is not None:
                            for name, arr in step_hasher(b, got[2], got[3]).items():
                                step_arrays[name][b - s : be - s] = arr
                        bar.update(be - b)
                    _save_shard(shards_dir / shard_name(s, e), preds, q_halt, **step_arrays)
                    if on_shard_written is not None:
                        on_shard_written(s, e)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            bar.close()

            stats = [(todo_rows, seconds)]
            if dist is not None:
                gathered: list[Any] = [None] * world
                dist.all_gather_object(gathered, (todo_rows, seconds))
                stats = gathered
            record: dict[str, Any] = {}
            if rank == 0:
                _merge(
                    out,
                    shards_dir,
                    ranges,
                    meta.seq_len,
                    inputs,
                    puzzle_ids_data,
                    n,
                    steps if trajectory else 0,
                )
                computed = sum(r for r, _ in stats)
                wall = max(s for _, s in stats)
                record = {
                    "predictions": str(out),
                    "checkpoint": info["weights"],
                    "checkpoint_sha256": sha256_file(info["weights"]),
                    "data_dir": str(data_dir),
                    "num_examples": n,
                    "dataset_test_examples": n_total,
                    "max_examples": max_examples,
                    "device": device,
                    "device_name": torch.cuda.get_device_name(device)
                    if device.startswith("cuda")
                    else "cpu",
                    "world_size": world,
                    "dtype": info["config"].get("forward_dtype"),
                    "batch_size": batch_size,
                    "compile": compile,
                    "halt_max_steps": info["config"].get("halt_max_steps"),
                    "act_steps": steps,
                    "trajectory": trajectory,
                    "puzzle_ids": puzzle_ids,
                    "puzzle_id_seed": puzzle_id_seed,
                    "puzzle_ids_from": str(ids_dir) if ids_dir else None,
                    "puzzle_id_mapping": name_mapping.summary() if name_mapping else None,
                    "arch_source": info["arch_source"],
                    "config": info["config"],
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "computed_examples": computed,
                    "resumed_shards": resumed_shards,
                    "seconds": wall,
                    "examples_per_s": (computed / wall) if wall > 0 else None,
                }
                write_json(meta_path_for(out), record)
                shutil.rmtree(shards_dir, ignore_errors=True)
            if dist is not None:
                dist.barrier()
            return record
        finally:
            if dist is not None and dist.is_initialized():
                dist.destroy_process_group()

    finally:
        torch.set_num_threads(old_threads)


def _check_same_shape(data_dir: Path, meta: Any, ids_dir: Path) -> Any:
    """The training dataset's metadata, after checking its rows fit the evaluated dataset's."""
    from trm.data.format import read_metadata

    train_meta = read_metadata(ids_dir, "train")
    for field in ("seq_len", "vocab_size"):
        if getattr(train_meta, field) != getattr(meta, field):
            raise UserError(
                f"--puzzle-ids-from {ids_dir}: {field} {getattr(train_meta, field)} in "
                f"train/dataset.json, {getattr(meta, field)} in {data_dir}/test/dataset.json: "
                "the datasets' rows are not the same format"
            )
    return train_meta


def _merge(
    out: Path,
    shards_dir: Path,
    ranges: list[tuple[int, int]],
    seq_len: int,
    inputs: np.ndarray,
    puzzle_ids: np.ndarray,
    n: int,
    step_count: int = 0,
) -> None:
    """Concatenate the shards (in row order) with the dataset's inputs/identifiers into `out`."""
    preds = np.empty((n, seq_len), dtype=np.int32)
    q_halt = np.empty((n,), dtype=np.float32)
    step_arrays = _empty_steps(n, step_count) if step_count else {}
    for s, e in ranges:
        path = shards_dir / shard_name(s, e)
        if not path.exists():
            raise UserError(f"shard {path} is missing (did a rank fail?); rerun to resume")
        preds[s:e], q_halt[s:e], steps = _load_shard(path, e - s, seq_len, step_count)
        for name in step_arrays:
            step_arrays[name][s:e] = steps[name]
    write_predictions(
        out,
        puzzle_identifiers=puzzle_ids[:n],
        inputs=np.asarray(inputs[:n]),
        preds=preds,
        q_halt_logits=q_halt,
        **step_arrays,
    )


def _empty_steps(rows: int, steps: int) -> dict[str, np.ndarray]:
    return {
        "step_answer_shape": np.empty((rows, steps), dtype=np.uint16),
        "step_answer_hash": np.empty((rows, steps), dtype=np.uint64),
        "step_q_halt_logits": np.empty((rows, steps), dtype=np.float32),
    }


def _step_hasher(
    data_dir: Path, row_ids: np.ndarray
) -> Callable[[int, np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """For an ARC dataset: (first row, step tokens [S, B, seq_len], step q [S, B]) -> the
    per-step fields of those rows, hashed exactly as scoring hashes answers
    (trm.eval.arc.hashing; the canvas is the dataset's: seq_len = N*N, 900 for 30x30)."""
    from trm.data.format import read_metadata
    from trm.eval.arc.hashing import canvas_side, hash_blocks
    from trm.eval.arc.testset import load_arc_test_set
    from trm.eval.predictions import dataset_row_identifiers

    try:
        ts = load_arc_test_set(data_dir, dataset_row_identifiers(data_dir))
        seq_len = read_metadata(data_dir, "test").seq_len
        side = canvas_side(seq_len, f"{data_dir}/test/dataset.json: field seq_len")
    except UserError as e:
        raise UserError(f"--trajectory needs an ARC dataset: {e}") from e
    pids = row_ids.astype(np.int64)

    def hash_steps(start: int, tokens: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
        n_steps, rows, seq = tokens.shape
        if seq != seq_len:
            raise UserError(
                f"--trajectory: rows of {seq} tokens, {data_dir} has {seq_len} ({side}x{side})"
            )
        out = _empty_steps(rows, n_steps)
        batch_ids = pids[start : start + rows]
        for k in range(n_steps):
            shape, keys = hash_blocks(tokens[k], batch_ids, ts, True, False, "hash steps")
            out["step_answer_shape"][:, k] = shape
            out["step_answer_hash"][:, k] = keys[:, 0]
        out["step_q_halt_logits"][:] = q.T
        return out

    return hash_steps
