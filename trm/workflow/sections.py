"""The config sections that feed `trm` commands, and the keys the rules consume themselves.

A section's settings come from the declarations of the commands that read it (trm.workflow.jobs
names them); what is declared here is only what no command declares: the keys a rule uses
itself (an output folder name, a wildcard, a subsection) with their JSON schema, and the
section's own constraints (required keys, alternatives). trm.workflow.schema writes
config/schema.yaml and config/README.md from both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"}


def ref(section: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{section}"}


@dataclass(frozen=True)
class Section:
    path: str  # "dataset", "analyses.adapt": where it sits in an experiment
    description: str = ""
    rule_keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> JSON schema
    required: tuple[str, ...] = ()
    keys: tuple[str, ...] | None = None  # a partial section: only these declared settings
    extra: dict[str, Any] = field(default_factory=dict)  # other schema keywords (oneOf, ...)


SECTIONS: dict[str, Section] = {
    s.path: s
    for s in (
        Section(
            "dataset",
            "the dataset the experiment trains on: `trm prepare <kind>` writes data/<name>/",
            {
                "name": {
                    **NAME,
                    "description": "folder under data/; experiments naming the same dataset "
                    "share it (their settings must agree)",
                },
                "kind": {
                    "enum": ["arc", "sudoku", "maze"],
                    "description": "picks the command: trm prepare <kind>",
                },
                "generate": {
                    **ref("dataset.generate"),
                    "description": "source generated (ARC): the settings of `trm prepare "
                    "arc-tasks` (rule generate_arc_tasks), whose files the dataset is built from",
                },
            },
            required=("name", "kind", "source"),
        ),
        Section(
            "dataset.generate",
            "generated ARC-format tasks (`trm prepare arc-tasks`, docs/data-arc.md)",
        ),
        Section(
            "checkpoint",
            "published weights instead of training: `trm fetch-checkpoint` writes "
            "checkpoints/<name>/",
            {
                "name": {**NAME, "description": "folder under checkpoints/"},
                "file": {
                    "type": "string",
                    "description": "the weights predict and bench load inside the fetched "
                    "folder: a step_N file or a folder (its highest step_N), e.g. arc_v1_public",
                },
            },
            required=("name",),
            extra={"oneOf": [{"required": ["repo_id"]}, {"required": ["path"]}]},
        ),
        Section(
            "predict",
            "one inference pass of `trm predict` over the test split (also `trm llm predict`)",
            {
                "dataset": {
                    **NAME,
                    "description": "evaluate on this dataset's test split instead of the "
                    "experiment's own (ARC): the name of a dataset another experiment in `run` "
                    "prepares, or `base` in a grid variant; each test puzzle is fed the "
                    "identifier of its name in the training dataset (trm predict "
                    "--puzzle-ids-from)",
                },
            },
        ),
        Section(
            "score",
            "scoring (`trm score <kind>`) and every interval and comparison behind the report",
            {
                "modes": {
                    "type": "array",
                    "items": {"enum": ["paper", "single"]},
                    "minItems": 1,
                    "uniqueItems": True,
                    "description": "one score job per mode (the {mode} wildcard): paper and "
                    "single for a voted kind (ARC), paper otherwise",
                },
            },
        ),
        Section(
            "sweep",
            "accuracy against the number of augmented views voted over (`trm sweep`, ARC)",
            required=("levels",),
        ),
        Section(
            "analyses",
            "the analyses of issue 11 (ARC; `checkpoints` any kind; rules/analyses.smk); "
            "trajectory, halt_max_steps and puzzle_id_seed are `trm predict` settings",
            {
                "puzzle_ids": {
                    "type": "array",
                    "items": {"enum": ["blank", "random", "mean"]},
                    "uniqueItems": True,
                    "description": "puzzle-identifier ablation: one predict job per variant "
                    "(the {ids} wildcard), compared with the true identifiers",
                },
                "ensemble": ref("analyses.ensemble"),
                "adapt": ref("analyses.adapt"),
                "checkpoints": {
                    "anyOf": [{"type": "boolean"}, ref("analyses.checkpoints")],
                    "description": "accuracy over training: true (the defaults) or the "
                    "settings of `trm analyse checkpoints`; the run must keep its step_N "
                    "(train.keep_step_weights)",
                },
            },
        ),
        Section(
            "analyses.ensemble",
            "vote pooled over the last step_N of the training run (`trm analyse ensemble`)",
            required=("last",),
        ),
        Section(
            "analyses.checkpoints",
            "every kept step_N of the training run predicted and scored, the last vs the best "
            "earlier one (`trm analyse checkpoints`)",
        ),
        Section(
            "analyses.adapt",
            "test-time embedding fitting (`trm adapt`): the checkpoint adapted to a dataset of "
            "tasks it never saw, predicted with the fitted embeddings and with blank "
            "identifiers, compared paired over tasks",
            {"dataset": ref("analyses.adapt.dataset")},
            required=("dataset",),
        ),
        Section(
            "analyses.adapt.dataset",
            "the held-out ARC dataset (rule adapt_data): these keys over the experiment's "
            "dataset section",
            keys=("subsets", "test_set", "num_aug", "seed"),
            required=("subsets", "test_set"),
        ),
        Section(
            "bench",
            "latency, throughput and peak memory against batch size (`trm bench`)",
            required=("batch_sizes",),
        ),
        Section(
            "llm",
            "the LLM baseline (rules/llm.smk): a causal LM fine-tuned with (Q)LoRA on the "
            "dataset's ARC tasks as chat prompts, decoded with `predict`, scored with `score`. "
            "A gated Hub model reads HF_TOKEN from the environment (never from the config).",
            {
                "model": {
                    "type": "string",
                    "description": "a Hugging Face causal LM id, a local folder, or `tiny` (a "
                    "random tiny Llama built locally by rule llm_tiny_model)",
                },
                "tiny": ref("llm.tiny"),
                "prepare": ref("llm.prepare"),
                "train": ref("llm.train"),
            },
            required=("model",),
        ),
        Section("llm.tiny", "sizes of the `tiny` model (`trm llm make-tiny-model`)"),
        Section("llm.prepare", "prompts and views (`trm llm prepare`)"),
        Section("llm.train", "LoRA fine-tuning (`trm llm train`)"),
    )
}

# Sections an experiment holds directly (the others sit inside one of these).
TOP_SECTIONS = ("dataset", "checkpoint", "predict", "score", "sweep", "analyses", "bench", "llm")


def rule_keys() -> dict[str, tuple[str, ...]]:
    """Section path -> the keys the rules consume (never passed to a command)."""
    return {path: tuple(s.rule_keys) for path, s in SECTIONS.items()}
