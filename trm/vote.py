"""ARC augmentation voting and pass@K, with the reference evaluator's exact semantics, vectorised.

Every prediction row is cropped at its end-of-grid markers, its augmentation (dihedral transform
and colour permutation, read from its puzzle identifier's name) is undone, and the row is
assigned to the test input of its task whose grid equals the inverse-augmented input. Identical
answers for one test input are pooled; candidates are ranked by vote count, then by the mean of
sigmoid(q_halt) over their votes, then by first appearance (the reference's stable sort). A test
input passes @K when the correct output is among the top K candidates; pass@K is averaged over
the test inputs of a task, then over the tasks of test_puzzles.json (tasks without any
prediction count as 0).

How it stays fast without a per-prediction loop: answers are compared through their shape and
two 64-bit multilinear hashes of the *un-augmented* grid, sum over cells of W[cell] * (colour+1)
mod 2^64 with random weights W. Undoing the dihedral transform costs nothing per cell: rows are
grouped by (transform, height, width) and each group hashes its cells against the weights moved
into its augmented frame. Undoing the colour permutation is one table look-up per cell. Inputs are
matched to test inputs the other way round: the expected hash of each test input under each
augmentation is computed from per-colour weight sums, so input rows need only a plain hash. Two
different grids of one shape share both hashes with probability below 2^-120; the correct
answer's match is confirmed cell by cell, and `reference_vote_loop` (one Python iteration per
prediction, the reference semantics verbatim) is the oracle the tests compare against and the
side-by-side baseline of benchmarks/bench_score.py.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trm.data.augment import (
    DIHEDRAL_INVERSE,
    NAME_SEP,
    dihedral_transform,
    inverse_dihedral_transform,
)
from trm.data.format import load_split, read_identifiers, read_metadata
from trm.utils import read_json

PASS_KS: tuple[int, ...] = (1, 2, 5, 10, 100, 1000)
SUBMISSION_K = 2
GRID = 30  # ARC grids are padded into 30x30
SEQ = GRID * GRID
_TRANSPOSING = (1, 3, 6, 7)  # dihedral ids that swap height and width
_MAX_CELLS = 1 << 22  # cells hashed per block (bounds temporary memory)
_CROP_CHUNK = 1024  # rows per crop block (small enough to stay in cache)

# two independent weight grids; any fixed seed works, it only has to be the same for all rows
_W = np.random.default_rng(20251008).integers(
    0, 2**64 - 1, size=(2, GRID, GRID), dtype=np.uint64, endpoint=True
)
# ----------------------------------------------------------------------------------------------
# Single-grid helpers with the reference's semantics (used for test puzzles and the oracle)


def crop_tokens(tokens: np.ndarray) -> np.ndarray:
    """Largest top-left rectangle of colour tokens (2..11) in a 30x30 token grid, as colours 0..9.

    Row by row the usable width shrinks to the first non-colour token; the kept rectangle is the
    first one of maximal area (0x0 when the first cell is not a colour).
    """
    g = np.asarray(tokens).reshape(GRID, GRID)
    best_area, best = 0, (0, 0)
    width = GRID
    for r in range(1, GRID + 1):
        for c in range(1, width + 1):
            x = g[r - 1, c - 1]
            if x < 2 or x > 11:
                width = c - 1
                break
        if r * width > best_area:
            best_area, best = r * width, (r, width)
    return (g[: best[0], : best[1]] - 2).astype(np.uint8)


def grid_hash(grid: np.ndarray) -> str:
    """The reference's grid hash: sha256 over the shape bytes then the uint8 cells, hex."""
    if grid.ndim != 2 or grid.dtype != np.uint8:
        raise ValueError(f"grid_hash needs a 2-D uint8 grid, got {grid.ndim}-D {grid.dtype}")
    return hashlib.sha256(bytes(grid.shape) + grid.tobytes()).hexdigest()


def _inverse_perm_from_name(name: str) -> tuple[str, int, np.ndarray | None]:
    """(task name, dihedral id, inverse colour map or None for identity) of a puzzle name."""
    if NAME_SEP not in name:
        return name, 0, None
    parts = name.split(NAME_SEP)
    tid_txt, perm_txt = parts[-2], parts[-1]
    if not tid_txt.startswith("t") or not tid_txt[1:].isdigit() or int(tid_txt[1:]) > 7:
        raise ValueError(f"puzzle name {name!r}: bad dihedral field {tid_txt!r}")
    if len(perm_txt) != 10 or sorted(perm_txt) != list("0123456789"):
        raise ValueError(f"puzzle name {name!r}: colour field {perm_txt!r} is not a permutation")
    # argsort of the digit characters = the inverse permutation (as the reference computes it)
    return parts[0], int(tid_txt[1:]), np.argsort(list(perm_txt)).astype(np.uint8)


def _to_grid(cells: list) -> np.ndarray:
    arr = np.array(cells)
    if arr.ndim != 2 or arr.shape[0] > GRID or arr.shape[1] > GRID or arr.size == 0:
        raise ValueError(f"not an ARC grid (shape {arr.shape})")
    if not np.all((arr >= 0) & (arr <= 9)):
        raise ValueError("ARC grid has cells outside 0..9")
    return arr.astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# The oracle: one Python iteration per prediction, exactly as the reference evaluator does it


def sigmoid64(logits: np.ndarray) -> np.ndarray:
    """float64 sigmoid computed by torch, bit for bit what the reference evaluator uses.

    (numpy's exp differs from torch's in the last ulp for ~3% of inputs, which can flip
    exact ties between candidates' mean confidences.)
    """
    import torch

    return torch.from_numpy(np.array(logits)).to(torch.float64).sigmoid().numpy()


