"""ARC tasks -> chat-format JSONL for one model's tokenizer.

train.jsonl: one record per test input of every task in the training subsets (its own train
pairs are the demonstrations), plus `num_aug` augmented copies per task (a dihedral transform
and a permutation of colours 1..9, the TRM datasets' augmentation family and naming, seeded).
test.jsonl: one record per test input of the test set, for the original view and `test_views`
augmented views (their answers are voted after undoing the augmentation, see score.py).

Every prompt is rendered with the tokenizer's own chat template. A record longer than
`max_len` tokens (prompt + answer) is either skipped or shortened by dropping whole
demonstrations from the end (never cut inside a grid); both are counted in manifest.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trm.data.arc import ArcTask
from trm.data.augment import augmented_name, dihedral_transform
from trm.errors import InputNotFoundError, UserError
from trm.limits import LLM_MAX_JSON_BYTES, LLM_MAX_LINE_BYTES, LLM_MAX_RECORDS
from trm.llm.config import PrepareConfig, recorded
from trm.llm.prompt import chat_messages, grid_to_text
from trm.utils import atomic_dir, sha256_file

DECODE_MARGIN = 8  # tokens allowed beyond the longest answer + end-of-turn marker


@dataclass
class SplitCounts:
    records: int = 0
    overlong: int = 0
    skipped: int = 0
    truncated: int = 0  # records kept after dropping demonstrations
    demos_dropped: int = 0
    skipped_ids: list[str] = field(default_factory=list)


def draw_augmentations(rng: np.random.Generator, n: int) -> list[tuple[int, np.ndarray]]:
    """n distinct (dihedral id, colour map) pairs other than the identity; colour 0 stays 0."""
    seen: set[tuple[int, bytes]] = {(0, bytes(range(10)))}
    out = []
    for _ in range(100 * n):  # tiny grids have few symmetries; duplicates are redrawn
        if len(out) == n:
            break
        tid = int(rng.integers(0, 8))
        perm = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
        key = (tid, perm.tobytes())
        if key not in seen:
            seen.add(key)
            out.append((tid, perm))
    return out


def _augment(grid: np.ndarray, tid: int, perm: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(perm[dihedral_transform(grid, tid)])


class Renderer:
    """Chat-template rendering and token counting for one tokenizer."""

    def __init__(self, tokenizer: Any):
        self.tok = tokenizer
        probe = "[[0]]"
        msgs = chat_messages([], np.zeros((1, 1), dtype=np.uint8))
        prompt = self.prompt_text(msgs)
        full = self._full_text(msgs, probe)
        if not full.startswith(prompt + probe):
            raise UserError(
                "the tokenizer's chat template does not render the assistant turn as the "
                "generation prompt followed by the answer; cannot separate prompt and answer"
            )
        self.answer_suffix = full[len(prompt + probe) :]  # e.g. "<|eot_id|>"

    def prompt_text(self, messages: list[dict[str, str]]) -> str:
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _full_text(self, messages: list[dict[str, str]], answer: str) -> str:
        return self.tok.apply_chat_template(
            messages + [{"role": "assistant", "content": answer}], tokenize=False
        )

    def n_tokens(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def stop_token_ids(self) -> list[int]:
        """Token ids that end an answer: the eos token and the first token after the answer."""
        ids = {int(self.tok.eos_token_id)} if self.tok.eos_token_id is not None else set()
        suffix = self.tok(self.answer_suffix, add_special_tokens=False)["input_ids"]
        if suffix:
            ids.add(int(suffix[0]))
        return sorted(ids)


def _records_for(
    task_id: str,
    name: str,
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    tests: Sequence[tuple[np.ndarray, np.ndarray]],
    view: tuple[int, np.ndarray] | None,
    r: Renderer,
    cfg: PrepareConfig,
    counts: SplitCounts,
) -> list[dict]:
    out = []
    for ti, (test_in, test_out) in enumerate(tests):
        demos = list(pairs)
        if view is not None:
            demos = [(_augment(i, *view), _augment(o, *view)) for i, o in demos]
            test_in, test_out = _augment(test_in, *view), _augment(test_out, *view)
        answer = grid_to_text(test_out)
        answer_tokens = r.n_tokens(answer + r.answer_suffix)
        rid = f"{name}#{ti}"
        dropped = 0
        while True:
            prompt = r.prompt_text(chat_messages(demos, test_in))
            prompt_tokens = r.n_tokens(prompt)
            fits = prompt_tokens + answer_tokens <= cfg.max_len
            if fits or cfg.overlong == "skip" or len(demos) <= 1:
                break
            demos.pop()  # whole demonstrations only, from the end
            dropped += 1
        if dropped or not fits:
            counts.overlong += 1
        if not fits:
            counts.skipped += 1
            counts.skipped_ids.append(rid)
            continue
        if dropped:
            counts.truncated += 1
            counts.demos_dropped += dropped
        counts.records += 1
        out.append(
            {
                "id": rid,
                "task": task_id,
                "test_index": ti,
                "name": name,
                "prompt": prompt,
                "completion": answer + r.answer_suffix,
                "answer": answer,
                "n_demos": len(demos),
                "n_demos_dropped": dropped,
                "prompt_tokens": prompt_tokens,
                "answer_tokens": answer_tokens,
            }
        )
    return out


def _task_records(
    task: ArcTask,
    views: list[tuple[int, np.ndarray]],
    r: Renderer,
    cfg: PrepareConfig,
    counts: SplitCounts,
) -> list[dict]:
    demos = task.pairs(["train"])
    tests = task.pairs(["test"])
    recs = _records_for(task.task_id, task.task_id, demos, tests, None, r, cfg, counts)
    for tid, perm in views:
        name = augmented_name(task.task_id, tid, perm)
        recs += _records_for(task.task_id, name, demos, tests, (tid, perm), r, cfg, counts)
    return recs


def prepare(cfg: PrepareConfig, out: str | os.PathLike, tokenizer: Any | None = None) -> dict:
    """Write OUT/{train,test}.jsonl, OUT/test_tasks.json (answers, for scoring) and manifest.json."""
    if tokenizer is None:
        from trm.llm.hf import load_tokenizer

        tokenizer = load_tokenizer(cfg.model, cfg.revision)
    r = Renderer(tokenizer)
    subsets, test_set = cfg.resolved()
    test_sets = [test_set] + [s for s in [cfg.test_set2] if s and s in subsets]
    train_subsets = [s for s in subsets if s not in test_sets]
    wanted = list(dict.fromkeys([*train_subsets, *test_sets]))
    loaded = cfg.load(wanted, test_sets)
    rng = np.random.default_rng(cfg.seed)
    splits = {"train": SplitCounts(), "test": SplitCounts()}
    train, test, test_tasks = [], [], {}
    for subset, tasks in loaded.subsets:
        for task in tasks:
            if subset in test_sets:  # a task in two subsets: refused by load_subsets
                views = draw_augmentations(rng, cfg.test_views)
                test += _task_records(task, views, r, cfg, splits["test"])
                test_tasks[task.task_id] = {
                    "test": [
                        {"input": i.tolist(), "output": o.tolist()} for i, o in task.pairs(["test"])
                    ]
                }
            else:
                views = draw_augmentations(rng, cfg.num_aug)
                train += _task_records(task, views, r, cfg, splits["train"])
    if not test_tasks:
        raise UserError(f"test set {test_set!r}: no tasks selected")
    answer_tokens = [rec["answer_tokens"] for rec in train + test]
    manifest: dict[str, Any] = {
        "config": recorded(cfg, PrepareConfig),
        "tokenizer": {
            "name_or_path": str(getattr(tokenizer, "name_or_path", cfg.model)),
            "vocab_size": len(tokenizer),
            "answer_suffix": r.answer_suffix,
            "stop_token_ids": r.stop_token_ids(),
        },
        "splits": {k: asdict(v) for k, v in splits.items()},
        "n_test_tasks": len(test_tasks),
        "n_test_inputs": sum(len(t["test"]) for t in test_tasks.values()),
        # Generation limit: the longest answer in the dataset (grid + end marker) plus a margin,
        # so a 30x30 answer is never cut (the fork capped it at 128 tokens).
        "max_answer_tokens": max(answer_tokens, default=0),
        "max_new_tokens": max(answer_tokens, default=0) + DECODE_MARGIN,
        "max_prompt_tokens": max((rec["prompt_tokens"] for rec in train + test), default=0),
        "warnings": loaded.warnings,
        "inputs": {k: str(v) for k, v in loaded.inputs.items()},
    }
    with atomic_dir(out) as tmp:
        for split, recs in (("train", train), ("test", test)):
            with open(tmp / f"{split}.jsonl", "w") as f:
                for rec in recs:
                    f.write(json.dumps(rec) + "\n")
        with open(tmp / "test_tasks.json", "w") as f:
            json.dump(test_tasks, f)
        manifest["files"] = {
            p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.name != "manifest.json"
        }
        with open(tmp / "manifest.json", "w") as f:
            json.dump(manifest, f, indent=1)
    return manifest


def read_jsonl(
    path: str | os.PathLike,
    what: str,
    max_records: int = LLM_MAX_RECORDS,
    max_bytes: int | None = None,
) -> list[dict]:
    """The JSON objects of a JSON-lines file, bounded before they are read: at most
    `max_bytes` (default: `max_records` full lines), `max_records` records and
    LLM_MAX_LINE_BYTES per line (trm.limits)."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{what} not found: {path}")
    limit = max_records * LLM_MAX_LINE_BYTES if max_bytes is None else max_bytes
    if (n_bytes := path.stat().st_size) > limit:
        raise UserError(f"{path}: {n_bytes:,} bytes exceeds the limit of {limit:,} for the {what}")
    out = []
    with open(path, "rb") as f:
        n = 0
        while line := f.readline(LLM_MAX_LINE_BYTES + 1):
            n += 1
            if len(line) > LLM_MAX_LINE_BYTES:
                raise UserError(
                    f"{path}: line {n} is longer than the limit of {LLM_MAX_LINE_BYTES:,} bytes"
                )
            if not line.strip():
                continue
            if len(out) == max_records:
                raise UserError(f"{path}: more than the limit of {max_records:,} {what}")
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
                cause = getattr(e, "msg", None) or type(e).__name__
                raise UserError(f"{path}: line {n}: malformed JSON ({cause})") from e
            if not isinstance(record, dict):
                raise UserError(f"{path}: line {n}: expected a JSON object")
            out.append(record)
    return out


def read_manifest(data_dir: str | os.PathLike) -> dict:
    from trm.utils import read_json

    man = read_json(
        Path(data_dir) / "manifest.json", "LLM dataset manifest", max_bytes=LLM_MAX_JSON_BYTES
    )
    if not isinstance(man, dict):
        raise UserError(f"{Path(data_dir) / 'manifest.json'}: expected a JSON object")
    for key in ("max_new_tokens", "tokenizer", "config"):
        if key not in man:
            raise UserError(f"{Path(data_dir) / 'manifest.json'}: field {key!r} missing")
    return man
