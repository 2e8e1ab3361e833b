"""The fast ARC builder against a plain re-statement of the reference builder's semantics.

`reference_build` below follows dataset/build_arc_dataset.py step by step (numpy's legacy RNG
called draw by draw, sha256 duplicate detection, Python lists), so it is slow but obviously
faithful; the golden fixture pins it to the real reference for one configuration, and these
tests extend the check to other seeds, augmentation counts and subset orders.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED, needs_shared

from trm.data.arc_build import build_arc_dataset
from trm.data.arc_sources import load_subsets
from trm.data.arc_stream import LegacyStream
from trm.data.arc_symmetry import TaskSymmetry, puzzle_content
from trm.data.augment import dihedral_transform

MINI = SHARED / "golden" / "arc-mini"
needs_mini = needs_shared(
    MINI / "kaggle", reason=f"ARC fixtures not found at {MINI} (../shared absent)"
)


# --- a direct statement of the reference semantics ------------------------------------------


def _grid_hash(g: np.ndarray) -> str:
    return hashlib.sha256(bytes(g.shape) + g.tobytes()).hexdigest()


def _puzzle_hash(pairs) -> str:
    hs = sorted(f"{_grid_hash(i)}|{_grid_hash(o)}" for i, o in pairs)
    return hashlib.sha256("|".join(hs).encode()).hexdigest()


def _to_seq(inp, out, rs, translate):
    if translate:
        pr = rs.randint(0, 30 - max(inp.shape[0], out.shape[0]) + 1)
        pc = rs.randint(0, 30 - max(inp.shape[1], out.shape[1]) + 1)
    else:
        pr = pc = 0
    res = []
    for g in (inp, out):
        h, w = g.shape
        g = np.pad(g + 2, ((pr, 30 - pr - h), (pc, 30 - pc - w)), constant_values=0)
        if pr + h < 30:
            g[pr + h, pc : pc + w] = 1
        if pc + w < 30:
            g[pr : pr + h, pc + w] = 1
        res.append(g.flatten())
    return res


def reference_build(prefix: Path, subsets, test_sets, num_aug, seed):
    rs = np.random.RandomState(seed)
    data = {"train": [], "test": []}
    test_puzzles = {}
    for subset in subsets:
        puzzles = json.loads(Path(f"{prefix}_{subset}_challenges.json").read_text())
        sols = json.loads(Path(f"{prefix}_{subset}_solutions.json").read_text())
        for pid in puzzles:
            for i, g in enumerate(sols[pid]):
                puzzles[pid]["test"][i]["output"] = g
        items = list(puzzles.items())
        rs.shuffle(items)
        for name, puzzle in items:
            is_test = subset in test_sets
            conv = {"train": [], "test": []}
            for kind, examples in puzzle.items():
                dest = "test" if (kind == "test" and is_test) else "train"
                conv[dest].extend(
                    (np.array(e["input"], dtype=np.uint8), np.array(e["output"], dtype=np.uint8))
                    for e in examples
                )
            group = [(name, conv)]
            hashes = {_puzzle_hash(conv["train"] + conv["test"])}
            for _ in range(5 * num_aug):
                t = rs.randint(0, 8)
                m = np.concatenate([[0], rs.permutation(np.arange(1, 10, dtype=np.uint8))]).astype(
                    np.uint8
                )
                aname = f"{name}|||t{t}|||{''.join(str(x) for x in m)}"
                aug = {
                    k: [(dihedral_transform(m[i], t), dihedral_transform(m[o], t)) for i, o in v]
                    for k, v in conv.items()
                }
                h = _puzzle_hash(aug["train"] + aug["test"])
                if h not in hashes:
                    hashes.add(h)
                    group.append((aname, aug))
                if len(group) >= num_aug + 1:
                    break
            if is_test:
                test_puzzles[name] = puzzle
            data["train"].append([(n, c["train"]) for n, c in group])
            if is_test:
                data["test"].append([(n, c["test"]) for n, c in group])
    ids = {}
    for split in ("train", "test"):
        for group in data[split]:
            for n, _ in group:
                ids.setdefault(n, len(ids) + 1)
    out = {}
    for split in ("train", "test"):
        r = {
            "inputs": [],
            "labels": [],
            "puzzle_identifiers": [],
            "puzzle_indices": [0],
            "group_indices": [0],
        }
        for group in data[split]:
            for n, examples in group:
                no_aug = rs.randint(0, len(examples))
                for k, (i, o) in enumerate(examples):
                    a, b = _to_seq(i, o, rs, split == "train" and k != no_aug)
                    r["inputs"].append(a)
                    r["labels"].append(b)
                r["puzzle_indices"].append(len(r["inputs"]))
                r["puzzle_identifiers"].append(ids[n])
            r["group_indices"].append(len(r["puzzle_identifiers"]))
        out[split] = {
            k: (np.stack(v) if k in ("inputs", "labels") else np.array(v, dtype=np.int32))
            for k, v in r.items()
        }
    return out, ["<blank>"] + list(ids), test_puzzles


def _assert_same(out_dir: Path, expected) -> None:
    arrays, names, test_puzzles = expected
    for split, fields in arrays.items():
        for k, v in fields.items():
            got = np.load(out_dir / split / f"all__{k}.npy")
            assert got.dtype == v.dtype, (split, k)
            np.testing.assert_array_equal(got, v, err_msg=f"{split}/{k}")
    assert json.loads((out_dir / "identifiers.json").read_text()) == names
    assert json.loads((out_dir / "test_puzzles.json").read_text()) == test_puzzles


# --- tests -------------------------------------------------------------------------------------


@needs_mini
@pytest.mark.parametrize(
    "subsets,seed,num_aug",
    [
        (["training", "evaluation", "concept"], 0, 40),
        (["concept", "training", "evaluation"], 7, 3),
        (["training", "evaluation"], 123, 0),
    ],
)
def test_matches_reference_semantics(tmp_path, subsets, seed, num_aug):
    prefix = MINI / "kaggle" / "arc-agi"
    expected = reference_build(prefix, subsets, ["evaluation", "evaluation2"], num_aug, seed)
    loaded = load_subsets(subsets, ["evaluation", "evaluation2"], input_prefix=prefix)
    build_arc_dataset(
        tmp_path, loaded.subsets, test_sets=["evaluation", "evaluation2"], num_aug=num_aug,
        seed=seed, canvas=30, workers=2, progress=False,
    )  # fmt: skip
    _assert_same(tmp_path, expected)


def _stress_pairs():
    # few colours and symmetric grids: many augmentations coincide, some only through symmetry
    sym = np.array([[1, 0, 1], [0, 2, 0], [1, 0, 1]], dtype=np.uint8)
    two = np.array([[3, 4], [4, 3]], dtype=np.uint8)
    return [
        [(sym, sym)],
        [(two, two.T.copy())],
        [(np.array([[5]], dtype=np.uint8), np.array([[6]], dtype=np.uint8))],
        [(np.array([[1, 2, 3]], dtype=np.uint8), np.array([[3, 2, 1]], dtype=np.uint8))],
    ]


@pytest.mark.parametrize("case", range(4))
def test_duplicate_keys_equal_content(case):
    """The closed-form keys coincide exactly when the augmented contents do."""
    pairs = _stress_pairs()[case]
    sym = TaskSymmetry(pairs)
    rs = np.random.RandomState(case)
    tids = rs.randint(0, 8, size=400)
    maps = np.stack([np.concatenate([[0], rs.permutation(np.arange(1, 10))]) for _ in tids]).astype(
        np.uint8
    )
    keys = sym.keys(tids, maps)
    contents = [puzzle_content(pairs, int(t), m) for t, m in zip(tids, maps, strict=True)]
    assert contents == [sym.content(int(t), m) for t, m in zip(tids, maps, strict=True)]
    by_key: dict[int, set] = {}
    by_content: dict[tuple, set] = {}
    for k, c in zip(keys.tolist(), contents, strict=True):
        by_key.setdefault(k, set()).add(c)
        by_content.setdefault(c, set()).add(k)
    assert all(len(v) == 1 for v in by_key.values())
    assert all(len(v) == 1 for v in by_content.values())
    assert len(by_key) < len(tids)  # the case really has duplicates


def test_legacy_stream_matches_randomstate():
    rs = np.random.RandomState(42)
    st = LegacyStream(42, chunk=64)  # small chunks exercise refills
    for n in [1, 2, 3, 5, 8, 9, 17, 30, 31]:
        assert [st.randint(n) for _ in range(50)] == [rs.randint(0, n) for _ in range(50)]
    items = list(range(37))
    st.shuffle(items)
    ref = list(range(37))
    rs.shuffle(ref)
    assert items == ref
    tids, maps, _ = st.augmentation_trials(100)
    st.advance(int(_[100]))
    for k in range(100):
        assert tids[k] == rs.randint(0, 8)
        np.testing.assert_array_equal(maps[k, 1:], rs.permutation(np.arange(1, 10)))
    assert st.randint(1000) == rs.randint(0, 1000)


def _write_synthetic(prefix: Path) -> None:
    rng = np.random.RandomState(5)

    def grid(h, w, colours=10):
        return rng.randint(0, colours, size=(h, w)).tolist()

    rainbow = [[1, 2, 3, 4, 5, 6, 7, 8]]  # eight colours with equal counts: the exact-content path
    tasks = {
        "rainbow1": {"train": [{"input": rainbow, "output": rainbow}], "test": [{"input": [[1]], "output": [[1]]}]},
        "big30000": {"train": [{"input": grid(30, 30), "output": grid(30, 30)}, {"input": grid(1, 30), "output": grid(30, 1)}], "test": [{"input": grid(2, 2), "output": grid(2, 2)}]},
        "mirror01": {"train": [{"input": [[1, 0, 1]], "output": [[2, 2]]}, {"input": [[3]], "output": [[3]]}], "test": [{"input": [[2, 1, 2]], "output": [[1, 1]]}]},
        "plain001": {"train": [{"input": grid(4, 6), "output": grid(6, 4)}] * 3, "test": [{"input": grid(3, 3), "output": grid(3, 3)}] * 2},
    }  # fmt: skip
    for subset, ids in (
        ("training", ["rainbow1", "big30000", "plain001"]),
        ("concept", ["rainbow1"]),  # the same task in two training subsets: one identifier
        ("evaluation", ["mirror01"]),
    ):
        chal = {
            t: {
                "train": tasks[t]["train"],
                "test": [{"input": p["input"]} for p in tasks[t]["test"]],
            }
            for t in ids
        }
        sols = {t: [p["output"] for p in tasks[t]["test"]] for t in ids}
        Path(f"{prefix}_{subset}_challenges.json").write_text(json.dumps(chal))
        Path(f"{prefix}_{subset}_solutions.json").write_text(json.dumps(sols))


@pytest.mark.parametrize("num_aug", [1, 30])
def test_synthetic_edge_cases_match_reference_semantics(tmp_path, num_aug):
    """Exact-content duplicate path, full-size grids (no translation draw), repeated pairs,
    one task in two training subsets."""
    prefix = tmp_path / "arc"
    _write_synthetic(prefix)
    subsets = ["training", "concept", "evaluation"]
    expected = reference_build(prefix, subsets, ["evaluation"], num_aug, 3)
    loaded = load_subsets(subsets, ["evaluation"], input_prefix=prefix)
    out = tmp_path / "out"
    out.mkdir()
    build_arc_dataset(
        out,
        loaded.subsets,
        test_sets=["evaluation"],
        num_aug=num_aug,
        seed=3,
        canvas=30,
        workers=1,
        progress=False,
    )
    _assert_same(out, expected)
    assert TaskSymmetry(loaded.subsets[0][1][0].pairs(["train", "test"])).exact
