"""Reliability: user and environment errors are one line (exit 2), bugs keep their traceback,
outputs never destroy what the command did not write, killed builds clean up, state.pt cannot
run code, and outputs honour the umask."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from trm.cli import main as trm_main
from trm.errors import InputError, OutputWriteError, UserError
from trm.utils import atomic_dir, atomic_file, atomic_path, remove_stale_temporaries

REPO = Path(__file__).resolve().parents[1]
TRM_SCRIPT = Path(sys.executable).parent / "trm"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _sudoku(out: Path, *extra: str) -> list[str]:
    return ["prepare", "sudoku", "--source", "generate", "--size", "4", "--num", "20",
            "--num-test", "5", "--no-progress", "--out", str(out), *extra]  # fmt: skip


def _one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    # the prefix names the whole command: `trm prepare sudoku: error: ...`
    assert re.match(rf"trm {re.escape(command)}( [a-z-]+)*: error: ", lines[0]), err
    assert "Traceback" not in err
    return lines[0]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# --- exit codes: UserError and environment errors only ---------------------------------------


@pytest.mark.parametrize("entry", ["trm", "python -m trm.cli"])
def test_user_error_is_one_line_and_exit_2_under_both_entry_points(tmp_path, entry):
    if entry == "trm":
        if not TRM_SCRIPT.exists():
            pytest.skip(f"no `trm` console script beside {sys.executable} (pip install -e .)")
        cmd = [str(TRM_SCRIPT)]
    else:
        cmd = [sys.executable, "-m", "trm.cli"]
    args = [
        "prepare",
        "sudoku",
        "--source",
        f"csv:{tmp_path / 'nope'}",
        "--out",
        str(tmp_path / "o"),
    ]
    r = subprocess.run(cmd + args, capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 2, r.stderr
    line = _one_error_line(r.stderr, "prepare")
    assert str(tmp_path / "nope") in line
    assert not (tmp_path / "o").exists()


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    import trm.data.sudoku as sudoku

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")  # a numpy-style bug

    monkeypatch.setattr(sudoku, "prepare_sudoku", broken)
    with pytest.raises(ValueError, match="broadcast"):
        trm_main(_sudoku(tmp_path / "o"))


def test_a_bug_exits_1_with_traceback_in_a_subprocess(tmp_path):
    # A ValueError that is not an input error, raised deep in the library: not exit 2.
    code = (
        "import sys, trm.data.sudoku as s\n"
        "def boom(*a, **k): raise ValueError('deep bug')\n"
        "s.prepare_sudoku = boom\n"
        "from trm.cli import main\n"
        f"sys.exit(main({_sudoku(tmp_path / 'o')!r}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert r.returncode == 1 and "Traceback" in r.stderr and "deep bug" in r.stderr


def test_input_errors_are_user_errors_and_keep_their_old_bases():
    from trm.data.arc import ArcInputError
    from trm.data.puzzle_csv import DatasetSourceError, PuzzleCsvError

    assert issubclass(ArcInputError, UserError) and issubclass(ArcInputError, ValueError)
    assert issubclass(PuzzleCsvError, UserError) and issubclass(PuzzleCsvError, ValueError)
    assert issubclass(DatasetSourceError, UserError)
    assert issubclass(DatasetSourceError, FileNotFoundError)


# --- environment errors ----------------------------------------------------------------------


def test_disk_full_while_building_is_one_line_naming_the_output(tmp_path, monkeypatch, capsys):
    real_save = np.save

    def full_disk(file, *args, **kwargs):
        if "all__inputs" in str(file):
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_save(file, *args, **kwargs)

    monkeypatch.setattr(np, "save", full_disk)
    out = tmp_path / "ds"
    assert trm_main(_sudoku(out)) == 2
    line = _one_error_line(capsys.readouterr().err, "prepare")
    assert f"cannot write {out}" in line and "No space left on device (ENOSPC)" in line
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "code, cause",
    [
        (errno.EACCES, "Permission denied (EACCES)"),
        (errno.EROFS, "Read-only file system (EROFS)"),
        (errno.EDQUOT, "Disk quota exceeded (EDQUOT)"),
    ],
)
def test_unwritable_output_location_is_one_line(tmp_path, monkeypatch, capsys, code, cause):
    # Tests run as root, for whom chmod changes nothing: the system call fails instead.
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(kwargs.get("dir", "?")))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    out = tmp_path / "ds"
    assert trm_main(_sudoku(out)) == 2
    line = _one_error_line(capsys.readouterr().err, "prepare")
    assert f"cannot write {out}" in line and cause in line


def test_missing_parent_under_unwritable_location_names_the_cause(tmp_path, monkeypatch, capsys):
    # Not "No such file or directory": creating the missing parent is what was refused.
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self == tmp_path / "locked" / "new":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    out = tmp_path / "locked" / "new" / "ds"
    assert trm_main(_sudoku(out)) == 2
    line = _one_error_line(capsys.readouterr().err, "prepare")
    assert f"cannot write {out}: Permission denied (EACCES)" in line
    assert "No such file" not in line


def test_output_parent_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub" / "ds"
    assert trm_main(_sudoku(out)) == 2
    line = _one_error_line(capsys.readouterr().err, "prepare")
    assert f"{tmp_path / 'afile'} is a file, not a folder" in line


def test_permission_error_reading_an_input_names_the_path(tmp_path, monkeypatch, capsys):
    import trm.data.sudoku as sudoku

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/private/train.csv")

    monkeypatch.setattr(sudoku, "prepare_sudoku", denied)
    assert trm_main(_sudoku(tmp_path / "o")) == 2
    line = _one_error_line(capsys.readouterr().err, "prepare")
    assert line.endswith("/data/private/train.csv: Permission denied (EACCES)")


def test_atomic_file_disk_full_names_the_output_and_leaves_nothing(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(OutputWriteError, match=r"cannot write .*metrics.json: No space left"):
        with atomic_file(target) as f:
            f.write("{")
            raise OSError(errno.ENOSPC, "No space left on device", f.name)
    assert list(tmp_path.iterdir()) == []


# --- output guard ----------------------------------------------------------------------------


def test_prepare_refuses_to_replace_a_folder_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    assert trm_main(_sudoku(out)) == 2
    line = _one_error_line(capsys.readouterr().err, "prepare")
    assert str(out) in line and "--overwrite" in line
    assert (out / "thesis.tex").read_text() == "years of work"


def test_prepare_refuses_to_replace_a_file_and_leaves_no_old_copy(tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    assert trm_main(_sudoku(out)) == 2
    assert out.read_text() == "keep me" and _leftovers(tmp_path) == []


def test_prepare_replaces_its_own_earlier_output(tmp_path):
    out = tmp_path / "ds"
    assert trm_main(_sudoku(out)) == 0
    first = json.loads((out / "manifest.json").read_text())
    assert trm_main(_sudoku(out, "--seed", "3")) == 0
    second = json.loads((out / "manifest.json").read_text())
    assert first["params"]["seed"] == 0 and second["params"]["seed"] == 3
    assert _leftovers(tmp_path) == []


def test_another_commands_output_is_not_recognised(tmp_path):
    out = tmp_path / "ds"
    assert trm_main(_sudoku(out)) == 0
    maze = ["prepare", "maze", "--source", "generate", "--size", "6", "--num", "4",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert trm_main(maze) == 2  # a Sudoku dataset is not a Maze dataset
    assert json.loads((out / "manifest.json").read_text())["command"].startswith(
        "trm prepare sudoku"
    )


def test_overwrite_replaces_an_unrelated_folder(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "junk").write_text("x")
    assert trm_main(_sudoku(out, "--overwrite")) == 0
    assert not (out / "junk").exists() and (out / "manifest.json").exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["equal", "inside", "containing"])
def test_output_overlapping_the_input_is_refused_even_with_overwrite(tmp_path, capsys, where):
    src = tmp_path / "csvs"
    src.mkdir()
    for split in ("train", "test"):
        (src / f"{split}.csv").write_text("source,q,a,rating\n")
    out = {"equal": src, "inside": src / "built", "containing": tmp_path}[where]
    args = ["prepare", "sudoku", "--source", f"csv:{src}", "--out", str(out), "--overwrite"]
    assert trm_main(args) == 2
    line = _one_error_line(capsys.readouterr().err, "prepare")
    assert "would destroy what the command reads" in line
    assert sorted(p.name for p in src.iterdir()) == ["test.csv", "train.csv"]


def test_arc_output_holding_the_input_files_is_refused(tmp_path, capsys):
    from test_arc_data import small_tasks, write_kaggle

    write_kaggle(tmp_path / "arc", "training", small_tasks())
    args = ["prepare", "arc", "--input-prefix", str(tmp_path / "arc"), "--subsets", "training",
            "--test-set", "training", "--num-aug", "1", "--out", str(tmp_path), "--overwrite",
            "--no-progress"]  # fmt: skip
    assert trm_main(args) == 2
    assert "contains the input" in _one_error_line(capsys.readouterr().err, "prepare")
    assert (tmp_path / "arc_training_challenges.json").exists()


def test_empty_arc_test_split_is_an_error(tmp_path, capsys):
    from test_arc_data import small_tasks, write_kaggle

    (tmp_path / "in").mkdir()
    write_kaggle(tmp_path / "in" / "arc", "training", small_tasks())
    args = ["prepare", "arc", "--input-prefix", str(tmp_path / "in" / "arc"), "--subsets",
            "training", "--test-set", "evaluation", "--num-aug", "1", "--no-progress",
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert trm_main(args) == 2
    line = _one_error_line(capsys.readouterr().err, "prepare")
    assert "test split would be empty" in line and "evaluation" in line
    assert not (tmp_path / "out").exists()
    # a train-only build says so explicitly and succeeds
    assert trm_main([*args, "--splits", "train"]) == 0


def test_train_refuses_unrelated_folder_and_overlap_with_data(tmp_path, capsys):
    from trm.train.synthetic import write_grid_task

    data = write_grid_task(tmp_path / "data", n_groups=2, side=2, n_test=2)
    out = tmp_path / "docs"
    out.mkdir()
    (out / "readme").write_text("x")
    base = ["train", "--data", str(data), "model=tiny", "train=cpu_smoke", "device=cpu"]
    assert trm_main([*base, "--out", str(out)]) == 2
    assert "not written by trm, not by `trm train`" in capsys.readouterr().err
    assert trm_main([*base, "--out", str(data / "run")]) == 2
    assert "is inside the input" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["readme"]


# --- killed builds ---------------------------------------------------------------------------


def _start_slow_build(out: Path) -> subprocess.Popen:
    # 9x9 generation runs for minutes: long enough to be stopped mid-build.
    cmd = [sys.executable, "-m", "trm.cli", "prepare", "sudoku", "--source", "generate",
           "--size", "9", "--num", "200000", "--no-progress", "--out", str(out)]  # fmt: skip
    # SIGINT as from a terminal's Ctrl-C: a shell starts background jobs (CI runners, `cmd &`)
    # with SIGINT ignored, and Python keeps an inherited SIG_IGN, so reset it for the child.
    proc = subprocess.Popen(
        cmd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not _leftovers(out.parent):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert _leftovers(out.parent), "the build never created its temporary folder"
        time.sleep(0.5)  # well inside the build
    except BaseException:
        _reap(proc)
        raise
    return proc


def _reap(proc: subprocess.Popen) -> None:
    """Kill a build a failed test leaves running (200,000 puzzles would take a core for long)."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize(
    "signum, rc, message",
    [(signal.SIGTERM, 143, "stopped by signal 15"), (signal.SIGINT, 130, "interrupted")],
)
def test_sigterm_or_sigint_removes_the_temporary_and_exits_without_traceback(
    tmp_path, signum, rc, message
):
    out = tmp_path / "ds"
    proc = _start_slow_build(out)
    try:
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        _reap(proc)
    assert proc.returncode == rc, err
    assert message in err and "Traceback" not in err
    assert not out.exists() and _leftovers(tmp_path) == []


