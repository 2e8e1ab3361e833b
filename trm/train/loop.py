"""The training loop: reference semantics on CPU, one GPU, or torchrun DDP.

Per step (as the reference's train_batch): draw the rank's slice of the global batch, run one
train-mode ACT step from the carry kept across batches (halted rows take the new batch's data;
unhalted rows keep thinking about their old puzzle), scale the summed loss by 1 / global batch,
backpropagate, all-reduce dense gradients, set both optimizers' learning rates from the
schedule, step them, update the EMA, and log the reduced metrics.

After the last step the EMA keeps being updated once per batch left in the planned epochs, as
in the reference's loop (its train_batch returns at once past total_steps, its EMA update does
not); `train.ema_final_pass=false` stops at the last step instead.

`train.init_from` starts from given weights (a step_N file, a run folder or a fetched
checkpoint, reference key layouts accepted); `train.freeze` keeps chosen tensors fixed.

Run folder: config.yaml (resolved config), all_config.yaml (reference-style arch + hyper-
parameters), metrics.jsonl, state.pt (full state, for --resume), step_N (weights; EMA weights
when EMA is on) and final.json naming the final weights file.

Around the loop: which tensors train (trm.train.params), the run folder's files
(trm.train.run_files), the full state saved and restored (trm.train.resume), the schedule
(trm.train.schedule).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from trm.errors import InputError, UserError
from trm.model.build import build_model, train_model_config
from trm.train import ddp
from trm.train.data import PuzzleBatchSampler
from trm.train.ema import EMA
from trm.train.finite import check_losses, check_weights, nonfinite_count
from trm.train.optim import SparseEmbeddingSignSGD, make_adam_atan2
from trm.train.params import dense_parameters, frozen_tensors, weights_state_dict
from trm.train.resume import full_state, restore_state
from trm.train.run_files import (
    METRICS_FILE,
    init_wandb,
    write_final,
    write_metrics_line,
    write_run_configs,
)
from trm.train.schedule import cosine_with_warmup, total_train_steps
from trm.train.state import StopFlag, save_state
from trm.utils import resolve_device

SIGNAL_EXIT_CODE = 143  # 128 + SIGTERM: the job was stopped, its state saved
NONFINITE_WEIGHTS = "nonfinite_weights"  # dense tensors not finite after a step (not logged)
PathLike = str | os.PathLike


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    finished: bool  # reached total_steps (final weights written)
    stopped_by_signal: int | None = None
    final_weights: Path | None = None

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_CODE if self.stopped_by_signal is not None else 0


class Trainer:
    """Holds one rank's training state; `run()` trains until done, stopped, or signalled."""

    def __init__(
        self, cfg: DictConfig, data_dir: PathLike, run_dir: PathLike, resume: bool, progress: bool
    ) -> None:
        self.cfg = cfg
        self.t = cfg.train
        self.data_dir = Path(data_dir)
        self.run_dir = Path(run_dir)
        self.progress = progress

        device_str = resolve_device(str(cfg.get("device", "auto")))
        self.dist = ddp.init_distributed("cuda" if device_str.startswith("cuda") else "cpu")
        if device_str == "cuda" and self.dist.enabled:
            device_str = f"cuda:{self.dist.local_rank}"
        self.device = torch.device(device_str)
        # Optional intra-op thread cap on CPU. Tiny models run many small ops: with two threads a
        # step waits whenever another process holds a core (about 2x slower on a busy 2-core
        # machine), so one thread gives a predictable step time on shared machines.
        cpu_threads = self.t.get("cpu_threads")
        if cpu_threads is not None and self.device.type == "cpu":
            torch.set_num_threads(int(cpu_threads))

        # Different per-rank seeds (as the reference); weights are then broadcast from rank 0.
        seed = int(self.t.seed)
        torch.manual_seed(seed + self.dist.rank)

        self.global_batch_size = int(self.t.global_batch_size)
        self.example_order = self._example_order()
        self.sampler = PuzzleBatchSampler(
            self.data_dir,
            global_batch_size=self.global_batch_size,
            seed=seed,
            epochs_per_iter=int(self.t.epochs_per_iter),
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            example_order=self.example_order,
        )
        meta = self.sampler.metadata
        self.total_iters = int(self.t.epochs) // int(self.t.epochs_per_iter)
        self.total_steps = total_train_steps(
            int(self.t.epochs), meta.total_groups, meta.mean_puzzle_examples, self.global_batch_size
        )
        if self.t.get("max_steps") is not None:
            self.total_steps = min(self.total_steps, int(self.t.max_steps))
        if self.total_steps <= 0:
            raise InputError(
                f"training would take 0 steps: {self.t.epochs} epoch(s) of {meta.total_groups} groups x "
                f"{meta.mean_puzzle_examples} examples < one global batch of {self.global_batch_size}"
            )

        self.arch = train_model_config(
            cfg.model, meta, self.sampler.local_batch_size, self.device.type
        )
        self.loss_type = str(cfg.model.get("loss_type", "stablemax_cross_entropy"))
        # Built on the training device, as the reference: on a GPU the initial weights (and then
        # the halting-exploration draws) come from that device's generator. CPU runs unchanged.
        with torch.device(self.device):
            self.model: nn.Module = build_model(dict(self.arch))
        self.model.to(self.device)
        if self.t.get("init_from") and not resume:  # a resumed run has its weights in state.pt
            self._init_from(str(self.t.init_from))
        if self.dist.enabled:
            ddp.broadcast_module(self.model)
        self.model.train()

        self.frozen, freeze_emb = frozen_tensors(self.model, self.t.get("freeze"))
        for name, p in self.model.named_parameters():
            if name in self.frozen:
                p.requires_grad_(False)  # no gradient, no optimizer state, no EMA shadow
        self.dense_params = dense_parameters(self.model)
        has_emb = int(self.arch.get("puzzle_emb_ndim", 0)) > 0
        if not self.dense_params and (freeze_emb or not has_emb):
            raise UserError(f"train.freeze={self.t.get('freeze')} leaves nothing to train")
        self.adam: torch.optim.Optimizer | None = None
        if self.dense_params:
            self.adam = make_adam_atan2(
                self.dense_params,
                lr=0.0,  # set from the schedule every step
                betas=(float(self.t.beta1), float(self.t.beta2)),
                weight_decay=float(self.t.weight_decay),
            )
        self.optimizers: list[tuple[torch.optim.Optimizer, float]] = []
        self.emb_opt: SparseEmbeddingSignSGD | None = None
        if has_emb and not freeze_emb:
            self.emb_opt = SparseEmbeddingSignSGD(
                self.model.puzzle_emb,
                lr=0.0,
                weight_decay=float(self.t.puzzle_emb_weight_decay),
                world_size=self.dist.world_size,
            )
            self.optimizers.append((self.emb_opt, float(self.t.puzzle_emb_lr)))
        if self.adam is not None:
            self.optimizers.append((self.adam, float(self.t.lr)))

        self.ema = EMA(self.model, float(self.t.ema_rate)) if bool(self.t.ema) else None
        self.step = 0
        self.carry: Any = None
        self.data_done = False
        self.ema_final_batches: int | None = None  # batches of the EMA's final pass, once done
        self.resumed = resume
        if resume:
            restore_state(self)
        self.stop = StopFlag()

    def _example_order(self) -> str:
        """train.example_order: `auto` is the reference's order on one process."""
        order = str(self.t.get("example_order", "auto"))
        if order == "auto":
            return "reference" if self.dist.world_size == 1 else "per_iteration"
        if order == "reference" and self.dist.world_size > 1:
            raise UserError(
                "train.example_order=reference needs a single process (the reference's ranks "
                "draw different orders for the same batch); use per_iteration or auto"
            )
        if order != "per_iteration" and order != "reference":
            raise UserError(
                f"train.example_order must be auto, reference or per_iteration, got {order!r}"
            )
        return order

    def _init_from(self, source: str) -> None:
        """Load the starting weights (reference layouts and prefixes accepted)."""
        from trm.model.checkpoint import load_weights, resolve_checkpoint

        resize = bool(self.t.get("init_resize_puzzle_emb", False))
        try:
            weights, _ = resolve_checkpoint(source)
            report = load_weights(self.model, weights, strict=True, resize_puzzle_emb=resize)
        except (FileNotFoundError, ValueError) as e:
            hint = "" if resize else " (train.init_resize_puzzle_emb=true resizes the puzzle table)"
            raise UserError(f"train.init_from: {e}{hint if 'puzzle' in str(e) else ''}") from e
        if self.dist.is_main:
            resized = (
                f"; puzzle embedding resized {report.puzzle_emb_old_rows} -> "
                f"{report.puzzle_emb_new_rows} rows (mean row)"
                if report.puzzle_emb_resized
                else ""
            )
            print(f"trm train: initial weights from {weights} ({report.num_keys} tensors{resized})")

    # ---- state ---------------------------------------------------------------------------
    def _check_weights(self) -> None:
        """Every tensor about to be saved (weights, puzzle embeddings, EMA) must be finite."""
        named = list(self.model.state_dict().items())
        if self.ema is not None:
            named += [(f"ema.{k}", v) for k, v in self.ema.shadow.items()]
        check_weights(self.step, named)

    def save(self) -> None:
        self._check_weights()
        state = full_state(self)
        if self.dist.is_main:
            save_state(self.run_dir, state)
            if bool(self.t.get("keep_step_weights", False)):
                self._write_weights()
        ddp.barrier(self.dist)

    def _write_weights(self) -> Path:
        model = self.ema.ema_copy(self.model) if self.ema is not None else self.model
        path = self.run_dir / f"step_{self.step}"
        from trm.utils import atomic_path

        with atomic_path(path) as tmp:
            torch.save(weights_state_dict(model), tmp)
        return path

    def _write_configs(self) -> None:
        extra = {"world_size": self.dist.world_size, "total_steps": self.total_steps}
        write_run_configs(self.run_dir, self.cfg, self.arch, self.loss_type, self.data_dir, extra)

    # ---- one step --------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        from trm.train.loss import loss_step

        self.step += 1
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.carry is None:
            self.carry = self.model.initial_carry(batch)
        loss, metrics, self.carry = loss_step(
            self.model, batch, carry=self.carry, loss_type=self.loss_type
        )
        metrics = {**metrics, "loss": loss.detach()}
        ((1.0 / self.global_batch_size) * loss).backward()
        if self.dist.enabled:
            ddp.all_reduce_gradients(self.dense_params)

        lr_now = 0.0
        for opt, base_lr in self.optimizers:
            lr_now = cosine_with_warmup(
                self.step,
                base_lr=base_lr,
                warmup_steps=round(float(self.t.lr_warmup_steps)),
                total_steps=self.total_steps,
                min_ratio=float(self.t.lr_min_ratio),
            )
            for group in opt.param_groups:
                group["lr"] = lr_now
            opt.step()
            opt.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)
        # read-only, synchronised with the metrics below: the step stops the run when not finite
        metrics[NONFINITE_WEIGHTS] = nonfinite_count(self.dense_params)
        return self._reduce_metrics(metrics, lr_dense=lr_now)

    def _reduce_metrics(self, metrics: dict[str, Any], lr_dense: float) -> dict[str, float]:
        keys = sorted(metrics)
        values = torch.stack(
            [torch.as_tensor(metrics[k], device=self.device).detach().float() for k in keys]
        )
        if self.dist.enabled:
            import torch.distributed as dist

            dist.all_reduce(values)
        vals = dict(zip(keys, values.cpu().tolist(), strict=True))
        count = max(vals.get("count", 0.0), 1.0)
        out: dict[str, float] = {"step": self.step, "lr": lr_dense}
        # Losses are sums over the batch: per example. The rest are sums over halted sequences.
        for k, v in vals.items():
            if k in ("count", NONFINITE_WEIGHTS):
                out[k] = v
            elif k.endswith("loss"):
                out[k] = v / self.global_batch_size
            else:
                out[k] = v / count
        return out

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        main = self.dist.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._write_configs()
        wandb_run = init_wandb(self.cfg, self.data_dir) if main else None
        self.stop.install()
        bar = None
        if main and self.progress:
            from trm.progress import progress as progress_bar

            bar = progress_bar(
                total=self.total_steps,
                initial=self.step,
                desc="train",
                unit="step",
                dynamic_ncols=True,
            )
        # A fresh run starts a fresh log; a resumed one appends after the truncated lines.
        metrics_f = (
            open(self.run_dir / METRICS_FILE, "a" if self.resumed else "w") if main else None
        )
        log_every = max(1, int(self.t.get("log_every", 1)))
        ckpt_every = int(self.t.checkpoint_every or 0)
        stop_after = self.t.get("stop_after_steps")
        signalled: int | None = None
        try:
            batches = iter(self.sampler)
            t_last, n_since = time.perf_counter(), 0
            while self.step < self.total_steps and not self.data_done:
                tb = next(batches)
                if tb.iteration > self.total_iters:  # every epoch consumed before the step estimate
                    self.data_done = True
                    break
                m = self.train_step(tb.batch)
                self._check_step(m)
                n_since += tb.global_effective_size
                if main and (self.step % log_every == 0 or self.step == self.total_steps):
                    now = time.perf_counter()
                    m["examples_per_s"] = n_since / max(now - t_last, 1e-9)
                    t_last, n_since = now, 0
                    m["epoch"] = self._epoch_estimate()
                    assert metrics_f is not None
                    write_metrics_line(metrics_f, m)
                    if wandb_run is not None:
                        wandb_run.log(
                            {f"train/{k}": v for k, v in m.items() if k != "step"}, step=self.step
                        )
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(
                        loss=f"{m.get('loss', float('nan')):.3f}",
                        exact=f"{m.get('exact_accuracy', 0.0):.3f}",
                        refresh=False,
                    )
                done = self.step >= self.total_steps or self._data_exhausted()
                if not done and ckpt_every > 0 and self.step % ckpt_every == 0:
                    self.save()
                if ddp.any_rank(self.stop.set, self.dist):
                    signalled = self.stop.signum or 15
                    break
                # == rather than >=: resuming a run stopped here continues past it
                if stop_after is not None and self.step == int(stop_after) and not done:
                    break
        except BaseException:
            self.stop.uninstall()
            raise
        finally:
            if metrics_f is not None:
                metrics_f.close()
            if bar is not None:
                bar.close()

        # Still handling SIGTERM here: a signal during the final save is only recorded.
        try:
            finished = self.step >= self.total_steps or self.data_done or self._data_exhausted()
            if finished and signalled is None:
                self._ema_final_pass()
            self.save()
            final = None
            if finished and main:
                final = self._write_weights()
                write_final(
                    self.run_dir,
                    {
                        "step": self.step,
                        "weights": final.name,
                        "ema": self.ema is not None,
                        "ema_final_batches": self.ema_final_batches,
                        "total_steps": self.total_steps,
                    },
                )
        finally:
            self.stop.uninstall()
        if wandb_run is not None:
            wandb_run.finish()
        ddp.barrier(self.dist)
        return TrainResult(self.run_dir, self.step, self.total_steps, finished, signalled, final)

    def _check_step(self, m: dict[str, float]) -> None:
        """Stop at the first step whose loss or dense weights are not finite (every rank sees
        the same reduced values, so all stop together); nothing of that step is written."""
        check_losses(self.step, {k: v for k, v in m.items() if k.endswith("loss")})
        if m.pop(NONFINITE_WEIGHTS, 0.0):
            self._check_weights()  # names the tensor
            raise AssertionError("non-finite dense weights were counted but not found")

    def _ema_final_pass(self) -> None:
        """Update the EMA once per batch left in the planned epochs (the reference's loop)."""
        if self.ema is None or self.ema_final_batches is not None:
            return
        if not bool(self.t.get("ema_final_pass", True)) or self.data_done:
            self.ema_final_batches = 0
            return
        n = 0
        if not self._data_exhausted():
            # The weights no longer change; only the number of batches matters, so none is read.
            for tb in self.sampler.batches(collate=False):
                if tb.iteration > self.total_iters:
                    break
                self.ema.update(self.model)
                n += 1
        self.ema_final_batches = n
        if self.dist.is_main and n:
            print(
                f"trm train: EMA updated for the {n} batch(es) left in the planned epochs after "
                f"the last step, as the reference (train.ema_final_pass)"
            )

    def _data_exhausted(self) -> bool:
        # The last iteration's order is used up (the step estimate can exceed the batch count).
        return self.sampler.iteration >= self.total_iters and self.sampler.exhausted

    def _epoch_estimate(self) -> float:
        meta = self.sampler.metadata
        per_epoch = max(
            meta.total_groups * meta.mean_puzzle_examples / self.global_batch_size, 1e-9
        )
        return self.step / per_epoch


def train(
    cfg: DictConfig,
    data_dir: PathLike,
    run_dir: PathLike,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train (or continue training) a TRM on the dataset in `data_dir`, writing `run_dir`."""
    trainer = Trainer(cfg, data_dir, run_dir, resume=resume, progress=progress)
    try:
        return trainer.run()
    finally:
        ddp.shutdown_distributed()
