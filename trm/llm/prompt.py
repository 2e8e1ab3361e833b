"""ARC grids as text, the chat messages of one test input, and robust answer parsing.

A grid is written compactly as nested lists without spaces, `[[0,1],[2,3]]` (the fork's
format), so the answer is one line a tokenizer splits predictably. Parsing never raises: a
malformed answer is `None` (scored wrong and counted as "unparseable").
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

SYSTEM_PROMPT = (
    "You are a puzzle solver. Identify the pattern in the examples and solve the test input."
)
MAX_GRID = 30  # ARC grids are at most 30x30


def grid_to_text(grid: np.ndarray | Sequence[Sequence[int]]) -> str:
    rows = np.asarray(grid).tolist()
    return "[" + ",".join("[" + ",".join(str(int(c)) for c in row) + "]" for row in rows) + "]"


def user_message(demos: Sequence[tuple[np.ndarray, np.ndarray]], test_input: np.ndarray) -> str:
    """Demonstrations then the test input; whole grids only (dropping demos keeps this valid)."""
    parts = [SYSTEM_PROMPT, ""]
    for i, (inp, out) in enumerate(demos, 1):
        parts.append(f"Example {i} Input: {grid_to_text(inp)}")
        parts.append(f"Example {i} Output: {grid_to_text(out)}")
        parts.append("")
    parts.append(f"Test Input: {grid_to_text(test_input)}")
    return "\n".join(parts)


def chat_messages(
    demos: Sequence[tuple[np.ndarray, np.ndarray]], test_input: np.ndarray
) -> list[dict[str, str]]:
    # The instruction sits in the user turn: some chat templates (e.g. Gemma) reject a system role.
    return [{"role": "user", "content": user_message(demos, test_input)}]


def parse_grid(text: str) -> list[list[int]] | None:
    """The first well-formed ARC grid in `text` (list of equal-length rows of 0..9, at most
    30x30), or None. Tolerates spaces, newlines and text around the grid."""
    start = text.find("[[")
    while start != -1:
        depth = 0
        for end in range(start, len(text)):
            ch = text[end]
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    grid = _valid_grid(text[start : end + 1])
                    if grid is not None:
                        return grid
                    break
        else:
            return None  # unbalanced brackets: the answer was cut off
        start = text.find("[[", start + 2)
    return None


def _valid_grid(candidate: str) -> list[list[int]] | None:
    try:
        grid = json.loads(candidate)
    except (json.JSONDecodeError, RecursionError):
        return None
    return grid if is_grid(grid) else None


def is_grid(grid: object) -> bool:
    """An ARC grid: a list of equal-length rows of colours 0..9, at most MAX_GRID x MAX_GRID."""
    if not isinstance(grid, list) or not 0 < len(grid) <= MAX_GRID:
        return False
    width = len(grid[0]) if isinstance(grid[0], list) else 0
    if not 0 < width <= MAX_GRID:
        return False
    return all(
        isinstance(row, list)
        and len(row) == width
        and all(type(c) is int and 0 <= c <= 9 for c in row)
        for row in grid
    )
