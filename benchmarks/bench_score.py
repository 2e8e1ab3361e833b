"""Speed of ARC voting: vectorised `trm.eval.arc` against the per-prediction reference loop.

    .venv/bin/python benchmarks/bench_score.py --data /tmp/arc1-test --predictions P.npz
    .venv/bin/python benchmarks/bench_score.py --synthetic /tmp/arc-synth   # no dataset at hand

With --data, predictions are synthesised from the dataset's own test examples when
--predictions is absent (labels, with noise so votes disagree). --synthetic builds a
structurally equivalent dataset instead: 400 tasks, 419 test inputs, up to 1000 augmentations
(385,815 rows by default). Both implementations run side by side on the same rows; the script
prints both times, the ratio, and whether metrics, submission and per-example records are
identical. Timings on a shared machine are noisy.

The generators here are also used by tests (tests/test_vote.py) to build small datasets.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from trm.data.augment import augmented_name, dihedral_transform
from trm.data.format import DatasetMetadata, array_path, write_metadata
from trm.eval.predictions import read_predictions, write_predictions

GRID = 30


def encode_grid(grid: np.ndarray) -> np.ndarray:
    """Builder token layout without translation: colours 2..11 at the top left, end-of-grid
    markers (1) along the row under it and the column right of it, pad 0 elsewhere."""
    h, w = grid.shape
    out = np.zeros((GRID, GRID), dtype=np.uint8)
    out[:h, :w] = grid + 2
    if h < GRID:
        out[h, :w] = 1
    if w < GRID:
        out[:h, w] = 1
    return out.ravel()


def build_synthetic_dataset(
    out_dir: str | Path,
    n_tasks: int,
    n_aug: int | list[int],
    inputs_per_task: list[int] | None = None,
    seed: int = 0,
    max_side: int = 30,
    duplicate_input_task: bool = False,
) -> None:
    """Write a test split + identifiers.json + test_puzzles.json in the prepared-ARC layout.

    `n_aug` may give a count per task (some real tasks have fewer distinct augmentations).
    Identifiers follow the builder: per task, the un-augmented name then its augmentations in
    generation order. With `duplicate_input_task` the first task's second test input repeats
    its first input (with a different output).
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    augs = [n_aug] * n_tasks if isinstance(n_aug, int) else list(n_aug)
    ipt = inputs_per_task or [1] * n_tasks
    identifiers = ["<blank>"]
    test_puzzles: dict = {}
    inputs, labels, pids, p_idx, g_idx = [], [], [], [0], [0]
    for t in range(n_tasks):
        name = f"{t:08x}"
        pairs = []
        for j in range(ipt[t]):
            h, w = rng.integers(1, max_side + 1, size=2)
            inp = rng.integers(0, 10, size=(h, w)).astype(np.uint8)
            if duplicate_input_task and t == 0 and j == 1:
                inp = np.array(pairs[0]["input"], dtype=np.uint8)
            h2, w2 = rng.integers(1, max_side + 1, size=2)
            outp = rng.integers(0, 10, size=(h2, w2)).astype(np.uint8)
            pairs.append({"input": inp.tolist(), "output": outp.tolist()})
        test_puzzles[name] = {"train": [], "test": pairs}
        seen = set()
        copies = [(name, 0, np.arange(10, dtype=np.uint8))]
        while len(copies) < augs[t] + 1:
            tid = int(rng.integers(0, 8))
            perm = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
            aug = augmented_name(name, tid, perm)
            if aug in seen or (tid == 0 and np.array_equal(perm, np.arange(10))):
                continue
            seen.add(aug)
            copies.append((aug, tid, perm))
        for aug, tid, perm in copies:
            identifiers.append(aug)
            for pair in pairs:
                for src, dst in (("input", inputs), ("output", labels)):
                    g = dihedral_transform(perm[np.array(pair[src], dtype=np.uint8)], tid)
                    dst.append(encode_grid(np.ascontiguousarray(g)))
            pids.append(len(identifiers) - 1)
            p_idx.append(p_idx[-1] + len(pairs))
        g_idx.append(len(pids))
    arrays = {
        "inputs": np.stack(inputs),
        "labels": np.stack(labels),
        "puzzle_identifiers": np.asarray(pids, dtype=np.int32),
        "puzzle_indices": np.asarray(p_idx, dtype=np.int32),
        "group_indices": np.asarray(g_idx, dtype=np.int32),
    }
    (out_dir / "test").mkdir(parents=True, exist_ok=True)
    for k, v in arrays.items():
        np.save(array_path(out_dir, "test", k), v)
    write_metadata(
        out_dir,
        "test",
        DatasetMetadata(
            pad_id=0,
            ignore_label_id=0,
            blank_identifier_id=0,
            vocab_size=12,
            seq_len=GRID * GRID,
            num_puzzle_identifiers=len(identifiers),
            total_groups=n_tasks,
            mean_puzzle_examples=len(inputs) / len(pids),
            total_puzzles=len(pids),
        ),
    )
    (out_dir / "identifiers.json").write_text(json.dumps(identifiers))
    (out_dir / "test_puzzles.json").write_text(json.dumps(test_puzzles))


