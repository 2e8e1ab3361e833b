"""ARC voting: golden equality, and the vectorised path against the per-prediction oracle."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED, needs_shared

from trm.data.augment import augmented_name, dihedral_transform
from trm.errors import UserError
from trm.eval import arc as V
from trm.eval.arc.hashing import crop_sizes, hash_blocks
from trm.eval.arc.testset import _parse_identifiers

GOLDEN = SHARED / "golden" / "arc-mini"
DATA = GOLDEN / "upstream-aug-8"
EVAL = GOLDEN / "eval-seed0"
needs_golden = needs_shared(EVAL, reason=f"golden fixtures not found at {GOLDEN}")
FIELDS = ("puzzle_identifiers", "inputs", "preds", "q_halt_logits")


def load_bench():
    """benchmarks/bench_score.py holds the synthetic dataset/prediction generators."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_score.py"
    spec = importlib.util.spec_from_file_location("bench_score", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def oracle(pp: V.ProcessedPredictions, raw: dict, rows: np.ndarray | None = None):
    ts = pp.test_set
    mask = np.ones(len(raw["puzzle_identifiers"]), dtype=bool)
    if rows is not None:
        mask[:] = False
        mask[rows] = True
    return V.reference_vote_loop(ts.identifiers, ts.test_puzzles, *(raw[k][mask] for k in FIELDS))


def assert_same_as_oracle(pp, raw, rows=None):
    res = V.vote(pp, rows)
    metrics, sub, records = oracle(pp, raw, rows)
    assert res.metrics == metrics
    assert V.submission(pp, res) == sub
    assert V.per_example_records(pp, res) == records
    return res


@needs_golden
def test_golden_paper_mode_equals_reference_outputs():
    pp = V.process_predictions(DATA, EVAL / "preds.npz", progress=False)
    res = V.vote(pp)
    assert res.metrics == json.loads((EVAL / "expected.json").read_text())
    assert V.submission(pp, res) == json.loads((EVAL / "submission.json").read_text())
    golden_records = [
        json.loads(line) for line in (EVAL / "per_example.jsonl").read_text().splitlines()
    ]
    assert V.per_example_records(pp, res) == golden_records
    assert res.n_votes.tolist() == [9] * 12


@needs_golden
def test_oracle_reproduces_golden():
    raw = dict(np.load(EVAL / "preds.npz"))
    ts = V.load_arc_test_set(DATA)
    metrics, sub, records = V.reference_vote_loop(
        ts.identifiers, ts.test_puzzles, *(raw[k] for k in FIELDS)
    )
    assert metrics == json.loads((EVAL / "expected.json").read_text())
    assert sub == json.loads((EVAL / "submission.json").read_text())


@needs_golden
def test_golden_single_mode_uses_only_unaugmented_copies():
    pp = V.process_predictions(DATA, EVAL / "preds.npz", progress=False)
    raw = dict(np.load(EVAL / "preds.npz"))
    rows = V.mode_rows(pp, "single")
    names = [pp.test_set.identifiers[i] for i in pp.puzzle_identifiers[rows]]
    assert len(rows) == 12 and all("|||" not in n for n in names)
    res = assert_same_as_oracle(pp, raw, rows)
    assert res.n_votes.tolist() == [1] * 12
    # with one vote there is one candidate: attempt_2 repeats attempt_1, as the reference pads
    sub = V.submission(pp, res)
    assert all(e["attempt_1"] == e["attempt_2"] for entries in sub.values() for e in entries)


@pytest.mark.parametrize("seed,q_levels", [(0, 3), (1, 3), (2, 0), (3, 0)])
def test_vectorised_equals_oracle_on_synthetic_data(tmp_path, seed, q_levels):
    """Several test inputs per task, a task whose two test inputs share one input grid,
    uneven augmentation counts, tied confidences, shuffled rows and garbage predictions."""
    bench = load_bench()
    bench.build_synthetic_dataset(
        tmp_path,
        7,
        [0, 3, 12, 5, 8, 1, 10],
        [2, 1, 3, 1, 1, 2, 1],
        seed=seed,
        max_side=6,
        duplicate_input_task=True,
    )
    bench.synthesize_predictions(
        tmp_path, tmp_path / "p.npz", seed=seed, n_wrong=2, q_levels=q_levels
    )
    raw = dict(np.load(tmp_path / "p.npz"))
    rng = np.random.default_rng(seed)
    # corrupt some rows: random tokens of the vocabulary (end-of-grid markers and pads inside;
    # tokens > 11 no model can output are refused by the scorer, see test_reliability.py)
    bad = rng.choice(len(raw["preds"]), size=len(raw["preds"]) // 5, replace=False)
    raw["preds"][bad[: len(bad) // 2]] = rng.integers(0, 12, size=(len(bad) // 2, 900))
    raw["preds"][bad[len(bad) // 2 :], 0] = 1  # 0x0 crops
    np.savez(tmp_path / "p.npz", **raw)
    pp = V.process_predictions(tmp_path, tmp_path / "p.npz", progress=False)
    assert (pp.input_index >= 0).all()
    assert_same_as_oracle(pp, raw)
    assert_same_as_oracle(pp, raw, V.mode_rows(pp, "single"))
    assert_same_as_oracle(pp, raw, V.level_rows(pp, 4))


def test_rows_whose_input_matches_no_test_input_are_ignored_by_voting_but_refused_by_scorer(
    tmp_path,
):
    from trm.eval.arc.processed import process_arrays
    from trm.eval.arc.testset import load_arc_test_set
    from trm.eval.predictions import dataset_row_identifiers

    bench = load_bench()
    bench.build_synthetic_dataset(tmp_path, 3, 4, [1, 2, 1], seed=5, max_side=5)
    bench.synthesize_predictions(tmp_path, tmp_path / "p.npz", seed=0)
    raw = dict(np.load(tmp_path / "p.npz"))
    raw["inputs"][3, :] = 0
    raw["inputs"][3, 0] = 2  # a 1x1 grid no test input has
    np.savez(tmp_path / "p.npz", **raw)
    # voting itself ignores such a row, as the reference does
    ts = load_arc_test_set(tmp_path, dataset_row_identifiers(tmp_path))
    pp = process_arrays(
        ts, raw["puzzle_identifiers"], raw["inputs"], raw["preds"], raw["q_halt_logits"]
    )
    assert pp.input_index[3] == -1 and (np.delete(pp.input_index, 3) >= 0).all()
    assert_same_as_oracle(pp, raw)
    # but a predictions file holding one is not trm predict's output for this dataset
    with pytest.raises(UserError, match=r"field inputs does not match .* first row 3"):
        V.process_predictions(tmp_path, tmp_path / "p.npz", progress=False)


def test_crop_sizes_match_reference_crop():
    rng = np.random.default_rng(0)
    grids = []
    for _ in range(300):
        h, w = rng.integers(0, 31, size=2)
        g = np.zeros((30, 30), dtype=np.int32)
        g[:h, :w] = rng.integers(2, 12, size=(h, w))
        if h < 30:
            g[h, :w] = 1
        if w < 30:
            g[:h, w] = 1
        if rng.random() < 0.5:  # stray markers / garbage inside the grid
            g[rng.integers(0, 30), rng.integers(0, 30)] = rng.choice([0, 1, 12, -5, 300])
        grids.append(g.ravel())
    grids.append(np.full(900, 5, dtype=np.int32))  # a full 30x30 grid
    grids.append(np.r_[1, np.full(899, 5)].astype(np.int32))  # nothing at the top left
    tokens = np.stack(grids)
    h, w = crop_sizes(tokens)
    for row, hh, ww in zip(tokens, h, w, strict=True):
        assert V.crop_tokens(row).shape == (hh, ww)
    h8, w8 = crop_sizes(np.clip(tokens, 0, 255).astype(np.uint8))
    clipped = [V.crop_tokens(r).shape for r in np.clip(tokens, 0, 255).astype(np.uint8)]
    assert [(a, b) for a, b in zip(h8, w8, strict=True)] == clipped


@pytest.mark.parametrize("tid", range(8))
def test_canonical_keys_undo_every_augmentation(tid):
    """An answer predicted under any augmentation gets the key of the un-augmented grid."""
    rng = np.random.default_rng(tid)
    grid = rng.integers(0, 10, size=(4, 7)).astype(np.uint8)
    perm = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
    name = augmented_name("task0001", tid, perm)
    ts = _tiny_test_set(["<blank>", "task0001", name])
    aug = np.ascontiguousarray(dihedral_transform(perm[grid], tid))
    row = np.zeros((30, 30), dtype=np.int32)
    row[: aug.shape[0], : aug.shape[1]] = aug + 2
    shape, keys = hash_blocks(row.reshape(1, 900), np.array([2]), ts, True, False, "")
    assert (int(shape[0]), int(keys[0, 0]), int(keys[0, 1])) == V.grid_keys(grid)


def _tiny_test_set(identifiers: list[str]) -> V.ArcTestSet:
    task_index = {"task0001": 0}
    id_task, id_tid, id_perm, id_aug = _parse_identifiers(
        identifiers, task_index, Path("x"), 0, None
    )
    g = np.zeros((1, 1), dtype=np.uint8)
    return V.ArcTestSet(
        identifiers=identifiers,
        task_names=["task0001"],
        test_puzzles={},
        input_task=np.array([0]),
        input_grids=[g],
        label_grids=[g],
        input_hash_hex=[""],
        label_hash_hex=[""],
        task_first_input=np.array([0]),
        task_n_inputs=np.array([1]),
        input_alias=np.array([0]),
        id_task=id_task,
        id_tid=id_tid,
        id_perm=id_perm,
        id_aug_rank=np.zeros(len(identifiers), dtype=np.int64),
    )


def test_bad_identifier_names_are_rejected():
    with pytest.raises(UserError, match=r"entry 2 .*permutation"):
        _tiny_test_set(["<blank>", "task0001", "task0001|||t1|||0123456788"])
    with pytest.raises(UserError, match=r"entry 1 "):
        _tiny_test_set(["<blank>", "task0001|||t9|||0123456789"])


def test_blank_padding_rows_are_dropped(tmp_path):
    bench = load_bench()
    bench.build_synthetic_dataset(tmp_path, 3, 4, [1, 2, 1], seed=6, max_side=5)
    bench.synthesize_predictions(tmp_path, tmp_path / "p.npz", seed=0)
    raw = dict(np.load(tmp_path / "p.npz"))
    padded = {k: np.concatenate([v, v[:3]]) for k, v in raw.items()}
    padded["puzzle_identifiers"][-3:] = 0  # batch filler, as the reference's loader pads
    np.savez(tmp_path / "padded.npz", **padded)
    plain = V.vote(V.process_predictions(tmp_path, tmp_path / "p.npz", progress=False))
    with_pad = V.vote(V.process_predictions(tmp_path, tmp_path / "padded.npz", progress=False))
    assert with_pad.metrics == plain.metrics and with_pad.n_votes.tolist() == plain.n_votes.tolist()


def test_compressed_and_uint8_predictions_score_the_same(tmp_path):
    bench = load_bench()
    bench.build_synthetic_dataset(tmp_path, 3, 5, [1, 2, 1], seed=7, max_side=6)
    bench.synthesize_predictions(tmp_path, tmp_path / "p.npz", seed=1)
    raw = dict(np.load(tmp_path / "p.npz"))
    np.savez_compressed(tmp_path / "c.npz", **{**raw, "preds": raw["preds"].astype(np.uint8)})
    a = V.vote(V.process_predictions(tmp_path, tmp_path / "p.npz", progress=False))
    b = V.vote(V.process_predictions(tmp_path, tmp_path / "c.npz", progress=False))
    assert a.metrics == b.metrics and a.label_rank.tolist() == b.label_rank.tolist()
