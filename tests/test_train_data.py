"""The training batch sampler: reference semantics, determinism, rank split, resume."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from trm.train.data import IGNORE_LABEL_ID, PuzzleBatchSampler, reference_worker_numpy_seed
from trm.train.synthetic import write_grid_task


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 10 groups x 3 puzzles, 2..6 examples each: puzzles get cut at batch boundaries.
    return write_grid_task(
        tmp_path_factory.mktemp("grid"),
        n_groups=10,
        puzzles_per_group=3,
        examples_per_puzzle=(2, 6),
        seed=3,
    )


def _one_iteration(s: PuzzleBatchSampler) -> list:
    return list(s.iterate_once())


def _reference_puzzle_sequence(
    seed: int, puzzle_indices, group_indices, batch: int, epochs_per_iter: int = 1
):
    """The reference's group order and puzzle picks (same Philox stream), per batch."""
    rng = np.random.Generator(np.random.Philox(seed=seed + 1))
    n_groups = group_indices.size - 1
    order = np.concatenate([rng.permutation(n_groups) for _ in range(epochs_per_iter)])
    start, batches = 0, []
    while start < order.size:
        size, picks = 0, []
        while start < order.size and size < batch:
            g = order[start]
            pz = rng.integers(group_indices[g], group_indices[g + 1])
            start += 1
            take = min(int(puzzle_indices[pz + 1] - puzzle_indices[pz]), batch - size)
            picks.append((int(pz), take))
            size += take
        if size < batch:
            break
        batches.append(picks)
    return order, batches


def test_batches_follow_reference_semantics(data_dir: Path) -> None:
    B = 8
    s = PuzzleBatchSampler(data_dir, global_batch_size=B, seed=5)
    pi, gi = s.puzzle_indices, s.group_indices
    inputs = np.load(data_dir / "train" / "all__inputs.npy")
    batches = _one_iteration(s)
    order, ref = _reference_puzzle_sequence(5, pi, gi, B)
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(
        range(10)
    )  # shuffled
    assert len(batches) == len(ref) > 0
    total_rows = sum(t for picks in ref for _, t in picks)
    assert total_rows == len(batches) * B  # the last partial batch was dropped
    groups_seen = []
    for tb, picks in zip(batches, ref, strict=True):
        assert tb.global_effective_size == B
        ids = tb.batch["puzzle_identifiers"].numpy()
        # rows are packed puzzle after puzzle, in the reference's order
        expect_ids = np.concatenate([np.full(t, s.puzzle_identifiers[pz]) for pz, t in picks])
        np.testing.assert_array_equal(ids, expect_ids)
        row = 0
        for pz, t in picks:
            groups_seen.append(int(np.searchsorted(gi, pz, side="right") - 1))
            got = tb.batch["inputs"].numpy()[row : row + t]
            pool = inputs[pi[pz] : pi[pz + 1]]
            # distinct examples of that very puzzle
            matches = [int(np.flatnonzero((pool == g).all(1))[0]) for g in got]
            assert len(set(matches)) == t
            row += t
    # one puzzle per group per epoch
    assert len(groups_seen) == len(set(groups_seen))
    assert (
        batches[0].batch["inputs"].dtype == np.int32
        or str(batches[0].batch["inputs"].dtype) == "torch.int32"
    )


def test_deterministic_under_seed_and_differs_across_seeds(data_dir: Path) -> None:
    def ids(seed: int) -> list:
        return [
            tb.batch["inputs"].numpy().tolist()
            for tb in _one_iteration(PuzzleBatchSampler(data_dir, 8, seed=seed))
        ]

    assert ids(1) == ids(1)
    assert ids(1) != ids(2)


def test_iterations_reshuffle_and_epochs_per_iter(data_dir: Path) -> None:
    s = PuzzleBatchSampler(data_dir, 8, seed=0)
    first = [tb.batch["puzzle_identifiers"].tolist() for tb in s.iterate_once()]
    second = [tb.batch["puzzle_identifiers"].tolist() for tb in s.iterate_once()]
    assert s.iteration == 2 and first != second
    multi = PuzzleBatchSampler(data_dir, 8, seed=0, epochs_per_iter=3)
    n = len(list(multi.iterate_once()))
    _, ref = _reference_puzzle_sequence(
        0, multi.puzzle_indices, multi.group_indices, 8, epochs_per_iter=3
    )
    assert n == len(ref) > 2 * len(first)


def test_rank_slices_make_the_global_batch(data_dir: Path) -> None:
    whole = _one_iteration(PuzzleBatchSampler(data_dir, 8, seed=4))
    r0 = _one_iteration(PuzzleBatchSampler(data_dir, 8, seed=4, rank=0, world_size=2))
    r1 = _one_iteration(PuzzleBatchSampler(data_dir, 8, seed=4, rank=1, world_size=2))
    assert len(whole) == len(r0) == len(r1)
    for w, a, b in zip(whole, r0, r1, strict=True):
        for k in ("inputs", "labels", "puzzle_identifiers"):
            np.testing.assert_array_equal(
                w.batch[k].numpy(), np.concatenate([a.batch[k].numpy(), b.batch[k].numpy()])
            )
        assert a.batch["inputs"].shape[0] == 4 and a.global_effective_size == 8
    with pytest.raises(ValueError, match="multiple of the world size"):
        PuzzleBatchSampler(data_dir, 7, world_size=2)