def synthesize_predictions(
    data_dir: str | Path, out_path: str | Path, seed: int = 0, n_wrong: int = 3, q_levels: int = 0
) -> None:
    """Predictions for every test row: the label, or (per row, with a per-task probability) one
    of `n_wrong` corrupted variants of it, so that votes disagree. With `q_levels` > 0 the
    q_halt logits take only that many values, producing exact ties in mean confidence."""
    rng = np.random.default_rng(seed)
    data_dir = Path(data_dir)
    inputs = np.load(array_path(data_dir, "test", "inputs"))
    labels = np.load(array_path(data_dir, "test", "labels"))
    pids_p = np.load(array_path(data_dir, "test", "puzzle_identifiers"))
    p_idx = np.load(array_path(data_dir, "test", "puzzle_indices"))
    g_idx = np.load(array_path(data_dir, "test", "group_indices"))
    row_pid = np.repeat(pids_p, np.diff(p_idx))
    # group of each row -> per-task error rate
    puzzle_group = np.repeat(np.arange(len(g_idx) - 1), np.diff(g_idx))
    row_group = np.repeat(puzzle_group, np.diff(p_idx))
    p_wrong = rng.uniform(0.0, 1.0, size=len(g_idx) - 1)[row_group]
    variant = np.where(
        rng.random(len(labels)) < p_wrong, rng.integers(1, n_wrong + 1, len(labels)), 0
    )
    preds = labels.astype(np.int32).copy()
    colour = (labels >= 2) & (labels <= 11)
    # variant v recolours the v-th colour cell of the (augmented) answer; the cell index is
    # taken in the augmented frame, so variants differ between augmentations too (as a model's
    # scattered mistakes do) while identical ones still pool
    n_col = colour.sum(1)
    for v in range(1, n_wrong + 1):
        rows = np.flatnonzero((variant == v) & (n_col > 0))
        cell_rank = (v * 7) % np.maximum(n_col[rows], 1)
        cells = np.array(
            [np.flatnonzero(colour[r])[c] for r, c in zip(rows, cell_rank, strict=True)],
            dtype=np.int64,
        )
        if rows.size:
            preds[rows, cells] = 2 + (preds[rows, cells] - 2 + v) % 10
    if q_levels > 0:
        q = rng.integers(-q_levels // 2, q_levels // 2 + 1, len(labels)).astype(np.float32) / 2
    else:
        q = rng.normal(0, 2, len(labels)).astype(np.float32)
    perm = rng.permutation(len(labels)) if seed % 2 else np.arange(len(labels))
    write_predictions(
        out_path,
        puzzle_identifiers=row_pid[perm].astype(np.int32),
        inputs=inputs[perm],
        preds=preds[perm],
        q_halt_logits=q[perm],
    )


def _jit_crop_source():
    """The crop of trm.eval.arc.crop_tokens in the subset of Python that numba compiles."""

    def crop(tokens):
        g = tokens.reshape(30, 30)
        best_area = 0
        best_r = 0
        best_c = 0
        width = 30
        for r in range(1, 31):
            for c in range(1, width + 1):
                x = g[r - 1, c - 1]
                if x < 2 or x > 11:
                    width = c - 1
                    break
            if r * width > best_area:
                best_area = r * width
                best_r = r
                best_c = width
        return (g[:best_r, :best_c] - 2).astype(np.uint8)

    return crop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", help="prepared ARC dataset (test split)")
    ap.add_argument("--predictions", help="predictions.npz (synthesised beside --data if absent)")
    ap.add_argument("--synthetic", help="build a synthetic ARC-AGI-1-sized dataset in this folder")
    ap.add_argument("--n-aug", type=int, default=1000)
    ap.add_argument("--skip-baseline", action="store_true", help="time only the vectorised path")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument(
        "--jit-baseline",
        action="store_true",
        help="compile the baseline's crop with numba, as the reference evaluator does (numba must be importable)",
    )
    args = ap.parse_args(argv)

    from trm.eval import arc as V

    if args.synthetic:
        data = Path(args.synthetic)
        if not (data / "test_puzzles.json").exists():
            rng = np.random.default_rng(1)
            ipt = [1] * 400
            for t in rng.choice(400, 19, replace=False):
                ipt[t] = 2  # ARC-AGI-1 evaluation: 400 tasks, 419 test inputs
            # fewer distinct augmentations for some tasks, as the real builder produces
            augs = np.minimum(
                args.n_aug, rng.choice([args.n_aug, 900, 600], 400, p=[0.9, 0.06, 0.04])
            )
            t0 = time.perf_counter()
            build_synthetic_dataset(data, 400, augs.tolist(), ipt, seed=1)
            print(f"built synthetic dataset in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    elif args.data:
        data = Path(args.data)
    else:
        ap.error("give --data or --synthetic")
    pred_path = Path(args.predictions) if args.predictions else data / "bench_predictions.npz"
    if not pred_path.exists():
        synthesize_predictions(data, pred_path, seed=0)

    z = read_predictions(pred_path)
    n = len(z)
    print(f"{n} predictions, dataset {data}")

    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pp = V.process_predictions(data, pred_path, progress=False)
        t1 = time.perf_counter()
        res = V.vote(pp)
        sub = V.submission(pp, res)
        rec = V.per_example_records(pp, res)
        t2 = time.perf_counter()
        times.append((t2 - t0, t1 - t0, t2 - t1))
    best = min(times)
    print(
        f"vectorised: {best[0]:.2f} s total (load+crop+undo+key {best[1]:.2f} s, vote+outputs {best[2]:.2f} s), "
        f"best of {args.repeat}"
    )
    print(json.dumps(res.metrics))
    if args.skip_baseline:
        return 0

    ts = pp.test_set
    t0 = time.perf_counter()
    m_ref, sub_ref, rec_ref = V.reference_vote_loop(
        ts.identifiers,
        ts.test_puzzles,
        z.puzzle_identifiers,
        z.inputs,
        z.preds,
        z.q_halt_logits,
    )
    t_ref = time.perf_counter() - t0
    same = m_ref == res.metrics and sub_ref == sub and rec_ref == rec
    kind = "numba-compiled crop" if args.jit_baseline else "pure-Python crop"
    print(
        f"reference loop ({kind}): {t_ref:.2f} s; ratio {t_ref / best[0]:.1f}x; identical results: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