def reference_vote_loop(
    identifiers: Sequence[str],
    test_puzzles: dict,
    puzzle_identifiers: np.ndarray,
    inputs: np.ndarray,
    preds: np.ndarray,
    q_halt_logits: np.ndarray,
    pass_ks: Sequence[int] = PASS_KS,
    blank_identifier_id: int = 0,
    crop: Callable[[np.ndarray], np.ndarray] = crop_tokens,
) -> tuple[dict[str, float], dict[str, list], list[dict]]:
    """Straightforward per-prediction implementation of the reference ARC evaluator.

    `crop` may be swapped for a compiled version of `crop_tokens` (the reference JIT-compiles
    its crop with numba) so that a speed comparison measures the loop, not the crop.

    Returns (metrics, submission, per_example records). Slow (minutes on the full evaluation
    set); it is the oracle the vectorised `vote` is tested against.
    """
    q_all = sigmoid64(q_halt_logits)
    hmap: dict[str, np.ndarray] = {}
    buckets: dict[str, dict[str, list]] = {}
    for pid, inp, pred, q in zip(puzzle_identifiers, inputs, preds, q_all, strict=True):
        if pid == blank_identifier_id:
            continue
        name, tid, inv_perm = _inverse_perm_from_name(identifiers[pid])

        def undo(
            grid: np.ndarray, tid: int = tid, inv_perm: np.ndarray | None = inv_perm
        ) -> np.ndarray:
            if inv_perm is None:
                return grid
            return inv_perm[inverse_dihedral_transform(grid, tid)]

        input_hash = grid_hash(np.ascontiguousarray(undo(crop(inp))))
        grid = np.ascontiguousarray(undo(crop(pred)))
        h = grid_hash(grid)
        hmap[h] = grid
        buckets.setdefault(name, {}).setdefault(input_hash, []).append((h, float(q)))

    submission: dict[str, list] = {}
    records: list[dict] = []
    correct = [0.0] * len(pass_ks)
    for name, puzzle in test_puzzles.items():
        submission[name] = []
        n_ok = [0] * len(pass_ks)
        for pair in puzzle["test"]:
            input_hash = grid_hash(_to_grid(pair["input"]))
            label_hash = grid_hash(_to_grid(pair["output"]))
            votes = buckets.get(name, {}).get(input_hash, [])
            p_map: dict[str, list] = {}
            for h, q in votes:
                p_map.setdefault(h, [0, 0])
                p_map[h][0] += 1
                p_map[h][1] += q
            if not p_map:
                records.append(_record(name, input_hash, label_hash, None, 0))
                continue
            for stats in p_map.values():
                stats[1] /= stats[0]
            ranked = sorted(p_map.items(), key=lambda kv: kv[1], reverse=True)
            for i, k in enumerate(pass_ks):
                n_ok[i] += any(h == label_hash for h, _ in ranked[:k])
            grids = [hmap[h] for h, _ in ranked[:SUBMISSION_K]]
            while len(grids) < SUBMISSION_K:
                grids.append(grids[0])
            submission[name].append({f"attempt_{i + 1}": g.tolist() for i, g in enumerate(grids)})
            records.append(_record(name, input_hash, label_hash, ranked[0][0], len(votes)))
        for i in range(len(pass_ks)):
            correct[i] += n_ok[i] / len(puzzle["test"])
    metrics = {f"ARC/pass@{k}": correct[i] / len(test_puzzles) for i, k in enumerate(pass_ks)}
    return metrics, submission, records


def _record(name: str, input_hash: str, label_hash: str, top1: str | None, n_votes: int) -> dict:
    return {
        "puzzle_name": name,
        "input_hash": input_hash,
        "label_hash": label_hash,
        "top1_pred_hash": top1,
        "top1_correct": top1 is not None and top1 == label_hash,
        "num_votes": int(n_votes),
    }


# ----------------------------------------------------------------------------------------------
# Dataset side: identifiers and test puzzles, parsed once


@dataclass
class ArcTestSet:
    """What voting needs from a prepared ARC dataset (identifiers.json + test_puzzles.json)."""

    identifiers: list[str]
    task_names: list[str]  # test_puzzles.json order
    test_puzzles: dict
    input_task: np.ndarray  # [n_inputs] task of each test input (task order, then pair order)
    input_grids: list[np.ndarray]
    label_grids: list[np.ndarray]
    input_hash_hex: list[str]
    label_hash_hex: list[str]
    task_first_input: np.ndarray  # [n_tasks]
    task_n_inputs: np.ndarray  # [n_tasks]
    # first test input of the same task with the identical input grid (itself when unique):
    # the reference pools votes by (task, input grid), so such test inputs share one pool
    input_alias: np.ndarray
    id_task: np.ndarray  # [num_identifiers] task index, -1 when the task is not a test puzzle
    id_tid: np.ndarray  # [num_identifiers] dihedral id of the augmentation
    id_perm: np.ndarray  # [num_identifiers, 10] colour map of the augmentation (c -> perm[c])
    id_aug_rank: np.ndarray  # [num_identifiers] 0 = un-augmented, k = k-th augmented copy
    blank_identifier_id: int = 0