def test_next_run_removes_temporaries_of_a_killed_build(tmp_path):
    out = tmp_path / "ds"
    proc = _start_slow_build(out)
    proc.kill()  # SIGKILL: no handler runs, the temporary stays behind
    proc.communicate(timeout=60)
    stale = _leftovers(tmp_path)
    assert stale and str(proc.pid) in stale[0]
    # temporaries that are not this output's, or whose writer is alive, are left alone
    unrelated = tmp_path / ".other.tmp-1@host-abc"
    unrelated.mkdir()
    alive = tmp_path / f".ds.tmp-{os.getpid()}@{os.uname().nodename}-live1234"
    alive.mkdir()
    assert trm_main(_sudoku(out)) == 0
    assert _leftovers(tmp_path) == sorted([unrelated.name, alive.name])
    assert (out / "manifest.json").exists()


def test_remove_stale_temporaries_spares_other_hosts(tmp_path):
    dead_pid = _dead_pid()
    other_host = tmp_path / f".ds.tmp-{dead_pid}@some-other-node-abcd1234"
    this_host = tmp_path / f".ds.tmp-{dead_pid}@{os.uname().nodename}-abcd1234"
    other_host.mkdir()
    this_host.mkdir()
    assert remove_stale_temporaries(tmp_path / "ds") == [this_host]
    assert other_host.exists() and not this_host.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- file modes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_atomic_writers_honour_the_umask(tmp_path, umask, file_mode, dir_mode):
    from trm.train.state import save_state

    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "step_3") as tmp:
            torch.save({"w": torch.zeros(1)}, tmp)
        with atomic_file(tmp_path / "a.json") as f:
            f.write("{}")
        with atomic_dir(tmp_path / "d") as d:
            (d / "x").write_text("1")
        save_state(tmp_path / "run", {"step": 1})
    finally:
        os.umask(old)
    for name in ("step_3", "a.json", "run/state.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == file_mode, name
    assert (tmp_path / "d").stat().st_mode & 0o777 == dir_mode


# --- state.pt cannot run code ----------------------------------------------------------------


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_state_pt_is_refused_without_running_it(tmp_path):
    from trm.train.state import STATE_FORMAT, load_state

    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": STATE_FORMAT, "step": 1, "x": _Payload(marker)}, run / "state.pt")
    with pytest.raises(InputError, match="refused: it names Python code") as info:
        load_state(run)
    assert "weights_only=False" not in str(info.value)
    assert not marker.exists()


def test_resume_from_malicious_state_pt_is_one_line_and_runs_nothing(tmp_path, capsys):
    from omegaconf import OmegaConf

    from trm.train.config import compose_config
    from trm.train.state import STATE_FORMAT
    from trm.train.synthetic import write_grid_task

    data = write_grid_task(tmp_path / "data", n_groups=2, side=2, n_test=2)
    run = tmp_path / "downloaded-run"
    run.mkdir()
    OmegaConf.save(
        compose_config(["model=tiny", "train=cpu_smoke", "device=cpu"]), run / "config.yaml"
    )
    (run / "all_config.yaml").write_text("{}\n")
    marker = tmp_path / "pwned"
    torch.save({"format": STATE_FORMAT, "x": _Payload(marker)}, run / "state.pt")
    # a downloaded run carries no marker of ours: --overwrite lets it through the guard, and
    # the state file is still never unpickled
    argv = ["train", "--resume", "--data", str(data), "--out", str(run), "--no-progress"]
    rc = trm_main([*argv, "--overwrite"])
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err, "train")
    assert "state.pt: refused" in line
    assert not marker.exists()


