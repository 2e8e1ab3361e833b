"""LoRA / QLoRA fine-tuning of a causal LM on prepared ARC records, loss on answer tokens only.

A plain loop (no HF Trainer) so that the loss mask, the schedule and the resumable state are
visible here: AdamW on the adapter weights, linear warm-up then linear decay (the fork's
settings), gradient accumulation, one metrics.jsonl line per optimizer step. Checkpoints are
the peft adapter (safetensors) plus our own optimizer/scheduler state (read back with
weights_only=True); `--resume` continues from the last one. The base model is never written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from trm.errors import UserError
from trm.llm.config import LoraTrainConfig, recorded
from trm.llm.prepare import read_jsonl, read_manifest
from trm.outputs import MARKER_NAME
from trm.utils import atomic_dir, resolve_device, write_json

IGNORE = -100  # label value the loss skips (prompt tokens, padding)
STATE_FILE = "train_state.pt"


def tokenize_records(records: list[dict], tokenizer: Any) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per record: prompt then completion, the prompt masked from the loss.

    Prompt and completion are tokenised separately, exactly as generation sees them (the
    prompt's ids, then the answer's).
    """
    out = []
    for rec in records:
        p = tokenizer(rec["prompt"], add_special_tokens=False)["input_ids"]
        c = tokenizer(rec["completion"], add_special_tokens=False)["input_ids"]
        out.append((p + c, [IGNORE] * len(p) + c))
    return out


def collate(
    items: list[tuple[list[int], list[int]]], pad_id: int
) -> dict[str, Any]:  # right padding for training
    import torch

    n = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), n), pad_id, dtype=torch.long)
    labels = torch.full((len(items), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), n), dtype=torch.long)
    for i, (x, y) in enumerate(items):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        mask[i, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_loss(logits: Any, labels: Any) -> tuple[Any, int]:
    """Summed next-token cross-entropy over answer tokens, and how many there were."""
    import torch.nn.functional as F

    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    loss = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.shape[-1]),
        shift_labels.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, int((shift_labels != IGNORE).sum())


def lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def build_lora_model(cfg: LoraTrainConfig, device: str) -> Any:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from trm.llm.hf import load_base_model

    base = load_base_model(cfg, device)
    if cfg.load_in_4bit:
        base = prepare_model_for_kbit_training(
            base, use_gradient_checkpointing=cfg.gradient_checkpointing
        )
    elif cfg.gradient_checkpointing:
        base.gradient_checkpointing_enable()
        base.enable_input_require_grads()
    names = {n.rsplit(".", 1)[-1] for n, _ in base.named_modules()}
    missing = [t for t in cfg.target_modules if t not in names]
    if missing:
        raise UserError(f"llm train: target_modules {missing} are not modules of {cfg.model!r}")
    lora = LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, lora)


def _save_checkpoint(model: Any, opt: Any, out: Path, step: int, epoch_pos: dict) -> None:
    import torch

    final = out / f"step_{step}"
    with atomic_dir(final) as tmp:
        model.save_pretrained(tmp)  # adapter_model.safetensors + adapter_config.json
        torch.save({"optimizer": opt.state_dict(), "step": step, **epoch_pos}, tmp / STATE_FILE)
    latest = out / "adapter"
    with atomic_dir(latest) as tmp:  # the adapter predict loads: a plain copy of the last one
        for p in final.iterdir():
            if p.name != STATE_FILE:
                shutil.copy2(p, tmp / p.name)


def _drop_metrics_after(path: Path, step: int) -> None:
    """Forget metrics of steps after the checkpoint resumed from (they are run again)."""
    if path.exists():
        kept = []
        for ln in path.read_text().splitlines():
            try:
                if ln.strip() and json.loads(ln).get("step", 0) <= step:
                    kept.append(ln)
            except (json.JSONDecodeError, AttributeError):
                continue  # the half-written last line of a killed run
        path.write_text("".join(ln + "\n" for ln in kept))


def _last_checkpoint(out: Path) -> Path | None:
    steps = [p for p in out.glob("step_*") if p.name[5:].isdigit()]
    return max(steps, key=lambda p: int(p.name[5:])) if steps else None


