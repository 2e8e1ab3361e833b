"""Generated ARC tasks: grid transformations a tiny TRM can learn on a CPU.

Each task applies one rule from a small family (a colour map, a reflection, a shift, gravity,
...) with task-specific parameters (which colours, which direction) to a few random grids.
Tasks are written in the Kaggle "combined" layout (`PREFIX_<subset>_challenges.json` and
`PREFIX_<subset>_solutions.json`), so `trm prepare arc --input-prefix PREFIX` builds them
exactly like real ARC data, and voting, scoring and the sweep run unchanged.

Why a family shared across tasks: TRM sees no demonstrations at test time; it learns one
embedding per (augmented) task from that task's demonstration pairs in the train split. A rule
family shared by many tasks lets the network learn the family once, so each task's embedding
only has to pick the parameters (e.g. which colours swap).

Everything is drawn from `numpy.random.default_rng([seed, subset index])`: the same arguments
give the same files, byte for byte.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from trm.data.arc import ARC_MAX_GRID
from trm.data.manifest import write_manifest
from trm.errors import UserError
from trm.settings import NAME_PATTERN, SEED, count, positive, setting, size
from trm.utils import atomic_dir

Grid = np.ndarray
Rule = Callable[[Grid], Grid]

DEFAULT_SUBSETS = ("training", "evaluation")
PREFIX_NAME = "generated"  # the files are DIR/generated_<subset>_{challenges,solutions}.json
MAX_TASKS = 100_000  # per subset: 250x ARC's 400 training tasks, still a few seconds to draw
MAX_PAIRS = 100  # demonstration or test pairs per task (real ARC tasks have up to ~10)


# --------------------------------------------------------------------------------------------
# Rule families: each draws its task parameters and returns the rule (a function on grids)
# --------------------------------------------------------------------------------------------


def _colour_map(rng: np.random.Generator, colours: np.ndarray) -> tuple[Rule, dict]:
    """Swap two or three pairs of the task's colours (a cell-wise rule)."""
    n_pairs = min(int(rng.integers(1, 3)) + 1, len(colours) // 2)
    picked = rng.permutation(colours)[: 2 * n_pairs]
    table = np.arange(10)
    for a, b in picked.reshape(-1, 2):
        table[a], table[b] = b, a
    return (lambda g: table[g]), {"swaps": picked.reshape(-1, 2).tolist()}


def _fill_background(rng: np.random.Generator, colours: np.ndarray) -> tuple[Rule, dict]:
    """Paint every background (0) cell with a colour the inputs do not use."""
    unused = np.setdiff1d(np.arange(1, 10), colours)
    fill = int(rng.choice(unused))
    return (lambda g: np.where(g == 0, fill, g)), {"fill": fill}


def _keep_colour(rng: np.random.Generator, colours: np.ndarray) -> tuple[Rule, dict]:
    """Keep the cells of one colour, erase the others to background."""
    keep = int(rng.choice(colours))
    return (lambda g: np.where(g == keep, g, 0)), {"keep": keep}


_DIHEDRAL: dict[str, Rule] = {
    "flip_lr": lambda g: g[:, ::-1],
    "flip_ud": lambda g: g[::-1, :],
    "rot180": lambda g: g[::-1, ::-1],
    "transpose": lambda g: g.T,
}


def _reflect(rng: np.random.Generator, colours: np.ndarray) -> tuple[Rule, dict]:
    """A reflection or half turn of the whole grid."""
    name = str(rng.choice(sorted(_DIHEDRAL)))
    return _DIHEDRAL[name], {"transform": name}


def _shift(rng: np.random.Generator, colours: np.ndarray) -> tuple[Rule, dict]:
    """Move everything one cell in a direction, filling with background (no wrap-around)."""
    dy, dx = [(0, 1), (0, -1), (1, 0), (-1, 0)][int(rng.integers(4))]

    def rule(g: Grid) -> Grid:
        out = np.zeros_like(g)
        h, w = g.shape
        out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = g[
            max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
        return out

    return rule, {"dy": dy, "dx": dx}


def _gravity(rng: np.random.Generator, colours: np.ndarray) -> tuple[Rule, dict]:
    """Coloured cells fall to one side of their column (or row), keeping their order."""
    direction = str(rng.choice(["down", "up", "left", "right"]))

    def fall_down(g: Grid) -> Grid:
        out = np.zeros_like(g)
        for j in range(g.shape[1]):
            col = g[:, j][g[:, j] != 0]
            if col.size:
                out[-col.size :, j] = col
        return out

    # every direction is "down" in a rotated frame
    turns = {"down": 0, "left": 1, "up": 2, "right": 3}[direction]
    return (lambda g: np.rot90(fall_down(np.rot90(g, turns)), -turns)), {"direction": direction}


FAMILIES: dict[str, Callable[[np.random.Generator, np.ndarray], tuple[Rule, dict]]] = {
    "colour_map": _colour_map,
    "fill_background": _fill_background,
    "keep_colour": _keep_colour,
    "reflect": _reflect,
    "shift": _shift,
    "gravity": _gravity,
}


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class GeneratorConfig:
    """What `generate_tasks` draws (the `dataset.generate` settings of the workflow, the options
    of `trm prepare arc-tasks`); every field is recorded in the manifest."""

    tasks: dict[str, int] = setting(
        {"training": 32, "evaluation": 16},
        check=count(1, MAX_TASKS),
        help="tasks per subset, SUBSET=N (the subset names the files PREFIX_<SUBSET>_*.json)",
        metavar="SUBSET=N",
        keys=NAME_PATTERN,
    )
    families: list[str] = setting(
        list(FAMILIES),
        choices=tuple(FAMILIES),
        help="rule families, cycled over each subset's tasks",
    )
    demos: int = setting(3, check=count(1, MAX_PAIRS), help="demonstration pairs per task")
    tests: int = setting(1, check=count(1, MAX_PAIRS), help="test pairs per task")
    min_size: int = setting(3, check=size(1, ARC_MAX_GRID), help="smallest grid side")
    max_size: int = setting(6, check=size(1, ARC_MAX_GRID), help="largest grid side")
    colours: int = setting(3, check=count(2, 8), help="distinct non-background colours a task uses")
    density: float = setting(0.5, check=positive(1.0), help="chance that a cell is coloured")
    seed: int = setting(0, check=SEED, help="seed of every draw")

    def validate(self) -> None:
        """The fields' own checks (for library callers too), and what they cannot say alone."""
        from trm.settings import check_values

        values = {f.name: getattr(self, f.name) for f in fields(GeneratorConfig)}
        check_values(GeneratorConfig, values, "generate")
        if self.min_size > self.max_size:
            raise UserError(
                f"--min-size/--max-size: need min <= max, got {self.min_size}, {self.max_size}"
            )


def _random_grid(rng: np.random.Generator, cfg: GeneratorConfig, colours: np.ndarray) -> Grid:
    h, w = rng.integers(cfg.min_size, cfg.max_size + 1, size=2)
    cells = rng.choice(colours, size=(h, w))
    return np.where(rng.random((h, w)) < cfg.density, cells, 0)


def _informative(pairs: Sequence[tuple[Grid, Grid]], rule_params: dict) -> bool:
    """Demonstrations must show the rule: some cell changes, and every swapped colour appears."""
    if all(i.shape == o.shape and np.array_equal(i, o) for i, o in pairs):
        return False
    seen = set(np.unique(np.concatenate([i.ravel() for i, _ in pairs])).tolist())
    swapped = {c for pair in rule_params.get("swaps", []) for c in pair}
    return swapped <= seen


def make_task(
    rng: np.random.Generator, family: str, cfg: GeneratorConfig
) -> tuple[dict[str, Any], list[list[list[int]]], dict]:
    """One task: (challenge with train pairs and test inputs, test outputs, rule parameters)."""
    colours = np.sort(rng.choice(np.arange(1, 10), size=cfg.colours, replace=False))
    rule, params = FAMILIES[family](rng, colours)
    for _ in range(1000):
        pairs = []
        for _ in range(cfg.demos + cfg.tests):
            grid = _random_grid(rng, cfg, colours)
            pairs.append((grid, rule(grid)))
        # no test output equals its input (copying never scores), and no output is a single
        # colour (a constant answer, e.g. all background, would score without the rule)
        if (
            _informative(pairs[: cfg.demos], params)
            and all(not np.array_equal(i, o) for i, o in pairs[cfg.demos :])
            and all(np.unique(o).size > 1 for _, o in pairs)
        ):
            break
    else:  # pragma: no cover - needs a pathological config (e.g. density that empties grids)
        raise UserError(
            f"could not draw informative demonstrations for a {family} task in 1000 tries "
            "(raise --density or --max-size)"
        )

    def as_list(g: Grid) -> list[list[int]]:
        return np.asarray(g, dtype=np.int64).tolist()

    challenge = {
        "train": [{"input": as_list(i), "output": as_list(o)} for i, o in pairs[: cfg.demos]],
        "test": [{"input": as_list(i)} for i, _ in pairs[cfg.demos :]],
    }
    solutions = [as_list(o) for _, o in pairs[cfg.demos :]]
    return challenge, solutions, {"family": family, **params}


@dataclass
class GeneratedSubset:
    challenges: dict[str, dict[str, Any]]
    solutions: dict[str, list[list[list[int]]]]
    rules: dict[str, dict]  # task id -> family and parameters (for the manifest and analyses)


def task_name(
    subset: str,
    seed: int,
    index: int,
    family: str,
    challenge: dict[str, Any],
    solution: list[list[list[int]]],
) -> str:
    """A generated task's id, unique across subsets, seeds and generator settings:
    `<subset>_s<seed>_<index>_<family>_<8 hex digits of its content>`. A model learns one
    embedding per task name, and `trm adapt` and `--puzzle-ids-from` reuse a row by name: two
    different tasks under one name would share (or wrongly inherit) an embedding."""
    import hashlib

    content = json.dumps([challenge, solution], separators=(",", ":")).encode()
    return f"{subset}_s{seed}_{index:03d}_{family}_{hashlib.sha256(content).hexdigest()[:8]}"


def generate_tasks(cfg: GeneratorConfig) -> dict[str, GeneratedSubset]:
    """{subset: its tasks}; families cycle in order so every subset covers each one evenly."""
    cfg.validate()
    out = {}
    for index, (subset, n) in enumerate(cfg.tasks.items()):
        rng = np.random.default_rng([cfg.seed, index])
        sub = GeneratedSubset({}, {}, {})
        for t in range(n):
            family = cfg.families[t % len(cfg.families)]
            challenge, solution, rule = make_task(rng, family, cfg)
            task_id = task_name(subset, cfg.seed, t, family, challenge, solution)
            sub.challenges[task_id] = challenge
            sub.solutions[task_id] = solution
            sub.rules[task_id] = rule
        out[subset] = sub
    return out


def task_file_paths(prefix: str | os.PathLike, subset: str) -> tuple[Path, Path]:
    return Path(f"{prefix}_{subset}_challenges.json"), Path(f"{prefix}_{subset}_solutions.json")


def write_task_files(
    out_dir: str | os.PathLike, subsets: dict[str, GeneratedSubset], name: str = PREFIX_NAME
) -> list[Path]:
    """Write the Kaggle combined files into `out_dir` (the caller makes the folder atomic)."""
    written = []
    for subset, sub in subsets.items():
        chal, sol = task_file_paths(Path(out_dir) / name, subset)
        for path, data in ((chal, sub.challenges), (sol, sub.solutions)):
            # one task per line: small, diffable, and still plain JSON
            lines = [
                f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in data.items()
            ]
            path.write_text("{\n" + ",\n".join(lines) + "\n}\n")
            written.append(path)
    return written


def config_params(cfg: GeneratorConfig) -> dict[str, Any]:
    """The generator's settings as the manifest records them (only GeneratorConfig's own)."""
    params = {f.name: getattr(cfg, f.name) for f in fields(GeneratorConfig)}
    return {**params, "tasks": dict(cfg.tasks), "families": list(cfg.families)}


def prepare_arc_tasks(
    out_dir: str | os.PathLike, cfg: GeneratorConfig, command: str = "trm prepare arc-tasks"
) -> dict[str, Any]:
    """Generate the tasks and write `out_dir` (task files + manifest.json), atomically.

    Returns the manifest; `out_dir/generated` is the --input-prefix for `trm prepare arc`.
    """
    subsets = generate_tasks(cfg)
    counts: dict[str, Any] = {}
    for subset, sub in subsets.items():
        families: dict[str, int] = {}
        for rule in sub.rules.values():
            families[rule["family"]] = families.get(rule["family"], 0) + 1
        counts[subset] = {"tasks": len(sub.challenges), "families": families}
    with atomic_dir(out_dir) as tmp:
        write_task_files(tmp, subsets)
        return write_manifest(
            tmp,
            command=command,
            params={**config_params(cfg), "prefix_name": PREFIX_NAME},
            inputs=[],
            counts=counts,
            extra={"rules": {s: sub.rules for s, sub in subsets.items()}},
        )
