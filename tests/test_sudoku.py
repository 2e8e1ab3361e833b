"""Sudoku builder: exact solver, generator (unique solutions), augmentation validity, layout,
determinism, CSV validation errors and the manifest."""

from __future__ import annotations

import csv
import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from trm.cli import main as trm_main
from trm.data import sudoku as sd
from trm.data.format import FIELDS, load_split, read_identifiers, read_metadata
from trm.data.puzzle_csv import PuzzleCsvError
from trm.outputs import MARKER_NAME
from trm.utils import sha256_file


def build(out: Path, **settings: object) -> dict:
    """The library build, in-process (the CLI adds only the declaration's checks and guard)."""
    return sd.prepare_sudoku(sd.SudokuSettings(**settings), out, command="test", progress=False)


def all_4x4_grids() -> np.ndarray:
    """Every solved 4x4 grid (288), by brute force over row permutations: an oracle that shares
    no code with the solver under test."""
    rows = list(itertools.permutations(range(1, 5)))
    grids = []
    for r0, r1, r2, r3 in itertools.product(rows, repeat=4):
        g = np.array([r0, r1, r2, r3])
        if any(len(set(g[:, c])) != 4 for c in range(4)):
            continue
        if any(
            len(set(g[br : br + 2, bc : bc + 2].ravel())) != 4 for br in (0, 2) for bc in (0, 2)
        ):
            continue
        grids.append(g.ravel())
    return np.array(grids)


GRIDS_4X4 = all_4x4_grids()


def n_completions_4x4(puzzle: np.ndarray) -> int:
    clues = puzzle != 0
    return int(((GRIDS_4X4[:, clues] == puzzle[clues]).all(axis=1)).sum())


def is_solved_grid(grid: np.ndarray, size: int) -> bool:
    g = grid.reshape(size, size)
    box = int(size**0.5)
    want = set(range(1, size + 1))
    return (
        all(set(g[r]) == want for r in range(size))
        and all(set(g[:, c]) == want for c in range(size))
        and all(
            set(g[r : r + box, c : c + box].ravel()) == want
            for r in range(0, size, box)
            for c in range(0, size, box)
        )
    )


def check_dataset(root: Path, size: int, num_aug: int, exhaustive_unique: bool) -> None:
    """Every example of both splits: valid solved label, consistent with the clues, unique."""
    for split in ("train", "test"):
        meta = read_metadata(root, split)
        arrays = load_split(root, split, mmap=False)
        assert meta.seq_len == size * size and meta.vocab_size == size + 2
        assert meta.pad_id == 0 and meta.ignore_label_id == 0 and meta.num_puzzle_identifiers == 1
        assert arrays["inputs"].dtype == np.uint8 and arrays["labels"].dtype == np.uint8
        for name in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
            assert arrays[name].dtype == np.int32
        n = len(arrays["inputs"])
        group = 1 + (num_aug if split == "train" else 0)
        assert (arrays["puzzle_indices"] == np.arange(n + 1)).all()
        assert (arrays["group_indices"] == np.arange(0, n + 1, group)).all()
        assert (arrays["puzzle_identifiers"] == 0).all()
        assert meta.total_groups == n // group
        q = sd.decode_tokens(arrays["inputs"])
        a = sd.decode_tokens(arrays["labels"])
        assert q.min() >= 0 and q.max() <= size and a.min() >= 1 and a.max() <= size
        for qi, ai in zip(q, a, strict=True):
            assert is_solved_grid(ai, size)
            assert ((qi == 0) | (qi == ai)).all()
            if exhaustive_unique:
                assert n_completions_4x4(qi) == 1
            else:
                assert sd.count_solutions(qi, size, limit=2) == 1
    assert read_identifiers(root) == ["<blank>"]


# ---------------------------------------------------------------------------------------------
# solver and generator


def test_oracle_has_288_grids() -> None:
    assert len(GRIDS_4X4) == 288


def test_solver_counts_match_exhaustive_oracle() -> None:
    rnd = random.Random(3)
    for _ in range(200):
        grid = GRIDS_4X4[rnd.randrange(288)].copy()
        grid[rnd.sample(range(16), rnd.randrange(6, 16))] = 0
        assert sd.count_solutions(grid, 4, limit=1000) == n_completions_4x4(grid)


def test_solver_edge_cases() -> None:
    assert sd.count_solutions([0] * 16, 4, limit=1000) == 288
    assert sd.count_solutions([1, 1] + [0] * 14, 4) == 0  # contradictory clues
    solved = GRIDS_4X4[0]
    result = sd.search(solved, 4)
    assert result.solutions == 1 and result.first == list(solved)
    with pytest.raises(ValueError, match="outside 1..4"):
        sd.search([5] + [0] * 15, 4)