def train(
    cfg: LoraTrainConfig,
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    import random

    import numpy as np
    import torch

    from trm.llm.hf import count_parameters, load_tokenizer
    from trm.progress import progress as tqdm
    from trm.train.finite import check_losses

    out = Path(out)
    if out.exists() and not resume and any(p.name != MARKER_NAME for p in out.iterdir()):
        raise UserError(f"{out} is not empty: pass --resume to continue, or remove it")
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    read_manifest(data_dir)
    records = read_jsonl(Path(data_dir) / "train.jsonl", "LLM training records")
    if not records:
        raise UserError(f"{data_dir}/train.jsonl has no records: nothing to train on")
    tokenizer = load_tokenizer(cfg.model, cfg.revision)
    data = tokenize_records(records, tokenizer)

    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = build_lora_model(cfg, device)
    n_params, n_trainable = count_parameters(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)

    batches_per_epoch = math.ceil(len(data) / cfg.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_accum)
    total_steps = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    step, seconds_before = 0, 0.0
    last = _last_checkpoint(out) if resume else None
    if last is not None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(model, load_file(last / "adapter_model.safetensors"))
        state = torch.load(last / STATE_FILE, map_location=device, weights_only=True)
        opt.load_state_dict(state["optimizer"])
        step, seconds_before = int(state["step"]), float(state.get("seconds", 0.0))
        print(f"llm train: resumed from {last} (step {step} of {total_steps})")
    if resume:  # lines after the checkpoint (all of them without one) are written again
        _drop_metrics_after(out / "metrics.jsonl", step)

    # One fixed permutation per epoch from the seed: resuming replays the same order.
    def batch_order(epoch: int) -> list[list[int]]:
        perm = np.random.default_rng(cfg.seed + epoch).permutation(len(data)).tolist()
        return [perm[i : i + cfg.batch_size] for i in range(0, len(perm), cfg.batch_size)]

    pad_id = tokenizer.pad_token_id
    model.train()
    metrics_path = out / "metrics.jsonl"
    t0 = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc="llm train",
        unit="step",
        mininterval=5,
        disable=not progress,
    )
    with open(metrics_path, "a") as mf:
        while step < total_steps:
            epoch, first = divmod(step * cfg.grad_accum, batches_per_epoch)
            order = batch_order(epoch)
            micro = order[first : first + cfg.grad_accum]
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_factor(step, cfg.warmup_steps, total_steps)
            opt.zero_grad(set_to_none=True)
            batches = [collate([data[i] for i in idx], pad_id) for idx in micro]
            n_tokens = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
            total_loss = 0.0
            for b in batches:
                b = {k: v.to(device) for k, v in b.items()}
                logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
                loss_sum, _ = answer_loss(logits, b["labels"])
                (loss_sum / max(1, n_tokens)).backward()  # mean over the step's answer tokens
                total_loss += float(loss_sum.detach())
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, 1.0))
            # the first non-finite loss or gradient stops the run before the update is applied
            check_losses(step + 1, {"loss": total_loss, "gradient norm": grad_norm})
            opt.step()
            step += 1
            rec = {
                "step": step,
                "epoch": round(step * cfg.grad_accum / batches_per_epoch, 4),
                "loss": total_loss / max(1, n_tokens),
                "answer_tokens": n_tokens,
                "lr": opt.param_groups[0]["lr"],
                "grad_norm": grad_norm,
                "seconds": round(seconds_before + time.perf_counter() - t0, 3),
            }
            mf.write(json.dumps(rec) + "\n")
            mf.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{rec['loss']:.4f}")
            if step == total_steps or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
                _save_checkpoint(model, opt, out, step, {"seconds": rec["seconds"]})
    bar.close()
    seconds = seconds_before + time.perf_counter() - t0
    summary = {
        "config": recorded(cfg, LoraTrainConfig),
        "device": device,
        "steps": step,
        "records": len(data),
        "parameters": n_params,
        "trainable_parameters": n_trainable,
        "train_seconds": round(seconds, 3),
        "gpu_hours" if device.startswith("cuda") else "cpu_seconds": (
            round(seconds / 3600, 4) if device.startswith("cuda") else round(seconds, 3)
        ),
    }
    write_json(out / "train_summary.json", summary)
    print(
        f"llm train: {step} steps on {len(data)} records in {seconds:.1f} s ({device}); "
        f"{n_trainable:,} of {n_params:,} parameters trained"
    )
    return summary
