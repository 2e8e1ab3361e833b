"""The ONE mapping from workflow configuration to `trm` command lines.

A setting lives in three places: config/schema.yaml (what a user may write), this table (which
flag carries it) and the command's argparse parser (what the command accepts). The workflow
adapters call `to_flags`, which refuses a key it has no entry for, so a key the schema accepts
but nobody maps fails loudly instead of being dropped; tests/test_jobargs.py checks, for every
key the schema allows, that its value arrives in the real parser's arguments, or that the entry
says how the rule uses it instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Flag:
    """How one setting becomes command-line arguments."""

    flag: str
    join: str | None = None  # a list written as ONE argument, e.g. "1,4,16"
    repeat: bool = False  # a list written as the flag once per item (argparse append)
    pairs: bool = False  # a mapping written as KEY=VALUE items, e.g. {training: 8} -> training=8
    skip: tuple[Any, ...] = ()  # values that mean "the command's default": no flag
    switch: bool = (
        False  # a boolean as an argparse store_true flag: True -> bare flag, False -> none
    )


@dataclass(frozen=True)
class UsedByRule:
    """A setting the rule consumes itself (an output path, a wildcard, a subcommand)."""

    how: str


Entry = Flag | UsedByRule

# Section of an experiment (or $defs entry of the schema) -> key -> how it reaches the command.
SECTIONS: dict[str, dict[str, Entry]] = {
    "dataset": {
        "name": UsedByRule("the output folder data/<name>"),
        "kind": UsedByRule("the subcommand: trm prepare <kind>"),
        # files = read --input-prefix; generated = the generate_arc_tasks rule's files, read the
        # same way (the adapter sets input_prefix to that rule's output)
        "source": Flag("--source", skip=("files", "generated")),
        "generate": UsedByRule("the generate_arc_tasks rule (trm prepare arc-tasks)"),
        "input_prefix": Flag("--input-prefix"),
        "subsets": Flag("--subsets"),
        "test_set": Flag("--test-set"),
        "test_set2": Flag("--test-set2"),
        "max_tasks": Flag("--max-tasks"),
        "tasks": Flag("--tasks"),
        "num_aug": Flag("--num-aug"),
        "seed": Flag("--seed"),
        "canvas": Flag("--canvas"),  # ARC: NxN canvas (30 = the reference layout)
        "size": Flag("--size"),
        "num": Flag("--num"),
        "subsample": Flag("--subsample"),
        "splits": Flag("--splits"),
        "num_test": Flag("--num-test"),
        "test_subsample": Flag("--test-subsample"),
        "min_rating": Flag("--min-rating"),
    },
    "generate": {  # dataset.generate: `trm prepare arc-tasks` (source: generated)
        "tasks": Flag("--tasks", pairs=True),
        "families": Flag("--families"),
        "demos": Flag("--demos"),
        "tests": Flag("--tests"),
        "min_size": Flag("--min-size"),
        "max_size": Flag("--max-size"),
        "colours": Flag("--colours"),
        "density": Flag("--density"),
        "seed": Flag("--seed"),
    },
    "checkpoint": {
        "name": UsedByRule("the output folder checkpoints/<name>"),
        "repo_id": Flag("--repo-id"),
        "path": Flag("--path"),
        "revision": Flag("--revision"),
        "include": Flag("--include", repeat=True),
        "file": UsedByRule("predict/bench load this file of the fetched folder"),
    },
    "predict": {
        "batch_size": Flag("--batch-size"),
        "device": Flag("--device"),
        "dtype": Flag("--dtype"),
        # evaluate on data/<dataset>: predict/score/sweep read it; predict adds
        # --puzzle-ids-from data/<the experiment's own dataset> (rules/common.smk)
        "dataset": UsedByRule("predict/score/sweep --data data/<dataset>, --puzzle-ids-from"),
    },
    "score": {
        "modes": UsedByRule("one score job per mode: the {mode} wildcard, passed as --mode"),
        "n_boot": Flag("--n-boot"),
        "seed": Flag("--seed"),
    },
    "sweep": {
        "levels": Flag("--levels", join=","),
        "draws": Flag("--draws"),
        "n_boot": Flag("--n-boot"),
        "seed": Flag("--seed"),
    },
    "analyses": {
        "trajectory": UsedByRule("predict adds --trajectory; rule analyse_trajectory reads it"),
        "halt_max_steps": Flag("--halt-max-steps"),
        "puzzle_ids": UsedByRule("one predict_ids job per entry: the {ids} wildcard, --puzzle-ids"),
        "puzzle_id_seed": Flag("--puzzle-id-seed"),
        "ensemble": UsedByRule("rule ensemble: trm analyse ensemble --last <ensemble.last>"),
        "adapt": UsedByRule("rules adapt_data, adapt, predict_adapt: section analyses.adapt"),
    },
    "analyses.adapt": {  # trm adapt (rules/analyses.smk)
        "dataset": UsedByRule("rule adapt_data: these keys over the experiment's dataset section"),
        "steps": Flag("--steps"),
        "lr": Flag("--lr"),
        "weight_decay": Flag("--weight-decay"),
        "batch_size": Flag("--batch-size"),
        "seed": Flag("--seed"),
        "eval_examples": Flag("--eval-examples"),
    },
    "bench": {
        "batch_sizes": Flag("--batch-sizes", join=","),
        "dtypes": Flag("--dtypes", join=","),
        "device": Flag("--device"),
        "warmup": Flag("--warmup"),
        "repeats": Flag("--repeats"),
        "max_seconds": Flag("--max-seconds"),
    },
    # The LLM baseline (rules/llm.smk): `trm llm ...`. Its rules also pass the experiment's
    # dataset (llm prepare), predict (llm predict) and score (llm score, llm compare) sections
    # through the tables above.
    "llm": {
        "model": UsedByRule("--model: the Hub id or folder, or the folder llm_tiny_model builds"),
        "device": Flag("--device"),  # training device (llm train)
        "tiny": UsedByRule("rule llm_tiny_model: section llm.tiny"),
        "prepare": UsedByRule("rule llm_prepare: section llm.prepare"),
        "train": UsedByRule("rule llm_train: section llm.train"),
    },
    "llm.tiny": {
        "hidden_size": Flag("--hidden-size"),
        "layers": Flag("--layers"),
        "heads": Flag("--heads"),
        "max_positions": Flag("--max-positions"),
        "seed": Flag("--seed"),
    },
    "llm.prepare": {
        "max_len": Flag("--max-len"),
        "overlong": Flag("--overlong"),
        "test_views": Flag("--test-views"),
    },
    "llm.train": {
        "r": Flag("--r"),
        "alpha": Flag("--alpha"),
        "dropout": Flag("--dropout"),
        "target_modules": Flag("--target-modules"),
        "epochs": Flag("--epochs"),
        "lr": Flag("--lr"),
        "batch_size": Flag("--batch-size"),
        "grad_accum": Flag("--grad-accum"),
        "warmup_steps": Flag("--warmup-steps"),
        "weight_decay": Flag("--weight-decay"),
        "seed": Flag("--seed"),
        "max_steps": Flag("--max-steps"),
        "checkpoint_every": Flag("--checkpoint-every"),
        "load_in_4bit": Flag("--load-in-4bit", switch=True),  # also given to llm predict
        "dtype": Flag("--dtype"),
        "gradient_checkpointing": Flag("--gradient-checkpointing", switch=True),
    },
}


class UnmappedSettingError(KeyError):
    """A workflow setting with no entry in SECTIONS: a bug in the workflow, not bad input."""


def _arg(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def to_flags(section: str, settings: Mapping[str, Any]) -> list[str]:
    """The command-line arguments that carry `settings` of one config section.

    Keys the rule uses itself (UsedByRule) produce nothing; a key without an entry raises.
    """
    table = SECTIONS[section]
    argv: list[str] = []
    for key, value in settings.items():
        entry = table.get(key)
        if entry is None:
            raise UnmappedSettingError(
                f"workflow setting {section}.{key} has no command-line flag: add it to "
                f"trm/jobargs.py SECTIONS[{section!r}] (and to the command's parser)"
            )
        if isinstance(entry, UsedByRule) or value is None or value in entry.skip:
            continue
        if entry.switch:
            if not isinstance(value, bool):
                raise TypeError(f"workflow setting {section}.{key} must be true or false")
            argv += [entry.flag] if value else []
            continue
        if isinstance(value, Mapping) and entry.pairs:
            argv += [entry.flag, *(f"{k}={_arg(v)}" for k, v in value.items())]
        elif isinstance(value, list | tuple):
            if entry.join is not None:
                argv += [entry.flag, entry.join.join(map(_arg, value))]
            elif entry.repeat:
                for item in value:
                    argv += [entry.flag, _arg(item)]
            else:
                argv += [entry.flag, *map(_arg, value)]
        else:
            argv += [entry.flag, _arg(value)]
    return argv


def hydra_value(value: Any) -> str:
    """A YAML value in Hydra's override syntax (null, true/false, [a,b]; Python's None is not)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(x) for x in value) + "]"
    return str(value)


def hydra_overrides(group: str, settings: Mapping[str, Any]) -> list[str]:
    """{preset: tiny, hidden_size: 64} -> ['model=tiny', 'model.hidden_size=64'].

    The model and train sections are Hydra overrides: `trm train` checks them against the
    composed config, so no table is needed here.
    """
    out = [f"{group}={settings['preset']}"] if "preset" in settings else []
    return out + [f"{group}.{k}={hydra_value(v)}" for k, v in settings.items() if k != "preset"]