@pytest.mark.parametrize("size,count", [(4, 300), (9, 6)])
def test_generated_puzzles_have_exactly_one_solution(size: int, count: int) -> None:
    records = sd.generate_sudoku_records(size, count, seed=5, progress=False)
    assert len({r[1] for r in records}) == count  # distinct
    for source, q, a, rating in records:
        puzzle = np.array([0 if ch == "." else int(ch) for ch in q])
        solution = np.array([int(ch) for ch in a])
        assert is_solved_grid(solution, size)
        assert ((puzzle == 0) | (puzzle == solution)).all()
        if size == 4:
            assert n_completions_4x4(puzzle) == 1
        result = sd.search(puzzle, size, limit=2)
        assert result.solutions == 1 and result.first == list(solution)
        assert rating == sd.rating(puzzle, size) and source == f"generated-{size}x{size}"
        # minimal: removing any clue breaks uniqueness
        for c in np.flatnonzero(puzzle)[:5]:
            weaker = puzzle.copy()
            weaker[c] = 0
            assert sd.count_solutions(weaker, size) == 2


def test_min_rating_is_respected_and_impossible_ratings_fail_clearly() -> None:
    records = sd.generate_sudoku_records(9, 3, seed=1, min_rating=20, progress=False)
    assert all(r[3] >= 20 for r in records)
    with pytest.raises(ValueError, match="lower --num or --min-rating"):
        sd.generate_sudoku_records(4, 2, seed=1, min_rating=10**6, progress=False)


# ---------------------------------------------------------------------------------------------
# augmentation


def test_shuffles_preserve_validity_and_uniqueness_9x9() -> None:
    ((_, q, a, _),) = sd.generate_sudoku_records(9, 1, seed=2, progress=False)
    puzzle = np.array([[0 if ch == "." else int(ch) for ch in q]], dtype=np.uint8)
    solution = np.array([[int(ch) for ch in a]], dtype=np.uint8)
    aq, aa = sd.augment_sudoku(np.random.default_rng(0), puzzle, solution, 9, 40, progress=False)
    assert aq.shape == (41, 81) and (aq[0] == puzzle[0]).all() and (aa[0] == solution[0]).all()
    for qi, ai in zip(aq, aa, strict=True):
        assert is_solved_grid(ai, 9) and ((qi == 0) | (qi == ai)).all()
        assert (qi != 0).sum() == (puzzle != 0).sum()
        assert sd.count_solutions(qi, 9) == 1
    # the shuffles actually move things: (almost) all distinct from the original and each other
    assert len({row.tobytes() for row in aq}) >= 39


def test_shuffle_transposes_about_half_the_time() -> None:
    # every column constant: a shuffle without transpose keeps columns constant, with it rows
    m = 200
    q = np.tile(np.arange(81) % 9 + 1, (m, 1)).astype(np.uint8)
    out_q, _ = sd.shuffle_sudoku_batch(np.random.default_rng(1), q, q, 9)
    grids = out_q.reshape(m, 9, 9)
    rows_constant = (grids == grids[:, :, :1]).all(axis=(1, 2))
    cols_constant = (grids == grids[:, :1, :]).all(axis=(1, 2))
    assert (rows_constant ^ cols_constant).all()
    assert 60 < rows_constant.sum() < 140
    assert len({g[0].tobytes() for g in grids[cols_constant]}) > 20  # digits relabelled


# ---------------------------------------------------------------------------------------------
# the build


def prepare(tmp: Path, name: str, *args: str) -> Path:
    out = tmp / name
    rc = trm_main(["prepare", "sudoku", *args, "--out", str(out), "--no-progress"])
    assert rc == 0
    return out


def test_generate_4x4_every_example_valid_and_unique(tmp_path: Path) -> None:
    out = prepare(
        tmp_path,
        "s4",
        "--source",
        "generate",
        "--size",
        "4",
        "--num",
        "60",
        "--num-test",
        "20",
        "--seed",
        "7",
        "--num-aug",
        "8",
    )
    check_dataset(out, 4, 8, exhaustive_unique=True)
    assert load_split(out, "train")["inputs"].shape == (60 * 9, 16)
    assert load_split(out, "test")["inputs"].shape == (20, 16)
    # train and test puzzles are distinct
    train_q = {r["q"] for r in csv.DictReader(open(out / "csv" / "train.csv"))}
    test_q = {r["q"] for r in csv.DictReader(open(out / "csv" / "test.csv"))}
    assert len(train_q) == 60 and len(test_q) == 20 and not train_q & test_q
    meta = json.loads((out / "train" / "dataset.json").read_text())
    assert meta["grid_size"] == 4 and meta["vocab_size"] == 6
    info = json.loads((out / "puzzle_info.json").read_text())
    assert info["grid_size"] == 4 and info["tokens"]["blank"] == 1


