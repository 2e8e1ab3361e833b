"""Grid augmentations shared by the ARC builder and the voting evaluator.

The dihedral ids follow the reference builder, so that an augmented puzzle name
`<task>|||t<tid>|||<colour digits>` written by either side means the same transform.
"""

from __future__ import annotations

import numpy as np

NAME_SEP = "|||"

# tid -> the tid that undoes it (rotations by 90 and 270 degrees undo each other;
# the flips and the two diagonal reflections are their own inverses).
DIHEDRAL_INVERSE: tuple[int, ...] = (0, 3, 2, 1, 4, 5, 6, 7)
TRANSPOSING_TIDS = frozenset({1, 3, 6, 7})  # dihedral ids that swap height and width


def dihedral_transform(grid: np.ndarray, tid: int) -> np.ndarray:
    """Apply one of the 8 symmetries of the square to the last two axes of `grid`.

    0 identity, 1/2/3 rotate by 90/180/270 degrees counter-clockwise, 4 flip left-right,
    5 flip up-down, 6 transpose, 7 anti-transpose. Works on [H, W] and on batches [..., H, W].
    """
    axes = (-2, -1)
    if tid == 0:
        return grid
    if tid in (1, 2, 3):
        return np.rot90(grid, k=tid, axes=axes)
    if tid == 4:
        return np.flip(grid, axis=-1)
    if tid == 5:
        return np.flip(grid, axis=-2)
    if tid == 6:
        return np.swapaxes(grid, -2, -1)
    if tid == 7:
        return np.flip(np.rot90(grid, k=1, axes=axes), axis=-1)
    raise ValueError(f"dihedral transform id must be in 0..7, got {tid}")


def inverse_dihedral_transform(grid: np.ndarray, tid: int) -> np.ndarray:
    return dihedral_transform(grid, DIHEDRAL_INVERSE[tid])


def augmented_name(task_id: str, tid: int, colour_perm: np.ndarray) -> str:
    """Reference puzzle name for task `task_id` under dihedral `tid` and colour map `colour_perm`.

    `colour_perm[c]` is the colour that original colour c becomes (10 entries, 0 maps to 0).
    """
    return f"{task_id}{NAME_SEP}t{tid}{NAME_SEP}{''.join(str(int(c)) for c in colour_perm)}"


def parse_name(name: str) -> tuple[str, int, np.ndarray]:
    """Inverse of `augmented_name`: (task id, dihedral id, colour map). Plain names are identity."""
    parts = name.split(NAME_SEP)
    if len(parts) == 1:
        return name, 0, np.arange(10, dtype=np.uint8)
    if len(parts) != 3 or not parts[1].startswith("t") or len(parts[2]) != 10:
        raise ValueError(f"not an augmented puzzle name: {name!r}")
    perm = np.frombuffer(parts[2].encode(), dtype=np.uint8) - ord("0")
    return parts[0], int(parts[1][1:]), perm.astype(np.uint8)


def invert_colour_perm(perm: np.ndarray) -> np.ndarray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm), dtype=perm.dtype)
    return inv