def test_state_round_trip_restores_rng_states_and_dataclasses(tmp_path):
    import random

    from trm.model.trm import TRMCarry, TRMInnerCarry
    from trm.train.state import capture_rng_state, load_state, save_state

    carry = TRMCarry(
        TRMInnerCarry(torch.randn(2, 3), torch.randn(2, 3)),
        torch.tensor([1, 2], dtype=torch.int32),
        torch.tensor([True, False]),
        {"inputs": torch.arange(4)},
    )
    gen = np.random.Generator(np.random.Philox(7))
    gen.random(5)
    rng = capture_rng_state()
    save_state(tmp_path, {"carry": carry, "rng": rng, "philox": gen.bit_generator.state})
    back = load_state(tmp_path)
    assert isinstance(back["carry"], TRMCarry) and isinstance(
        back["carry"].inner_carry, TRMInnerCarry
    )
    assert torch.equal(back["carry"].inner_carry.z_L, carry.inner_carry.z_L)
    assert torch.equal(back["carry"].current_data["inputs"], torch.arange(4))
    np.testing.assert_array_equal(back["rng"]["numpy"][1], rng["numpy"][1])
    assert back["rng"]["python"] == rng["python"]
    random.setstate(back["rng"]["python"])
    np.random.set_state(back["rng"]["numpy"])
    again = np.random.Generator(np.random.Philox())
    again.bit_generator.state = back["philox"]
    assert again.random() == gen.random()


