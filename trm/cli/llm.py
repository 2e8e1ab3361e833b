"""`trm llm prepare|train|predict|score|make-tiny-model`: the LLM baseline's commands.

Their settings are trm.llm.config's declarations (what the library takes); this module adds each
command's inputs and outputs. A model or adapter given as a local folder is an input too (an
output may not be, contain or lie inside it). The Hugging Face token is never an option: set
HF_TOKEN in the environment for gated models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trm.command import Command, Group, Overwrite, Progress, Resume, refuse_overlap
from trm.eval.stats import Bootstrap
from trm.llm.config import (
    LoraTrainConfig,
    PredictConfig,
    PrepareConfig,
    TinyModelConfig,
    Tokenizer,
)
from trm.settings import input_path, output_path

GROUPS = [
    Group(
        "llm",
        "LLM baseline: (Q)LoRA fine-tune a causal LM on ARC",
        "The LLM baseline: ARC tasks as chat prompts for one model's tokenizer (prepare), "
        "LoRA/QLoRA fine-tuning (train), greedy decoding of every view (predict) and TRM's ARC "
        "scorer (score). Compare it with a TRM run with `trm compare runs`.",
    )
]


def _model_inputs(command: Command, s: Tokenizer) -> None:
    """The optional LLM extra is installed, and a model given as a local folder is an input of
    `command` like its declared ones (an output may not be, contain or lie inside it)."""
    from trm.llm.hf import require_llm_extra

    require_llm_extra()
    if Path(s.model).exists():
        refuse_overlap(command, s, [Path(s.model)])


# ---- prepare ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class LlmPrepareSettings(PrepareConfig, Overwrite):
    out: Path = output_path(
        "folder for train.jsonl, test.jsonl, test_tasks.json and manifest.json", folder=True
    )


def prepare(s: LlmPrepareSettings) -> int:
    from trm.llm.prepare import prepare as build

    _model_inputs(PREPARE, s)
    if s.input_prefix:
        from trm.data.arc_sources import kaggle_paths

        files = [f for sub in s.resolved()[0] for f in kaggle_paths(s.input_prefix, sub)]
        refuse_overlap(PREPARE, s, files)
    man = build(s, s.out)
    for split, c in man["splits"].items():
        print(
            f"llm prepare: {split}: {c['records']} records, {c['overlong']} over "
            f"{s.max_len} tokens ({c['skipped']} skipped, {c['truncated']} shortened by "
            f"dropping {c['demos_dropped']} demonstrations)"
        )
    print(f"llm prepare: max_new_tokens {man['max_new_tokens']} (longest answer + margin)")
    return 0


# ---- train --------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class LlmTrainSettings(LoraTrainConfig, Resume, Progress, Overwrite):
    data: Path = input_path("folder written by `trm llm prepare`")
    out: Path = output_path(
        "run folder: step_N checkpoints, adapter/, metrics.jsonl, train_summary.json",
        folder=True,
        incremental=True,
    )


def train(s: LlmTrainSettings) -> int:
    from trm.llm.train import train as fit

    _model_inputs(TRAIN, s)
    fit(s, s.data, s.out, resume=s.resume, progress=not s.no_progress)
    return 0


# ---- predict ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class LlmPredictSettings(PredictConfig, Progress, Overwrite):
    data: Path = input_path("folder written by `trm llm prepare` (its test.jsonl is decoded)")
    out: Path = output_path("predictions, one JSON line per test prompt", folder=False)
    summary: Path | None = output_path(
        "the run's summary: parameters, tokens, time (default: OUT with .summary.json)",
        None,
        folder=False,
    )

    def __post_init__(self) -> None:
        if self.summary is None and isinstance(self.out, Path):
            from trm.llm.predict import summary_path

            self.summary = summary_path(self.out)


def predict(s: LlmPredictSettings) -> int:
    from trm.llm.predict import predict as decode

    _model_inputs(PREDICT, s)
    decode(s, s.data, s.out, summary_out=s.summary, progress=not s.no_progress)
    return 0


# ---- score --------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class LlmScoreSettings(Bootstrap, Overwrite):
    data: Path = input_path("folder written by `trm llm prepare` (its test_tasks.json)")
    predictions: Path = input_path("predictions of `trm llm predict`")
    out: Path = output_path(
        "folder for metrics.json, submission.json, per_input.csv and per_task.json",
        folder=True,
    )
    cost: list[Path] = input_path(
        "train/predict summary JSON files (parameters, compute, tokens)", []
    )


def score(s: LlmScoreSettings) -> int:
    from trm.llm import schema as L
    from trm.llm.score import score as vote

    m = vote(s)
    print(json.dumps({k: m[k] for k in (*L.HEADLINE, *L.COUNTS)}))
    return 0


# ---- make-tiny-model ----------------------------------------------------------------------------


@dataclass(kw_only=True)
class TinyModelSettings(TinyModelConfig, Overwrite):
    out: Path = output_path("folder for the model and its tokenizer", folder=True)


def make_tiny_model(s: TinyModelSettings) -> int:
    from trm.llm.hf import require_llm_extra
    from trm.llm.tiny import make_tiny_model as make

    require_llm_extra()
    print(f"llm make-tiny-model: wrote {make(s.out, s)}")
    return 0


PREPARE = Command(
    "llm prepare",
    LlmPrepareSettings,
    prepare,
    help="ARC tasks -> chat-format JSONL for one model",
    description="Write OUT/train.jsonl (training subsets: each test input with its own "
    "demonstrations, plus --num-aug augmented copies per task), OUT/test.jsonl (the test "
    "set: the original view and --test-views augmented views) and OUT/test_tasks.json, each "
    "prompt rendered with the model's chat template.",
)
TRAIN = Command(
    "llm train",
    LlmTrainSettings,
    train,
    help="LoRA/QLoRA fine-tuning, loss on answer tokens only",
    description="Fine-tune adapters on DATA/train.jsonl (from `trm llm prepare`); --resume "
    "continues a run from its last step_N checkpoint.",
)
PREDICT = Command(
    "llm predict",
    LlmPredictSettings,
    predict,
    help="greedy decoding of every test prompt and view",
)
COMMANDS = [
    PREPARE,
    TRAIN,
    PREDICT,
    Command(
        "llm score",
        LlmScoreSettings,
        score,
        help="TRM's ARC scorer: submission.json, pass@1/2 with intervals",
    ),
    Command(
        "llm make-tiny-model",
        TinyModelSettings,
        make_tiny_model,
        help="a random tiny Llama + character tokenizer (tests, CPU smoke runs)",
    ),
]