def load_arc_test_set(
    data_dir: str | os.PathLike, used_ids: np.ndarray | None = None
) -> ArcTestSet:
    """Read identifiers.json, test_puzzles.json and test/dataset.json of a prepared ARC dataset.

    `used_ids` limits name parsing to those identifiers (the test split's: identifiers.json
    also lists every training puzzle); the others get task -1.
    """
    data_dir = Path(data_dir)
    meta = read_metadata(data_dir, "test")
    identifiers = read_identifiers(data_dir)
    tp_path = data_dir / "test_puzzles.json"
    if not tp_path.exists():
        raise FileNotFoundError(
            f"test puzzles not found: {tp_path} (is {data_dir} an ARC dataset?)"
        )
    test_puzzles = read_json(tp_path, "test puzzles")

    task_names = list(test_puzzles)
    task_index = {n: i for i, n in enumerate(task_names)}
    in_task, in_grids, lab_grids, n_inputs, first = [], [], [], [], []
    for t, name in enumerate(task_names):
        pairs = test_puzzles[name].get("test") if isinstance(test_puzzles[name], dict) else None
        if not pairs:
            raise ValueError(f"{tp_path}: task {name} has no 'test' pairs")
        first.append(len(in_task))
        n_inputs.append(len(pairs))
        for j, pair in enumerate(pairs):
            for fld, dst in (("input", in_grids), ("output", lab_grids)):
                if fld not in pair:
                    raise ValueError(f"{tp_path}: task {name} test pair {j} has no '{fld}'")
                try:
                    dst.append(_to_grid(pair[fld]))
                except ValueError as e:
                    raise ValueError(
                        f"{tp_path}: task {name} test pair {j} field '{fld}': {e}"
                    ) from e
            in_task.append(t)

    id_task, id_tid, id_perm, id_aug = _parse_identifiers(
        identifiers, task_index, data_dir / "identifiers.json", meta.blank_identifier_id, used_ids
    )
    n_ids = len(identifiers)
    aug_ids = np.flatnonzero(id_aug & (id_task >= 0))
    aug_rank = np.zeros(n_ids, dtype=np.int64)
    # k-th augmented copy of a task in identifier order (= the order the builder generated them)
    aug_rank[aug_ids] = _rank_within(id_task[aug_ids], np.arange(aug_ids.size))

    alias_of: dict[tuple[int, bytes, tuple[int, int]], int] = {}
    alias = [
        alias_of.setdefault((t, g.tobytes(), g.shape), j)
        for j, (t, g) in enumerate(zip(in_task, in_grids, strict=True))
    ]
    return ArcTestSet(
        identifiers=identifiers,
        task_names=task_names,
        test_puzzles=test_puzzles,
        input_task=np.asarray(in_task, dtype=np.int64),
        input_grids=in_grids,
        label_grids=lab_grids,
        input_hash_hex=[grid_hash(g) for g in in_grids],
        label_hash_hex=[grid_hash(g) for g in lab_grids],
        task_first_input=np.asarray(first, dtype=np.int64),
        task_n_inputs=np.asarray(n_inputs, dtype=np.int64),
        input_alias=np.asarray(alias, dtype=np.int64),
        id_task=id_task,
        id_tid=id_tid,
        id_perm=id_perm,
        id_aug_rank=aug_rank,
        blank_identifier_id=meta.blank_identifier_id,
    )


