"""Fast evaluation-mode ACT inference: `predict(model, batch)`.

In evaluation the reference runs every sequence for exactly `halt_max_steps` ACT steps from a
fresh carry (no sequence halts early, none is replaced), so the ACT bookkeeping reduces to:

    x = input_embeddings(batch);  z_H, z_L = H_init, L_init
    repeat halt_max_steps times: z_H, z_L = latent_recursion(z_H, z_L, x)
    logits, q_halt, q_continue = heads(z_H)

(For the other architectures the states are their own, `model.init_states()`, and the heads
read state 0.) A transformer baseline with `act_inference` halts on its Q head in evaluation,
as the reference does; `predict` then steps the model's ACT forward instead.

`predict` computes exactly that: the input embeddings once (they are constant across steps),
heads only after the last step, no loss, no float64, under `torch.inference_mode`. The result
equals stepping `model(carry, batch)` in eval mode (tests check this).
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch

from trm.model.trm import TRM

RecursionFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
# Compiled recursions per model, outside the module so deepcopy/pickling of models is unaffected.
_COMPILED: weakref.WeakKeyDictionary[TRM, dict[str, RecursionFn]] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def _eval_mode(model: TRM, dtype: torch.dtype) -> Iterator[None]:
    was_training = model.training
    old_dtype = model.forward_dtype
    model.eval()
    if dtype != old_dtype:
        model.set_forward_dtype(dtype)
    try:
        yield
    finally:
        if dtype != old_dtype:
            model.set_forward_dtype(old_dtype)
        model.train(was_training)


def _recursion_fn(model: TRM, compile: bool, device: torch.device) -> RecursionFn:
    if not compile:
        return model.latent_recursion
    # Cache per model and device: compiling takes tens of seconds. On CUDA, "reduce-overhead"
    # also captures the recursion as a CUDA graph (one launch per ACT step).
    cache = _COMPILED.setdefault(model, {})
    key = device.type
    if key not in cache:
        mode = "reduce-overhead" if device.type == "cuda" else "default"
        cache[key] = torch.compile(model.latent_recursion, dynamic=False, mode=mode)
    return cache[key]


# Below this many activation elements per tensor (batch x positions x hidden), CPU ops are too
# small for intra-op threads to pay off: the hand-offs cost more than the work (measured: the
# tiny model predicts 2-9x faster on one thread than on two on the shared 2-core machine).
SINGLE_THREAD_MAX_ELEMENTS = 1 << 19


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if not n or n == old:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def auto_num_threads(model: TRM, batch_size: int, device: torch.device) -> int | None:
    """1 for small CPU work (see SINGLE_THREAD_MAX_ELEMENTS), else None (torch's setting)."""
    elements = batch_size * model.config.total_len * model.config.hidden_size
    if device.type == "cpu" and elements <= SINGLE_THREAD_MAX_ELEMENTS:
        return 1
    return None


def default_predict_dtype(model: TRM, device: torch.device) -> torch.dtype:
    """float32 on CPU (bfloat16 matmuls are slow there and change predictions); else the config's."""
    return torch.float32 if device.type == "cpu" else model.config.dtype


def predict(
    model: TRM,
    batch: dict[str, torch.Tensor],
    *,
    compile: bool = False,
    dtype: torch.dtype | None = None,
    num_steps: int | None = None,
    num_threads: int | None = None,
    record_steps: bool = False,
) -> dict[str, torch.Tensor]:
    """Eval-mode ACT for `halt_max_steps` steps from a fresh carry; the final step's outputs.

    batch: `inputs` [B, seq_len] and `puzzle_identifiers` [B] (int32; `labels` is ignored),
    moved to the model's device. Returns `logits` [B, seq_len, vocab] float32, `preds`
    [B, seq_len] int64 (argmax), `q_halt_logits` and `q_continue_logits` [B] float32.
    `compile=True` uses `torch.compile` for the recursion (first call compiles). `dtype`
    defaults to float32 on CPU and the config's `forward_dtype` elsewhere. `num_steps`
    overrides halt_max_steps (for benchmarks). `num_threads`: CPU intra-op threads for this
    call (restored afterwards; process-wide while it runs); None picks 1 for small work
    (`auto_num_threads`) and leaves torch's setting otherwise; 0 leaves it always.
    `record_steps=True` also returns every step's answer: `step_preds` [steps, B, seq_len]
    (token ids; uint8 when the vocabulary fits) and `step_q_halt_logits` [steps, B] float32; the last step's entries equal
    `preds` and `q_halt_logits` bit for bit (the same heads on the same state).
    """
    for key in ("inputs", "puzzle_identifiers"):
        if key not in batch:
            raise ValueError(f"predict: batch has no {key!r} (keys: {sorted(batch)})")
    inputs = batch["inputs"]
    if inputs.ndim != 2 or inputs.shape[1] != model.config.seq_len:
        raise ValueError(
            f"predict: inputs has shape {tuple(inputs.shape)}, expected [batch, {model.config.seq_len}]"
        )
    device = model.device
    if getattr(model.config, "act_inference", False) and num_steps is None:
        if record_steps:
            raise ValueError("predict: record_steps needs a fixed number of steps (act_inference)")
        return _predict_adaptive(model, batch, dtype or default_predict_dtype(model, device))
    dtype = dtype or default_predict_dtype(model, device)
    steps = model.config.halt_max_steps if num_steps is None else num_steps
    if num_threads is None:
        num_threads = auto_num_threads(model, inputs.shape[0], device)
    with _eval_mode(model, dtype), _threads(num_threads), torch.inference_mode():
        inputs = inputs.to(device)
        ids = batch["puzzle_identifiers"].to(device)
        x = model.input_embeddings(inputs, ids)
        shape = x.shape
        states = tuple(init.to(dtype).expand(shape).contiguous() for init in model.init_states())
        cos_sin = model.cos_sin()
        recursion = _recursion_fn(model, compile, device)
        graphs = compile and device.type == "cuda"
        step_preds: list[torch.Tensor] = []
        step_q: list[torch.Tensor] = []
        for _ in range(steps):
            if graphs:
                # Each step consumes the previous step's graph outputs before they are reused.
                torch.compiler.cudagraph_mark_step_begin()
            states = recursion(*states, x, cos_sin)
            if record_steps:
                # heads on every step (cheap next to the recursion); tokens < 256 fit in uint8
                step_logits, step_q_halt, _ = model.output_heads(states[0])
                token_dtype = torch.uint8 if model.config.vocab_size <= 256 else torch.int32
                step_preds.append(step_logits.to(torch.float32).argmax(dim=-1).to(token_dtype))
                step_q.append(step_q_halt)
        answer = states[0].clone() if graphs else states[0]
        logits, q_halt, q_continue = model.output_heads(answer)
        logits = logits.to(torch.float32)
    out = {
        "logits": logits,
        "preds": logits.argmax(dim=-1),
        "q_halt_logits": q_halt,
        "q_continue_logits": q_continue,
    }
    if record_steps:
        out["step_preds"] = torch.stack(step_preds)
        out["step_q_halt_logits"] = torch.stack(step_q)
    return out


def _predict_adaptive(
    model: TRM, batch: dict[str, torch.Tensor], dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """The reference's evaluation with eval-time halting: ACT steps until every slot halted.

    A slot that halts early is reloaded with its example and restarts, as in the reference;
    the outputs are those of the first step at which all slots halt together. Each slot
    repeats its deterministic cycle of k <= halt_max_steps steps, so that happens within
    lcm(1..halt_max_steps) steps.
    """
    device = model.device
    batch = {k: v.to(device) for k, v in batch.items() if k in ("inputs", "puzzle_identifiers")}
    with _eval_mode(model, dtype), torch.inference_mode():
        carry = model.initial_carry(batch)
        for _ in range(math.lcm(*range(1, model.config.halt_max_steps + 1))):
            carry, outputs = model(carry, batch)
            if bool(carry.halted.all()):
                break
    logits = outputs["logits"].to(torch.float32)
    return {
        "logits": logits,
        "preds": logits.argmax(dim=-1),
        "q_halt_logits": outputs["q_halt_logits"],
        "q_continue_logits": outputs["q_continue_logits"],
    }


def predict_stepwise(model: TRM, batch: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    """Every eval ACT step's outputs via `model(carry, batch)` (slow; for checks and debugging)."""
    was_training = model.training
    model.eval()
    out: list[dict[str, Any]] = []
    try:
        with torch.inference_mode():
            carry = model.initial_carry(batch)
            for _ in range(model.config.halt_max_steps):
                carry, outputs = model(carry, batch)
                out.append({**outputs, "preds": outputs["logits"].argmax(-1)})
    finally:
        model.train(was_training)
    return out