def test_generate_9x9_with_subsample_and_manifest(tmp_path: Path) -> None:
    out = prepare(
        tmp_path,
        "s9",
        "--source",
        "generate",
        "--size",
        "9",
        "--num",
        "6",
        "--num-test",
        "2",
        "--seed",
        "3",
        "--num-aug",
        "3",
        "--subsample",
        "4",
    )
    check_dataset(out, 9, 3, exhaustive_unique=False)
    meta = json.loads((out / "train" / "dataset.json").read_text())
    # the reference's dataset.json, key for key
    assert meta == {
        "pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": 11, "seq_len": 81,
        "num_puzzle_identifiers": 1, "total_groups": 4, "mean_puzzle_examples": 1.0, "total_puzzles": 4,
        "sets": ["all"],
    }  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["num_aug"] == 3 and manifest["params"]["subsample"] == 4
    assert manifest["params"]["seed"] == 3 and manifest["params"]["size"] == 9
    assert "--num-aug 3" in manifest["command"]
    assert manifest["counts"]["train"] == {
        "csv_rows": 6, "tasks": 4, "groups": 4, "puzzles": 16, "examples": 16, "identifiers": 1
    }  # fmt: skip
    assert manifest["counts"]["test"]["examples"] == 2
    listed = {o["path"]: o for o in manifest["outputs"]}
    expected = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        "manifest.json",
        MARKER_NAME,  # the output marker, written after the manifest
    }
    assert set(listed) == expected
    for name in FIELDS:
        rel = f"train/all__{name}.npy"
        assert listed[rel]["sha256"] == sha256_file(out / rel)
        assert listed[rel]["size"] == (out / rel).stat().st_size


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    args = (
        "--source",
        "generate",
        "--size",
        "4",
        "--num",
        "30",
        "--num-aug",
        "5",
        "--subsample",
        "20",
    )
    a = prepare(tmp_path, "a", *args, "--seed", "11")
    b = prepare(tmp_path, "b", *args, "--seed", "11")
    c = prepare(tmp_path, "c", *args, "--seed", "12")
    for split in ("train", "test"):
        for name in FIELDS:
            rel = f"{split}/all__{name}.npy"
            assert sha256_file(a / rel) == sha256_file(b / rel)
    assert sha256_file(a / "csv/train.csv") == sha256_file(b / "csv/train.csv")
    assert sha256_file(a / "train/all__inputs.npy") != sha256_file(c / "train/all__inputs.npy")


def test_csv_source_and_min_rating_filter(tmp_path: Path) -> None:
    gen = prepare(
        tmp_path,
        "gen",
        "--source",
        "generate",
        "--size",
        "9",
        "--num",
        "6",
        "--num-test",
        "3",
        "--seed",
        "4",
    )
    # the same CSVs through csv: give the same arrays (same conversion path)
    via_csv = prepare(tmp_path, "via_csv", "--source", f"csv:{gen / 'csv'}", "--seed", "4")
    for name in FIELDS:
        assert sha256_file(gen / f"train/all__{name}.npy") == sha256_file(
            via_csv / f"train/all__{name}.npy"
        )
    manifest = json.loads((via_csv / "manifest.json").read_text())
    assert [i["sha256"] for i in manifest["inputs"]] == [
        sha256_file(gen / "csv/train.csv"),
        sha256_file(gen / "csv/test.csv"),
    ]
    # --min-rating keeps rows with rating >= R in both splits, as the reference's min_difficulty
    ratings = {
        split: [int(r["rating"]) for r in csv.DictReader(open(gen / "csv" / f"{split}.csv"))]
        for split in ("train", "test")
    }
    threshold = sorted(ratings["train"] + ratings["test"])[4]
    filtered = prepare(
        tmp_path, "filtered", "--source", f"csv:{gen / 'csv'}", "--min-rating", str(threshold)
    )
    m = json.loads((filtered / "manifest.json").read_text())
    for split in ("train", "test"):
        kept = sum(r >= threshold for r in ratings[split])
        assert m["counts"][split]["after_min_rating"] == kept
        assert len(load_split(filtered, split)["inputs"]) == kept


# ---------------------------------------------------------------------------------------------
# bad input


SOLVED = "1234341221434321"  # a valid 4x4 solution
PUZZLE = "1.3..4.22.4.4..1"


def write_csv(
    folder: Path, train_rows: list[list[str]], test_rows: list[list[str]] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train_rows), ("test", test_rows or [["t", PUZZLE, SOLVED, "0"]])):
        with open(folder / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["source", "question", "answer", "rating"])
            w.writerows(rows)
    return folder