def test_state_with_a_field_weights_only_cannot_read_fails_at_save(tmp_path):
    from trm.train.state import save_state

    with pytest.raises(TypeError, match=r"state\['sampler'\] has type set"):
        save_state(tmp_path, {"sampler": {1, 2}})
    assert not (tmp_path / "state.pt").exists()


# --- trm audit -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "records, needle",
    [
        ([], "'records' is empty"),
        ({"a": 1}, "'records' must be a list"),
        (["x"], "records[0] must be an object"),
        ([{"rule": "r", "outputs": "f.txt"}], "records[0].outputs must be a list"),
        ([{"rule": "r", "outputs": [{"path": 3, "sha256": None}]}], "outputs[0].path"),
        ([{"rule": "r", "inputs": [{"path": "f", "sha256": 12}]}], "inputs[0].sha256"),
        ([{"rule": 5, "outputs": []}], "records[0].rule"),
        ([{"rule": "r", "outputs": [{"path": "f", "sha256": None}]}], "checks nothing"),
    ],
)
def test_audit_of_malformed_or_empty_bundle_is_one_line(tmp_path, capsys, records, needle):
    bundle = tmp_path / "provenance.json"
    bundle.write_text(json.dumps({"records": records}))
    assert trm_main(["audit", str(bundle)]) == 2
    line = _one_error_line(capsys.readouterr().err, "audit")
    assert needle in line and str(bundle) in line


