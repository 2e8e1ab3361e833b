"""The reference's training loop on CPU, as an oracle for tests/test_train_reference.py.

Run as a script in a subprocess (the reference's top-level packages `models`, `utils`, `dataset`
must not leak into the test process):

    python tests/reference_train_oracle.py REF_DIR SPEC.json OUT.pt

It imports the reference's own pretrain.py and runs its pieces unchanged: create_dataloader (a
real DataLoader with one worker process), init_train_state/create_model, train_batch,
EMAHelper and the launch loop's order of calls. What the CPU-only test machine lacks is
replaced by small shims, each named below:

- `einops`: only `rearrange` for the two patterns models/layers.py uses (a transpose).
- `argdantic`, `wandb`, `coolname`: imported by the reference at module level, never called here.
- `adam_atan2`: `KernelAdamATan2`, a port of the fused CUDA kernel (csrc/adam_atan2.cu of
  imoneoi/adam-atan2) written for this test: float32 opmath, its two-FMA lerp, the contracted
  final FMA. Exact FMAs are computed by round-to-odd in float64 (Boldo and Melquiond) on
  every element, written separately from the library's (which rounds to odd only where
  rounding twice can differ), so the two implementations check each other.
- CUDA: `torch.device("cuda")` inside pretrain.py means the CPU, `Tensor.cuda()` is a no-op.
  On a GPU the reference's CPU generator is untouched until the DataLoader draws its base seed;
  the loop below reproduces that by drawing it from a freshly seeded CPU generator.
"""

from __future__ import annotations

import json
import math
import os
import sys
import types
from pathlib import Path

import torch


