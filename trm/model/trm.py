"""The Tiny Recursive Model (TRM) with adaptive computation time (ACT), in one file.

Follows the reference `models/recursive_reasoning/trm.py` (TinyRecursiveReasoningModel_ACTV1)
so that its checkpoints load (same state-dict names, minus the `model.inner.` prefix) and give
the same outputs. Names: the answer state `y` is `z_H`, the latent `z` is `z_L` (as in the
reference code).

    x = embed(inputs) (with the puzzle embedding prepended)
    repeat H_cycles times (gradients only through the last repetition):
        repeat L_cycles times: z_L = net(z_L, z_H + x)
        z_H = net(z_H, z_L)
    logits = lm_head(z_H)[puzzle positions dropped];  (q_halt, q_continue) = q_head(z_H[:, 0])

`net(h, inj)` adds `inj` to `h` and runs `L_layers` post-norm blocks. ACT runs this up to
`halt_max_steps` times, carrying (z_H, z_L) detached between steps.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import torch
import torch.nn.functional as F
from torch import nn

from trm.errors import InputError
from trm.model.layers import (
    Attention,
    CastedEmbedding,
    CastedLinear,
    CosSin,
    RotaryEmbedding,
    SwiGLU,
    add_rms_norm,
    trunc_normal_init_,
)
from trm.model.sparse_embedding import CastedSparseEmbedding

IGNORE_LABEL_ID = -100
POS_ENCODINGS = ("rope", "learned", "none")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class TRMConfig:
    """Model configuration with the reference's keys. Defaults: the paper's ARC model."""

    batch_size: int = 768
    seq_len: int = 900
    puzzle_emb_ndim: int = 512
    num_puzzle_identifiers: int = 1
    vocab_size: int = 12
    H_cycles: int = 3
    L_cycles: int = 4
    H_layers: int = 0  # ignored, as in the reference
    L_layers: int = 2
    hidden_size: int = 512
    expansion: float = 4.0
    num_heads: int = 8
    pos_encodings: str = "rope"
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    forward_dtype: str = "bfloat16"
    mlp_t: bool = False
    puzzle_emb_len: int = 16
    no_ACT_continue: bool = True

    # Other architectures reuse this config (trm.model.hrm, ...): keys their reference config
    # does not have are dropped by from_dict (the reference ignores them too), and their
    # attention allows hidden_size % num_heads != 0 (head_dim = hidden // heads, as the
    # reference computes it).
    REFERENCE_IGNORED_KEYS: ClassVar[tuple[str, ...]] = ()
    HEADS_MUST_DIVIDE_HIDDEN: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if isinstance(self.forward_dtype, torch.dtype):
            self.forward_dtype = str(self.forward_dtype).removeprefix("torch.")
        if self.forward_dtype not in _DTYPES:
            raise InputError(
                f"forward_dtype: {self.forward_dtype!r} is not one of {sorted(_DTYPES)}"
            )
        if self.pos_encodings not in POS_ENCODINGS:
            raise InputError(
                f"pos_encodings: {self.pos_encodings!r} is not one of {list(POS_ENCODINGS)}"
            )
        for name in ("seq_len", "vocab_size", "H_cycles", "L_cycles", "hidden_size", "num_heads"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.halt_max_steps < 1:
            raise InputError(f"halt_max_steps must be >= 1, got {self.halt_max_steps}")
        if self.HEADS_MUST_DIVIDE_HIDDEN and self.hidden_size % self.num_heads:
            raise InputError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}"
            )
        if self.puzzle_emb_ndim < 0 or self.puzzle_emb_len < 0:
            raise InputError("puzzle_emb_ndim and puzzle_emb_len must be >= 0")
        if self.puzzle_emb_ndim == 0 and self.puzzle_emb_len > 0:
            # The reference would build a carry longer than its input and crash.
            raise InputError(
                f"puzzle_emb_len {self.puzzle_emb_len} needs puzzle_emb_ndim > 0 "
                "(set puzzle_emb_len: 0 to use no puzzle embedding)"
            )
        if self.puzzle_emb_ndim > self.prefix_len * self.hidden_size:
            raise InputError(
                f"puzzle_emb_ndim {self.puzzle_emb_ndim} does not fit in puzzle_emb_len "
                f"{self.puzzle_emb_len} positions of hidden_size {self.hidden_size}"
            )

    @property
    def prefix_len(self) -> int:
        """Positions prepended for the puzzle embedding (0 in the config means ceil(D / hidden))."""
        if self.puzzle_emb_len == 0:
            return -(self.puzzle_emb_ndim // -self.hidden_size)
        return self.puzzle_emb_len

    @property
    def total_len(self) -> int:
        return self.seq_len + self.prefix_len

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self.forward_dtype]

    @classmethod
    def from_dict(cls, cfg: Any) -> Self:
        """Build from a reference config mapping; unknown keys (`name`, `loss`, ...) are ignored."""
        cfg = {k: v for k, v in dict(cfg).items() if k not in cls.REFERENCE_IGNORED_KEYS}
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in cfg:
                continue
            value = cfg[f.name]
            typ = f.type if isinstance(f.type, str) else f.type.__name__
            try:
                if typ == "int":
                    if float(value) != int(value):
                        raise ValueError
                    value = int(value)
                elif typ == "float":
                    value = float(value)
                elif typ == "bool":
                    if not isinstance(value, bool):
                        raise ValueError
                elif typ == "str" and not isinstance(value, (str, torch.dtype)):
                    raise ValueError
            except (TypeError, ValueError):
                raise InputError(
                    f"model config key {f.name!r}: expected {typ}, got {value!r}"
                ) from None
            kwargs[f.name] = value
        return cls(**kwargs)


@dataclass
class TRMInnerCarry:
    """The recursion state: `z_H` is the answer y, `z_L` the latent z; [B, total_len, hidden]."""

    z_H: torch.Tensor
    z_L: torch.Tensor

    @property
    def y(self) -> torch.Tensor:
        return self.z_H

    @property
    def z(self) -> torch.Tensor:
        return self.z_L


def carry_states(carry: Any) -> tuple[torch.Tensor, ...]:
    """The state tensors of an inner carry dataclass, in field order (no copies)."""
    return tuple(getattr(carry, f.name) for f in dataclasses.fields(carry))


@dataclass
class TRMCarry:
    """ACT state between steps (the reference's TinyRecursiveReasoningModel_ACTV1Carry)."""

    inner_carry: Any  # TRMInnerCarry, or the inner carry of another architecture
    steps: torch.Tensor  # int32 [B]: ACT steps taken by the sequence in its slot
    halted: torch.Tensor  # bool [B]: slot is done; the next step loads a new example into it
    current_data: dict[str, torch.Tensor] = field(default_factory=dict)


class TRMBlock(nn.Module):
    """Post-norm block: token mixing (attention or MLP over positions), then a SwiGLU."""

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.use_mlp_t = config.mlp_t
        if config.mlp_t:
            self.mlp_t = SwiGLU(config.total_len, config.expansion)
        else:
            self.self_attn = Attention(
                config.hidden_size, config.num_heads, config.hidden_size // config.num_heads
            )
        self.mlp = SwiGLU(config.hidden_size, config.expansion)
        self.eps = config.rms_norm_eps

    def forward(self, h: torch.Tensor, cos_sin: CosSin | None) -> torch.Tensor:
        if self.use_mlp_t:
            # Mix across positions; the norm is over the position axis, as in the reference.
            t = h.transpose(1, 2)
            h = add_rms_norm(t, self.mlp_t(t), self.eps).transpose(1, 2)
        else:
            h = add_rms_norm(h, self.self_attn(h, cos_sin), self.eps)
        return add_rms_norm(h, self.mlp(h), self.eps)


class TRMReasoningModule(nn.Module):
    """The single tiny network `net(h, injection)` shared by the z and y updates.

    `net(h, injection)` runs the blocks on `h + injection`; `net(h, None)` on `h` alone.
    """

    def __init__(self, layers: list[TRMBlock]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(
        self, h: torch.Tensor, injection: torch.Tensor | None, cos_sin: CosSin | None
    ) -> torch.Tensor:
        if injection is not None:
            h = h + injection
        for layer in self.layers:
            h = layer(h, cos_sin)
        return h


class TRM(nn.Module):
    """Tiny Recursive Model with its ACT wrapper.

    State-dict keys are the reference's inner-model keys (`embed_tokens.embedding_weight`,
    `L_level.layers.0.self_attn.qkv_proj.weight`, `puzzle_emb.weights`, `H_init`, ...); use
    `trm.model.load_weights` for reference checkpoints and `reference_state_dict()` to export.

    Puzzle embedding: `self.puzzle_emb` (absent when puzzle_emb_ndim == 0) is a
    `CastedSparseEmbedding` with buffers `weights` [num_puzzle_identifiers, D] (persistent),
    and, in training mode, the leaf `local_weights` [batch, D] (requires_grad) and `local_ids`.

    Other architectures (trm.model.hrm, ...) subclass it and override the few pieces that
    differ: `config_class`, `inner_carry_class` and `init_buffer_names` (the recursion
    state; state 0 feeds the heads), `build_reasoning_modules` and `latent_recursion`.
    """

    config_class: type[TRMConfig] = TRMConfig
    inner_carry_class: type = TRMInnerCarry
    # Buffers holding the initial value of each state of the inner carry, in field order.
    init_buffer_names: tuple[str, ...] = ("H_init", "L_init")

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.config = config
        self.forward_dtype = config.dtype
        self.puzzle_emb_len = config.prefix_len
        hidden = config.hidden_size

        # Creation order = reference order, so a fixed seed gives the reference's weights.
        self.embed_scale = math.sqrt(hidden)
        embed_std = 1.0 / self.embed_scale
        self.embed_tokens = CastedEmbedding(
            config.vocab_size, hidden, embed_std, self.forward_dtype
        )
        self.lm_head = CastedLinear(hidden, config.vocab_size, bias=False)
        self.q_head = CastedLinear(hidden, 2, bias=True)
        if config.puzzle_emb_ndim > 0:
            self.puzzle_emb = CastedSparseEmbedding(
                config.num_puzzle_identifiers,
                config.puzzle_emb_ndim,
                batch_size=config.batch_size,
                init_std=0,  # zero-initialised
                cast_to=self.forward_dtype,
            )
        if config.pos_encodings == "rope":
            self.rotary_emb = RotaryEmbedding(
                hidden // config.num_heads, config.total_len, config.rope_theta
            )
        elif config.pos_encodings == "learned":
            self.embed_pos = CastedEmbedding(
                config.total_len, hidden, embed_std, self.forward_dtype
            )
        self.build_reasoning_modules(config)
        # Q head starts near "never halt" for stable bootstrapping.
        with torch.no_grad():
            self.q_head.weight.zero_()
            assert self.q_head.bias is not None
            self.q_head.bias.fill_(-5)

    def build_reasoning_modules(self, config: TRMConfig) -> None:
        """The recursion's networks and initial-state buffers (after the I/O layers)."""
        self.L_level = TRMReasoningModule([TRMBlock(config) for _ in range(config.L_layers)])
        self.register_init_buffers()

    def register_init_buffers(self) -> None:
        """One truncated-normal vector per recursion state, named `init_buffer_names`."""
        hidden = self.config.hidden_size
        for name in self.init_buffer_names:
            self.register_buffer(
                name, trunc_normal_init_(torch.empty(hidden, dtype=self.forward_dtype), std=1)
            )

    # ---- construction / export -------------------------------------------------------------
    @classmethod
    def from_reference_config(cls, cfg: Any) -> Self:
        """Build from a reference model config dict (unknown keys such as `name` are ignored)."""
        return cls(cls.config_class.from_dict(cfg))

    def reference_state_dict(
        self, prefix: str = "_orig_mod.model.inner."
    ) -> dict[str, torch.Tensor]:
        """State dict in the reference layout (keys `prefix + name`), as detached copies."""
        return {prefix + k: v.detach().clone() for k, v in self.state_dict().items()}

    def set_forward_dtype(self, dtype: torch.dtype | str) -> None:
        """Change the activation dtype (weights stay float32; H_init/L_init keep their values)."""
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise InputError(f"forward_dtype: {dtype!r} is not one of {sorted(_DTYPES)}")
            dtype = _DTYPES[dtype]
        self.forward_dtype = dtype
        for module in (
            self.embed_tokens,
            getattr(self, "embed_pos", None),
            getattr(self, "puzzle_emb", None),
        ):
            if module is not None:
                module.cast_to = dtype

    # ---- pieces of one recursion step ------------------------------------------------------
    def cos_sin(self) -> CosSin | None:
        return self.rotary_emb() if hasattr(self, "rotary_emb") else None

    def input_embeddings(
        self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor
    ) -> torch.Tensor:
        """x: scaled token embeddings with the puzzle embedding prepended, [B, total_len, hidden]."""
        emb = self.embed_tokens(inputs.to(torch.int32))
        if self.config.puzzle_emb_ndim > 0:
            pe = self.puzzle_emb(puzzle_identifiers)
            pad = self.puzzle_emb_len * self.config.hidden_size - pe.shape[-1]
            if pad > 0:
                pe = F.pad(pe, (0, pad))
            emb = torch.cat(
                (pe.view(-1, self.puzzle_emb_len, self.config.hidden_size), emb), dim=-2
            )
        if self.config.pos_encodings == "learned":
            # 1/sqrt(2) keeps the forward variance (the reference's constant, kept verbatim).
            emb = 0.707106781 * (emb + self.embed_pos.embedding_weight.to(self.forward_dtype))
        return self.embed_scale * emb

    def latent_recursion(
        self,
        z_H: torch.Tensor,
        z_L: torch.Tensor,
        x: torch.Tensor,
        cos_sin: CosSin | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """H_cycles of (L_cycles z-updates, one y-update); gradients only through the last."""
        cfg = self.config
        net = self.L_level
        with torch.no_grad():
            for _ in range(cfg.H_cycles - 1):
                injection = z_H + x  # constant over the L cycles
                for _ in range(cfg.L_cycles):
                    z_L = net(z_L, injection, cos_sin)
                z_H = net(z_H, z_L, cos_sin)
        injection = z_H + x
        for _ in range(cfg.L_cycles):
            z_L = net(z_L, injection, cos_sin)
        z_H = net(z_H, z_L, cos_sin)
        return z_H, z_L

    def output_heads(self, z_H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits [B, seq_len, vocab], q_halt [B] float32, q_continue [B] float32)."""
        logits = self.lm_head(z_H)[:, self.puzzle_emb_len :]
        q = self.q_head(z_H[:, 0]).to(torch.float32)
        return logits, q[..., 0], q[..., 1]

    def inner(
        self, carry: Any, data: dict[str, torch.Tensor], x: torch.Tensor | None = None
    ) -> tuple[Any, torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """One improvement step from `carry` (the reference inner model's forward).

        Returns (new carry (detached), logits, (q_halt, q_continue), x); pass `x` back in to
        reuse the input embeddings for the same data.
        """
        if x is None:
            x = self.input_embeddings(data["inputs"], data["puzzle_identifiers"])
        states = self.latent_recursion(*carry_states(carry), x, self.cos_sin())
        logits, q_halt, q_continue = self.output_heads(states[0])
        new_carry = self.inner_carry_class(*(s.detach() for s in states))
        return new_carry, logits, (q_halt, q_continue), x

    # ---- ACT -----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    def init_states(self) -> tuple[torch.Tensor, ...]:
        """The initial value of every recursion state, [hidden] each (the `*_init` buffers)."""
        return tuple(getattr(self, name) for name in self.init_buffer_names)

    def empty_inner_carry(self, batch_size: int, device: torch.device) -> Any:
        shape = (batch_size, self.config.total_len, self.config.hidden_size)
        return self.inner_carry_class(
            *(
                torch.zeros(shape, dtype=self.forward_dtype, device=device)
                for _ in self.init_buffer_names
            )
        )

    def reset_inner_carry(self, reset: torch.Tensor, carry: Any) -> Any:
        flag = reset.view(-1, 1, 1)
        dtype = self.forward_dtype
        return self.inner_carry_class(
            *(
                torch.where(flag, init.to(dtype), state.to(dtype))
                for init, state in zip(self.init_states(), carry_states(carry), strict=True)
            )
        )

    def initial_carry(self, batch: dict[str, torch.Tensor]) -> TRMCarry:
        """A carry with every slot halted, so the first step loads the batch and resets y, z."""
        batch_size = batch["inputs"].shape[0]
        device = self.device
        return TRMCarry(
            inner_carry=self.empty_inner_carry(batch_size, device),
            steps=torch.zeros(batch_size, dtype=torch.int32, device=device),
            halted=torch.ones(batch_size, dtype=torch.bool, device=device),
            current_data={k: torch.zeros_like(v) for k, v in batch.items()},
        )

    def adaptive_halting(self) -> bool:
        """Whether this step may halt on the Q head (else only at halt_max_steps).

        Evaluation always runs halt_max_steps so a batch halts together.
        """
        return self.training and self.config.halt_max_steps > 1

    def bootstraps_q_continue(self) -> bool:
        """Whether training computes `target_q_continue` (the ACT continue loss)."""
        return not self.config.no_ACT_continue

    def forward(
        self, carry: TRMCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[TRMCarry, dict[str, torch.Tensor]]:
        """One ACT step: halted slots take the next example from `batch` and restart.

        outputs: `logits`, `q_halt_logits`, `q_continue_logits`, and in training with
        no_ACT_continue false, `target_q_continue`.
        """
        cfg = self.config
        inner_carry = self.reset_inner_carry(carry.halted, carry.inner_carry)
        steps = torch.where(carry.halted, 0, carry.steps)
        data = {
            k: torch.where(carry.halted.view((-1,) + (1,) * (batch[k].ndim - 1)), batch[k], v)
            for k, v in carry.current_data.items()
        }

        inner_carry, logits, (q_halt, q_continue), x = self.inner(inner_carry, data)
        outputs = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue}

        with torch.no_grad():
            steps = steps + 1
            is_last_step = steps >= cfg.halt_max_steps
            halted = is_last_step
            if self.adaptive_halting():
                if cfg.no_ACT_continue:
                    halted = halted | (q_halt > 0)
                else:
                    halted = halted | (q_halt > q_continue)
                if self.training:
                    # Exploration: a random minimum number of steps (the reference's RNG calls).
                    explore = torch.rand_like(q_halt) < cfg.halt_exploration_prob
                    min_steps = explore * torch.randint_like(
                        steps, low=2, high=cfg.halt_max_steps + 1
                    )
                    halted = halted & (steps >= min_steps)

                if self.training and self.bootstraps_q_continue():
                    # Bootstrapped target: the next step's value from the new state (the
                    # reference's intent; its code unpacks the wrong tuple and crashes).
                    _, _, (next_halt, next_continue), _ = self.inner(inner_carry, data, x.detach())
                    outputs["target_q_continue"] = torch.sigmoid(
                        torch.where(
                            is_last_step, next_halt, torch.maximum(next_halt, next_continue)
                        )
                    )

        return TRMCarry(inner_carry, steps, halted, data), outputs