# --- TRM_REQUIRE_SHARED ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "required, rc, outcome", [(False, 0, "2 skipped"), (True, 1, "1 failed, 1 error")]
)
def test_missing_shared_data_skips_locally_and_fails_when_required(tmp_path, required, rc, outcome):
    for helper in ("conftest.py", "shared_data.py"):
        shutil.copy(REPO / "tests" / helper, tmp_path / helper)
    (tmp_path / "test_uses_shared.py").write_text(
        "from pathlib import Path\n"
        "from shared_data import needs_shared, shared_missing\n"
        "@needs_shared(Path('/nonexistent/golden'))\n"
        "def test_mark():\n    pass\n"
        "def test_call():\n    shared_missing('golden not found')\n"
    )
    env = _env()
    env.pop("TRM_REQUIRE_SHARED", None)
    if required:
        env["TRM_REQUIRE_SHARED"] = "1"
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_uses_shared.py"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == rc and outcome in r.stdout, r.stdout + r.stderr


# --- outputs of predict's consumers, checkpoints and silent wrong answers -----------------------


def _bench_score():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_score", REPO / "benchmarks" / "bench_score.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def arc_predictions(tmp_path) -> tuple[Path, Path, dict]:
    """A small synthetic ARC dataset, its correct predictions file and the raw arrays."""
    data = tmp_path / "data"
    bench = _bench_score()
    bench.build_synthetic_dataset(data, 3, [0, 2, 3], [1, 2, 1], seed=5, max_side=5)
    bench.synthesize_predictions(data, data / "p.npz", seed=0)
    pred = tmp_path / "p.npz"
    shutil.move(data / "p.npz", pred)
    with np.load(pred) as z:
        raw = {k: z[k] for k in z.files}
    return data, pred, raw


