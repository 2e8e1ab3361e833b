"""Sudoku-Extreme in the reference layout, plus an offline generator of unique-solution puzzles.

Tokens (the reference scheme, for every grid size): 0 pad, 1 blank, 1 + d for digit d, so a
9x9 dataset has vocab 11 and seq_len 81 exactly like the reference, and a 4x4 dataset (the CPU
smoke run) has vocab 6 and seq_len 16. Only the train split is subsampled and augmented; each
augmentation is a validity-preserving shuffle (digit permutation, band/stack permutation, row and
column permutation inside bands/stacks, optional transpose) drawn from a seeded generator.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from trm.data import puzzle_csv as pc
from trm.data.grid_prepare import SOURCE_HELP, GridKind, Grids, GridSettings
from trm.errors import InputError
from trm.settings import count, setting

SUPPORTED_SIZES: tuple[int, ...] = (4, 9)
DEFAULT_HF_SOURCE = "hf:sapientinc/sudoku-extreme"
_AUG_CHUNK = 256  # puzzles per vectorised augmentation chunk (bounds index-array memory)
_PARSE_CHUNK = 100_000  # CSV rows converted and validated at a time
# 10x the paper's 1000 shuffles per puzzle (its 1000 puzzles x 1000 shuffles are 1M rows)
MAX_NUM_AUG = 10_000


def vocab_size_for(size: int) -> int:
    """pad + blank + `size` digits (11 for 9x9, as the reference)."""
    return size + 2


@dataclass(frozen=True)
class Geometry:
    """Cell -> row/column/box lookup tables for a `size` x `size` Sudoku."""

    size: int
    box: int
    row_of: tuple[int, ...]
    col_of: tuple[int, ...]
    box_of: tuple[int, ...]
    units: np.ndarray  # [3*size, size] cell indices of every row, column and box

    @property
    def cells(self) -> int:
        return self.size * self.size


@cache
def geometry(size: int) -> Geometry:
    if size not in SUPPORTED_SIZES:
        raise InputError(f"Sudoku size must be one of {SUPPORTED_SIZES}, got {size}")
    box = math.isqrt(size)
    cells = range(size * size)
    row_of = tuple(c // size for c in cells)
    col_of = tuple(c % size for c in cells)
    box_of = tuple((c // size) // box * box + (c % size) // box for c in cells)
    units = []
    for u in range(size):
        units.append([c for c in cells if row_of[c] == u])
        units.append([c for c in cells if col_of[c] == u])
        units.append([c for c in cells if box_of[c] == u])
    return Geometry(size, box, row_of, col_of, box_of, np.array(units, dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# exact solver (bitmask depth-first search, most-constrained cell first)


@dataclass
class SearchResult:
    solutions: int  # number found, capped at the search limit
    backtracks: int  # dead ends met (cells with no candidate): the difficulty rating
    first: list[int] | None  # the first solution found


def search(
    grid: list[int] | np.ndarray, size: int, limit: int = 2, rnd: random.Random | None = None
) -> SearchResult:
    """Count solutions of `grid` (flat, 0 = blank, digits 1..size) up to `limit`.

    Deterministic unless `rnd` is given, in which case candidate digits are tried in random
    order (used to draw random solved grids). Contradictory clues give 0 solutions.
    """
    geo = geometry(size)
    full = (1 << size) - 1
    R, C, B = geo.row_of, geo.col_of, geo.box_of
    g = [int(v) for v in grid]
    rows = [0] * size
    cols = [0] * size
    boxes = [0] * size
    for c, v in enumerate(g):
        if v:
            if not 1 <= v <= size:
                raise InputError(f"cell {c} holds {v}, outside 1..{size}")
            bit = 1 << (v - 1)
            if (rows[R[c]] | cols[C[c]] | boxes[B[c]]) & bit:
                return SearchResult(0, 0, None)
            rows[R[c]] |= bit
            cols[C[c]] |= bit
            boxes[B[c]] |= bit
    empties = [c for c in range(geo.cells) if not g[c]]
    n_empty = len(empties)
    state = SearchResult(0, 0, None)

    def rec(d: int) -> bool:  # True = stop (limit reached)
        if d == n_empty:
            state.solutions += 1
            if state.first is None:
                state.first = g.copy()
            return state.solutions >= limit
        best, best_mask, best_n = -1, 0, size + 1
        for j in range(d, n_empty):
            c = empties[j]
            m = full & ~(rows[R[c]] | cols[C[c]] | boxes[B[c]])
            if not m:
                state.backtracks += 1
                return False
            n = m.bit_count()
            if n < best_n:
                best, best_mask, best_n = j, m, n
                if n == 1:
                    break
        empties[d], empties[best] = empties[best], empties[d]
        c = empties[d]
        r, k, b = R[c], C[c], B[c]
        digits = [v for v in range(1, size + 1) if best_mask >> (v - 1) & 1]
        if rnd is not None:
            rnd.shuffle(digits)
        for v in digits:
            bit = 1 << (v - 1)
            rows[r] |= bit
            cols[k] |= bit
            boxes[b] |= bit
            g[c] = v
            stop = rec(d + 1)
            rows[r] ^= bit
            cols[k] ^= bit
            boxes[b] ^= bit
            if stop:
                return True
        g[c] = 0
        return False

    rec(0)
    return state


def count_solutions(grid: list[int] | np.ndarray, size: int, limit: int = 2) -> int:
    return search(grid, size, limit).solutions


def rating(grid: list[int] | np.ndarray, size: int) -> int:
    """Dead ends the deterministic solver meets before its first solution (0 = no guessing)."""
    return search(grid, size, limit=1).backtracks


def random_solution(rnd: random.Random, size: int) -> list[int]:
    return search([0] * (size * size), size, limit=1, rnd=rnd).first  # type: ignore[return-value]


def generate_puzzle(rnd: random.Random, size: int) -> tuple[list[int], list[int], int]:
    """(puzzle, solution, rating): a random solved grid with clues removed in random order as
    long as the solution stays unique, so the result is minimal and has exactly one solution."""
    solution = random_solution(rnd, size)
    puzzle = solution.copy()
    order = list(range(size * size))
    rnd.shuffle(order)
    for c in order:
        v = puzzle[c]
        puzzle[c] = 0
        if count_solutions(puzzle, size, limit=2) != 1:
            puzzle[c] = v
    return puzzle, solution, rating(puzzle, size)


def grid_to_string(grid: list[int], blank: str = ".") -> str:
    return "".join(str(v) if v else blank for v in grid)


def generate_sudoku_records(
    size: int, count: int, seed: int, min_rating: int | None = None, progress: bool = True
) -> list[pc.Record]:
    """`count` distinct unique-solution puzzles as CSV records (source, q, a, rating)."""
    geometry(size)  # validates the size
    np_rng = pc.rng_for(seed, pc.STREAM_GENERATE)
    rnd = random.Random(int(np_rng.integers(2**62)))
    max_attempts = 20 * count + 200
    attempts = 0

    def draw(kept: int) -> pc.Record | None:
        nonlocal attempts
        if attempts >= max_attempts:
            raise InputError(
                f"generated only {kept} of {count} distinct {size}x{size} puzzles"
                f"{f' with rating >= {min_rating}' if min_rating is not None else ''} in "
                f"{attempts} attempts; lower --num or --min-rating"
            )
        attempts += 1
        puzzle, solution, r = generate_puzzle(rnd, size)
        if min_rating is not None and r < min_rating:
            return None
        return (f"generated-{size}x{size}", grid_to_string(puzzle), grid_to_string(solution), r)

    return pc.distinct_records(
        count, draw, desc=f"generate {size}x{size} sudoku", unit=" puzzles", progress=progress
    )


# ---------------------------------------------------------------------------------------------
# parsing and validation


def invalid_solutions(labels: np.ndarray, size: int) -> np.ndarray:
    """[N] bool: rows of `labels` ([N, size*size], digits 1..size) that are not a solved grid.

    A unit holds each digit once iff the sum of 2**digit over its cells has `size` bits set at
    1..size: `size` powers of two can only sum to a number with `size` set bits if all differ.
    """
    geo = geometry(size)
    bits = np.left_shift(1, labels.astype(np.int32))  # [N, cells]
    sums = bits[:, geo.units].sum(axis=-1)  # [N, 3*size]
    return ~(sums == (1 << (size + 1)) - 2).all(axis=1)


def parse_sudoku_rows(
    rows: pc.PuzzleRows, size: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """(questions, answers, size): [N, size*size] uint8 digit arrays (0 = blank) from CSV rows,
    checked: lengths, characters, complete answers, valid solved grids agreeing with the clues."""
    if size is None:
        if not len(rows):
            raise pc.PuzzleCsvError(f"{rows.path}: no puzzles")
        n = len(rows.questions[0])
        size = math.isqrt(n)
        if size * size != n or size not in SUPPORTED_SIZES:
            raise pc.PuzzleCsvError(
                f"{rows.where(0, 'q')} has length {n}; expected 16 (4x4) or 81 (9x9) cells"
            )
    cells = size * size
    pc.check_lengths(rows, "q", rows.questions, cells)
    pc.check_lengths(rows, "a", rows.answers, cells)
    questions = np.empty((len(rows), cells), dtype=np.uint8)
    answers = np.empty((len(rows), cells), dtype=np.uint8)
    # in chunks: the full Sudoku-Extreme train split has 3.8M rows
    for s in range(0, len(rows), _PARSE_CHUNK):
        e = min(len(rows), s + _PARSE_CHUNK)
        questions[s:e], answers[s:e] = _parse_chunk(rows, s, e, size)
    return questions, answers, size


def _parse_chunk(rows: pc.PuzzleRows, s: int, e: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    cells = size * size
    q = pc.strings_to_bytes(rows.questions[s:e], cells)
    a = pc.strings_to_bytes(rows.answers[s:e], cells)
    q = np.where(q == ord("."), ord("0"), q).astype(np.int16) - ord("0")
    a = a.astype(np.int16) - ord("0")
    bad = pc.first_bad((q < 0) | (q > size))
    if bad is not None:
        i, c = bad[0] + s, bad[1]
        raise pc.PuzzleCsvError(
            f"{rows.where(i, 'q')}: character {rows.questions[i][c]!r} at cell {c} "
            f"(row {c // size + 1}, column {c % size + 1}) is not '.', '0' or a digit 1..{size}"
        )
    bad = pc.first_bad((a < 1) | (a > size))
    if bad is not None:
        i, c = bad[0] + s, bad[1]
        ch = rows.answers[i][c]
        what = "a blank (missing solution digit)" if ch in ".0" else f"character {ch!r}"
        raise pc.PuzzleCsvError(
            f"{rows.where(i, 'a')}: {what} at cell {c} (row {c // size + 1}, column {c % size + 1}); "
            f"the answer must be a complete grid of digits 1..{size}"
        )
    bad = pc.first_bad((q != 0) & (q != a))
    if bad is not None:
        i, c = bad
        raise pc.PuzzleCsvError(
            f"{rows.where(i + s, 'a')}: cell {c} (row {c // size + 1}, column {c % size + 1}) is "
            f"{a[i, c]} but the clue in 'q' is {q[i, c]}"
        )
    wrong = np.flatnonzero(invalid_solutions(a, size))
    if len(wrong):
        raise pc.PuzzleCsvError(
            f"{rows.where(int(wrong[0]) + s, 'a')}: not a valid solved Sudoku (a row, column or box "
            "repeats a digit)"
        )
    return q.astype(np.uint8), a.astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# augmentation


def _random_perms(rng: np.random.Generator, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Independent random permutations of range(n), shape + (n,)."""
    return np.argsort(rng.random((*shape, n)), axis=-1)


