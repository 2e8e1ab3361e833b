"""ARC grids: crop a token row, undo an augmentation, hash a grid (the reference's and fast ones).

Answers are compared through their shape and two 64-bit multilinear hashes of the *un-augmented*
grid, sum over cells of W[cell] * (colour+1) mod 2^64 with random weights W. Undoing the dihedral
transform costs nothing per cell: rows are grouped by (transform, height, width) and each group
hashes its cells against the weights moved into its augmented frame. Undoing the colour
permutation is one table look-up per cell. Two different grids of one shape share both hashes
with probability below 2^-120; callers confirm the correct answer's match cell by cell.

Rows are square token canvases: 30x30 in the reference layout, N x N for a dataset prepared with
`--canvas N`; the side is read from the row length (the dataset's seq_len). A grid's hashes
weigh its own cells only (the weight grid is sliced to the grid's shape), so they do not depend
on the canvas the grid was decoded from.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

import numpy as np

from trm.data.augment import DIHEDRAL_INVERSE, NAME_SEP, dihedral_transform
from trm.errors import InputError

if TYPE_CHECKING:
    from trm.eval.arc.testset import ArcTestSet

GRID = 30  # the largest ARC grid, and the reference canvas (30x30)
_TRANSPOSING = (1, 3, 6, 7)  # dihedral ids that swap height and width
_MAX_CELLS = 1 << 22  # cells hashed per block (bounds temporary memory)
_CROP_CHUNK = 1024  # rows per crop block (small enough to stay in cache)

# two independent weight grids; any fixed seed works, it only has to be the same for all rows
_W = np.random.default_rng(20251008).integers(
    0, 2**64 - 1, size=(2, GRID, GRID), dtype=np.uint64, endpoint=True
)


def canvas_side(seq_len: int, where: str = "ARC rows") -> int:
    """The canvas side N of rows of `seq_len` = N*N tokens (30 in the reference layout).

    Raises InputError (a ValueError and a UserError) naming `where` otherwise."""
    side = math.isqrt(int(seq_len))
    if side * side != seq_len or not 1 <= side <= GRID:
        raise InputError(
            f"{where}: {seq_len} tokens per row is not an N x N ARC canvas with N <= {GRID}"
        )
    return side


# ----------------------------------------------------------------------------------------------
# Single-grid helpers with the reference's semantics (used for test puzzles and the oracle)


def crop_tokens(tokens: np.ndarray) -> np.ndarray:
    """Largest top-left rectangle of colour tokens (2..11) in an N x N token canvas (30x30 in
    the reference layout), as colours 0..9.

    Row by row the usable width shrinks to the first non-colour token; the kept rectangle is the
    first one of maximal area (0x0 when the first cell is not a colour).
    """
    flat = np.asarray(tokens).reshape(-1)
    side = canvas_side(flat.size)
    g = flat.reshape(side, side)
    best_area, best = 0, (0, 0)
    width = side
    for r in range(1, side + 1):
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


def inverse_perm_from_name(name: str) -> tuple[str, int, np.ndarray | None]:
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


def to_grid(cells: list) -> np.ndarray:
    arr = np.array(cells)
    if arr.ndim != 2 or arr.shape[0] > GRID or arr.shape[1] > GRID or arr.size == 0:
        raise ValueError(f"not an ARC grid (shape {arr.shape})")
    if not np.all((arr >= 0) & (arr <= 9)):
        raise ValueError("ARC grid has cells outside 0..9")
    return arr.astype(np.uint8)


def sigmoid64(logits: np.ndarray) -> np.ndarray:
    """float64 sigmoid computed by torch, bit for bit what the reference evaluator uses.

    (numpy's exp differs from torch's in the last ulp for ~3% of inputs, which can flip
    exact ties between candidates' mean confidences.)
    """
    import torch

    return torch.from_numpy(np.array(logits)).to(torch.float64).sigmoid().numpy()


# ----------------------------------------------------------------------------------------------
# Vectorised row processing: crop, hash in the un-augmented frame


def grid_keys(grid: np.ndarray) -> tuple[int, int, int]:
    """(shape code, key 1, key 2) of a colour grid in its own frame (the rows' canonical keys)."""
    h, w = grid.shape
    k = (grid.reshape(-1).astype(np.uint64) + np.uint64(1)) @ _W[:, :h, :w].reshape(2, -1).T
    return h * 32 + w, int(k[0]), int(k[1])


def crop_sizes(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Height and width of `crop_tokens` for every row of `tokens` [n, N*N] at once."""
    n = len(tokens)
    side = canvas_side(tokens.shape[1])
    height = np.empty(n, dtype=np.int64)
    width = np.empty(n, dtype=np.int64)
    steps = np.arange(1, side + 1)
    for s in range(0, n, _CROP_CHUNK):
        g = np.asarray(tokens[s : s + _CROP_CHUNK]).reshape(-1, side, side)
        unsigned = np.dtype(f"u{g.dtype.itemsize}")
        valid = np.subtract(g, 2, dtype=g.dtype).view(unsigned) < 10  # tokens 2..11 are colours
        first_bad = np.argmin(valid, axis=2)  # 0 also when the whole row is valid:
        first_bad[(first_bad == 0) & valid[:, :, 0]] = side
        widths = np.minimum.accumulate(first_bad, axis=1)
        area = widths * steps
        best = np.argmax(area, axis=1)  # the first maximum, as the reference's strict '>'
        rows = np.arange(len(g))
        ok = area[rows, best] > 0
        height[s : s + len(g)] = np.where(ok, best + 1, 0)
        width[s : s + len(g)] = np.where(ok, widths[rows, best], 0)
    return height, width


def hash_blocks(
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
    from trm.progress import progress as progress_bar

    n = len(tokens)
    side = canvas_side(tokens.shape[1])
    g3 = np.asarray(tokens).reshape(n, side, side)  # plain ndarray view of a memmap: cheap indexing
    h, w = crop_sizes(tokens) if sizes is None else sizes
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
    for s, e in progress_bar(
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