def _score_arc(data: Path, pred: Path, out: Path, *extra: str) -> int:
    return trm_main(
        ["score", "arc", "--data", str(data), "--predictions", str(pred), "--out", str(out)]
        + ["--n-boot", "100", "--no-progress", *extra]
    )


def test_score_arc_refuses_identifiers_permuted_against_inputs(arc_predictions, tmp_path, capsys):
    data, pred, raw = arc_predictions
    assert _score_arc(data, pred, tmp_path / "ok") == 0
    capsys.readouterr()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(raw["puzzle_identifiers"]))
    while (raw["puzzle_identifiers"][order] == raw["puzzle_identifiers"]).all():
        order = rng.permutation(len(order))
    np.savez(pred, **{**raw, "puzzle_identifiers": raw["puzzle_identifiers"][order]})
    assert _score_arc(data, pred, tmp_path / "bad") == 2
    line = _one_error_line(capsys.readouterr().err, "score")
    assert f"{pred}: field inputs does not match puzzle_identifiers" in line and "first row" in line
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    "field, value, needle",
    [
        (
            "q_halt_logits",
            np.nan,
            "field q_halt_logits is not finite (nan) at 1 row(s), first row 4",
        ),
        ("preds", 12, "field preds holds token 12 outside the vocabulary 0..11, first row 4"),
        ("preds", -1, "field preds holds token -1 outside the vocabulary 0..11, first row 4"),
    ],
)
def test_score_arc_refuses_nan_halt_logits_and_tokens_outside_the_vocabulary(
    arc_predictions, tmp_path, capsys, field, value, needle
):
    data, pred, raw = arc_predictions
    arr = raw[field].copy()
    arr[4] = value if field == "q_halt_logits" else arr[4]
    if field == "preds":
        arr[4, 7] = value
    np.savez(pred, **{**raw, field: arr})
    assert _score_arc(data, pred, tmp_path / "out") == 2
    assert needle in _one_error_line(capsys.readouterr().err, "score")


def test_score_replaces_only_its_own_output_folder(arc_predictions, tmp_path, capsys):
    data, pred, _ = arc_predictions
    out = tmp_path / "scores"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _score_arc(data, pred, out) == 2
    assert "is a folder not written by trm, not by `trm score arc`" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
    assert _score_arc(data, pred, out, "--overwrite") == 0
    assert _score_arc(data, pred, out) == 0  # its own earlier output is replaced
    assert (out / "metrics.json").is_file() and not (out / "notes.txt").exists()
    assert _score_arc(data, pred, data, "--overwrite") == 2  # the dataset itself
    assert "would destroy what the command reads" in capsys.readouterr().err


