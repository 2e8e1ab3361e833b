"""Which config key set each flag of a workflow job's command, so that a failing job names the key
its user edits (`experiments.arc1-verify.checkpoint.repo_id (--repo-id)`) instead of the flag.

The adapter hands `job_keys` to the command (trm.caller), whose error and advice then speak the
config's words; `job_sections` is what a job's error names when it names no key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trm.settings import specs
from trm.workflow.experiments import Workflow
from trm.workflow.jobs import JOBS, declared, setting_sections
from trm.workflow.sections import rule_keys

# `trm train` reads the model and train sections as Hydra overrides (trm.workflow.hydra).
HYDRA_SECTIONS = ("model", "train")


def _generated(exp: Mapping[str, Any], path: str) -> bool:
    """Whether the dataset section at `path` reads generated tasks (`source: generated`)."""
    ds = dict(exp["dataset"])
    if path == "analyses.adapt.dataset":
        ds |= exp["analyses"]["adapt"].get("dataset") or {}
    return ds.get("source") == "generated"


def job_keys(w: Workflow, name: str, wildcards: Mapping[str, str]) -> dict[str, str]:
    """{flag or override key: config key} of job `name` (the rule's name): each setting its
    command can read from the config (`--repo-id` -> `experiments.<exp>.checkpoint.repo_id`),
    the values its adapter passes that a config key decides (`--checkpoint` -> the experiment's
    checkpoint section) and, for training, the Hydra overrides (`train.lr`)."""
    exp_name = w.experiment_of(wildcards)
    command = w.job(name, wildcards)["command"]
    cmd = declared(command)
    if exp_name is None or cmd is None:
        return {}
    exp, where = w.exp(exp_name), f"experiments.{exp_name}"
    options = {s.name: s.option for s in specs(cmd.settings)}
    out: dict[str, str] = {}
    for key, path in setting_sections(JOBS[name], command, rule_keys()).items():
        if key == "input_prefix" and path.endswith("dataset") and _generated(exp, path):
            continue  # the generated tasks' folder: the workflow's, not a config key
        out[options[key]] = f"{where}.{path}.{key}"
    if exp.get("checkpoint") and "checkpoint" in options:
        out[options["checkpoint"]] = f"{where}.checkpoint"
    if w.is_llm(exp_name) and exp["llm"]["model"] != "tiny" and "model" in options:
        out[options["model"]] = f"{where}.llm.model"
    if command == "train":
        for section in HYDRA_SECTIONS:
            for key in exp.get(section) or {}:
                out[f"{section}.{key}"] = f"{where}.{section}.{key}"
    return out


def job_sections(w: Workflow, name: str, wildcards: Mapping[str, str]) -> list[str]:
    """The config sections job `name` reads, as keys (`experiments.<exp>.checkpoint`)."""
    exp_name = w.experiment_of(wildcards)
    if exp_name is None or name not in JOBS:
        return []
    paths = [path for path, _ in JOBS[name].reads()]
    if JOBS[name].command == "train":
        paths += [s for s in HYDRA_SECTIONS if s in w.exp(exp_name)]
    return [f"experiments.{exp_name}.{p}" for p in dict.fromkeys(paths)]
