"""The LLM baseline's settings, declared once: what the library takes and the `trm llm` commands
parse (trm/cli/llm.py adds their inputs and outputs), with the workflow's keys (llm.tiny,
llm.prepare, llm.train, and the dataset and predict sections).

The Hugging Face token is never a setting: huggingface_hub reads HF_TOKEN from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from trm.command import Device
from trm.data.arc_names import ArcSource
from trm.settings import (
    PROBABILITY,
    SEED,
    count,
    input_path,
    non_negative,
    positive,
    setting,
    size,
)

OVERLONG_POLICIES = ("drop_demos", "skip")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MAX_TOKENS = 1 << 20  # context and generation lengths: buffers are allocated per token
MAX_BATCH = 4096  # sequences per forward pass


@dataclass(kw_only=True)
class TinyModelConfig:
    """The random tiny Llama of `trm llm make-tiny-model` (the workflow's llm.tiny)."""

    hidden_size: int = setting(64, check=size(8, 8192), help="hidden size")
    layers: int = setting(2, check=size(1, 128), help="decoder layers")
    heads: int = setting(4, check=size(1, 256), help="attention heads (divide hidden_size)")
    max_positions: int = setting(4096, check=size(64, MAX_TOKENS), help="context length")
    seed: int = setting(0, check=SEED, help="seed of the random weights")


@dataclass(kw_only=True)
class Tokenizer:
    """The model whose tokenizer (and weights) a command loads."""

    model: str = setting(help="Hugging Face causal LM id or local folder", config=False)
    revision: str | None = setting(
        None, help="Hub branch, tag or commit of --model (default: main)", config=False
    )


@dataclass(kw_only=True)
class BaseModel(Tokenizer, Device):
    """How the base model is loaded for training and decoding."""

    dtype: str = setting("auto", choices=DTYPES, help="weights dtype (auto: bf16/fp16 on a GPU)")
    load_in_4bit: bool = setting(False, help="QLoRA: 4-bit NF4 base (CUDA + bitsandbytes)")


@dataclass(kw_only=True)
class PrepareConfig(Tokenizer, ArcSource):
    """Which ARC tasks become prompts, and how (the dataset section's ARC keys, llm.prepare).
    The tasks are read as `trm prepare arc` reads them (trm.data.arc_names.ArcSource), so the
    LLM and the TRM built from one dataset section are tested on the same tasks."""

    num_aug: int = setting(0, check=count(0, 10_000), help="augmented copies per training task")
    test_views: int = setting(
        0, check=count(0, 10_000), help="augmented views per test input (voted)"
    )
    seed: int = setting(42, check=SEED, help="seed of the augmentations")
    max_len: int = setting(
        8192, check=size(16, MAX_TOKENS), help="context length in tokens (prompt + answer)"
    )
    overlong: str = setting(
        "drop_demos",
        choices=OVERLONG_POLICIES,
        help="over-long prompts: drop whole demonstrations from the end, or skip the test input",
    )


@dataclass(kw_only=True)
class LoraTrainConfig(BaseModel):
    """LoRA/QLoRA fine-tuning (the workflow's llm.train, and llm.device)."""

    r: int = setting(16, check=size(1, 4096), help="LoRA rank")
    alpha: int = setting(16, check=count(1, 1_000_000), help="LoRA alpha")
    dropout: float = setting(0.0, check=PROBABILITY, help="LoRA dropout")
    target_modules: list[str] = setting(
        DEFAULT_TARGETS, help="names of the modules that get adapters"
    )
    epochs: float = setting(2.0, check=positive(1_000_000), help="passes over the records")
    lr: float = setting(2e-4, check=positive(), help="AdamW learning rate")
    batch_size: int = setting(2, check=size(1, MAX_BATCH), help="records per micro-batch")
    grad_accum: int = setting(4, check=count(1, 1_000_000), help="micro-batches per optimizer step")
    warmup_steps: int = setting(5, check=count(0), help="linear warm-up steps")
    weight_decay: float = setting(0.01, check=non_negative(), help="AdamW weight decay")
    seed: int = setting(3407, check=SEED, help="seed of the adapters and the batch order")
    max_steps: int | None = setting(
        None, check=count(1), help="stop after this many optimizer steps (default: the epochs)"
    )
    checkpoint_every: int = setting(
        0, check=count(0), help="optimizer steps between checkpoints (0: at the end only)"
    )
    gradient_checkpointing: bool = setting(False, help="recompute activations (less memory)")


@dataclass(kw_only=True)
class PredictConfig(BaseModel):
    """Greedy decoding of the test prompts (the workflow's predict section)."""

    adapter: Path | None = input_path(
        "adapter folder from `trm llm train` (default: the base model alone)", None
    )
    batch_size: int = setting(8, check=size(1, MAX_BATCH), help="prompts per generate call")
    max_new_tokens: int | None = setting(
        None,
        check=size(1, MAX_TOKENS),
        help="generation limit (default: from the dataset, the longest answer + a margin)",
        config=False,
    )


def recorded(settings: Any, cls: type) -> dict[str, Any]:
    """The `cls` part of `settings` as a JSON record (summaries and manifests)."""
    return {
        f.name: str(v) if isinstance(v := getattr(settings, f.name), Path) else v
        for f in fields(cls)
    }
