"""Distinct augmentations of an ARC task, as the reference keeps them, in closed form.

The reference draws augmentations (a dihedral transform and a permutation of colours 1..9)
until `num_aug` puzzles with distinct content exist or `5 * num_aug` tries are spent, comparing
contents through sha256 of the sorted per-example hashes. Here the content test is exact but
computed from the task's symmetries (`TaskSymmetry`), for all tries at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from trm.data.arc_stream import LegacyStream
from trm.data.augment import DIHEDRAL_INVERSE, TRANSPOSING_TIDS, dihedral_transform

AUGMENT_RETRIES_FACTOR = 5


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


class TaskSymmetry:
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
    sym = TaskSymmetry(pairs)
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