@pytest.mark.parametrize(
    "bad_row,pattern",
    [
        (
            ["p1", PUZZLE[:-1], SOLVED, "0"],
            r"line 3 \(puzzle source 'p1'\), field 'q' has length 15, expected 16",
        ),
        (
            ["p1", PUZZLE, SOLVED + "1", "0"],
            r"line 3 \(puzzle source 'p1'\), field 'a' has length 17",
        ),
        (["p1", PUZZLE, "", "0"], r"field 'a' is empty \(missing\)"),
        (
            ["p1", PUZZLE, "1.34341221434321", "0"],
            r"field 'a': a blank \(missing solution digit\) at cell 1",
        ),
        (["p1", "1x3..4.22.4.4..1", SOLVED, "0"], r"field 'q': character 'x' at cell 1"),
        (["p1", "1.3..4.22.4.4..5", SOLVED, "0"], r"field 'q': character '5' at cell 15"),
        (
            ["p1", "2.3..4.22.4.4..1", SOLVED, "0"],
            r"field 'a': cell 0 .* is 1 but the clue in 'q' is 2",
        ),
        (
            ["p1", "................", "1234123412341234", "0"],
            r"field 'a': not a valid solved Sudoku",
        ),
        (["p1", PUZZLE, SOLVED], r"line 3: 3 fields, expected 4"),
    ],
)
def test_bad_rows_name_file_line_field_and_leave_no_output(
    tmp_path: Path, bad_row: list[str], pattern: str, capsys: pytest.CaptureFixture
) -> None:
    src = write_csv(tmp_path / "src", [["p0", PUZZLE, SOLVED, "0"], bad_row])
    out = tmp_path / "out" / "ds"
    with pytest.raises(PuzzleCsvError, match=pattern) as info:
        build(out, source=f"csv:{src}")
    assert str(src / "train.csv") in str(info.value)
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []
    # through the CLI: exit status 2 and the message, no traceback
    assert (
        trm_main(
            ["prepare", "sudoku", "--source", f"csv:{src}", "--out", str(out), "--no-progress"]
        )
        == 2
    )
    assert "train.csv line 3" in capsys.readouterr().err
    assert not out.exists()


def test_bad_rating_and_mixed_sizes(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "src", [["p0", PUZZLE, SOLVED, "hard"]])
    with pytest.raises(
        PuzzleCsvError,
        match=r"line 2 \(puzzle source 'p0'\), field 'rating': 'hard' is not an integer",
    ):
        build(tmp_path / "o1", source=f"csv:{src}", min_rating=1)
    nine = "." * 81
    src2 = write_csv(
        tmp_path / "src2", [["p0", PUZZLE, SOLVED, "0"]], [["t0", nine, "1" * 81, "0"]]
    )
    with pytest.raises(
        PuzzleCsvError, match=r"test.csv line 2 .*field 'q' has length 81, expected 16"
    ):
        build(tmp_path / "o2", source=f"csv:{src2}")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_existing_output_survives_a_failed_rebuild(tmp_path: Path) -> None:
    out = prepare(
        tmp_path, "keep", "--source", "generate", "--size", "4", "--num", "5", "--seed", "0"
    )
    before = sha256_file(out / "manifest.json")
    src = write_csv(tmp_path / "src", [["p0", PUZZLE, "", "0"]])
    assert (
        trm_main(
            ["prepare", "sudoku", "--source", f"csv:{src}", "--out", str(out), "--no-progress"]
        )
        == 2
    )
    assert sha256_file(out / "manifest.json") == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".keep")] == []


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs --num"):
        build(tmp_path / "x", source="generate")
    with pytest.raises(ValueError, match="--source 'zip:foo'"):
        build(tmp_path / "x", source="zip:foo")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        build(tmp_path / "x", source=f"csv:{tmp_path / 'nope'}")
    with pytest.raises(ValueError, match="size must be one of"):
        build(tmp_path / "x", source="generate", size=5, num=3)
    src = write_csv(tmp_path / "src", [["p0", PUZZLE, SOLVED, "0"]])
    with pytest.raises(ValueError, match="apply only to --source generate"):
        build(tmp_path / "x", source=f"csv:{src}", num=3)
    with pytest.raises(PuzzleCsvError, match=r"field 'q' has length 16, expected 81"):
        build(tmp_path / "x", source=f"csv:{src}", size=9)
    assert not (tmp_path / "x").exists()


def test_errors_past_the_first_parse_chunk_name_the_right_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sd, "_PARSE_CHUNK", 2)
    good = ["p", PUZZLE, SOLVED, "0"]
    src = write_csv(tmp_path / "src", [good] * 4 + [["p4", PUZZLE, "1234341221434312", "0"]])
    with pytest.raises(PuzzleCsvError, match=r"train.csv line 6 \(puzzle source 'p4'\), field 'a'"):
        build(tmp_path / "o", source=f"csv:{src}")
    ok = write_csv(tmp_path / "ok", [good] * 5)
    build(tmp_path / "o", source=f"csv:{ok}")
    assert load_split(tmp_path / "o", "train")["inputs"].shape == (5, 16)
