"""The oracle: the reference ARC evaluator's semantics verbatim, one Python iteration per prediction.

The vectorised `trm.eval.arc.voting.vote` is tested against it, and benchmarks/bench_score.py
runs it side by side as the speed baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from trm.data.augment import inverse_dihedral_transform
from trm.eval.arc.hashing import crop_tokens, grid_hash, inverse_perm_from_name, sigmoid64, to_grid
from trm.eval.arc.outputs import example_record
from trm.eval.arc.voting import SUBMISSION_K
from trm.eval.schema import PASS_KS


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
        name, tid, inv_perm = inverse_perm_from_name(identifiers[pid])

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
            input_hash = grid_hash(to_grid(pair["input"]))
            label_hash = grid_hash(to_grid(pair["output"]))
            votes = buckets.get(name, {}).get(input_hash, [])
            p_map: dict[str, list] = {}
            for h, q in votes:
                p_map.setdefault(h, [0, 0])
                p_map[h][0] += 1
                p_map[h][1] += q
            if not p_map:
                records.append(example_record(name, input_hash, label_hash, None, 0))
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
            records.append(example_record(name, input_hash, label_hash, ranked[0][0], len(votes)))
        for i in range(len(pass_ks)):
            correct[i] += n_ok[i] / len(puzzle["test"])
    metrics = {f"ARC/pass@{k}": correct[i] / len(test_puzzles) for i, k in enumerate(pass_ks)}
    return metrics, submission, records