def test_fetch_checkpoint_replaces_only_its_own_output_folder(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "step_1").write_bytes(b"weights")

    def fetch(out: Path, *extra: str) -> int:
        return trm_main(["fetch-checkpoint", "--path", str(src), "--out", str(out), *extra])

    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert fetch(out) == 2
    assert "is a folder not written by trm, not by `trm fetch-checkpoint`" in (
        capsys.readouterr().err
    )
    assert (out / "notes.txt").read_text() == "mine"
    assert fetch(out, "--overwrite") == 0
    assert fetch(out) == 0  # its own earlier fetch is replaced
    assert (out / "step_1").read_bytes() == b"weights"
    for bad in (src, src / "inner"):
        assert fetch(bad, "--overwrite") == 2
        assert "would destroy what the command reads" in capsys.readouterr().err
    assert sorted(p.name for p in src.iterdir()) == ["step_1"]


def test_bench_refuses_to_replace_a_file_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "bench.json"
    out.write_text('{"notes": 1}')
    rc = trm_main(["bench", "--arch", "tiny", "--device", "cpu", "--out", str(out)])
    assert rc == 2 and "is a file not written by trm, not by `trm bench`" in (
        capsys.readouterr().err
    )
    assert out.read_text() == '{"notes": 1}'


def test_report_default_templates_do_not_depend_on_the_working_folder(tmp_path, monkeypatch):
    from trm.cli import build_parser
    from trm.command import settings_from_namespace

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["report", "--spec", "s.json"])
    settings = settings_from_namespace(args._command.settings, args)
    assert (settings.templates / "report.html.j2").is_file()
    assert settings.templates == REPO / "reports" / "templates"


def test_report_refuses_outputs_over_its_inputs_and_pages_it_did_not_write(tmp_path, capsys):
    record = tmp_path / "x.provenance.json"
    record.write_text("{}")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"experiments": [], "records": [str(record)]}))
    page = tmp_path / "index.html"
    page.write_text("<html>my own page</html>")
    report = ["report", "--spec", str(spec)]
    rc = trm_main([*report, "--out", str(page), "--bundle", str(tmp_path / "p.json")])
    assert rc == 2 and "not written by trm, not by `trm report`" in capsys.readouterr().err
    assert page.read_text() == "<html>my own page</html>"
    # the spec, a file the spec names, or the other output: refused even with --overwrite
    for out, bundle in ((spec, tmp_path / "p.json"), (record, tmp_path / "p.json")):
        rc = trm_main([*report, "--out", str(out), "--bundle", str(bundle), "--overwrite"])
        assert rc == 2 and "would destroy what the command reads" in capsys.readouterr().err
    assert record.read_text() == "{}"
    same = str(tmp_path / "same.html")
    assert trm_main([*report, "--out", same, "--bundle", same]) == 2
    assert "the output --bundle" in capsys.readouterr().err and not Path(same).exists()


def test_random_bytes_checkpoint_is_one_line_without_weights_only_advice(tmp_path, capsys):
    from trm.errors import UserError as _UserError
    from trm.model.checkpoint import read_state_dict

    bad = tmp_path / "step_1"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(_UserError) as err:
        read_state_dict(bad)
    msg = str(err.value)
    assert str(bad) in msg and "\n" not in msg and "weights_only" not in msg
    assert "not a torch save file" in msg


def test_compare_replaces_only_its_own_json(arc_predictions, tmp_path, capsys):
    data, pred, _ = arc_predictions
    for mode in ("paper", "single"):
        assert _score_arc(data, pred, tmp_path / mode, "--mode", mode) == 0
    out = tmp_path / "compare.json"
    out.write_text('{"mine": true}')
    cmd = ["compare", "runs", "--run", f"paper={tmp_path / 'paper'}"]
    cmd += [f"single={tmp_path / 'single'}", "--base", "single", "--n-boot", "100"]
    cmd += ["--out", str(out)]
    assert trm_main(cmd) == 2
    assert "is a file not written by trm, not by `trm compare runs`" in capsys.readouterr().err
    assert out.read_text() == '{"mine": true}'
    assert trm_main([*cmd, "--overwrite"]) == 0
    assert trm_main(cmd) == 0  # its own earlier comparison is replaced
    assert {r["n"] for r in json.loads(out.read_text())["comparisons"]} == {3}
