"""The core of inference: rows of inputs and the identifiers fed to the model -> answers,
q_halt logits and (optionally) per-step fields, batch by batch (trm.infer.predict)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trm.eval.predict.steps import StepFields, empty_steps


@dataclass
class Answers:
    """The model's outputs for a range of rows."""

    preds: np.ndarray  # int32 [rows, seq]
    q_halt_logits: np.ndarray  # float32 [rows]
    steps: dict[str, np.ndarray] = field(default_factory=dict)  # per-step fields, when recorded


def predict_batch(
    model: Any,
    inputs: np.ndarray,
    puzzle_ids: np.ndarray,
    device: str,
    compile: bool = False,
    num_steps: int | None = None,
    record_steps: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """trm.infer.predict on one batch of dataset rows, in the model's configured forward dtype
    -> (preds int32 [B, seq], q_halt float32 [B]); with `record_steps` also every step's
    tokens [steps, B, seq] and q_halt logits [steps, B]."""
    import torch

    from trm.infer import predict

    batch = {
        "inputs": torch.from_numpy(np.array(inputs, dtype=np.int32)).to(device),
        "puzzle_identifiers": torch.from_numpy(np.array(puzzle_ids, dtype=np.int32)).to(device),
    }
    out = predict(
        model,
        batch,
        compile=compile,
        dtype=model.config.dtype,
        num_steps=num_steps,
        record_steps=record_steps,
    )
    preds = out["preds"].to(torch.int32).cpu().numpy()
    q_halt = out["q_halt_logits"].float().cpu().numpy()
    if not record_steps:
        return preds, q_halt
    step_tokens = out["step_preds"].cpu().numpy()
    step_q = out["step_q_halt_logits"].float().cpu().numpy()
    return preds, q_halt, step_tokens, step_q


@dataclass(frozen=True)
class BatchLoop:
    """How rows are run through the model."""

    model: Any
    device: str
    batch_size: int
    compile: bool = False
    num_steps: int | None = None  # ACT steps (None: the model's halt_max_steps)
    step_count: int = 0  # ACT steps recorded per row (0: no per-step fields)
    step_fields: StepFields | None = None  # hashes the recorded steps (with step_count)

    def run(
        self,
        inputs: np.ndarray,
        model_ids: np.ndarray,
        start: int,
        end: int,
        on_rows: Callable[[int], None] | None = None,
    ) -> Answers:
        """Answers for rows [start, end) of `inputs`, fed `model_ids`; `on_rows(n)` after each
        batch of n rows. Call under torch.inference_mode()."""
        seq_len = inputs.shape[1]
        out = Answers(
            preds=np.empty((end - start, seq_len), dtype=np.int32),
            q_halt_logits=np.empty((end - start,), dtype=np.float32),
            steps=empty_steps(end - start, self.step_count) if self.step_fields else {},
        )
        for b in range(start, end, self.batch_size):
            be = min(b + self.batch_size, end)
            got = predict_batch(
                self.model,
                inputs[b:be],
                model_ids[b:be],
                self.device,
                self.compile,
                num_steps=self.num_steps,
                record_steps=self.step_fields is not None,
            )
            rows = slice(b - start, be - start)
            out.preds[rows], out.q_halt_logits[rows] = got[0], got[1]
            if self.step_fields is not None:
                for name, arr in self.step_fields(b, got[2], got[3]).items():
                    out.steps[name][rows] = arr
            if on_rows is not None:
                on_rows(be - b)
        return out
