"""Building blocks of the TRM, numerically equivalent to the reference `models/layers.py`.

Weights are stored in float32 and cast to the activation dtype at use ("casted" layers), so a
bfloat16 forward keeps float32 master weights for the optimizer. Parameter names match the
reference (`weight`, `bias`, `embedding_weight`) so state dicts load without renaming.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CosSin = tuple[torch.Tensor, torch.Tensor]

# In-place kernels when autograd is off (bitwise equal results); False = the reference's ops,
# kept switchable for side-by-side benchmarks.
_FAST_INFERENCE = True


def set_fast_inference(enabled: bool) -> None:
    """Enable/disable the in-place no-autograd code paths (results are identical either way)."""
    global _FAST_INFERENCE
    _FAST_INFERENCE = bool(enabled)


def _fast() -> bool:
    return _FAST_INFERENCE and not torch.is_grad_enabled()


def trunc_normal_init_(
    tensor: torch.Tensor, std: float = 1.0, lower: float = -2.0, upper: float = 2.0
) -> torch.Tensor:
    """JAX/Flax-style truncated normal: the result really has standard deviation `std`.

    (`nn.init.trunc_normal_` does not correct the std for the truncation.) Draws one uniform
    per element, like the reference, so a fixed seed gives the reference's weights.
    """
    with torch.no_grad():
        if std == 0:
            tensor.zero_()
            return tensor
        sqrt2 = math.sqrt(2)
        a = math.erf(lower / sqrt2)
        b = math.erf(upper / sqrt2)
        z = (b - a) / 2
        c = (2 * math.pi) ** -0.5
        pdf_lower = c * math.exp(-0.5 * lower**2)
        pdf_upper = c * math.exp(-0.5 * upper**2)
        comp_std = std / math.sqrt(
            1 - (upper * pdf_lower - lower * pdf_upper) / z - ((pdf_lower - pdf_upper) / z) ** 2
        )
        tensor.uniform_(a, b)
        tensor.erfinv_()
        tensor.mul_(sqrt2 * comp_std)
        tensor.clip_(lower * comp_std, upper * comp_std)
    return tensor


def find_multiple(a: int, b: int) -> int:
    """Smallest multiple of `b` that is >= `a`."""
    return -(a // -b) * b


def swiglu_intermediate(hidden_size: int, expansion: float) -> int:
    """The reference SwiGLU width: round(expansion * hidden * 2/3) rounded up to 256."""
    return find_multiple(round(expansion * hidden_size * 2 / 3), 256)


def rms_norm(hidden_states: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learned scale, computed in float32 and cast back."""
    dtype = hidden_states.dtype
    x = hidden_states.to(torch.float32)
    x = x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)
    return x.to(dtype)


def add_rms_norm(residual: torch.Tensor, out: torch.Tensor, eps: float) -> torch.Tensor:
    """rms_norm(residual + out). Without autograd it works in place on `out` (a fresh
    intermediate), with the same float operations as the reference, so results are bitwise equal.
    """
    if not _fast() or out.dtype != torch.float32:
        return rms_norm(residual + out, eps)
    if residual.stride() == out.stride():
        x = out.add_(residual)  # a + b == b + a in IEEE arithmetic
    else:
        # Keep the reference's memory layout (that of `residual`): later GEMMs round alike.
        x = residual + out
    scale = x.square().mean(-1, keepdim=True).add_(eps).rsqrt_()
    return x.mul_(scale)


class CastedLinear(nn.Module):
    """Linear layer, LeCun truncated-normal init, weight cast to the input dtype at use."""

    def __init__(self, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            trunc_normal_init_(torch.empty(out_features, in_features), std=in_features**-0.5)
        )
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    """Embedding table (float32) whose rows are cast to `cast_to` when looked up."""

    def __init__(
        self, num_embeddings: int, embedding_dim: int, init_std: float, cast_to: torch.dtype
    ) -> None:
        super().__init__()
        self.cast_to = cast_to
        self.embedding_weight = nn.Parameter(
            trunc_normal_init_(torch.empty(num_embeddings, embedding_dim), std=init_std)
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.embedding_weight.to(self.cast_to))