def _parse_identifiers(
    identifiers: list[str],
    task_index: dict[str, int],
    path: Path,
    blank_id: int,
    used_ids: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(task index, dihedral id, colour map, is augmented) per identifier, vectorised.

    Names are `<task>` or `<task>|||t<d>|||<10 digits>`; the tails of augmented names are
    checked and decoded as one byte array.
    """
    n_ids = len(identifiers)
    id_task = np.full(n_ids, -1, dtype=np.int64)
    id_tid = np.zeros(n_ids, dtype=np.int64)
    id_perm = np.tile(np.arange(10, dtype=np.uint8), (n_ids, 1))
    id_aug = np.zeros(n_ids, dtype=bool)
    if used_ids is None:
        ids = np.arange(n_ids)
    else:
        used = np.asarray(used_ids, dtype=np.int64)
        mask = np.zeros(n_ids, dtype=bool)
        mask[used[(used >= 0) & (used < n_ids)]] = True
        ids = np.flatnonzero(mask)
    ids = ids[ids != blank_id]
    names = [identifiers[i] for i in ids.tolist()]
    is_aug = [NAME_SEP in n for n in names]
    bases = [n[:-18] if a else n for n, a in zip(names, is_aug, strict=True)]
    id_task[ids] = [task_index.get(b, -1) for b in bases]
    aug_ids = ids[np.asarray(is_aug, dtype=bool)]
    if aug_ids.size:
        # the 18-character tail "|||t<d>|||<10 digits>" of every augmented name, as bytes
        tails = [n[-18:] for n, a in zip(names, is_aug, strict=True) if a]
        raw = np.frombuffer("".join(tails).encode("latin-1", "replace"), dtype=np.uint8)
        ok = np.zeros(len(tails), dtype=bool)
        if raw.size == 18 * len(tails):
            b = raw.reshape(-1, 18)
            digits = b[:, 8:].astype(np.int64) - ord("0")
            ok = (
                np.all(b[:, 0:3] == ord("|"), axis=1)
                & (b[:, 3] == ord("t"))
                & (b[:, 4] >= ord("0"))
                & (b[:, 4] <= ord("7"))
                & np.all(b[:, 5:8] == ord("|"), axis=1)
                & np.all(np.sort(digits, axis=1) == np.arange(10), axis=1)
            )
        if not ok.all():
            bad = (
                int(aug_ids[np.flatnonzero(~ok)[0]])
                if raw.size == 18 * len(tails)
                else int(aug_ids[[len(t) != 18 for t in tails].index(True)])
            )
            raise ValueError(
                f"{path}: entry {bad} {identifiers[bad]!r} is not <task>|||t<0-7>|||<permutation of 0..9>"
            )
        id_tid[aug_ids] = b[:, 4].astype(np.int64) - ord("0")
        id_perm[aug_ids] = digits.astype(np.uint8)
        id_aug[aug_ids] = True
    return id_task, id_tid, id_perm, id_aug


def _rank_within(groups: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """1-based rank of each item by `priority` among the items of its group."""
    order = np.lexsort((priority, groups))
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if g.size else np.zeros(0, np.int64)
    run_start = np.repeat(starts, np.diff(np.r_[starts, g.size]))
    out = np.empty(groups.size, dtype=np.int64)
    out[order] = np.arange(g.size) - run_start + 1
    return out


# ----------------------------------------------------------------------------------------------
# Vectorised row processing: crop, hash in the un-augmented frame


def grid_keys(grid: np.ndarray) -> tuple[int, int, int]:
    """(shape code, key 1, key 2) of a colour grid in its own frame (the rows' canonical keys)."""
    h, w = grid.shape
    k = (grid.reshape(-1).astype(np.uint64) + np.uint64(1)) @ _W[:, :h, :w].reshape(2, -1).T
    return h * 32 + w, int(k[0]), int(k[1])


def _crop_sizes(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Height and width of `crop_tokens` for every row of `tokens` [n, 900] at once."""
    n = len(tokens)
    height = np.empty(n, dtype=np.int64)
    width = np.empty(n, dtype=np.int64)
    steps = np.arange(1, GRID + 1)
    for s in range(0, n, _CROP_CHUNK):
        g = np.asarray(tokens[s : s + _CROP_CHUNK]).reshape(-1, GRID, GRID)
        unsigned = np.dtype(f"u{g.dtype.itemsize}")
        valid = np.subtract(g, 2, dtype=g.dtype).view(unsigned) < 10  # tokens 2..11 are colours
        first_bad = np.argmin(valid, axis=2)  # 0 also when the whole row is valid:
        first_bad[(first_bad == 0) & valid[:, :, 0]] = GRID
        widths = np.minimum.accumulate(first_bad, axis=1)
        area = widths * steps
        best = np.argmax(area, axis=1)  # the first maximum, as the reference's strict '>'
        rows = np.arange(len(g))
        ok = area[rows, best] > 0
        height[s : s + len(g)] = np.where(ok, best + 1, 0)
        width[s : s + len(g)] = np.where(ok, widths[rows, best], 0)
    return height, width


def _hash_blocks(
    tokens: np.ndarray,
    pids: np.ndarray,
    ts: ArcTestSet,
    canonical: bool,
    progress: bool,
    desc: str,
    sizes: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(shape code [n], keys [n, 2]) of every cropped row; `canonical` undoes the augmentation.

    Rows are grouped by (dihedral id, height, width) so that each group hashes a plain block of
    cells against weights laid out in its frame. Without `canonical`, rows are hashed as they
    are (tid 0 weights, colours unchanged).
    """
    from tqdm import tqdm

    n = len(tokens)
    g3 = np.asarray(tokens).reshape(n, GRID, GRID)  # plain ndarray view of a memmap: cheap indexing
    h, w = _crop_sizes(tokens) if sizes is None else sizes
    tids = ts.id_tid[pids] if canonical else np.zeros(n, dtype=np.int64)
    inverse = np.asarray(DIHEDRAL_INVERSE)[tids]
    swap = np.isin(inverse, _TRANSPOSING)
    shape = np.where(swap, w * 32 + h, h * 32 + w)
    keys = np.zeros((n, 2), dtype=np.uint64)
    if canonical:
        # per identifier: token -> (original colour + 1), the colour the hash weighs
        lut = np.zeros((len(ts.identifiers), 16), dtype=np.uint64)
        inv = np.argsort(ts.id_perm, axis=1).astype(np.uint64)
        lut[:, 2:12] = inv + np.uint64(1)
        lut = lut.ravel()
    group = (tids * 32 + h) * 32 + w
    order = np.argsort(group, kind="stable")
    gs = group[order]
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]]) if n else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], n]
    for s, e in tqdm(
        list(zip(starts, ends, strict=True)),
        desc=desc,
        unit="shape",
        disable=not progress,
        mininterval=1.0,
    ):
        first = order[s]
        gh, gw, tid = int(h[first]), int(w[first]), int(tids[first])
        if gh == 0:
            continue  # empty crop: shape 0x0, keys 0
        ch, cw = (gw, gh) if swap[first] else (gh, gw)
        # weights of the un-augmented cells, carried to where the augmentation put them
        wts = dihedral_transform(_W[:, :ch, :cw], tid) if canonical else _W[:, :gh, :gw]
        wmat = np.ascontiguousarray(wts.reshape(2, -1).T)
        step = max(1, _MAX_CELLS // (gh * gw))
        for b in range(s, e, step):
            rows = order[b : min(b + step, e)]  # ascending: the argsort is stable
            block = g3[rows, :gh, :gw].reshape(len(rows), -1)
            if canonical:
                vals = lut.take(block + (pids[rows] * 16)[:, None])
            else:
                vals = block.astype(np.uint64) - np.uint64(1)  # token t is colour t-2: weigh t-1
            keys[rows] = vals @ wmat
    return shape, keys


# ----------------------------------------------------------------------------------------------
# Predictions: validated against the dataset, processed once, voted any number of times


@dataclass
class ProcessedPredictions:
    """Per-row results of the expensive pass; voting over any subset of rows reuses them."""

    test_set: ArcTestSet
    puzzle_identifiers: np.ndarray  # [N]
    pred_tokens: np.ndarray  # [N, 900] (possibly memory-mapped)
    input_index: np.ndarray  # [N] test input of each row, -1 when its input matches none
    pred_shape: np.ndarray  # [N] canonical answer shape code (height * 32 + width)
    pred_keys: np.ndarray  # [N, 2] canonical answer hashes
    q: np.ndarray  # [N] float64 sigmoid(q_halt)
    aug_rank: np.ndarray  # [N] 0 = un-augmented copy, k = k-th augmented copy of its task


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an .npz; stored (uncompressed) members are memory-mapped, not copied.

    np.load reads each member through zipfile (a copy and a CRC over ~1.7 GB for the full
    evaluation set, most of the scoring time); a memory map reads only what is used.
    """
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            arr = None
            if info.compress_type == zipfile.ZIP_STORED:
                f.seek(info.header_offset)
                local = f.read(30)
                start = (
                    info.header_offset
                    + 30
                    + int.from_bytes(local[26:28], "little")
                    + int.from_bytes(local[28:30], "little")
                )
                f.seek(start)
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(f)
                if not dtype.hasobject and np.prod(shape) > 0:
                    order = "F" if fortran else "C"
                    arr = np.memmap(
                        path, dtype=dtype, mode="r", offset=f.tell(), shape=shape, order=order
                    )
            if arr is None:
                with zf.open(info) as member:
                    arr = np.lib.format.read_array(member, allow_pickle=False)
            out[key] = arr
    return out


def load_predictions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read predictions.npz and check its fields (names, ranks, matching row counts)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"predictions file not found: {path}")
    try:
        data = _npz_arrays(path)
    except Exception as e:  # zip / header errors from a corrupt or foreign file
        raise ValueError(f"{path}: not a readable .npz file ({e})") from e
    need = ("puzzle_identifiers", "inputs", "preds", "q_halt_logits")
    missing = [k for k in need if k not in data]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing} (has {sorted(data)})")
    n = len(data["puzzle_identifiers"])
    for k in need:
        want_ndim = 2 if k in ("inputs", "preds") else 1
        if data[k].ndim != want_ndim:
            raise ValueError(
                f"{path}: field '{k}' must be {want_ndim}-D, got shape {data[k].shape}"
            )
        if len(data[k]) != n:
            raise ValueError(
                f"{path}: field '{k}' has {len(data[k])} rows, puzzle_identifiers has {n}"
            )
        if k != "q_halt_logits" and data[k].dtype.kind not in "iu":
            raise ValueError(f"{path}: field '{k}' must hold integers, got {data[k].dtype}")
    if data["inputs"].shape != data["preds"].shape:
        raise ValueError(
            f"{path}: inputs {data['inputs'].shape} and preds {data['preds'].shape} differ in shape"
        )
    return data


def dataset_row_identifiers(data_dir: str | os.PathLike, split: str = "test") -> np.ndarray:
    """Puzzle identifier of every example row of a split."""
    arrays = load_split(data_dir, split)
    idx = np.asarray(arrays["puzzle_indices"])
    return np.repeat(np.asarray(arrays["puzzle_identifiers"]), np.diff(idx))


def check_against_dataset(
    got: np.ndarray,
    expected_ids: np.ndarray,
    pred_path: str | os.PathLike,
    data_dir: str | os.PathLike,
) -> None:
    """Predictions must hold one row per test example of the dataset (in any order).

    `got` are the predictions' puzzle identifiers without padding (blank) rows.
    """
    if len(got) != len(expected_ids):
        raise ValueError(
            f"{pred_path}: {len(got)} prediction rows, but dataset {data_dir} has {len(expected_ids)} "
            "test examples (predictions must hold one row per test example)"
        )
    a, b = np.sort(got), np.sort(expected_ids)
    if not np.array_equal(a, b):
        unknown = np.setdiff1d(a, b)
        what = (
            f"identifier(s) {unknown[:5].tolist()} are not puzzles of its test split"
            if unknown.size
            else "the number of rows per identifier differs"
        )
        raise ValueError(f"{pred_path}: puzzle_identifiers do not match dataset {data_dir}: {what}")


def process_predictions(
    data_dir: str | os.PathLike, pred_path: str | os.PathLike, progress: bool = True
) -> ProcessedPredictions:
    """Load and validate predictions, then crop, un-augment and hash every row (the costly part)."""
    data_dir = Path(data_dir)
    meta = read_metadata(data_dir, "test")
    expected_ids = dataset_row_identifiers(data_dir)
    preds = load_predictions(pred_path)
    if preds["inputs"].shape[1] != SEQ:
        raise ValueError(f"{pred_path}: ARC rows have {SEQ} tokens, got {preds['inputs'].shape[1]}")
    pids = np.asarray(preds["puzzle_identifiers"]).astype(np.int64)
    arrays = [preds["inputs"], preds["preds"], preds["q_halt_logits"]]
    keep = pids != meta.blank_identifier_id
    if not keep.all():  # padding rows (batch filler): dropped, as the reference drops them
        pids = pids[keep]
        arrays = [np.asarray(a)[keep] for a in arrays]
    check_against_dataset(pids, expected_ids, pred_path, data_dir)
    # parsing identifiers (Python) overlaps the predictions' crop (numpy, GIL released)
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(load_arc_test_set, data_dir, expected_ids)
        pred_sizes = _crop_sizes(arrays[1])
        ts = loading.result()
    return process_arrays(ts, pids, *arrays, progress=progress, pred_sizes=pred_sizes)


def process_arrays(
    ts: ArcTestSet,
    pids: np.ndarray,
    inputs: np.ndarray,
    preds: np.ndarray,
    q_halt_logits: np.ndarray,
    progress: bool = False,
    pred_sizes: tuple[np.ndarray, np.ndarray] | None = None,
) -> ProcessedPredictions:
    pids = np.asarray(pids, dtype=np.int64)
    if pids.size and (pids.min() < 0 or pids.max() >= len(ts.identifiers)):
        bad = pids[(pids < 0) | (pids >= len(ts.identifiers))][0]
        raise ValueError(
            f"puzzle identifier {bad} is outside identifiers.json (0..{len(ts.identifiers) - 1})"
        )
    # inputs and predictions are independent; numpy releases the GIL in the heavy steps, so a
    # second thread overlaps them where a second core is free
    with ThreadPoolExecutor(max_workers=1) as pool:
        matching = pool.submit(_match_inputs, ts, pids, inputs, False)
        shape, keys = _hash_blocks(
            preds, pids, ts, True, progress, "hash predictions", sizes=pred_sizes
        )
        input_index = matching.result()
    return ProcessedPredictions(
        test_set=ts,
        puzzle_identifiers=pids,
        pred_tokens=preds,
        input_index=input_index,
        pred_shape=shape,
        pred_keys=keys,
        q=sigmoid64(np.asarray(q_halt_logits)),
        aug_rank=ts.id_aug_rank[pids],
    )


def _match_inputs(
    ts: ArcTestSet, pids: np.ndarray, inputs: np.ndarray, progress: bool
) -> np.ndarray:
    """Test input of each row: same task and equal inverse-augmented input grid, else -1.

    inverse(crop(row)) == T  <=>  crop(row) == augment(T), and the hash of augment(T) is
    sum over colours c of (perm[c] + 1) * S[T, tid, c], where S sums the weights of the cells of
    dihedral(T, tid) that hold colour c: so only the rows' plain hashes are needed.
    """
    n_in = len(ts.input_grids)
    sums = np.zeros((n_in, 8, 10, 2), dtype=np.uint64)
    shapes = np.zeros((n_in, 8), dtype=np.int64)
    colours = np.arange(10)
    for j, grid in enumerate(ts.input_grids):
        for tid in range(8):
            moved = dihedral_transform(grid, tid)
            a, b = moved.shape
            shapes[j, tid] = a * 32 + b
            onehot = moved.reshape(-1, 1) == colours  # [cells, 10]
            wts = _W[:, :a, :b].reshape(2, -1)  # [2, cells]
            sums[j, tid] = (onehot.T.astype(np.uint64) @ wts.T).astype(np.uint64)
    row_shape, row_keys = _hash_blocks(
        inputs, pids, ts, canonical=False, progress=progress, desc="hash inputs"
    )

    task = ts.id_task[pids]
    tids = ts.id_tid[pids]
    weight = ts.id_perm[pids].astype(np.uint64) + np.uint64(1)  # [n, 10]
    index = np.full(len(pids), -1, dtype=np.int64)
    has_task = task >= 0
    safe_task = np.where(has_task, task, 0)
    for slot in range(int(ts.task_n_inputs.max(initial=0))):
        cand = has_task & (slot < ts.task_n_inputs[safe_task]) & (index < 0)
        if not cand.any():
            continue
        rows = np.flatnonzero(cand)
        j = ts.task_first_input[safe_task[rows]] + slot
        t = tids[rows]
        expected = np.einsum("nc,nck->nk", weight[rows], sums[j, t])
        hit = (row_shape[rows] == shapes[j, t]) & np.all(row_keys[rows] == expected, axis=1)
        index[rows[hit]] = ts.input_alias[j[hit]]
    return index


# ----------------------------------------------------------------------------------------------
# Voting


@dataclass
class VoteResult:
    """Outcome of voting over a subset of prediction rows."""

    pass_ks: tuple[int, ...]
    task_names: list[str]
    input_task: np.ndarray  # [n_inputs]
    n_votes: np.ndarray  # [n_inputs] predictions pooled for each test input (effective votes)
    n_candidates: np.ndarray  # [n_inputs] distinct answers
    top_votes: np.ndarray  # [n_inputs] votes of the top answer (0 when none)
    label_rank: np.ndarray  # [n_inputs] 0-based rank of the correct answer, -1 when absent
    top_rows: (
        np.ndarray
    )  # [n_inputs, SUBMISSION_K] first prediction row of each top answer, -1 none
    passed: np.ndarray  # [n_inputs, len(pass_ks)] bool
    task_pass: np.ndarray  # [n_tasks, len(pass_ks)] fraction of a task's test inputs passed
    metrics: dict[str, float]


def vote(
    pp: ProcessedPredictions, rows: np.ndarray | None = None, pass_ks: Sequence[int] = PASS_KS
) -> VoteResult:
    """Vote over the prediction rows `rows` (a boolean mask or indices; all rows by default)."""
    ts = pp.test_set
    n_inputs = len(ts.input_task)
    sel = np.arange(len(pp.input_index)) if rows is None else np.asarray(rows)
    if sel.dtype == bool:
        sel = np.flatnonzero(sel)
    sel = np.sort(sel[pp.input_index[sel] >= 0])  # file order decides ties and float sums
    ti = pp.input_index[sel]
    shp = pp.pred_shape[sel]
    k1, k2 = pp.pred_keys[sel, 0], pp.pred_keys[sel, 1]

    order = np.lexsort((k2, k1, shp, ti))  # stable: rows stay in file order inside a group
    ti_s, shp_s, k1_s, k2_s = ti[order], shp[order], k1[order], k2[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (
        (ti_s[1:] != ti_s[:-1])
        | (shp_s[1:] != shp_s[:-1])
        | (k1_s[1:] != k1_s[:-1])
        | (k2_s[1:] != k2_s[:-1])
    )
    gid = np.empty(len(order), dtype=np.int64)
    gid[order] = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    rep_row = sel[order[starts]]  # first (earliest) row of each answer
    g_input = ti_s[starts]
    n_groups = len(starts)

    counts = np.bincount(gid, minlength=n_groups)
    # bincount adds the weights one by one in row order: the very float sums of the reference
    qsum = np.bincount(gid, weights=pp.q[sel], minlength=n_groups)
    mean_q = qsum / np.maximum(counts, 1)
    # rank inside each test input: votes desc, mean confidence desc, first appearance asc
    rank_order = np.lexsort((rep_row, -mean_q, -counts, g_input))
    gi_sorted = g_input[rank_order]
    rank = np.empty(n_groups, dtype=np.int64)
    rank[rank_order] = np.arange(n_groups) - np.searchsorted(gi_sorted, gi_sorted, side="left")

    alias = ts.input_alias
    n_votes = np.bincount(ti, minlength=n_inputs)[alias]
    n_candidates = np.bincount(g_input, minlength=n_inputs)[alias]
    top_rows = np.full((n_inputs, SUBMISSION_K), -1, dtype=np.int64)
    top_votes = np.zeros(n_inputs, dtype=np.int64)
    for k in range(SUBMISSION_K):
        at_k = rank == k
        top_rows[g_input[at_k], k] = rep_row[at_k]
        if k == 0:
            top_votes[g_input[at_k]] = counts[at_k]
    top_rows, top_votes = top_rows[alias], top_votes[alias]
    label_rank = _label_ranks(pp, rep_row, g_input, rank)

    ks = np.asarray(pass_ks, dtype=np.int64)
    passed = (label_rank[:, None] >= 0) & (label_rank[:, None] < ks[None, :])
    n_tasks = len(ts.task_names)
    n_ok = np.zeros((n_tasks, len(ks)), dtype=np.int64)
    np.add.at(n_ok, ts.input_task, passed.astype(np.int64))
    task_pass = n_ok / ts.task_n_inputs[:, None]
    metrics: dict[str, float] = {}
    for i, k in enumerate(ks.tolist()):
        total = 0.0
        for v in task_pass[:, i].tolist():  # sequential, in task order: the reference's floats
            total += v
        metrics[f"ARC/pass@{k}"] = total / n_tasks
    return VoteResult(
        pass_ks=tuple(ks.tolist()),
        task_names=ts.task_names,
        input_task=ts.input_task,
        n_votes=n_votes,
        n_candidates=n_candidates,
        top_votes=top_votes,
        label_rank=label_rank,
        top_rows=top_rows,
        passed=passed,
        task_pass=task_pass,
        metrics=metrics,
    )


def _label_ranks(
    pp: ProcessedPredictions, rep_row: np.ndarray, g_input: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Rank of each test input's correct answer among its pool's candidates, -1 when absent.

    Candidates are found by shape and hashes, then confirmed cell by cell.
    """
    ts = pp.test_set
    label_rank = np.full(len(ts.input_task), -1, dtype=np.int64)
    by_input = np.argsort(g_input, kind="stable")
    bounds = np.searchsorted(g_input[by_input], np.arange(len(ts.input_task) + 1))
    shapes, keys = pp.pred_shape[rep_row], pp.pred_keys[rep_row]
    for j, label in enumerate(ts.label_grids):
        pool = int(ts.input_alias[j])
        groups = by_input[bounds[pool] : bounds[pool + 1]]
        shape, k1, k2 = grid_keys(label)
        hit = groups[(shapes[groups] == shape) & (keys[groups, 0] == k1) & (keys[groups, 1] == k2)]
        for g in hit.tolist():
            if np.array_equal(answer_grid(pp, int(rep_row[g])), label):
                label_rank[j] = rank[g]
    return label_rank


# ----------------------------------------------------------------------------------------------
# Row selections: paper mode, single mode, sweep levels


def mode_rows(pp: ProcessedPredictions, mode: str) -> np.ndarray | None:
    """Rows that vote in `mode`: 'paper' = all augmentations, 'single' = un-augmented copies."""
    if mode == "paper":
        return None
    if mode == "single":
        return np.flatnonzero(pp.aug_rank == 0)
    raise ValueError(f"unknown scoring mode {mode!r} (expected 'paper' or 'single')")


def level_rows(
    pp: ProcessedPredictions, level: int, draw_rank: np.ndarray | None = None
) -> np.ndarray:
    """Rows of the un-augmented copy and the first `level` augmented copies of each task.

    `draw_rank` ([num_identifiers], 1-based among a task's augmented copies) replaces the
    builder's order with another one (see `random_aug_ranks`).
    """
    rank = pp.aug_rank if draw_rank is None else draw_rank[pp.puzzle_identifiers]
    return np.flatnonzero((pp.aug_rank == 0) | (rank <= level))


def random_aug_ranks(ts: ArcTestSet, rng: np.random.Generator) -> np.ndarray:
    """A random order of each task's augmented copies: [num_identifiers] 1-based ranks (0 else)."""
    ids = np.flatnonzero(ts.id_aug_rank > 0)
    out = np.zeros(len(ts.id_aug_rank), dtype=np.int64)
    out[ids] = _rank_within(ts.id_task[ids], rng.random(ids.size))
    return out


# ----------------------------------------------------------------------------------------------
# Outputs in the reference formats


def answer_grid(pp: ProcessedPredictions, row: int) -> np.ndarray:
    """The inverse-augmented answer grid of prediction row `row` (the reference's way)."""
    _, tid, inv_perm = _inverse_perm_from_name(
        pp.test_set.identifiers[int(pp.puzzle_identifiers[row])]
    )
    grid = crop_tokens(np.asarray(pp.pred_tokens[row]))
    if inv_perm is not None:
        grid = inv_perm[inverse_dihedral_transform(grid, tid)]
    return np.ascontiguousarray(grid)


def submission(pp: ProcessedPredictions, res: VoteResult) -> dict[str, list]:
    """ARC Prize submission: task -> [{"attempt_1": grid, "attempt_2": grid} per test input].

    As the reference: attempt_2 repeats attempt_1 when there is a single candidate, and a test
    input without any prediction is left out of its task's list.
    """
    out: dict[str, list] = {name: [] for name in res.task_names}
    for j, t in enumerate(res.input_task.tolist()):
        if res.top_rows[j, 0] < 0:
            continue
        grids = [answer_grid(pp, int(r)).tolist() for r in res.top_rows[j] if r >= 0]
        while len(grids) < SUBMISSION_K:
            grids.append(grids[0])
        out[res.task_names[t]].append({f"attempt_{i + 1}": g for i, g in enumerate(grids)})
    return out


def per_example_records(pp: ProcessedPredictions, res: VoteResult) -> list[dict]:
    """One record per test input: top answer's hash, whether it is right, number of votes."""
    ts = pp.test_set
    records = []
    for j, t in enumerate(res.input_task.tolist()):
        top = int(res.top_rows[j, 0])
        top_hash = grid_hash(answer_grid(pp, top)) if top >= 0 else None
        records.append(
            _record(
                res.task_names[t],
                ts.input_hash_hex[j],
                ts.label_hash_hex[j],
                top_hash,
                int(res.n_votes[j]),
            )
        )
    return records


def per_input_table(res: VoteResult) -> list[dict]:
    """Per test input: votes, candidates, rank of the correct answer, pass@K (for CIs, compare)."""
    out = []
    for j, t in enumerate(res.input_task.tolist()):
        row = {
            "task": res.task_names[t],
            "test_index": int(j - np.searchsorted(res.input_task, t)),
            "n_votes": int(res.n_votes[j]),
            "n_candidates": int(res.n_candidates[j]),
            "top_votes": int(res.top_votes[j]),
            "label_rank": int(res.label_rank[j]),
        }
        for i, k in enumerate(res.pass_ks):
            row[f"pass@{k}"] = int(res.passed[j, i])
        out.append(row)
    return out


# ----------------------------------------------------------------------------------------------
# Reports over a vote: metrics with bootstrap intervals, effective votes


def effective_votes_summary(res: VoteResult) -> dict:
    """Distribution of the number of predictions pooled per test input."""
    v = res.n_votes
    values, counts = np.unique(v, return_counts=True)
    return {
        "mean": float(v.mean()) if v.size else 0.0,
        "min": int(v.min()) if v.size else 0,
        "median": float(np.median(v)) if v.size else 0.0,
        "max": int(v.max()) if v.size else 0,
        "n_test_inputs": int(v.size),
        "n_below_max": int((v < v.max()).sum()) if v.size else 0,
        "histogram": {str(int(a)): int(b) for a, b in zip(values, counts, strict=True)},
    }


def metrics_with_intervals(res: VoteResult, n_boot: int, seed: int) -> dict:
    """The reference metrics (contract keys first), then 95% bootstrap intervals over tasks."""
    from trm.stats import bootstrap_ci

    out: dict = dict(res.metrics)
    for i, k in enumerate(res.pass_ks):
        out[f"ARC/pass@{k}_ci95"] = list(
            bootstrap_ci(res.task_pass[:, i], n_boot=n_boot, seed=seed)
        )
    out["n_tasks"] = len(res.task_names)
    out["n_test_inputs"] = int(len(res.input_task))
    return out


# ----------------------------------------------------------------------------------------------
# Sudoku and Maze: whole-grid (exact) and cell accuracy


@dataclass
class GridAccuracy:
    """Per-example correctness of token predictions against a dataset's labels."""

    exact: np.ndarray  # [N] bool: every scored cell right
    cell_fraction: np.ndarray  # [N] fraction of scored cells right (the reference's "accuracy")
    cells_right: np.ndarray  # [N]
    cells_scored: np.ndarray  # [N]


def grid_accuracy(
    data_dir: str | os.PathLike, pred_path: str | os.PathLike, chunk: int = 65536
) -> GridAccuracy:
    """Compare predictions with the test labels of a Sudoku / Maze dataset, row for row.

    Cells whose label is the dataset's ignore_label_id are not scored (as the reference loss).
    Rows must be the test examples in dataset order (their inputs are checked).
    """
    data_dir = Path(data_dir)
    meta = read_metadata(data_dir, "test")
    arrays = load_split(data_dir, "test")
    labels, ds_inputs = arrays["labels"], arrays["inputs"]
    pred_path = Path(pred_path)
    if not pred_path.exists():
        raise FileNotFoundError(f"predictions file not found: {pred_path}")
    try:
        data = _npz_arrays(pred_path)
    except Exception as e:
        raise ValueError(f"{pred_path}: not a readable .npz file ({e})") from e
    for k in ("inputs", "preds"):
        if k not in data:
            raise ValueError(f"{pred_path}: missing field '{k}' (has {sorted(data)})")
    preds, inputs = data["preds"], data["inputs"]
    if preds.shape != labels.shape:
        raise ValueError(
            f"{pred_path}: preds have shape {preds.shape}, but dataset {data_dir}/test has labels {labels.shape} "
            "(one row per test example, same sequence length)"
        )
    if inputs.shape != ds_inputs.shape:
        raise ValueError(
            f"{pred_path}: inputs have shape {inputs.shape}, dataset {data_dir}/test has {ds_inputs.shape}"
        )
    n = len(labels)
    exact = np.empty(n, dtype=bool)
    right = np.empty(n, dtype=np.int64)
    scored = np.empty(n, dtype=np.int64)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        mismatch = np.flatnonzero(
            np.any(np.asarray(inputs[s:e]) != np.asarray(ds_inputs[s:e]), axis=1)
        )
        if mismatch.size:
            raise ValueError(
                f"{pred_path}: row {s + int(mismatch[0])}: inputs differ from dataset {data_dir}/test "
                "(predictions must list the test examples in dataset order)"
            )
        lab = np.asarray(labels[s:e])
        mask = (
            np.ones(lab.shape, dtype=bool)
            if meta.ignore_label_id is None
            else lab != meta.ignore_label_id
        )
        ok = mask & (np.asarray(preds[s:e]) == lab)
        right[s:e] = ok.sum(1)
        scored[s:e] = mask.sum(1)
        exact[s:e] = right[s:e] == scored[s:e]
    frac = right / np.maximum(scored, 1)
    return GridAccuracy(exact=exact, cell_fraction=frac, cells_right=right, cells_scored=scored)