def shuffle_sudoku_batch(
    rng: np.random.Generator, questions: np.ndarray, answers: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One random validity-preserving shuffle per row of `questions`/`answers` ([M, size*size],
    0 = blank): the reference's transform (optional transpose, then bands/stacks and rows/columns
    within them permuted, then digits relabelled; blank stays blank), vectorised."""
    m = questions.shape[0]
    box = geometry(size).box
    digit_map = np.zeros((m, size + 1), dtype=np.uint8)
    digit_map[:, 1:] = _random_perms(rng, (m,), size) + 1
    transpose = rng.random(m) < 0.5

    def line_perm() -> np.ndarray:  # [m, size]: bands shuffled, lines inside each band shuffled
        bands = _random_perms(rng, (m,), box)  # [m, box]
        inner = _random_perms(rng, (m, box), box)  # [m, box, box]
        return (bands[:, :, None] * box + inner).reshape(m, size)

    row_perm = line_perm()
    col_perm = line_perm()
    # new cell (r, c) takes old cell (row_perm[r], col_perm[c]) of the (possibly transposed) grid
    mapping = row_perm[:, :, None] * size + col_perm[:, None, :]
    mapping = mapping.reshape(m, size * size)

    def apply(x: np.ndarray) -> np.ndarray:
        grid = x.reshape(m, size, size)
        grid = np.where(transpose[:, None, None], grid.transpose(0, 2, 1), grid).reshape(m, -1)
        moved = np.take_along_axis(grid, mapping, axis=1)
        return np.take_along_axis(digit_map, moved.astype(np.int64), axis=1)

    return apply(questions), apply(answers)


def augment_sudoku(
    rng: np.random.Generator,
    questions: np.ndarray,
    answers: np.ndarray,
    size: int,
    num_aug: int,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """[N*(1+num_aug), cells] arrays: each original followed by its `num_aug` shuffles."""
    n, cells = questions.shape
    if num_aug == 0:
        return questions, answers
    out_q = np.empty((n, 1 + num_aug, cells), dtype=np.uint8)
    out_a = np.empty_like(out_q)
    out_q[:, 0] = questions
    out_a[:, 0] = answers
    starts = range(0, n, _AUG_CHUNK)
    if progress:
        from trm.progress import progress as progress_bar

        starts = progress_bar(starts, desc="augment sudoku", unit=" chunks", mininterval=1.0)
    for s in starts:
        e = min(n, s + _AUG_CHUNK)
        rep_q = np.repeat(questions[s:e], num_aug, axis=0)
        rep_a = np.repeat(answers[s:e], num_aug, axis=0)
        sq, sa = shuffle_sudoku_batch(rng, rep_q, rep_a, size)
        out_q[s:e, 1:] = sq.reshape(e - s, num_aug, cells)
        out_a[s:e, 1:] = sa.reshape(e - s, num_aug, cells)
    return out_q.reshape(-1, cells), out_a.reshape(-1, cells)


# ---------------------------------------------------------------------------------------------
# the build


def decode_tokens(tokens: np.ndarray) -> np.ndarray:
    """Dataset tokens -> digits (0 = blank)."""
    return tokens.astype(np.int16) - 1


@dataclass(kw_only=True)
class SudokuSettings(GridSettings):
    """What a Sudoku dataset is built from (the workflow's `dataset` section, kind sudoku)."""

    source: str = setting(DEFAULT_HF_SOURCE, help=SOURCE_HELP)
    size: int | None = setting(
        None,
        choices=SUPPORTED_SIZES,
        help="grid size: generated puzzles (default 9); for CSV sources, the size every row "
        "must have",
    )
    num_aug: int = setting(
        0,
        check=count(0, MAX_NUM_AUG),
        help="validity-preserving shuffles per train puzzle (the paper: 1000)",
    )
    min_rating: int | None = setting(
        None,
        check=count(0),
        help="keep puzzles whose rating (solver dead ends) is at least this, in both splits "
        "(the reference's min_difficulty)",
    )


class _Sudoku(GridKind):
    name, noun, default_size = "sudoku", "puzzles", 9

    def params(self, s: SudokuSettings) -> dict[str, Any]:
        return {"min_rating": s.min_rating}

    def generate(self, s: SudokuSettings, size: int, n: int, progress: bool) -> list[pc.Record]:
        return generate_sudoku_records(size, n, s.seed, s.min_rating, progress)

    def parse(
        self, s: SudokuSettings, rows: pc.PuzzleRows, size: int | None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        return parse_sudoku_rows(rows, size)

    def keep(
        self,
        s: SudokuSettings,
        rows: pc.PuzzleRows,
        q: np.ndarray,
        a: np.ndarray,
        counts: dict[str, int],
    ) -> tuple[np.ndarray, np.ndarray]:
        if s.min_rating is None:
            return q, a
        keep = pc.parse_ratings(rows) >= s.min_rating
        counts["after_min_rating"] = int(keep.sum())
        return q[keep], a[keep]

    def examples(
        self, s: SudokuSettings, grids: Grids, size: int, num_aug: int, progress: bool
    ) -> Grids:
        rng = pc.rng_for(s.seed, pc.STREAM_AUGMENT)
        q, a = augment_sudoku(rng, *grids, size, num_aug, progress)
        return q + 1, a + 1  # digits -> tokens

    def vocab_size(self, size: int) -> int:
        return vocab_size_for(size)

    def metadata(self, size: int) -> dict[str, Any] | None:
        return None if size == 9 else {"grid_size": size, "tokens": "0 pad, 1 blank, 1+d digit d"}

    def puzzle_info(self, s: SudokuSettings, size: int) -> dict[str, Any]:
        return {
            "kind": "sudoku",
            "grid_size": size,
            "box_size": geometry(size).box,
            "tokens": {"pad": 0, "blank": 1, "digit d": "1 + d"},
            "vocab_size": vocab_size_for(size),
            "augmented_splits": ["train"] if s.num_aug else [],
        }


SUDOKU = _Sudoku()
prepare_sudoku = SUDOKU.prepare  # the build `trm prepare sudoku` runs (trm.kinds)
