"""Maze builder: generated and augmented mazes carry their shortest path, layout, determinism,
CSV validation errors and the manifest."""

from __future__ import annotations

import csv
import json
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from trm.cli import main as trm_main
from trm.data import maze as mz
from trm.data.augment import dihedral_transform
from trm.data.format import FIELDS, load_split, read_identifiers, read_metadata
from trm.data.puzzle_csv import PuzzleCsvError
from trm.utils import sha256_file


def build(out: Path, **settings: object) -> dict:
    """The library build, in-process (the CLI adds only the declaration's checks and guard)."""
    return mz.prepare_maze(mz.MazeSettings(**settings), out, command="test", progress=False)


def bfs_grid(grid: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Plain 2-D BFS distances over non-wall cells (-1 unreachable): an oracle independent of
    trm.data.maze.bfs."""
    h, w = grid.shape
    dist = np.full((h, w), -1)
    dist[start] = 0
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < h and 0 <= nc < w and grid[nr, nc] != "#" and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def assert_shortest_path(question: str, answer: str, size: int, min_length: int = 1) -> int:
    """The 'o' cells of `answer` with S and G form a connected S->G walk of shortest length."""
    q = np.array(list(question)).reshape(size, size)
    a = np.array(list(answer)).reshape(size, size)
    assert (q == "S").sum() == 1 and (q == "G").sum() == 1 and not (q == "o").any()
    assert ((a == q) | ((q == " ") & (a == "o"))).all()
    s = tuple(np.argwhere(q == "S")[0])
    g = tuple(np.argwhere(q == "G")[0])
    length = int(bfs_grid(q, s)[g])
    assert length >= max(1, min_length)
    # walk from S through path cells only, never revisiting: must reach G in exactly `length` moves
    on_path = (a == "o") | (a == "G")
    assert on_path.sum() == length
    cur, prev, steps = s, None, 0
    while cur != g:
        r, c = cur
        nxt = [
            (nr, nc)
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1))
            if 0 <= nr < size and 0 <= nc < size and on_path[nr, nc] and (nr, nc) != prev
        ]
        assert len(nxt) == 1, f"path branches or breaks at {cur}"
        prev, cur = cur, nxt[0]
        steps += 1
    assert steps == length
    return length


def prepare(tmp: Path, name: str, *args: str) -> Path:
    out = tmp / name
    assert trm_main(["prepare", "maze", *args, "--out", str(out), "--no-progress"]) == 0
    return out


def decode(tokens: np.ndarray) -> list[str]:
    return mz.tokens_to_strings(np.asarray(tokens))


# ---------------------------------------------------------------------------------------------
# generator


@pytest.mark.parametrize("size,count", [(30, 60), (9, 60), (4, 10)])
def test_generated_mazes_carry_their_unique_shortest_path(size: int, count: int) -> None:
    records = mz.generate_maze_records(size, count, seed=3, progress=False)
    assert len({r[1] for r in records}) == count
    min_len = mz.default_min_path_length(size)
    for source, q, a, length in records:
        assert source == f"generated-{size}x{size}"
        assert assert_shortest_path(q, a, size, min_len) == length
        assert mz.check_solution(q, a, size, require_unique=True) is None
    if size == 30:
        assert min_len == 112


def test_check_solution_rejects_wrong_paths() -> None:
    ((_, q, a, length),) = mz.generate_maze_records(
        12, 1, seed=8, loop_fraction=0.0, progress=False
    )
    assert mz.check_solution(q, a, 12) is None
    cells = [i for i, ch in enumerate(a) if ch == "o"]
    dropped = a[: cells[0]] + " " + a[cells[0] + 1 :]
    assert "path cells" in mz.check_solution(q, dropped, 12)
    # an extra open cell marked 'o' that is not on the shortest path
    spare = next(i for i, ch in enumerate(a) if ch == " ")
    extra = a[:spare] + "o" + a[spare + 1 :]
    assert mz.check_solution(q, extra, 12) is not None
    # tied shortest paths: an open 5x5 room with S and G in opposite corners
    q5 = "S    " + "     " * 3 + "    G"
    a5 = "Soooo" + "    o" * 3 + "    G"
    assert mz.check_solution(q5, a5, 5) is None
    assert mz.check_solution(q5, a5, 5, require_unique=True) == "more than one shortest path"
    assert length == sum(ch == "o" for ch in a) + 1


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--size", "31"], "--size: 31 is not a valid size (>= 4 and <= 30)"),
        (["--size", "3"], "--size: 3 is not a valid size (>= 4 and <= 30)"),
        (["--num-aug", "8"], "--num-aug: 8 is not a valid count (>= 0 and <= 7)"),
        (["--loop-fraction", "1.5"], "--loop-fraction: 1.5 is not a valid probability"),
        (["--min-path-length", "901"], "--min-path-length: 901 is not a valid count"),
    ],
)
def test_out_of_range_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, option: list[str], message: str
) -> None:
    argv = ["prepare", "maze", "--source", "generate", "--num", "2", "--out", str(tmp_path / "x")]
    assert trm_main([*argv, *option]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"trm prepare maze: error: {message}"), err
    assert list(tmp_path.iterdir()) == []


def test_impossible_hardness_fails_clearly() -> None:
    with pytest.raises(ValueError, match="lower --min-path-length"):
        mz.generate_maze_records(6, 2, seed=0, min_path_length=200, progress=False)


# ---------------------------------------------------------------------------------------------
# the build


def test_generate_every_example_including_augmentations_is_a_shortest_path(tmp_path: Path) -> None:
    out = prepare(
        tmp_path,
        "m",
        "--source",
        "generate",
        "--size",
        "30",
        "--num",
        "12",
        "--num-test",
        "5",
        "--seed",
        "2",
    )
    for split, group in (("train", 8), ("test", 1)):
        meta = read_metadata(out, split)
        assert (meta.seq_len, meta.vocab_size, meta.pad_id, meta.ignore_label_id) == (900, 6, 0, 0)
        assert meta.num_puzzle_identifiers == 1
        arrays = load_split(out, split, mmap=False)
        n = len(arrays["inputs"])
        assert n == (12 * 8 if split == "train" else 5) and meta.total_groups == n // group
        assert arrays["inputs"].dtype == np.uint8 and arrays["labels"].dtype == np.uint8
        assert (arrays["puzzle_indices"] == np.arange(n + 1)).all()
        assert (arrays["group_indices"] == np.arange(0, n + 1, group)).all()
        assert (
            arrays["puzzle_indices"].dtype == np.int32 and arrays["group_indices"].dtype == np.int32
        )
        assert (arrays["puzzle_identifiers"] == 0).all()
        for q, a in zip(decode(arrays["inputs"]), decode(arrays["labels"]), strict=True):
            assert_shortest_path(q, a, 30, min_length=112)
    # each train group holds dihedral transforms 0..7 of its first maze
    train = load_split(out, "train", mmap=False)
    grids = train["inputs"].reshape(12, 8, 30, 30)
    labels = train["labels"].reshape(12, 8, 30, 30)
    for tid in range(8):
        assert (grids[:, tid] == dihedral_transform(grids[:, 0], tid)).all()
        assert (labels[:, tid] == dihedral_transform(labels[:, 0], tid)).all()
    assert read_identifiers(out) == ["<blank>"]
    info = json.loads((out / "puzzle_info.json").read_text())
    assert info["charset"] == "# SGo" and info["dihedral_ids"] == list(range(8))


def test_tokens_match_reference_charset(tmp_path: Path) -> None:
    out = prepare(
        tmp_path,
        "m",
        "--source",
        "generate",
        "--size",
        "8",
        "--num",
        "3",
        "--seed",
        "0",
        "--num-aug",
        "0",
    )
    raw = [r for r in csv.DictReader(open(out / "csv" / "train.csv"))]
    inputs = load_split(out, "train")["inputs"]
    for row, tokens in zip(raw, inputs, strict=True):
        assert list(tokens) == ["# SGo".index(ch) + 1 for ch in row["q"]]
    meta = json.loads((out / "train" / "dataset.json").read_text())
    assert meta["vocab_size"] == 6 and meta["seq_len"] == 64 and meta["total_puzzles"] == 3


def test_seeded_subsample_determinism_and_manifest(tmp_path: Path) -> None:
    args = (
        "--source",
        "generate",
        "--size",
        "10",
        "--num",
        "20",
        "--num-test",
        "4",
        "--num-aug",
        "3",
        "--subsample",
        "7",
    )
    a = prepare(tmp_path, "a", *args, "--seed", "5")
    b = prepare(tmp_path, "b", *args, "--seed", "5")
    c = prepare(tmp_path, "c", *args, "--seed", "6")
    for split in ("train", "test"):
        for name in FIELDS:
            rel = f"{split}/all__{name}.npy"
            assert sha256_file(a / rel) == sha256_file(b / rel)
    assert sha256_file(a / "train/all__inputs.npy") != sha256_file(c / "train/all__inputs.npy")
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["counts"]["train"] == {
        "csv_rows": 20, "tasks": 7, "groups": 7, "puzzles": 28, "examples": 28, "identifiers": 1
    }  # fmt: skip
    assert manifest["counts"]["test"]["examples"] == 4
    assert manifest["params"]["min_path_length"] == mz.default_min_path_length(10)
    assert manifest["params"]["seed"] == 5 and "--subsample 7" in manifest["command"]
    for record in manifest["outputs"]:
        assert sha256_file(a / record["path"]) == record["sha256"]
    # the 7 kept train mazes are 7 distinct rows of the generated CSV
    csv_q = {r["q"] for r in csv.DictReader(open(a / "csv" / "train.csv"))}
    kept = decode(load_split(a, "train")["inputs"][::4])
    assert len(set(kept)) == 7 and set(kept) <= csv_q


def test_csv_source_roundtrip(tmp_path: Path) -> None:
    gen = prepare(
        tmp_path, "gen", "--source", "generate", "--size", "12", "--num", "5", "--seed", "1"
    )
    via = prepare(tmp_path, "via", "--source", f"csv:{gen / 'csv'}", "--seed", "1")
    for split in ("train", "test"):
        for name in FIELDS:
            rel = f"{split}/all__{name}.npy"
            assert sha256_file(gen / rel) == sha256_file(via / rel)
    m = json.loads((via / "manifest.json").read_text())
    assert [i["name"] for i in m["inputs"]] == [
        f"csv:{gen / 'csv' / 'train.csv'}",
        f"csv:{gen / 'csv' / 'test.csv'}",
    ]


# ---------------------------------------------------------------------------------------------
# bad input


def good_row(seed: int = 0) -> list[str]:
    ((source, q, a, length),) = mz.generate_maze_records(6, 1, seed=seed, progress=False)
    return [source, q, a, str(length)]


def write_csv(folder: Path, train_rows: list[list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train_rows), ("test", [good_row(1)])):
        with open(folder / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["source", "question", "answer", "rating"])
            w.writerows(rows)
    return folder


def mutate(s: str, i: int, ch: str) -> str:
    return s[:i] + ch + s[i + 1 :]


def bad_rows() -> list[tuple[list[str], str]]:
    src, q, a, r = good_row(2)
    wall = q.index("#")
    open_cell = next(i for i, ch in enumerate(a) if ch == " ")
    path_cell = a.index("o")  # a 6x6 maze needs >= 4 moves, so there are path cells
    cases = [
        ([src, q[:-1], a, r], r"field 'q' has length 35, expected 36"),
        ([src, q, "", r], r"field 'a' is empty \(missing\)"),
        ([src, mutate(q, wall, "x"), a, r], rf"field 'q': character 'x' at cell {wall}"),
        ([src, q.replace("G", " "), a, r], r"field 'q': has 0 'G' cells, expected exactly 1"),
        ([src, mutate(q, open_cell, "S"), a, r], r"field 'q': has 2 'S' cells"),
        (
            [src, q, mutate(a, wall, "o"), r],
            rf"field 'a': cell {wall} is 'o' but the question has '#'",
        ),
        ([src, q, mutate(a, open_cell, "o"), r], r"field 'a': not a shortest path"),
        ([src, q, mutate(a, path_cell, " "), r], r"field 'a': not a shortest path"),
    ]
    return cases


@pytest.mark.parametrize("case", range(8))
def test_bad_rows_name_file_line_field_and_leave_no_output(
    tmp_path: Path, case: int, capsys: pytest.CaptureFixture
) -> None:
    bad_row, pattern = bad_rows()[case]
    src = write_csv(tmp_path / "src", [good_row(3), bad_row])
    out = tmp_path / "out" / "ds"
    with pytest.raises(PuzzleCsvError, match=pattern) as info:
        build(out, source=f"csv:{src}")
    assert f"{src / 'train.csv'} line 3 (puzzle source 'generated-6x6')" in str(info.value)
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []
    assert (
        trm_main(["prepare", "maze", "--source", f"csv:{src}", "--out", str(out), "--no-progress"])
        == 2
    )
    assert "train.csv line 3" in capsys.readouterr().err
    assert not out.exists()


def test_unchecked_paths_option_and_bad_num_aug(tmp_path: Path) -> None:
    src, q, a, r = good_row(2)
    open_cell = next(i for i, ch in enumerate(a) if ch == " ")
    folder = write_csv(tmp_path / "src", [[src, q, mutate(a, open_cell, "o"), r]])
    out = prepare(tmp_path, "loose", "--source", f"csv:{folder}", "--no-check-paths")
    assert len(load_split(out, "train")["inputs"]) == 8
    with pytest.raises(ValueError, match="apply only to --source generate"):
        build(tmp_path / "x", source=f"csv:{folder}", min_path_length=5)
    with pytest.raises(PuzzleCsvError, match=r"field 'q' has length 36, expected 900"):
        build(tmp_path / "x", source=f"csv:{folder}", size=30)
    assert not (tmp_path / "x").exists()
