"""Which `trm` command each workflow job runs, and which config sections it reads.

A job's params are the values of those sections that its command declares
(`trm.settings.select`), so editing a key that another command reads reruns nothing here. The
keys a rule consumes itself (output names, wildcards, subsections) are declared in
trm.workflow.sections and never reach a command.

Adding a command to the workflow: its declaration (trm/cli/<module>.py), one entry here, one
rule and a few-line adapter in workflow/scripts/ (docs/workflow.md has the recipe).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trm.settings import spec_of, specs
from trm.settings_export import select


@dataclass(frozen=True)
class Job:
    """A job's command and the config sections it reads. The first section is the command's
    own; "predict:device" reads only the named keys of another section (they are the command's
    settings that live there), and those keys are then never read from the first."""

    command: str  # words after `trm`; "{kind}" = the experiment's puzzle kind
    sections: tuple[str, ...] = ()

    def __init__(self, command: str, *sections: str) -> None:
        object.__setattr__(self, "command", command)
        object.__setattr__(self, "sections", tuple(sections))

    def reads(self) -> list[tuple[str, tuple[str, ...] | None]]:
        """(section path, its keys or None = every setting not claimed by another entry)."""
        return [split_section(entry) for entry in self.sections]

    def claimed(self) -> set[str]:
        return {k for _, keys in self.reads() if keys for k in keys}


# Job name = the name of the rule that runs it (the key it passes to the `job` getter; the adapter
# finds the job's config keys by its rule's name) -> Job.
JOBS: dict[str, Job] = {
    "generate_arc_tasks": Job("prepare arc-tasks", "dataset.generate"),
    "prepare_arc": Job("prepare arc", "dataset"),
    "prepare_grid": Job("prepare {kind}", "dataset"),  # every kind but ARC
    "fetch_checkpoint": Job("fetch-checkpoint", "checkpoint"),
    "train": Job("train"),  # model and train are Hydra overrides (trm.workflow.hydra)
    "predict": Job("predict", "predict", "analyses:trajectory,halt_max_steps,puzzle_id_seed"),
    # the ID-ablation predictions record no steps
    "predict_ids": Job("predict", "predict", "analyses:halt_max_steps,puzzle_id_seed"),
    "predict_adapt": Job("predict", "predict"),
    "score": Job("score {kind}", "score"),
    "score_ids": Job("score {kind}", "score"),
    "score_adapt": Job("score {kind}", "score"),
    "score_compare": Job("compare runs", "score"),
    "score_grid": Job("compare runs", "score"),
    "sweep_grid": Job("compare sweep", "score", "sweep:levels"),
    "sweep": Job("sweep", "sweep"),
    "bench": Job("bench", "bench"),
    "analyse_trajectory": Job("analyse trajectory", "score"),
    "compare_ids": Job("compare runs", "score"),
    "ensemble": Job(
        "analyse ensemble", "analyses.ensemble", "predict:batch_size,device", "score:n_boot,seed"
    ),
    "analyse_checkpoints": Job(
        "analyse checkpoints",
        "analyses.checkpoints",
        "analyses:halt_max_steps",
        "predict:batch_size,device",
        "score:n_boot,seed",
    ),
    "adapt_data": Job("prepare arc", "analyses.adapt.dataset"),
    "adapt": Job("adapt", "analyses.adapt", "predict:device"),
    "compare_adapt": Job("compare runs", "score"),
    "llm_tiny_model": Job("llm make-tiny-model", "llm.tiny"),
    "llm_prepare": Job("llm prepare", "dataset", "llm.prepare:max_len,overlong,test_views"),
    "llm_train": Job("llm train", "llm.train", "llm:device"),
    "llm_predict": Job("llm predict", "predict", "llm.train:load_in_4bit"),
    "llm_score": Job("llm score", "score"),
    "llm_compare": Job("compare runs", "score"),
    "report": Job("report"),
}


def declared(name: str) -> Any | None:
    """The trm.command.Command called `name`, or None while it is not declared yet."""
    from trm.cli import commands

    return next((c for c in commands() if c.name == name), None)


def split_section(entry: str) -> tuple[str, tuple[str, ...] | None]:
    """ "predict:device" -> ("predict", ("device",)); "score" -> ("score", None)."""
    path, _, keys = entry.partition(":")
    return path, (tuple(keys.split(",")) if keys else None)


def job_settings(
    job: Job,
    command_name: str,
    sections: Mapping[str, Mapping[str, Any]],
    rule_keys: Mapping[str, Iterable[str]],
) -> dict[str, Any]:
    """The values `command_name` reads of `sections` (path -> the section as configured).
    Keys the rules consume (`rule_keys[path]`) never reach a command."""
    cmd = declared(command_name)
    claimed = job.claimed()
    out: dict[str, Any] = {}
    for path, keys in job.reads():
        section = dict(sections.get(path) or {})
        consumed = set(rule_keys.get(path, ()))
        for key, value in section.items():
            if key in consumed or (key not in keys if keys else key in claimed):
                continue
            out[key] = value
    # A command not declared yet (migration) gets the sections as configured.
    return select(cmd.settings, out) if cmd is not None else out


def setting_sections(
    job: Job, command_name: str, rule_keys: Mapping[str, Iterable[str]]
) -> dict[str, str]:
    """Each setting `command_name` can read from the config -> the section path this job reads
    it from (what a failing job names: trm.workflow.experiments.Workflow.config_keys)."""
    cmd = declared(command_name)
    if cmd is None:
        return {}
    claimed = job.claimed()
    out: dict[str, str] = {}
    for spec in specs(cmd.settings):
        for path, keys in job.reads() if spec.config else ():
            if spec.name in rule_keys.get(path, ()):
                continue
            if (spec.name in keys) if keys else (spec.name not in claimed):
                out[spec.name] = path
                break
    return out


def declared_default(command_name: str, key: str) -> Any:
    """The default `trm <command_name>` gives `key` when the config omits it: THE default (the
    workflow never has its own). While a command is not declared yet, its parser's default."""
    cmd = declared(command_name)
    if cmd is not None:
        return spec_of(cmd.settings, key).default
    from trm.cli import build_parser

    parser = build_parser()
    for word in command_name.split():
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[word]
    return parser.get_default(key)