@pytest.mark.parametrize("order", ["per_iteration", "reference"])
def test_resume_mid_iteration_continues_identically(data_dir: Path, order: str) -> None:
    ref = PuzzleBatchSampler(data_dir, 8, seed=9, example_order=order)
    it = iter(ref)
    expected = [
        next(it).batch["inputs"].numpy() for _ in range(12)
    ]  # crosses an iteration boundary

    s = PuzzleBatchSampler(data_dir, 8, seed=9, example_order=order)
    it = iter(s)
    got = [next(it).batch["inputs"].numpy() for _ in range(3)]
    state = pickle.loads(pickle.dumps(s.state_dict()))  # as torch.save stores it
    s2 = PuzzleBatchSampler(data_dir, 8, seed=9, example_order=order)
    s2.load_state_dict(state)
    it2 = iter(s2)
    got += [next(it2).batch["inputs"].numpy() for _ in range(9)]
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="global_batch_size"):
        PuzzleBatchSampler(data_dir, 4, seed=9).load_state_dict(state)


def test_ignore_label_mapping_and_bad_input(tmp_path: Path, data_dir: Path) -> None:
    s = PuzzleBatchSampler(data_dir, 8)
    labels = np.load(data_dir / "train" / "all__labels.npy")
    assert (labels > 0).all()  # ignore_label_id 0 never occurs in this task...
    tb = next(iter(s))
    assert (tb.batch["labels"].numpy() != IGNORE_LABEL_ID).all()
    # ...so map a pad label in by hand and check it turns into the loss's ignore id
    lab = labels.copy()
    lab[:, 0] = 0
    bad = tmp_path / "d"
    write_grid_task(bad, n_groups=10, puzzles_per_group=3, examples_per_puzzle=(2, 6), seed=3)
    np.save(bad / "train" / "all__labels.npy", lab)
    tb = next(iter(PuzzleBatchSampler(bad, 8)))
    assert (tb.batch["labels"].numpy()[:, 0] == IGNORE_LABEL_ID).all()
    # a broken index array is named in the error
    np.save(bad / "train" / "all__group_indices.npy", np.array([0, 5, 3, 30], dtype=np.int32))
    with pytest.raises(ValueError, match="group_indices"):
        PuzzleBatchSampler(bad, 8)
    with pytest.raises(ValueError, match="fewer examples than one global batch"):
        next(iter(PuzzleBatchSampler(data_dir, 10_000)))


def test_resume_at_an_iterations_partial_tail_moves_on(data_dir: Path) -> None:
    """A run stopped after an iteration's last full batch resumes into the next iteration."""
    n_full = len(_one_iteration(PuzzleBatchSampler(data_dir, 8, seed=5)))
    ref = iter(PuzzleBatchSampler(data_dir, 8, seed=5))
    expected = [next(ref).batch["inputs"].numpy() for _ in range(n_full + 2)]

    s = PuzzleBatchSampler(data_dir, 8, seed=5)
    it = iter(s)
    for _ in range(n_full):
        next(it)
    state = s.state_dict()
    assert not s.exhausted  # only the dropped partial batch is left in this iteration
    s2 = PuzzleBatchSampler(data_dir, 8, seed=5)
    s2.load_state_dict(state)
    it2 = iter(s2)
    got = [next(it2).batch["inputs"].numpy() for _ in range(2)]
    for a, b in zip(expected[n_full:], got, strict=True):
        np.testing.assert_array_equal(a, b)


class _WorkerDraws(torch.utils.data.IterableDataset):
    """Yields draws from the global NumPy state of the DataLoader worker it runs in."""

    def __iter__(self):
        yield np.random.choice(1000, 8, replace=False)
        yield np.random.choice(50, 50, replace=False)


def test_reference_order_stream_is_the_dataloader_workers(tmp_path: Path) -> None:
    """What the reference order relies on in torch, checked against a real DataLoader worker.

    The reference's worker 0 gets `np.random.seed(_generate_state(base_seed, 0))`, with
    `base_seed` the first int64 the iterator draws from the CPU generator. A torch release that
    changes any of this fails here instead of silently changing the reference order.
    """
    seed = 11
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        loader = torch.utils.data.DataLoader(_WorkerDraws(), batch_size=None, num_workers=1)
        got = [np.asarray(x) for x in loader]
    ours = np.random.RandomState(reference_worker_numpy_seed(seed))
    expected = [ours.choice(1000, 8, replace=False), ours.choice(50, 50, replace=False)]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    # rank r seeds the CPU generator with seed + r
    assert reference_worker_numpy_seed(seed, rank=1) == reference_worker_numpy_seed(seed + 1)
    assert reference_worker_numpy_seed(seed) != reference_worker_numpy_seed(seed + 1)


def test_reference_order_state_is_plain_and_orders_are_validated(data_dir: Path) -> None:
    s = PuzzleBatchSampler(data_dir, 8, seed=2, example_order="reference")
    next(iter(s))
    path = data_dir.parent / "run_rng.pt"
    torch.save(s.state_dict()["run_rng"], path)
    run_rng = torch.load(path, weights_only=True)  # ints, lists, floats and strings only
    assert run_rng["bit_generator"] == "MT19937" and len(run_rng["keys"]) == 624
    # a per-iteration state cannot be resumed in the reference order (and the other way round)
    other = PuzzleBatchSampler(data_dir, 8, seed=2)
    with pytest.raises(ValueError, match="example_order"):
        other.load_state_dict(s.state_dict())
    with pytest.raises(ValueError, match="example_order"):
        PuzzleBatchSampler(data_dir, 8, example_order="random")
    # allowed on request (trm train with example_order=auto and another process count): the
    # group order and puzzle picks continue where they were, the examples from a fresh stream
    expected = [next(iter(s)).batch["puzzle_identifiers"] for _ in range(4)]
    s2 = PuzzleBatchSampler(data_dir, 8, seed=2, example_order="reference")
    next(iter(s2))
    other.load_state_dict(s2.state_dict(), switch_example_order=True)
    assert other.example_order == "per_iteration"
    got = [next(iter(other)).batch["puzzle_identifiers"] for _ in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
