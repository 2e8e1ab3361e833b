"""Maze-Hard in the reference layout, plus an offline generator of mazes with long shortest paths.

Grids are strings over the reference charset "# SGo" (wall, open, start, goal, path), tokens
1..5 with 0 = pad: vocab 6, seq_len N*N (900 for the reference 30x30). The label is the input
with the cells strictly between S and G on the shortest path marked 'o'. Only the train split
is augmented, by the dihedral transforms 1..K (the reference uses all 8, i.e. K = 7).

The generator carves a random spanning-tree maze on the even lattice cells (so corridors are one
cell wide), opens a fraction of the remaining inner walls to create loops, then places S and G so
that the shortest path is at least `min_path_length` moves long and is the only shortest path
(the label is then well defined).
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from trm.data import puzzle_csv as pc
from trm.data.augment import dihedral_transform
from trm.data.grid_prepare import SOURCE_HELP, GridKind, Grids, GridSettings
from trm.errors import InputError
from trm.settings import PROBABILITY, count, setting
from trm.settings import size as size_range

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = CHARSET
VOCAB_SIZE = len(CHARSET) + 1  # pad + charset
MAX_SIZE = 30
MIN_SIZE = 4
DEFAULT_HF_SOURCE = "hf:sapientinc/maze-30x30-hard-1k"
DEFAULT_NUM_AUG = 7  # all 8 dihedral transforms, as the reference's --aug
DEFAULT_LOOP_FRACTION = 0.02  # more loops shorten paths below the "hard" threshold

_CHAR_TO_TOKEN = np.zeros(256, dtype=np.uint8)
_CHAR_TO_TOKEN[np.frombuffer(CHARSET.encode(), dtype=np.uint8)] = np.arange(1, len(CHARSET) + 1)
_TOKEN_TO_CHAR = np.frombuffer(b"\0" + CHARSET.encode(), dtype=np.uint8)


def default_min_path_length(size: int) -> int:
    """The "hard" threshold: size*size/8 moves (112 for 30x30, close to the reference's 110)."""
    return size * size // 8


@cache
def _neighbours(size: int) -> tuple[tuple[int, ...], ...]:
    out = []
    for c in range(size * size):
        r, k = divmod(c, size)
        nb = []
        if r > 0:
            nb.append(c - size)
        if r < size - 1:
            nb.append(c + size)
        if k > 0:
            nb.append(c - 1)
        if k < size - 1:
            nb.append(c + 1)
        out.append(tuple(nb))
    return tuple(out)


def bfs(open_cells: list[bool] | np.ndarray, size: int, start: int) -> tuple[list[int], list[int]]:
    """(distance, number of shortest paths capped at 2) from `start` to every cell; -1 = unreachable."""
    nbs = _neighbours(size)
    dist = [-1] * (size * size)
    ways = [0] * (size * size)
    dist[start] = 0
    ways[start] = 1
    queue = deque([start])
    while queue:
        c = queue.popleft()
        dc = dist[c] + 1
        for n in nbs[c]:
            if not open_cells[n]:
                continue
            if dist[n] < 0:
                dist[n] = dc
                ways[n] = ways[c]
                queue.append(n)
            elif dist[n] == dc:
                ways[n] = min(2, ways[n] + ways[c])
    return dist, ways


def carve_maze(rnd: random.Random, size: int, loop_fraction: float) -> list[bool]:
    """Open cells of a random maze: a depth-first spanning tree on the even lattice (long winding
    corridors), then `loop_fraction` of the closed walls between lattice cells opened."""
    m = (size + 1) // 2  # lattice cells per side, at grid coordinates 0, 2, 4, ...
    open_cells = [False] * (size * size)
    visited = [False] * (m * m)
    start = rnd.randrange(m * m)
    visited[start] = True
    open_cells[(start // m) * 2 * size + (start % m) * 2] = True
    stack = [start]
    while stack:
        cur = stack[-1]
        r, k = divmod(cur, m)
        options = [
            (nr, nk)
            for nr, nk in ((r - 1, k), (r + 1, k), (r, k - 1), (r, k + 1))
            if 0 <= nr < m and 0 <= nk < m and not visited[nr * m + nk]
        ]
        if not options:
            stack.pop()
            continue
        nr, nk = options[rnd.randrange(len(options))]
        visited[nr * m + nk] = True
        open_cells[(2 * nr) * size + 2 * nk] = True
        open_cells[(r + nr) * size + (k + nk)] = True  # the wall cell between the two
        stack.append(nr * m + nk)
    if loop_fraction > 0:
        walls = [
            c
            for c in range(size * size)
            if not open_cells[c]
            and ((c // size) % 2) != ((c % size) % 2)  # between two lattice cells
            and (c // size) < 2 * (m - 1) + 1
            and (c % size) < 2 * (m - 1) + 1
        ]
        for c in rnd.sample(walls, int(round(loop_fraction * len(walls)))):
            open_cells[c] = True
    return open_cells


def shortest_path(dist: list[int], size: int, goal: int) -> list[int]:
    """Cells from start to `goal` following decreasing BFS distance (unique when ways[goal] == 1)."""
    nbs = _neighbours(size)
    path = [goal]
    c = goal
    while dist[c] > 0:
        c = next(n for n in nbs[c] if dist[n] == dist[c] - 1)
        path.append(c)
    return path[::-1]


def generate_maze(
    rnd: random.Random,
    size: int,
    min_path_length: int,
    loop_fraction: float = DEFAULT_LOOP_FRACTION,
    max_tries: int = 50,
) -> tuple[str, str, int] | None:
    """(question, answer, path length in moves), or None if `max_tries` mazes had no S/G pair
    with a unique shortest path of at least `min_path_length` moves."""
    for _ in range(max_tries):
        open_cells = carve_maze(rnd, size, loop_fraction)
        cells = [c for c in range(size * size) if open_cells[c]]
        start = cells[rnd.randrange(len(cells))]
        dist, ways = bfs(open_cells, size, start)
        goals = [c for c in cells if dist[c] >= max(1, min_path_length) and ways[c] == 1]
        if not goals:
            continue
        goal = goals[rnd.randrange(len(goals))]
        q = [OPEN if o else WALL for o in open_cells]
        q[start], q[goal] = START, GOAL
        a = q.copy()
        for c in shortest_path(dist, size, goal)[1:-1]:
            a[c] = PATH
        return "".join(q), "".join(a), dist[goal]
    return None


def generate_maze_records(
    size: int,
    count: int,
    seed: int,
    min_path_length: int | None = None,
    loop_fraction: float = DEFAULT_LOOP_FRACTION,
    progress: bool = True,
) -> list[tuple[str, str, str, int]]:
    """`count` distinct mazes as CSV records (source, q, a, rating = shortest path length)."""
    min_len = default_min_path_length(size) if min_path_length is None else min_path_length
    rnd = random.Random(int(pc.rng_for(seed, pc.STREAM_GENERATE).integers(2**62)))

    def draw(kept: int) -> pc.Record:
        made = generate_maze(rnd, size, min_len, loop_fraction)
        if made is None:
            raise InputError(
                f"could not place S and G with a unique shortest path of >= {min_len} moves in "
                f"{size}x{size} mazes; lower --min-path-length"
            )
        q, a, length = made
        return (f"generated-{size}x{size}", q, a, length)

    return pc.distinct_records(
        count,
        draw,
        desc=f"generate {size}x{size} mazes",
        unit=" mazes",
        progress=progress,
        max_duplicates=10 * count + 100,
        duplicates_error=f"too few distinct {size}x{size} mazes; lower --num or raise --size",
    )


# ---------------------------------------------------------------------------------------------
# parsing and validation


def check_solution(
    question: str, answer: str, size: int, require_unique: bool = False
) -> str | None:
    """Why `answer` is not the shortest S->G path of `question` ('o' cells strictly between S
    and G), or None when it is. With `require_unique`, also reject mazes with tied shortest paths."""
    open_cells = [ch != WALL for ch in question]
    start, goal = question.index(START), question.index(GOAL)
    dist_s, ways = bfs(open_cells, size, start)
    if dist_s[goal] < 0:
        return "G is not reachable from S"
    if require_unique and ways[goal] != 1:
        return "more than one shortest path"
    dist_g, _ = bfs(open_cells, size, goal)
    path_cells = [c for c, ch in enumerate(answer) if ch == PATH]
    length = dist_s[goal]
    if len(path_cells) != length - 1:
        return f"{len(path_cells)} path cells, but the shortest path has {length - 1} cells between S and G"
    for c in path_cells:
        if dist_s[c] < 0 or dist_s[c] + dist_g[c] != length:
            return f"path cell {c} (row {c // size + 1}, column {c % size + 1}) is not on a shortest path"
    # one cell per distance 1..length-1, each next to the one before: a connected shortest path
    # (S is next to the distance-1 cell and G to the last one by the distance sums above)
    by_dist = sorted(path_cells, key=lambda c: dist_s[c])
    if [dist_s[c] for c in by_dist] != list(range(1, length)):
        return "path cells do not form one connected path"
    nbs = _neighbours(size)
    for prev, nxt in zip(by_dist, by_dist[1:], strict=False):
        if nxt not in nbs[prev]:
            return f"path breaks between cells {prev} and {nxt}"
    return None


def parse_maze_rows(
    rows: pc.PuzzleRows, size: int | None = None, check_paths: bool = True
) -> tuple[np.ndarray, np.ndarray, int]:
    """(questions, answers, size): [N, size*size] uint8 token arrays from CSV rows, checked."""
    if size is None:
        if not len(rows):
            raise pc.PuzzleCsvError(f"{rows.path}: no mazes")
        n = len(rows.questions[0])
        size = math.isqrt(n)
        if size * size != n or size < 2:
            raise pc.PuzzleCsvError(
                f"{rows.where(0, 'q')} has length {n}, which is not a square grid"
            )
    cells = size * size
    pc.check_lengths(rows, "q", rows.questions, cells)
    pc.check_lengths(rows, "a", rows.answers, cells)
    qb = pc.strings_to_bytes(rows.questions, cells)
    ab = pc.strings_to_bytes(rows.answers, cells)
    q = _CHAR_TO_TOKEN[qb]
    a = _CHAR_TO_TOKEN[ab]
    for name, tok, strings in (("q", q, rows.questions), ("a", a, rows.answers)):
        bad = pc.first_bad(tok == 0)
        if bad is not None:
            i, c = bad
            raise pc.PuzzleCsvError(
                f"{rows.where(i, name)}: character {strings[i][c]!r} at cell {c} is not one of {CHARSET!r}"
            )
    path_tok, open_tok = CHARSET.index(PATH) + 1, CHARSET.index(OPEN) + 1
    bad = pc.first_bad(q == path_tok)
    if bad is not None:
        raise pc.PuzzleCsvError(
            f"{rows.where(bad[0], 'q')}: the question holds a path cell 'o' at cell {bad[1]}"
        )
    for ch in (START, GOAL):
        counts = (q == CHARSET.index(ch) + 1).sum(axis=1)
        wrong = np.flatnonzero(counts != 1)
        if len(wrong):
            i = int(wrong[0])
            raise pc.PuzzleCsvError(
                f"{rows.where(i, 'q')}: has {counts[i]} {ch!r} cells, expected exactly 1"
            )
    bad = pc.first_bad((a != q) & ~((q == open_tok) & (a == path_tok)))
    if bad is not None:
        i, c = bad
        raise pc.PuzzleCsvError(
            f"{rows.where(i, 'a')}: cell {c} is {rows.answers[i][c]!r} but the question has "
            f"{rows.questions[i][c]!r} (the answer may only mark open cells with 'o')"
        )
    if check_paths:
        for i in range(len(rows)):
            why = check_solution(rows.questions[i], rows.answers[i], size)
            if why is not None:
                raise pc.PuzzleCsvError(f"{rows.where(i, 'a')}: not a shortest path: {why}")
    return q, a, size


def tokens_to_strings(tokens: np.ndarray) -> list[str]:
    """[N, cells] tokens -> grid strings (pad would decode to NUL)."""
    return [row.tobytes().decode("latin-1") for row in _TOKEN_TO_CHAR[tokens]]


def augment_maze(
    questions: np.ndarray, answers: np.ndarray, size: int, num_aug: int
) -> tuple[np.ndarray, np.ndarray]:
    """[N*(1+num_aug), cells]: each maze followed by dihedral transforms 1..num_aug of it."""
    n = questions.shape[0]

    def stack(x: np.ndarray) -> np.ndarray:
        grids = x.reshape(n, size, size)
        views = [dihedral_transform(grids, tid).reshape(n, -1) for tid in range(num_aug + 1)]
        return np.ascontiguousarray(np.stack(views, axis=1).reshape(n * (num_aug + 1), -1))

    return stack(questions), stack(answers)


# ---------------------------------------------------------------------------------------------
# the build


@dataclass(kw_only=True)
class MazeSettings(GridSettings):
    """What a Maze dataset is built from (the workflow's `dataset` section, kind maze)."""

    source: str = setting(DEFAULT_HF_SOURCE, help=SOURCE_HELP)
    size: int | None = setting(
        None,
        check=size_range(MIN_SIZE, MAX_SIZE),
        help=f"grid side: generated mazes (default {MAX_SIZE}); for CSV sources, the side every "
        "row must have",
    )
    num_aug: int = setting(
        DEFAULT_NUM_AUG,
        check=count(0, 7),
        help="dihedral transforms 1..K added per train maze (7: all 8 symmetries, the paper's)",
    )
    min_path_length: int | None = setting(
        None,
        check=count(0, MAX_SIZE * MAX_SIZE),
        help="generate: shortest S->G path of at least this many moves (default size*size//8: "
        "112 for 30x30)",
    )
    loop_fraction: float = setting(
        DEFAULT_LOOP_FRACTION,
        check=PROBABILITY,
        help="generate: fraction of inner walls opened to make loops",
    )
    no_check_paths: bool = setting(
        False,
        help="skip checking that every CSV answer is a shortest path (structure is still checked)",
        config=False,
    )


def _min_path_length(s: MazeSettings, size: int) -> int:
    return default_min_path_length(size) if s.min_path_length is None else s.min_path_length


class _Maze(GridKind):
    name, noun, default_size = "maze", "mazes", MAX_SIZE
    generate_only = ("num", "num_test", "min_path_length")

    def params(self, s: MazeSettings) -> dict[str, Any]:
        return {"check_paths": not s.no_check_paths}

    def generate_params(self, s: MazeSettings, size: int) -> dict[str, Any]:
        return {"min_path_length": _min_path_length(s, size), "loop_fraction": s.loop_fraction}

    def generate(self, s: MazeSettings, size: int, n: int, progress: bool) -> list[pc.Record]:
        min_len = _min_path_length(s, size)
        return generate_maze_records(size, n, s.seed, min_len, s.loop_fraction, progress)

    def parse(
        self, s: MazeSettings, rows: pc.PuzzleRows, size: int | None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        return parse_maze_rows(rows, size, not s.no_check_paths)

    def examples(
        self, s: MazeSettings, grids: Grids, size: int, num_aug: int, progress: bool
    ) -> Grids:
        return augment_maze(*grids, size, num_aug)

    def vocab_size(self, size: int) -> int:
        return VOCAB_SIZE

    def puzzle_info(self, s: MazeSettings, size: int) -> dict[str, Any]:
        return {
            "kind": "maze",
            "grid_size": size,
            "charset": CHARSET,
            "tokens": {"pad": 0, **{repr(ch): i + 1 for i, ch in enumerate(CHARSET)}},
            "vocab_size": VOCAB_SIZE,
            "augmented_splits": ["train"] if s.num_aug else [],
            "dihedral_ids": list(range(s.num_aug + 1)),
        }


MAZE = _Maze()
prepare_maze = MAZE.prepare  # the build `trm prepare maze` runs (trm.kinds)
