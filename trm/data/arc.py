"""The ARC dataset builder: the reference layout, bit for bit, streamed to disk.

It reproduces dataset/build_arc_dataset.py of the TRM reference (same inputs and seed give
identical arrays and equal JSON) without its memory use:

1. Per subset, the tasks are shuffled with numpy's legacy global RNG (seeded once).
2. Per task, augmentations (a dihedral transform and a permutation of colours 1..9) are drawn
   until `num_aug` distinct puzzles exist or `5 * num_aug` tries are spent. Duplicates are
   detected by content, as the reference does with sha256 of the sorted example hashes; here
   the content test is exact but computed in closed form (see `_TaskSymmetry`).
3. Identifiers are assigned in order of first appearance (train split, then test split).
4. Train examples get a random translation inside the 30x30 canvas, except one per puzzle.

`canvas` (default 30, the reference layout) may be smaller: grids are then padded into an
N x N canvas (seq_len N*N) and translated within it. Same draws, smaller rows; a step of a
model on a 10x10 canvas costs about a tenth of one on 30x30. Datasets with N != 30 are outside
the reference layout (reference checkpoints do not apply) and their manifest says so.

All random numbers come from one `LegacyStream`, which reads the raw 32-bit words of a
`np.random.RandomState` in bulk and decodes them exactly as `randint`, `shuffle` and
`permutation` would; so the heavy work (rendering 30x30 grids) can then run vectorised and in
parallel, while the draws stay in the reference order.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trm.data.augment import DIHEDRAL_INVERSE, NAME_SEP, dihedral_transform
from trm.data.format import DatasetMetadata, array_path, write_metadata
from trm.errors import InputError, OutputIncompleteError
from trm.progress import progress as progress_bar
from trm.utils import write_json

ARC_MAX_GRID = 30
REFERENCE_CANVAS = ARC_MAX_GRID  # the reference pads every grid into 30x30
AUGMENT_RETRIES_FACTOR = 5
# The reference always sends this subset's test pairs to the test split (test_set_name2).
REFERENCE_SECOND_TEST_SET = "evaluation2"
TRANSPOSING_TIDS = frozenset({1, 3, 6, 7})  # dihedral ids that swap height and width

PAD_TOKEN, EOS_TOKEN, COLOUR_OFFSET = 0, 1, 2


class ArcInputError(InputError):
    """Bad ARC input: the message names the file, task and field."""


# --------------------------------------------------------------------------------------------
# Tasks: validation
# --------------------------------------------------------------------------------------------


@dataclass
class ArcTask:
    """One validated task. `examples` keeps the JSON order of the "train"/"test" keys, which
    decides the example order inside a puzzle (Kaggle files list "test" first)."""

    task_id: str
    subset: str
    examples: list[tuple[str, np.ndarray, np.ndarray]]  # (kind, input, output), kind train|test
    raw: dict[str, Any]  # the task JSON with test outputs filled in (for test_puzzles.json)
    source: str = ""
    solution_source: str = ""  # the file holding the test outputs (errors name it)

    def pairs(self, kinds: Iterable[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        kinds = set(kinds)
        return [(i, o) for k, i, o in self.examples if k in kinds]


def grid_to_array(grid: Any, where: str) -> np.ndarray:
    """A JSON grid as uint8 [H, W], or an ArcInputError naming `where`."""
    if not isinstance(grid, list) or not grid:
        raise ArcInputError(f"{where}: grid must be a non-empty list of rows, got {_short(grid)}")
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list) or not row:
            raise ArcInputError(f"{where}: row {r} must be a non-empty list, got {_short(row)}")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise ArcInputError(
                f"{where}: grid is not rectangular (row 0 has {width} cells, row {r} has {len(row)})"
            )
        for c, v in enumerate(row):
            if type(v) is not int:
                raise ArcInputError(f"{where}: cell [{r}][{c}] is {v!r}, not an integer colour")
            if not 0 <= v <= 9:
                raise ArcInputError(f"{where}: cell [{r}][{c}] has colour {v}, outside 0..9")
    h, w = len(grid), width
    if h > ARC_MAX_GRID or w > ARC_MAX_GRID:
        raise ArcInputError(f"{where}: grid is {h}x{w}, larger than {ARC_MAX_GRID}x{ARC_MAX_GRID}")
    return np.array(grid, dtype=np.uint8)


def _short(x: Any, n: int = 60) -> str:
    s = repr(x)
    return s if len(s) <= n else s[: n - 3] + "..."


def parse_task(
    task_id: str,
    raw: Any,
    subset: str,
    source: str,
    require_train: bool,
    solution_source: str | None = None,
) -> ArcTask:
    """Validate one task whose test pairs already carry their outputs.

    Errors name `source` (the challenges file), or `solution_source` for test outputs.
    """
    where = f"{source}: task {task_id}"
    sol_where = f"{solution_source or source}: task {task_id}"
    if not isinstance(raw, dict):
        raise ArcInputError(f"{where}: a task must be an object with 'train' and 'test'")
    for key in raw:
        if key not in ("train", "test"):
            raise ArcInputError(f"{where}: unexpected field {key!r} (only 'train' and 'test')")
    for key in ("train", "test"):
        if not isinstance(raw.get(key), list):
            raise ArcInputError(f"{where}: field '{key}' missing or not a list")
    if not raw["test"]:
        raise ArcInputError(f"{where}: field 'test' has no pairs")
    if require_train and not raw["train"]:
        # The reference crashes on this (randint(0, 0)): a test-set task needs demonstrations.
        raise ArcInputError(f"{where}: field 'train' has no pairs (a test-set task needs them)")
    examples = []
    for kind, pairs in raw.items():
        for i, pair in enumerate(pairs):
            if not isinstance(pair, dict):
                raise ArcInputError(f"{where}: {kind}[{i}] must be an object")
            for part in ("input", "output"):
                if part not in pair:
                    what = "solution missing" if kind == "test" and part == "output" else "missing"
                    raise ArcInputError(f"{where}: field {kind}[{i}].{part}: {what}")
            inp = grid_to_array(pair["input"], f"{where}: field {kind}[{i}].input")
            out_where = sol_where if kind == "test" else where
            out = grid_to_array(pair["output"], f"{out_where}: field {kind}[{i}].output")
            examples.append((kind, inp, out))
    return ArcTask(task_id, subset, examples, raw, source, solution_source or source)


def check_canvas(subsets: Sequence[tuple[str, Sequence[ArcTask]]], canvas: int) -> None:
    """Every grid fits an N x N canvas, or an ArcInputError naming the file, task and field."""
    if not 1 <= canvas <= ARC_MAX_GRID:
        raise ArcInputError(f"--canvas must be 1..{ARC_MAX_GRID}, got {canvas}")
    if canvas == ARC_MAX_GRID:
        return  # parse_task already refused grids over 30x30
    for _, tasks in subsets:
        for task in tasks:
            index = {"train": 0, "test": 0}
            for kind, inp, out in task.examples:
                i = index[kind]
                index[kind] += 1
                for part, grid in (("input", inp), ("output", out)):
                    h, w = grid.shape
                    if h > canvas or w > canvas:
                        is_solution = kind == "test" and part == "output"
                        where = task.solution_source if is_solution else task.source
                        raise ArcInputError(
                            f"{where}: task {task.task_id}: field {kind}[{i}].{part}: grid is "
                            f"{h}x{w}, larger than the {canvas}x{canvas} canvas (--canvas {canvas})"
                        )


# --------------------------------------------------------------------------------------------
# Random numbers: numpy's legacy RandomState, decoded in bulk
# --------------------------------------------------------------------------------------------


def _mask_for(rng: int) -> int:
    """Smallest 2^k - 1 >= rng (numpy's rejection-sampling mask)."""
    return (1 << int(rng).bit_length()) - 1


_MASKS = [_mask_for(r) for r in range(64)]


class LegacyStream:
    """The 32-bit output stream of `np.random.RandomState(seed)`, read in bulk.

    `RandomState.randint(0, n)` (n <= 2^32) is `off + (w & mask)` on the next word w, retried
    while it exceeds n - 1, and consumes nothing when n == 1; `shuffle` and `permutation` draw
    `random_interval(i)` the same way for i = n-1 .. 1. Decoding the words ourselves gives the
    same numbers as the reference's calls, in the same order, at numpy speed.
    """

    def __init__(self, seed: int, chunk: int = 1 << 18):
        self._rs = np.random.RandomState(seed)
        self._buf = np.empty(0, dtype=np.uint32)
        self._pos = 0
        self._chunk = chunk
        self.words_used = 0

    def peek(self, n: int) -> np.ndarray:
        """At least the next `n` words (not consumed)."""
        if len(self._buf) - self._pos < n:
            fresh = self._rs.randint(0, 1 << 32, size=max(n, self._chunk), dtype=np.uint32)
            self._buf = np.concatenate([self._buf[self._pos :], fresh])
            self._pos = 0
        return self._buf[self._pos :]

    def advance(self, n: int) -> None:
        assert self._pos + n <= len(self._buf)
        self._pos += n
        self.words_used += n

    def randint(self, n: int) -> int:
        """np.random.randint(0, n)."""
        rng = n - 1
        if rng == 0:
            return 0
        mask = _mask_for(rng)
        while True:
            w = int(self.peek(1)[0])
            self.advance(1)
            if (w & mask) <= rng:
                return w & mask

    def shuffle(self, items: list) -> None:
        """np.random.shuffle(items) on a list, in place."""
        for i in reversed(range(1, len(items))):
            j = self.randint(i + 1)
            items[i], items[j] = items[j], items[i]

    def augmentation_trials(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decode `count` consecutive reference augmentation draws without consuming them.

        One draw is randint(0, 8) then permutation(arange(1, 10)). Returns (tids [count],
        colour maps [count, 10] with 0 -> 0, word offsets of each draw's start [count + 1]).
        """
        steps = list(range(8, 0, -1))  # Fisher-Yates indices of permutation(9)
        n_words = 12 * count + 256
        while True:
            w = self.peek(n_words)[:n_words]
            L = len(w)
            big = np.arange(L + 1, dtype=np.int32)
            # nxt[i][q]: first word at or after q accepted by random_interval(i); L = past the end
            nxt: dict[int, np.ndarray | None] = {}
            for i in steps:
                mask = _mask_for(i)
                if mask == i:  # every word is accepted: the next word
                    nxt[i] = None
                    continue
                idx = np.full(L + 1, L, dtype=np.int32)
                ok = (w & mask) <= i
                idx[:L][ok] = big[:L][ok]
                nxt[i] = np.minimum.accumulate(idx[::-1])[::-1]
            # end[p]: where a draw starting at word p ends (L: runs past the window)
            q = np.minimum(big + 1, L)
            for i in steps:
                nx = nxt[i]
                q = np.minimum((q if nx is None else nx[q]) + 1, L)
            starts = [0] * (count + 1)
            p = 0
            for k in range(count):
                p = int(q[p])
                starts[k + 1] = p
                if p >= L:
                    break
            if starts[count] < L:
                break
            n_words *= 2
        starts_arr = np.asarray(starts[:count], dtype=np.int64)
        tids = (w[starts_arr] & 7).astype(np.int64)
        perm = np.tile(np.arange(1, 10, dtype=np.uint8), (count, 1))
        rows = np.arange(count)
        q = starts_arr + 1
        for i in steps:
            nx = nxt[i]
            a = q if nx is None else nx[q]
            j = w[a] & _mask_for(i)
            q = a + 1
            tmp = perm[rows, i].copy()
            perm[rows, i] = perm[rows, j]
            perm[rows, j] = tmp
        maps = np.concatenate([np.zeros((count, 1), dtype=np.uint8), perm], axis=1)
        return tids, maps, np.asarray(starts, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Duplicate detection in closed form
# --------------------------------------------------------------------------------------------


def _dihedral_tables() -> tuple[np.ndarray, np.ndarray]:
    probe = np.arange(9).reshape(3, 3)
    imgs = [dihedral_transform(probe, t) for t in range(8)]
    comp = np.zeros((8, 8), dtype=np.int64)  # D_comp[a, b] = D_a o D_b
    for a in range(8):
        for b in range(8):
            img = dihedral_transform(dihedral_transform(probe, b), a)
            comp[a, b] = next(c for c in range(8) if np.array_equal(imgs[c], img))
    return comp, np.asarray(DIHEDRAL_INVERSE, dtype=np.int64)


_COMPOSE, _INVERSE = _dihedral_tables()


def _pair_bytes(inp: np.ndarray, out: np.ndarray) -> bytes:
    return bytes(inp.shape) + inp.tobytes() + bytes(out.shape) + out.tobytes()


def puzzle_content(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], tid: int, cmap: np.ndarray
) -> tuple:
    """What the reference's puzzle_hash distinguishes: the multiset of transformed pairs."""
    return tuple(
        sorted(
            _pair_bytes(
                np.ascontiguousarray(dihedral_transform(cmap[i], tid)),
                np.ascontiguousarray(dihedral_transform(cmap[o], tid)),
            )
            for i, o in pairs
        )
    )


class _TaskSymmetry:
    """Which augmentations of one puzzle give the same content.

    Augmentation (t, m) yields m(D_t P); it depends only on t and on m restricted to the
    colours U the puzzle uses. Two augmentations give the same content exactly when they
    differ by a symmetry (d, s) of P (D_d s(P) = P as a multiset of pairs): (t', m') =
    (t d^-1, m s^-1). So the smallest code over that orbit is an exact content key. A colour
    permutation in a symmetry must keep each colour's per-example counts, which limits the
    search; puzzles whose symmetry search would be large use the content itself (`exact`).
    """

    MAX_COLOUR_CANDIDATES = 720

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]):
        self.pairs = pairs
        self._images: dict[int, list[tuple[bytes, np.ndarray, bytes, np.ndarray]]] = {}
        colours = set()
        for i, o in pairs:
            colours.update(np.unique(i).tolist())
            colours.update(np.unique(o).tolist())
        self.used = np.array(sorted(c for c in colours if c != 0), dtype=np.int64)
        self.weights = (10 ** np.arange(len(self.used), dtype=np.int64)) * 8
        signature: dict[tuple, list[int]] = {}
        for c in self.used.tolist():
            sig = tuple(sorted((int((i == c).sum()), int((o == c).sum())) for i, o in pairs))
            signature.setdefault(sig, []).append(c)
        classes = [cs for cs in signature.values() if len(cs) > 1]
        n_candidates = math.prod(math.factorial(len(cs)) for cs in classes)
        self.exact = n_candidates > self.MAX_COLOUR_CANDIDATES
        self.symmetries: list[tuple[int, np.ndarray]] = []  # (d, s^-1 as a 10-entry map)
        if self.exact:
            return
        identity = np.arange(10, dtype=np.uint8)
        original = self.content(0, identity)
        shapes = sorted((i.shape, o.shape) for i, o in pairs)
        swapped = sorted((i.shape[::-1], o.shape[::-1]) for i, o in pairs)
        # a symmetry's dihedral part must keep the multiset of example shapes
        dihedrals = [
            d for d in range(8) if (swapped if d in TRANSPOSING_TIDS else shapes) == shapes
        ]
        for images in itertools.product(*(itertools.permutations(cs) for cs in classes)):
            s = identity.copy()
            for cs, img in zip(classes, images, strict=True):
                s[list(cs)] = img
            s_inv = np.argsort(s).astype(np.uint8)
            for d in dihedrals:
                if (d == 0 and not classes) or self.content(d, s) == original:
                    self.symmetries.append((d, s_inv))
        if not any(d == 0 and np.array_equal(s, identity) for d, s in self.symmetries):
            self.symmetries.insert(0, (0, identity))

    def content(self, tid: int, cmap: np.ndarray) -> tuple:
        """`puzzle_content(self.pairs, tid, cmap)`, with the dihedral images computed once."""
        cached = self._images.get(tid)
        if cached is None:
            cached = []
            for i, o in self.pairs:
                i2 = np.ascontiguousarray(dihedral_transform(i, tid))
                o2 = np.ascontiguousarray(dihedral_transform(o, tid))
                cached.append((bytes(i2.shape), i2, bytes(o2.shape), o2))
            self._images[tid] = cached
        return tuple(
            sorted(si + cmap[i].tobytes() + so + cmap[o].tobytes() for si, i, so, o in cached)
        )

    def keys(self, tids: np.ndarray, maps: np.ndarray) -> np.ndarray:
        """Exact content keys (int64) of augmentations (tids [K], colour maps [K, 10])."""
        best = None
        for d, s_inv in self.symmetries:
            t2 = _COMPOSE[tids, _INVERSE[d]]
            m2 = maps[:, s_inv].astype(np.int64)
            code = t2 + (m2[:, self.used] * self.weights).sum(axis=1)
            best = code if best is None else np.minimum(best, code)
        return best


def select_augmentations(
    stream: LegacyStream, pairs: Sequence[tuple[np.ndarray, np.ndarray]], num_aug: int
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's augmentation loop: distinct augmentations in order of acceptance.

    Consumes exactly the words the reference's loop draws. Returns (tids [n], maps [n, 10]),
    n <= num_aug.
    """
    if num_aug <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 10), dtype=np.uint8)
    tries = AUGMENT_RETRIES_FACTOR * num_aug
    sym = _TaskSymmetry(pairs)
    identity = np.arange(10, dtype=np.uint8)
    if not sym.exact:
        # Most tasks fill up within a few more tries than num_aug: decode those first.
        first_try = min(tries, num_aug + num_aug // 4 + 16)
        tids, maps, starts = stream.augmentation_trials(first_try)
        keys = np.concatenate(
            [sym.keys(np.zeros(1, dtype=np.int64), identity[None]), sym.keys(tids, maps)]
        )
        _, first = np.unique(keys, return_index=True)
        if len(first) - 1 >= num_aug or first_try == tries:
            first.sort()
            acc = first[1 : num_aug + 1] - 1
            used = int(acc[-1]) + 1 if len(acc) >= num_aug else tries
            stream.advance(int(starts[used]))
            return tids[acc], maps[acc]
    tids, maps, starts = stream.augmentation_trials(tries)
    if sym.exact:
        seen = {sym.content(0, identity)}
        accepted: list[int] = []
        for k in range(tries):
            c = sym.content(int(tids[k]), maps[k])
            if c not in seen:
                seen.add(c)
                accepted.append(k)
                if len(accepted) >= num_aug:
                    break
        acc = np.asarray(accepted, dtype=np.int64)
    else:
        keys = np.concatenate(
            [sym.keys(np.zeros(1, dtype=np.int64), identity[None]), sym.keys(tids, maps)]
        )
        _, first = np.unique(keys, return_index=True)
        first.sort()
        acc = first[1:] - 1  # index 0 (the original) is always the first of its key
    acc = acc[:num_aug]
    used = int(acc[-1]) + 1 if len(acc) >= num_aug else tries
    stream.advance(int(starts[used]))
    return tids[acc], maps[acc]


# --------------------------------------------------------------------------------------------
# Plans and layout
# --------------------------------------------------------------------------------------------


@dataclass
class TaskPlan:
    """One task after the augmentation draws: its group of puzzles (original first)."""

    task: ArcTask
    is_test: bool
    tids: np.ndarray  # [P] dihedral ids, 0 for the original
    maps: np.ndarray  # [P, 10] colour maps, identity for the original
    names: list[str] = field(default_factory=list)

    @property
    def n_puzzles(self) -> int:
        return len(self.tids)

    def split_pairs(self, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
        if split == "test":
            return self.task.pairs(["test"]) if self.is_test else []
        return self.task.pairs(["train"] if self.is_test else ["train", "test"])


@dataclass
class ArcBuildResult:
    counts: dict[str, Any]
    shortfalls: list[dict[str, Any]]
    identifiers: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase


def augmented_names(task_id: str, tids: np.ndarray, maps: np.ndarray) -> list[str]:
    """`augmented_name` for many augmentations at once (the digits come from one buffer)."""
    if len(tids) == 0:
        return []
    digits = (np.asarray(maps, dtype=np.uint8) + ord("0")).tobytes().decode("ascii")
    sep = NAME_SEP
    return [
        f"{task_id}{sep}t{t}{sep}{digits[10 * k : 10 * k + 10]}"
        for k, t in enumerate(np.asarray(tids).tolist())
    ]


def plan_tasks(
    subsets: Sequence[tuple[str, Sequence[ArcTask]]],
    test_sets: Sequence[str],
    num_aug: int,
    stream: LegacyStream,
    progress: bool = True,
) -> list[TaskPlan]:
    """Shuffle each subset and draw every task's augmentations, in the reference order."""
    plans = []
    total = sum(len(t) for _, t in subsets)
    bar = progress_bar(total=total, desc="ARC augmentations", unit="task", disable=not progress)
    for subset, tasks in subsets:
        order = list(tasks)
        stream.shuffle(order)
        for task in order:
            pairs = task.pairs(["train", "test"])
            tids, maps = select_augmentations(stream, pairs, num_aug)
            tids = np.concatenate([[0], tids]).astype(np.int64)
            maps = np.concatenate([np.arange(10, dtype=np.uint8)[None], maps]).astype(np.uint8)
            names = [task.task_id] + augmented_names(task.task_id, tids[1:], maps[1:])
            plans.append(TaskPlan(task, subset in test_sets, tids, maps, names))
            bar.update(1)
    bar.close()
    return plans


def _split_layout(plans: Sequence[TaskPlan], split: str) -> list[tuple[int, int, int]]:
    """(plan index, first example row, examples per puzzle) for each group of the split."""
    layout, row = [], 0
    for i, plan in enumerate(plans):
        if split == "test" and not plan.is_test:
            continue
        e = len(plan.split_pairs(split))
        layout.append((i, row, e))
        row += plan.n_puzzles * e
    return layout


# --------------------------------------------------------------------------------------------
# Translations (train split) and rendering
# --------------------------------------------------------------------------------------------


def draw_translations(
    stream: LegacyStream, plan: TaskPlan, pairs: Sequence, canvas: int = ARC_MAX_GRID
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left offsets [P, E] of every train example, drawn as the reference draws them."""
    P, E = plan.n_puzzles, len(pairs)
    hmax = [max(i.shape[0], o.shape[0]) for i, o in pairs]
    wmax = [max(i.shape[1], o.shape[1]) for i, o in pairs]
    room_h = [canvas - h for h in hmax]
    room_w = [canvas - w for w in wmax]
    # index 0: the puzzle keeps the task's orientation; 1: its transform swaps height and width
    rng_r, rng_c = (room_h, room_w), (room_w, room_h)
    transposed = [int(t) in TRANSPOSING_TIDS for t in plan.tids.tolist()]
    pad_r = np.zeros((P, E), dtype=np.int64)
    pad_c = np.zeros((P, E), dtype=np.int64)
    budget = 3 * P * (1 + 2 * E) + 64
    masks = _MASKS
    while True:
        words = stream.peek(budget)[:budget].tolist()
        q = 0
        try:
            for k in range(P):
                # no_aug_id = randint(0, E)
                no_aug = 0
                if E > 1:
                    m = masks[E - 1]
                    while True:
                        v = words[q] & m
                        q += 1
                        if v <= E - 1:
                            break
                    no_aug = v
                rr, rc = rng_r[transposed[k]], rng_c[transposed[k]]
                row_r, row_c = pad_r[k], pad_c[k]
                for e in range(E):
                    if e == no_aug:
                        continue
                    for rng, dest in ((rr[e], row_r), (rc[e], row_c)):
                        if rng == 0:
                            continue  # randint(0, 1): no draw
                        m = masks[rng]
                        while True:
                            v = words[q] & m
                            q += 1
                            if v <= rng:
                                break
                        dest[e] = v
            break
        except IndexError:
            budget *= 2
    stream.advance(q)
    return pad_r, pad_c


def _token_base(grid: np.ndarray) -> np.ndarray:
    """Tokens of a grid at offset (0, 0) with its end-of-grid row and column: [h+1, w+1]."""
    h, w = grid.shape
    base = np.zeros((h + 1, w + 1), dtype=np.uint8)
    base[:h, :w] = grid + COLOUR_OFFSET
    base[h, :w] = EOS_TOKEN
    base[:h, w] = EOS_TOKEN
    return base


def render_group(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    tids: np.ndarray,
    maps: np.ndarray,
    pad_r: np.ndarray | None,
    pad_c: np.ndarray | None,
    canvas: int = ARC_MAX_GRID,
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels [P * E, canvas^2] of one group, puzzle-major, vectorised over puzzles."""
    P, E = len(tids), len(pairs)
    seq_len = canvas * canvas
    # token lookup per puzzle: pad and EOS stay, colour c becomes token 2 + map[c]
    luts = np.zeros((P, 2 + 10), dtype=np.uint8)
    luts[:, EOS_TOKEN] = EOS_TOKEN
    luts[:, COLOUR_OFFSET:] = maps + COLOUR_OFFSET
    groups = [(t, np.nonzero(tids == t)[0]) for t in np.unique(tids).tolist()]
    dump = P * E * seq_len  # one extra cell takes what falls off the canvas
    out = []
    for which in (0, 1):
        flat = np.zeros(dump + 1, dtype=np.uint8)
        for e, pair in enumerate(pairs):
            grid = pair[which]
            for t, sel in groups:
                base = _token_base(np.ascontiguousarray(dihedral_transform(grid, t)))
                row_start = (sel * E + e) * seq_len
                if pad_r is None:
                    base = base[:canvas, :canvas]  # a full-canvas side has no end marker
                    hh, ww = base.shape
                    cell = np.arange(hh)[:, None] * canvas + np.arange(ww)[None, :]
                    idx = row_start[:, None, None] + cell[None]
                else:
                    hh, ww = base.shape
                    ii = pad_r[sel, e][:, None, None] + np.arange(hh)[None, :, None]
                    jj = pad_c[sel, e][:, None, None] + np.arange(ww)[None, None, :]
                    idx = row_start[:, None, None] + ii * canvas + jj
                    # an end marker past the canvas edge is dropped (as in the reference)
                    idx = np.where((ii < canvas) & (jj < canvas), idx, dump)
                flat[idx] = luts[sel][:, base]
        out.append(flat[:dump].reshape(P * E, seq_len))
    return out[0], out[1]


RowFile = tuple[str, int]  # an .npy file's path and the byte offset of its data


@dataclass(frozen=True)
class RenderJob:
    """One task group's rows, self-contained so that any process can render and write it."""

    pairs: list[tuple[np.ndarray, np.ndarray]]
    tids: np.ndarray
    maps: np.ndarray
    pad_r: np.ndarray | None
    pad_c: np.ndarray | None
    canvas: int
    row0: int
    files: dict[str, RowFile]


_OPEN_FDS: dict[str, int] = {}  # this process's write descriptors, by array path


def _render_job(job: RenderJob) -> int:
    inputs, labels = render_group(job.pairs, job.tids, job.maps, job.pad_r, job.pad_c, job.canvas)
    for name, arr in (("inputs", inputs), ("labels", labels)):
        path, offset = job.files[name]
        if path not in _OPEN_FDS:
            _OPEN_FDS[path] = os.open(path, os.O_WRONLY)
        # arr is C-contiguous: written without a copy
        os.pwrite(_OPEN_FDS[path], arr, offset + job.row0 * job.canvas * job.canvas)
    return len(inputs)


def _close_fds() -> None:
    while _OPEN_FDS:
        os.close(_OPEN_FDS.popitem()[1])


def _open_row_arrays(out_dir: Path, split: str, rows: int, seq_len: int) -> dict[str, RowFile]:
    """Create inputs/labels .npy files of the final size; return (path, data offset) for each."""
    files = {}
    for name in ("inputs", "labels"):
        path = array_path(out_dir, split, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, seq_len))
        files[name] = (str(path), mm.offset)
        del mm
    return files


def _ignore_ctrl_c() -> None:
    """Pool initializer: Ctrl-C is the parent's to handle; it then stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _render_in_pool(jobs: Iterable[RenderJob], workers: int) -> Iterator[int]:
    """Render jobs in `workers` fresh processes; yields the rows each finished job wrote.

    The workers come from a forkserver (spawn where there is none), never a fork of this
    process: a fork inherits this process's signal handlers and whatever locks its other
    threads (torch's pools, progress monitors, a test runner's) held at that instant, and a
    worker stuck on either never exits. So, as for any multiprocessing code, a *script* that
    calls this must guard its entry point with `if __name__ == "__main__":` (the `trm` command
    and the workflow's jobs do). A worker that dies (e.g. the OOM killer) fails the build
    instead of hanging it, and the pool ends by sentinels, not signals. At most 4 jobs per
    worker are in flight, so the translation draws stream instead of piling up.
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload([__name__])  # workers fork from a server that imported us
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_ctrl_c)
    pending: set[Future[int]] = set()
    try:
        for job in jobs:
            if len(pending) >= 4 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
            pending.add(pool.submit(_render_job, job))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in done)
    except BrokenProcessPool as e:
        raise OutputIncompleteError(
            "a process rendering the arrays died (killed by a signal, e.g. out of memory)"
        ) from e
    finally:
        # Ctrl-C or an error: drop the queued jobs; running ones end within one task group.
        pool.shutdown(wait=True, cancel_futures=True)


def _jobs(
    plans: Sequence[TaskPlan],
    split: str,
    layout: list[tuple[int, int, int]],
    stream: LegacyStream | None,
    canvas: int,
    files: dict[str, RowFile],
) -> Iterator[RenderJob]:
    for plan_idx, row0, _e in layout:
        plan = plans[plan_idx]
        pairs = plan.split_pairs(split)
        pad_r = pad_c = None
        if stream is not None:
            pad_r, pad_c = draw_translations(stream, plan, pairs, canvas)
            pad_r, pad_c = pad_r.astype(np.int16), pad_c.astype(np.int16)
        yield RenderJob(pairs, plan.tids, plan.maps, pad_r, pad_c, canvas, row0, files)


def write_split(
    out_dir: Path,
    plans: Sequence[TaskPlan],
    split: str,
    identifier_of: dict[str, int],
    num_identifiers: int,
    stream: LegacyStream | None,
    workers: int,
    progress: bool,
    canvas: int = ARC_MAX_GRID,
) -> dict[str, int]:
    """Write one split's five arrays and dataset.json; returns its counts."""
    layout = _split_layout(plans, split)
    rows = sum(plans[i].n_puzzles * e for i, _, e in layout)
    puzzle_indices = [0]
    group_indices = [0]
    identifiers = []
    for plan_idx, row0, e in layout:
        plan = plans[plan_idx]
        identifiers.extend(identifier_of[n] for n in plan.names)
        puzzle_indices.extend(row0 + e * np.arange(1, plan.n_puzzles + 1))
        group_indices.append(group_indices[-1] + plan.n_puzzles)
    files = _open_row_arrays(out_dir, split, rows, canvas * canvas)
    jobs = _jobs(plans, split, layout, stream, canvas, files)
    bar = progress_bar(total=rows, desc=f"ARC {split} examples", unit="ex", disable=not progress)
    if workers > 1 and len(layout) > 1:
        for n in _render_in_pool(jobs, workers):
            bar.update(n)
    else:
        try:
            for job in jobs:
                bar.update(_render_job(job))
        finally:
            _close_fds()
    bar.close()
    np.save(
        array_path(out_dir, split, "puzzle_identifiers"), np.asarray(identifiers, dtype=np.int32)
    )
    np.save(
        array_path(out_dir, split, "puzzle_indices"), np.asarray(puzzle_indices, dtype=np.int32)
    )
    np.save(array_path(out_dir, split, "group_indices"), np.asarray(group_indices, dtype=np.int32))
    puzzles = len(identifiers)
    write_metadata(
        out_dir,
        split,
        DatasetMetadata(
            pad_id=PAD_TOKEN,
            ignore_label_id=0,
            blank_identifier_id=0,
            vocab_size=10 + 2,
            seq_len=canvas * canvas,
            num_puzzle_identifiers=num_identifiers,
            total_groups=len(layout),
            mean_puzzle_examples=rows / puzzles if puzzles else 0.0,
            total_puzzles=puzzles,
        ),
    )
    return {"groups": len(layout), "puzzles": puzzles, "examples": rows}


def build_arc_dataset(
    out_dir: str | os.PathLike,
    subsets: Sequence[tuple[str, Sequence[ArcTask]]],
    *,
    test_sets: Sequence[str],
    num_aug: int = 1000,
    seed: int = 42,
    splits: Sequence[str] = ("train", "test"),
    workers: int | None = None,
    progress: bool = True,
    canvas: int = REFERENCE_CANVAS,
) -> ArcBuildResult:
    """Write the reference ARC layout for validated tasks into `out_dir` (an empty folder).

    `subsets` is [(subset name, tasks in file order)], processed in that order; tasks of the
    subsets in `test_sets` send their test pairs to the test split. `splits=("test",)` writes
    only the test split, identifiers.json and test_puzzles.json, with the same identifiers as
    the full build. `canvas` < 30 pads grids into N x N instead (outside the reference
    layout; grids must fit). `workers` > 1 renders in fresh processes (a forkserver), so a
    script that calls this needs the usual `if __name__ == "__main__":` guard. Callers wrap
    this in `trm.utils.atomic_dir`.
    """
    out_dir = Path(out_dir)
    for s in splits:
        if s not in ("train", "test"):
            raise InputError(f"unknown split {s!r}: expected train and/or test")
    if num_aug < 0:
        raise InputError(f"--num-aug must be >= 0, got {num_aug}")
    check_canvas(subsets, canvas)
    test_sets = list(test_sets)
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    stream = LegacyStream(seed)
    plans = plan_tasks(subsets, test_sets, num_aug, stream, progress)

    # Identifiers in order of first appearance: the train split's groups, then the test split's.
    identifier_of: dict[str, int] = {}
    for split in ("train", "test"):
        for plan_idx, _, _ in _split_layout(plans, split):
            for name in plans[plan_idx].names:
                identifier_of.setdefault(name, len(identifier_of) + 1)
    num_identifiers = len(identifier_of) + 1
    timings["augmentations"] = time.perf_counter() - clock

    counts: dict[str, Any] = {
        "tasks": len(plans),
        "tasks_per_subset": {name: len(tasks) for name, tasks in subsets},
        "identifiers": num_identifiers,
        "augmentation_draws_words": stream.words_used,
    }
    for split in ("train", "test"):  # train first: its translations continue the stream
        if split in splits:
            split_stream = stream if split == "train" else None
            clock = time.perf_counter()
            counts[split] = write_split(
                out_dir,
                plans,
                split,
                identifier_of,
                num_identifiers,
                split_stream,
                workers,
                progress,
                canvas,
            )
            timings[f"{split}_split"] = time.perf_counter() - clock
    clock = time.perf_counter()
    names = ["<blank>"] + list(identifier_of)
    write_json(out_dir / "identifiers.json", names, indent=None)
    test_puzzles = {p.task.task_id: p.task.raw for p in plans if p.is_test}
    write_json(out_dir / "test_puzzles.json", test_puzzles, indent=None)
    shortfalls = [
        {
            "task": p.task.task_id,
            "subset": p.task.subset,
            "augmentations": p.n_puzzles - 1,
            "requested": num_aug,
            "missing": num_aug - (p.n_puzzles - 1),
        }
        for p in plans
        if p.n_puzzles - 1 < num_aug
    ]
    counts["tasks_short_of_num_aug"] = len(shortfalls)
    timings["json"] = time.perf_counter() - clock
    return ArcBuildResult(
        counts=counts,
        shortfalls=shortfalls,
        identifiers=num_identifiers,
        timings={k: round(v, 2) for k, v in timings.items()},
    )
