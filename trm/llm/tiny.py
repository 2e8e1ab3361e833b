"""A tiny Llama-architecture model and a character-level tokenizer with a chat template, saved
in the Hugging Face layout: what the CPU tests and the smoke experiment load instead of a Hub
model (nothing can be downloaded there). Random init, seeded."""

from __future__ import annotations

import os
import string
from pathlib import Path

from trm.llm.config import TinyModelConfig
from trm.utils import atomic_dir

SPECIAL = ["<pad>", "<s>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
# One token per role marker and turn end; the template is what apply_chat_template renders.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def char_tokenizer():  # -> transformers.PreTrainedTokenizerFast
    """Every printable ASCII character is one token; role markers are special tokens."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    chars = [c for c in string.printable if c not in "\t\r\x0b\x0c"]
    vocab = {tok: i for i, tok in enumerate(SPECIAL + chars)}
    vocab["<unk>"] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.decoder = decoders.Fuse()  # decode to the characters as written, no spaces between
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="<|end|>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=SPECIAL[3:],
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def make_tiny_model(
    out: str | os.PathLike, cfg: TinyModelConfig | None = None, init_std: float = 0.2
) -> Path:
    """Write a random tiny LlamaForCausalLM + tokenizer to `out` (replaced atomically)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = cfg or TinyModelConfig()
    tok = char_tokenizer()
    llama = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.hidden_size * 2,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        # Larger than the default 0.02: the final RMSNorm fixes the hidden state's scale, so
        # only embeddings of norm ~1 let a LoRA-only fine-tune reach confident logits.
        initializer_range=init_std,
    )
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(llama)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)  # safetensors
        tok.save_pretrained(tmp)
    return Path(out)


def write_toy_tasks(
    prefix: str | os.PathLike,
    subsets: tuple[str, ...] = ("training", "evaluation"),
    n_tasks: int = 4,
    size: int = 2,
    n_demos: int = 2,
    seed: int = 0,
) -> list[str]:
    """Small random ARC tasks (Kaggle combined format), the same tasks in every subset: a model
    fine-tuned on the training subset and evaluated on the evaluation subset is tested on
    memorisation. Each task applies its own rule (a dihedral transform and a colour map). The
    last subset names them toyNNNN, the others toyNNNN-<subset>: one task id names one puzzle
    (a test task's id in a training subset is refused, trm.data.arc_sources)."""
    import json

    import numpy as np

    from trm.data.augment import dihedral_transform

    rng = np.random.default_rng(seed)
    chal, sols = {}, {}
    for t in range(n_tasks):
        tid = int(rng.integers(0, 8))
        cmap = np.concatenate([[0], rng.permutation(np.arange(1, 10))])

        def rule(g: np.ndarray, tid: int = tid, cmap: np.ndarray = cmap) -> list:
            return cmap[dihedral_transform(g, tid)].tolist()

        grids = [rng.integers(0, 10, size=(size, size)) for _ in range(n_demos + 1)]
        name = f"toy{t:04d}"
        chal[name] = {
            "train": [{"input": g.tolist(), "output": rule(g)} for g in grids[:-1]],
            "test": [{"input": grids[-1].tolist()}],
        }
        sols[name] = [rule(grids[-1])]
    for i, subset in enumerate(subsets):
        suffix = "" if i == len(subsets) - 1 else f"-{subset}"
        for part, named in (("challenges", chal), ("solutions", sols)):
            obj = {f"{k}{suffix}": v for k, v in named.items()}
            path = Path(f"{prefix}_{subset}_{part}.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(obj))
    return list(chal)