class RotaryEmbedding(nn.Module):
    """RoPE tables in the reference's "half-split" layout: cos/sin of shape [positions, head_dim].

    Buffers are not persistent (reference checkpoints do not hold them).
    """

    def __init__(self, dim: int, max_positions: int, base: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        t = torch.arange(max_positions, dtype=torch.float32)
        freqs = torch.outer(t, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos(), persistent=False)
        self.register_buffer("sin_cached", emb.sin(), persistent=False)

    def forward(self) -> CosSin:
        return self.cos_cached, self.sin_cached


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on `x` [..., S, n, D] with tables [S, D] (half-split layout), in the tables' dtype.

    Same float operations as the reference's `x * cos + rotate_half(x) * sin` (negation is
    exact, so `a + (-b) * s == a - b * s`), without materialising rotate_half(x).
    """
    dtype = x.dtype
    x = x.to(cos.dtype)
    if not _fast():  # with autograd (or for side-by-side benchmarks): the reference's ops
        cos, sin = (t.view(t.shape[0], *([1] * (x.ndim - 3)), t.shape[1]) for t in (cos, sin))
        return (x * cos + rotate_half(x) * sin).to(dtype)
    half = x.shape[-1] // 2
    extra = x.ndim - 3  # head-like axes after S
    cos = cos.view(cos.shape[0], *([1] * extra), cos.shape[1])
    sin = sin.view(sin.shape[0], *([1] * extra), sin.shape[1])
    out = x * cos
    out[..., :half] -= x[..., half:] * sin[..., :half]
    out[..., half:] += x[..., :half] * sin[..., half:]
    return out.to(dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with a fused QKV projection and optional RoPE.

    `head_dim` defaults to hidden_size / num_heads (which must then divide). The reference's
    transformer baseline passes hidden // heads with heads not dividing hidden (512, 12 heads:
    head_dim 42), so the heads span num_heads * head_dim < hidden_size features.
    """

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int | None = None) -> None:
        super().__init__()
        if head_dim is None:
            if hidden_size % num_heads:
                raise ValueError(
                    f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}"
                )
            head_dim = hidden_size // num_heads
        if head_dim < 1:
            raise ValueError(f"head_dim must be >= 1, got {head_dim}")
        self.num_heads = num_heads
        self.head_dim = head_dim
        inner = num_heads * head_dim
        self.qkv_proj = CastedLinear(hidden_size, 3 * inner, bias=False)
        self.o_proj = CastedLinear(inner, hidden_size, bias=False)

    def forward(self, hidden_states: torch.Tensor, cos_sin: CosSin | None) -> torch.Tensor:
        batch, seq, _ = hidden_states.shape
        qkv = self.qkv_proj(hidden_states).view(batch, seq, 3, self.num_heads, self.head_dim)
        value = qkv[:, :, 2]
        if cos_sin is not None:
            # Rotate query and key together: [B, S, 2, H, D].
            query, key = apply_rotary(qkv[:, :, :2], *cos_sin).unbind(2)
        else:
            query, key = qkv[:, :, 0], qkv[:, :, 1]
        # SDPA wants [B, H, S, D]; transposes are views.
        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), is_causal=False
        )
        out = out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim)
        return self.o_proj(out)


class SwiGLU(nn.Module):
    """Gated MLP: down(silu(gate) * up), gate and up from one fused projection."""

    def __init__(self, hidden_size: int, expansion: float) -> None:
        super().__init__()
        inter = swiglu_intermediate(hidden_size, expansion)
        self.gate_up_proj = CastedLinear(hidden_size, inter * 2, bias=False)
        self.down_proj = CastedLinear(inter, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        if not _fast():
            return self.down_proj(F.silu(gate) * up)
        # No autograd: reuse the gate half of the fresh projection output (bitwise equal).
        return self.down_proj(F.silu(gate, inplace=True).mul_(up))
