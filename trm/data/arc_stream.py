"""The reference's random draws: numpy's legacy `RandomState`, decoded in bulk.

The reference builder seeds numpy's global RNG once and calls `randint`, `shuffle` and
`permutation` draw by draw. `LegacyStream` reads the same raw 32-bit words in large blocks and
decodes them exactly as those calls would, so the same numbers come out in the same order at
numpy speed: the augmentation tries of a task (`augmentation_trials`) and the translations of
the train examples (`draw_translations`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trm.data.augment import TRANSPOSING_TIDS


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


def draw_translations(
    stream: LegacyStream,
    tids: np.ndarray,
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    canvas: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left offsets [P, E] of every train example of a group whose P puzzles have the
    dihedral ids `tids`, drawn as the reference draws them (numpy's randint per example)."""
    P, E = len(tids), len(pairs)
    hmax = [max(i.shape[0], o.shape[0]) for i, o in pairs]
    wmax = [max(i.shape[1], o.shape[1]) for i, o in pairs]
    room_h = [canvas - h for h in hmax]
    room_w = [canvas - w for w in wmax]
    # index 0: the puzzle keeps the task's orientation; 1: its transform swaps height and width
    rng_r, rng_c = (room_h, room_w), (room_w, room_h)
    transposed = [int(t) in TRANSPOSING_TIDS for t in np.asarray(tids).tolist()]
    pad_r = np.zeros((P, E), dtype=np.int64)
    pad_c = np.zeros((P, E), dtype=np.int64)
    budget = 3 * P * (1 + 2 * E) + 64
    masks = _MASKS  # rng <= canvas - 1 < 64: a lookup
    no_aug_mask = _mask_for(E - 1)  # computed, not looked up: a task may have 64+ examples
    while True:
        words = stream.peek(budget)[:budget].tolist()
        q = 0
        try:
            for k in range(P):
                # no_aug_id = randint(0, E)
                no_aug = 0
                if E > 1:
                    while True:
                        v = words[q] & no_aug_mask
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
