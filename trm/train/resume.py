"""What a Trainer saves to RUN/state.pt and how `--resume` puts it back (trm.train.state writes
and reads the file).

The full state: model, both optimizers, the EMA shadow, the step, the data position, the EMA's
final pass and, per rank, the ACT carry and the RNG states. Restoring it continues the run as
if it had never stopped; a run resumed with another number of processes restarts the per-rank
carries and RNG streams (they cannot be mapped), and says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from omegaconf import OmegaConf

from trm.errors import InputError
from trm.train import ddp
from trm.train.ema import EMA
from trm.train.run_files import METRICS_FILE, truncate_metrics
from trm.train.state import (
    STATE_FILE,
    capture_rng_state,
    load_state,
    restore_rng_state,
    to_cpu,
    to_device,
)

if TYPE_CHECKING:
    from trm.train.loop import Trainer

# The per-rank batch and the compute dtype may change on resume (other GPU count, CPU -> GPU).
FREE_ON_RESUME = frozenset({"batch_size", "forward_dtype"})


def full_state(tr: Trainer) -> dict[str, Any]:
    """The state rank 0 saves (other ranks return {} after sending their carry and RNG)."""
    per_rank = {"carry": to_cpu(tr.carry), "rng": capture_rng_state()}
    gathered = ddp.gather_objects(per_rank, tr.dist)
    if not tr.dist.is_main:
        return {}
    return {
        "step": tr.step,
        "total_steps": tr.total_steps,
        "world_size": tr.dist.world_size,
        "arch": tr.arch,
        "config": OmegaConf.to_container(tr.cfg, resolve=True),
        "model": {k: v.detach().cpu() for k, v in tr.model.state_dict().items()},
        "optimizers": {
            "adam": None if tr.adam is None else to_cpu(tr.adam.state_dict()),
            "puzzle_emb": None if tr.emb_opt is None else to_cpu(tr.emb_opt.state_dict()),
        },
        "ema": None if tr.ema is None else to_cpu(tr.ema.state_dict()),
        "data": tr.sampler.state_dict(),
        "ema_final_batches": tr.ema_final_batches,
        "ranks": gathered,
    }


def _check_same_model(tr: Trainer, saved_arch: dict[str, Any]) -> None:
    diff = sorted(
        k
        for k in (set(saved_arch) | set(tr.arch)) - FREE_ON_RESUME
        if saved_arch.get(k) != tr.arch.get(k)
    )
    if diff:
        where = tr.run_dir / STATE_FILE
        raise InputError(f"{where}: the model configuration differs from the saved run in {diff}")


def restore_state(tr: Trainer) -> None:
    """Load RUN/state.pt into `tr` (model, optimizers, EMA, step, data position, carry, RNG)."""
    state = load_state(tr.run_dir)
    _check_same_model(tr, state["arch"])
    tr.model.load_state_dict({k: v.to(tr.device) for k, v in state["model"].items()})
    if tr.adam is not None and state["optimizers"]["adam"] is not None:
        tr.adam.load_state_dict(state["optimizers"]["adam"])
    if tr.emb_opt is not None and state["optimizers"]["puzzle_emb"] is not None:
        tr.emb_opt.load_state_dict(state["optimizers"]["puzzle_emb"])
    if tr.ema is not None:
        if state["ema"] is None:
            tr.ema = EMA(tr.model, float(tr.t.ema_rate))  # EMA switched on at resume
        else:
            tr.ema.load_state_dict(to_device(state["ema"], tr.device))
    tr.step = int(state["step"])
    tr.ema_final_batches = state.get("ema_final_batches")
    _restore_data_position(tr, state["data"])
    _restore_rank_streams(tr, state)
    if tr.dist.is_main:
        truncate_metrics(tr.run_dir / METRICS_FILE, tr.step)


def _restore_data_position(tr: Trainer, data: dict[str, Any]) -> None:
    saved_order = data.get("example_order")  # None: written before the option
    switch = str(tr.t.get("example_order", "auto")) == "auto"
    tr.sampler.load_state_dict(data, switch_example_order=switch)
    if saved_order and saved_order != tr.sampler.example_order and tr.dist.is_main:
        print(
            f"trm train: the saved run drew examples in the {saved_order} order; continuing "
            f"in the {tr.sampler.example_order} order (train.example_order=auto with "
            f"{tr.dist.world_size} process(es)), from a fresh example stream"
        )
    tr.example_order = tr.sampler.example_order


def _restore_rank_streams(tr: Trainer, state: dict[str, Any]) -> None:
    ranks = state.get("ranks") or []
    if int(state["world_size"]) == tr.dist.world_size and len(ranks) == tr.dist.world_size:
        mine = ranks[tr.dist.rank]
        tr.carry = to_device(mine["carry"], tr.device)
        restore_rng_state(mine["rng"])
        return
    # Another world size: per-rank carries and RNG streams cannot be mapped; start fresh ones.
    if tr.dist.is_main:
        print(
            f"trm train: resuming with {tr.dist.world_size} process(es) from a "
            f"{state['world_size']}-process state: ACT carries and RNG streams restart"
        )
    torch.manual_seed(int(tr.t.seed) + tr.dist.rank + tr.step)
