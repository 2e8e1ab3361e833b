"""Batched greedy decoding of every test record (original and augmented views).

max_new_tokens comes from the dataset (its longest answer grid in this tokenizer, plus the
end-of-turn marker and a margin; see prepare.py), never a constant, so a 30x30 answer is
generated in full. Each answer is parsed (malformed -> None, counted as unparseable) and the
view's augmentation undone, so score.py can vote over views like TRM.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from trm.data.augment import inverse_dihedral_transform, invert_colour_perm, parse_name
from trm.errors import UserError
from trm.llm.config import PredictConfig, recorded
from trm.llm.prepare import read_jsonl, read_manifest
from trm.llm.prompt import parse_grid
from trm.utils import atomic_file, resolve_device, write_json


def summary_path(out: str | os.PathLike) -> Path:
    """Where `trm llm predict` writes the run's summary by default: beside the predictions."""
    return Path(str(out)).with_suffix(".summary.json")


def undo_view(grid: list[list[int]], name: str) -> list[list[int]]:
    """The answer in the original task's frame: inverse colour map, then inverse dihedral."""
    _, tid, perm = parse_name(name)
    arr = invert_colour_perm(perm)[np.asarray(grid, dtype=np.uint8)]
    return inverse_dihedral_transform(arr, tid).tolist()


def load_for_inference(cfg: PredictConfig, device: str) -> tuple[Any, Any]:
    from trm.llm.hf import load_base_model, load_tokenizer

    tok = load_tokenizer(cfg.model, cfg.revision)
    model = load_base_model(cfg, device)
    if cfg.adapter:
        from peft import PeftModel

        if not (Path(cfg.adapter) / "adapter_config.json").exists():
            raise UserError(f"{cfg.adapter}: no adapter_config.json (not a peft adapter folder)")
        model = PeftModel.from_pretrained(model, str(cfg.adapter))
    model.eval()
    return tok, model


def generate_batch(
    model: Any,
    tok: Any,
    prompts: list[list[int]],
    max_new_tokens: int,
    stop_ids: list[int],
    device: str,
) -> list[tuple[list[int], float, bool]]:
    """Greedy continuations of token-id prompts: (new ids without stop token, mean log-prob of
    the chosen tokens, whether it ended at a stop token)."""
    import torch

    n = max(len(p) for p in prompts)
    pad = tok.pad_token_id
    ids = torch.full((len(prompts), n), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), n), dtype=torch.long)
    for i, p in enumerate(prompts):  # left padding: every prompt ends where generation starts
        ids[i, n - len(p) :] = torch.tensor(p)
        mask[i, n - len(p) :] = 1
    chosen_logprob: list[Any] = []

    def record(_ids: Any, scores: Any) -> Any:
        # Greedy picks the arg-max, so its log-prob is the row maximum of log_softmax; kept per
        # step as [batch] instead of asking generate for every step's full-vocabulary scores
        # (1,900 steps x 128k vocabulary x batch would be gigabytes for a 30x30 answer).
        chosen_logprob.append(torch.log_softmax(scores.float(), dim=-1).max(dim=-1).values)
        return scores

    with torch.inference_mode():
        seqs = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=stop_ids,
            pad_token_id=pad,
            logits_processor=[record],
        )
    new = seqs[:, n:].cpu()
    logp = (
        torch.stack(chosen_logprob, dim=1).cpu() if chosen_logprob else torch.zeros(len(prompts), 0)
    )
    results = []
    stop = set(stop_ids)
    for i in range(len(prompts)):
        row = new[i].tolist()
        end = next((j for j, t in enumerate(row) if t in stop), None)
        kept = row if end is None else row[:end]
        n_scored = len(row) if end is None else end + 1
        mean_lp = float(logp[i, :n_scored].mean()) if n_scored else 0.0
        results.append((kept, mean_lp, end is not None))
    return results


def predict(
    cfg: PredictConfig,
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    summary_out: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Decode every test record into `out` (JSON lines) and write the run's summary (parameters,
    tokens, time, unparseable answers) to `summary_out` (default: beside `out`)."""
    from trm.llm.hf import count_parameters
    from trm.progress import progress as tqdm

    man = read_manifest(data_dir)
    records = read_jsonl(Path(data_dir) / "test.jsonl", "LLM test records")
    max_new = cfg.max_new_tokens or int(man["max_new_tokens"])
    stop_ids = [int(t) for t in man["tokenizer"]["stop_token_ids"]]
    device = resolve_device(cfg.device)
    tok, model = load_for_inference(cfg, device)
    n_params, _ = count_parameters(model)
    prompts = [tok(r["prompt"], add_special_tokens=False)["input_ids"] for r in records]
    # Similar lengths share a batch (less padding); the output keeps the file order.
    order = sorted(range(len(records)), key=lambda i: len(prompts[i]))
    results: list[dict | None] = [None] * len(records)
    t0 = time.perf_counter()
    generated = 0
    starts = range(0, len(order), cfg.batch_size)
    for s in tqdm(starts, desc="llm predict", unit="batch", disable=not progress):
        idx = order[s : s + cfg.batch_size]
        outs = generate_batch(model, tok, [prompts[i] for i in idx], max_new, stop_ids, device)
        for i, (ids, mean_lp, stopped) in zip(idx, outs, strict=True):
            rec = records[i]
            text = tok.decode(ids, skip_special_tokens=True)
            grid = parse_grid(text)
            generated += len(ids) + int(stopped)
            results[i] = {
                "id": rec["id"],
                "task": rec["task"],
                "test_index": rec["test_index"],
                "name": rec["name"],
                "text": text,
                "grid": undo_view(grid, rec["name"]) if grid is not None else None,
                "new_tokens": len(ids) + int(stopped),
                "stopped": stopped,  # False: hit max_new_tokens before the end-of-turn marker
                "mean_logprob": mean_lp,
            }
    seconds = time.perf_counter() - t0
    with atomic_file(out) as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    on_gpu = device.startswith("cuda")
    summary = {
        "config": recorded(cfg, PredictConfig),
        "device": device,
        "records": len(records),
        "max_new_tokens": max_new,
        "parameters": n_params,
        "tokens_generated": generated,
        "predict_seconds": round(seconds, 3),
        "gpu_hours" if on_gpu else "cpu_seconds": round(seconds / 3600, 4)
        if on_gpu
        else round(seconds, 3),
        "unparseable": sum(r["grid"] is None for r in results if r),
        "hit_token_limit": sum(not r["stopped"] for r in results if r),
    }
    write_json(summary_out or summary_path(out), summary)
    print(
        f"llm predict: {len(records)} prompts, {generated} tokens generated in {seconds:.1f} s "
        f"({device}, max_new_tokens {max_new}); {summary['unparseable']} unparseable"
    )
    return summary