# ---- the kernel-faithful AdamATan2 (the oracle side; not the library's) ----------------------
def _fma_round_to_odd(a: torch.Tensor | float, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """float32 fma(a, b, c): exact product, float64 sum rounded to odd, then to float32."""
    prod = b.double() * (a.double() if isinstance(a, torch.Tensor) else a)
    c = c.double()
    s = prod + c
    # Knuth's TwoSum: s + err == prod + c exactly
    bv = s - prod
    err = (prod - (s - bv)) + (c - bv)
    bits = s.view(torch.int64)
    # Round to odd: an inexact sum with an even last bit moves to its odd neighbour toward err.
    inexact_even = (err != 0) & ((bits & 1) == 0) & torch.isfinite(s)
    toward_larger_magnitude = (err > 0) == (s > 0)
    step = torch.where(toward_larger_magnitude, 1, -1).to(torch.int64)
    bits = torch.where(inexact_even, bits + step, bits)
    return bits.view(torch.float64).float()


class KernelAdamATan2(torch.optim.Optimizer):
    """adam_atan2.AdamATan2 as its CUDA kernel computes it, for float32 parameters on CPU."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-2):  # noqa: ANN001
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self) -> None:  # type: ignore[override]
        def f32(x: float) -> float:
            return float(torch.tensor(x, dtype=torch.float32))

        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                # host-side scalars: double, then static_cast to the float32 opmath type
                step_size = f32(lr / (1 - beta1**t))
                wd_alpha = f32(1 - lr * wd)
                bc2_sqrt = torch.tensor(f32(math.sqrt(1 - beta2**t)), dtype=torch.float32)
                mbeta1, mbeta2 = f32(1 - beta1), f32(1 - beta2)
                g = p.grad
                m, v = state["exp_avg"], state["exp_avg_sq"]
                param = p * torch.tensor(wd_alpha, dtype=torch.float32)
                m_new = _fma_round_to_odd(mbeta1, g, _fma_round_to_odd(-mbeta1, m, m))
                v_new = _fma_round_to_odd(mbeta2, g * g, _fma_round_to_odd(-mbeta2, v, v))
                denom = torch.sqrt(v_new) / bc2_sqrt
                param = _fma_round_to_odd(-step_size, torch.atan2(m_new, denom), param)
                p.copy_(param)
                m.copy_(m_new)
                v.copy_(v_new)


# ---- shims for what the CPU test machine lacks ------------------------------------------------
def _install_shims() -> None:
    def rearrange(t: torch.Tensor, pattern: str) -> torch.Tensor:
        if pattern not in ("B S H D -> B H S D", "B H S D -> B S H D"):
            raise NotImplementedError(f"einops shim: pattern {pattern!r}")
        return t.transpose(1, 2)

    shims = {
        "einops": {"rearrange": rearrange},
        "argdantic": {"ArgParser": type("ArgParser", (), {})},
        "wandb": {},
        "coolname": {"generate_slug": lambda n=2: "oracle-run"},
        "adam_atan2": {"AdamATan2": KernelAdamATan2},
    }
    for name, attrs in shims.items():
        try:
            if name in ("adam_atan2", "argdantic", "wandb", "coolname"):
                raise ImportError  # always the shim: the oracle must not depend on them
            __import__(name)
        except ImportError:
            mod = types.ModuleType(name)
            for k, v in attrs.items():
                setattr(mod, k, v)
            sys.modules[name] = mod


class _CpuTorch(types.ModuleType):
    """pretrain.py's `torch`, with `torch.device(...)` always the CPU."""

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(torch, name)

    @staticmethod
    def device(*_args, **_kwargs) -> torch.device:  # noqa: ANN002, ANN003
        return torch.device("cpu")


def main(ref_dir: str, spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(1)
    os.environ["DISABLE_COMPILE"] = "1"
    _install_shims()
    sys.path.insert(0, ref_dir)
    import pretrain  # the reference's
    from models.ema import EMAHelper

    pretrain.torch = _CpuTorch("torch")
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]

    config = pretrain.PretrainConfig(**spec["config"])
    rank, world_size = 0, 1
    # launch(): seed, loaders, train state, EMA (the eval loader is not needed here)
    torch.random.manual_seed(config.seed + rank)
    epochs_per_iter = config.eval_interval or config.epochs
    total_iters = config.epochs // epochs_per_iter
    train_loader, train_metadata = pretrain.create_dataloader(
        config,
        "train",
        test_set_mode=False,
        epochs_per_iter=epochs_per_iter,
        global_batch_size=config.global_batch_size,
        rank=rank,
        world_size=world_size,
    )
    record = int(spec.get("record_batches", 0))
    train = bool(spec.get("train", True))
    train_state, ema_helper, initial = None, None, None
    if train:
        train_state = pretrain.init_train_state(
            config, train_metadata, rank=rank, world_size=world_size
        )
        if spec.get("max_steps") is not None:  # the test's shortened schedule
            train_state.total_steps = min(train_state.total_steps, int(spec["max_steps"]))
        if config.ema:
            ema_helper = EMAHelper(mu=config.ema_rate)
            ema_helper.register(train_state.model)
        initial = {k: v.detach().clone() for k, v in train_state.model.state_dict().items()}

    # The base seed from a fresh CPU generator, as on a GPU (model init used the CUDA one there).
    saved = torch.get_rng_state()
    torch.random.manual_seed(config.seed + rank)
    first_pass = iter(train_loader)
    torch.set_rng_state(saved)

    batches: list[dict[str, torch.Tensor]] = []
    for iter_id in range(total_iters):
        if train_state is not None:
            train_state.model.train()
        for _set_name, batch, global_batch_size in first_pass if iter_id == 0 else train_loader:
            if len(batches) < record:
                batches.append({k: v.clone() for k, v in batch.items()})
            if train_state is None:
                if len(batches) >= record:
                    break
                continue
            pretrain.train_batch(
                config, train_state, batch, global_batch_size, rank=rank, world_size=world_size
            )
            if ema_helper is not None:
                ema_helper.update(train_state.model)
        if train_state is None and len(batches) >= record:
            break

    out: dict = {"batches": batches}
    if train_state is not None:
        out["initial"] = initial
        out["batch_count"] = train_state.step
        out["raw"] = {k: v.detach().clone() for k, v in train_state.model.state_dict().items()}
        if ema_helper is not None:
            out["ema"] = ema_helper.ema_copy(train_state.model).state_dict()
    torch.save(out, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:4])
