"""AdamATan2 against its formula, sign-SGD sparse updates, the LR schedule and EMA."""

from __future__ import annotations

import copy
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from trm.train.ema import EMA
from trm.train.optim import (
    AdamATan2,
    SparseEmbeddingSignSGD,
    fma_float32,
    make_adam_atan2,
    sparse_sign_sgd_update,
)
from trm.train.schedule import cosine_with_warmup


def _by_hand(p, grads, lr, b1, b2, wd):
    """The update rule written out with Python floats, one element."""
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        p = p * (1 - lr * wd)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        p = p - (lr / (1 - b1**t)) * math.atan2(m, math.sqrt(v) / math.sqrt(1 - b2**t))
    return p


def test_adam_atan2_matches_formula() -> None:
    torch.manual_seed(0)
    p0 = torch.randn(7, dtype=torch.float64)
    grads = [torch.randn(7, dtype=torch.float64) for _ in range(5)]
    lr, b1, b2, wd = 3e-2, 0.9, 0.95, 0.1
    param = nn.Parameter(p0.clone())
    opt = AdamATan2([param], lr=lr, betas=(b1, b2), weight_decay=wd)
    for g in grads:
        param.grad = g.clone()
        opt.step()
    expected = [
        _by_hand(float(p0[i]), [float(g[i]) for g in grads], lr, b1, b2, wd) for i in range(7)
    ]
    torch.testing.assert_close(
        param.detach(), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12
    )
    assert float(opt.state[param]["step"]) == 5


def test_adam_atan2_bounded_step_and_lr_change() -> None:
    # atan2 bounds each coordinate's step by lr * pi/2 / (1 - b1) even for huge gradients.
    param = nn.Parameter(torch.zeros(3))
    opt = AdamATan2([param], lr=1e-3, betas=(0.9, 0.95), weight_decay=0.0)
    param.grad = torch.tensor([1e15, -1e15, 0.0])
    opt.step()
    assert torch.all(param.abs() <= 1e-3 * math.pi / 2 / (1 - 0.9) + 1e-9)
    assert param[2] == 0.0
    # lr is read from the param group each step (the loop sets it from the schedule)
    opt.param_groups[0]["lr"] = 0.0
    before = param.detach().clone()
    param.grad = torch.ones(3)
    opt.step()
    torch.testing.assert_close(param.detach(), before)


def test_adam_atan2_state_roundtrip_and_cpu_selection() -> None:
    p = nn.Parameter(torch.ones(4))
    opt = make_adam_atan2([p], lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    assert isinstance(opt, AdamATan2)  # CPU parameters never get the fused CUDA optimizer
    p.grad = torch.full((4,), 0.5)
    opt.step()
    q = nn.Parameter(p.detach().clone())
    opt2 = AdamATan2([q], lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as if read from disk
    for o, t in ((opt, p), (opt2, q)):
        t.grad = torch.full((4,), -0.25)
        o.step()
    torch.testing.assert_close(p.detach(), q.detach(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="betas"):
        AdamATan2([q], betas=(1.0, 0.9))


def _float32_nearest(x: Fraction) -> np.float32:
    """The float32 nearest to the exact rational x (ties to even): the correctly rounded result."""
    f = np.float32(float(x))  # within one float32 ulp of the answer
    candidates = [np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))]
    return min(
        candidates,
        key=lambda c: (abs(Fraction(float(c)) - x), int(c.view(np.uint32)) & 1),
    )


def _exact_fma(a: float, b: float, c: float) -> np.float32:
    return _float32_nearest(Fraction(a) * Fraction(b) + Fraction(c))


def test_fma_float32_is_correctly_rounded() -> None:
    g = torch.Generator().manual_seed(0)
    n = 3000
    a = torch.randn(n, generator=g)
    b = torch.randn(n, generator=g) * torch.exp2(torch.randint(-30, 30, (n,), generator=g).float())
    near_cancel = (-(a.double() * b.double())).float()  # a*b + c close to 0
    tiny = torch.ldexp(
        torch.ones(n, dtype=torch.float64), torch.randint(-80, -20, (n,), generator=g)
    )
    for c in (torch.randn(n, generator=g), near_cancel, (near_cancel.double() + tiny).float()):
        got = fma_float32(a, b, c)
        for i in range(0, n, 5):
            assert np.float32(got[i].item()) == _exact_fma(float(a[i]), float(b[i]), float(c[i])), (
                float(a[i]),
                float(b[i]),
                float(c[i]),
            )
    # A double-rounding case: float64(a*b + c) lands exactly halfway between two float32
    # numbers, rounding again would go up; the exact sum lies below the midpoint.
    a1, b1, c1 = 2**-24 * (1 + 2**-23), 1 - 2**-23, 1 + 2**-23
    naive = np.float32(a1 * b1 + c1)
    exact = _exact_fma(a1, b1, c1)
    assert naive != exact
    got = fma_float32(torch.tensor([a1]), torch.tensor([b1]), torch.tensor([c1]))
    assert np.float32(got.item()) == exact
    # the same in float32's subnormal range (ties there are not at the normal-range bit position)
    a2, b2, c2 = 2**-75 * (1 + 2**-23), 2**-75 * (1 - 2**-23), 2**-127 + 3 * 2**-149
    assert np.float32(a2 * b2 + c2) != _exact_fma(a2, b2, c2)
    got = fma_float32(torch.tensor([a2]), torch.tensor([b2]), torch.tensor([c2]))
    assert np.float32(got.item()) == _exact_fma(a2, b2, c2)
    # a Python float (float32-exact) as the first factor
    got = fma_float32(-0.25, torch.tensor([3.0]), torch.tensor([1.0]))
    assert got.dtype == torch.float32 and got.item() == 0.25


def test_adam_atan2_float32_follows_the_fused_kernel() -> None:
    """Element by element with exact rationals: the kernel's order of operations, rounded as
    float32 (its opmath) after every operation, FMAs rounded once."""
    torch.manual_seed(1)
    p0 = torch.randn(6)
    grads = [torch.randn(6) * 1e-2 for _ in range(3)]
    lr, b1, b2, wd = 1e-2, 0.9, 0.95, 0.1
    param = nn.Parameter(p0.clone())
    opt = AdamATan2([param], lr=lr, betas=(b1, b2), weight_decay=wd)
    for g in grads:
        param.grad = g.clone()
        opt.step()

    f32 = np.float32
    for i in range(6):
        p, m, v = f32(p0[i].item()), f32(0.0), f32(0.0)
        for t, g in enumerate(grads, start=1):
            gi = f32(g[i].item())
            step_size, wd_alpha = f32(lr / (1 - b1**t)), f32(1 - lr * wd)
            bc2, mb1, mb2 = f32(math.sqrt(1 - b2**t)), f32(1 - b1), f32(1 - b2)
            p = f32(p * wd_alpha)
            m = _exact_fma(
                float(mb1), float(gi), float(_exact_fma(-float(mb1), float(m), float(m)))
            )
            gg = f32(gi * gi)
            v = _exact_fma(
                float(mb2), float(gg), float(_exact_fma(-float(mb2), float(v), float(v)))
            )
            denom = f32(np.sqrt(v) / bc2)
            update = f32(torch.atan2(torch.tensor(m), torch.tensor(denom)).item())
            p = _exact_fma(-float(step_size), float(update), float(p))
        assert f32(param[i].item()) == p, i
        assert f32(opt.state[param]["exp_avg"][i].item()) == m
        assert f32(opt.state[param]["exp_avg_sq"][i].item()) == v


class _FakeSparseEmb(nn.Module):
    """The puzzle-embedding contract: table buffer, leaf local_weights, local_ids."""

    def __init__(self, n: int, d: int, b: int) -> None:
        super().__init__()
        self.register_buffer("weights", torch.randn(n, d))
        self.local_weights = torch.zeros(b, d, requires_grad=True)
        self.register_buffer("local_ids", torch.zeros(b, dtype=torch.int32), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.local_weights.copy_(self.weights[ids])
            self.local_ids.copy_(ids)
        return self.local_weights


def test_sign_sgd_touches_only_batch_rows_and_sums_duplicates() -> None:
    torch.manual_seed(1)
    emb = _FakeSparseEmb(10, 4, 5)
    before = emb.weights.clone()
    ids = torch.tensor([3, 7, 3, 1, 7], dtype=torch.int32)
    # Loss chosen so duplicate rows' gradients have opposite signs in column 0 (3: +2 - 1 > 0).
    coef = torch.tensor(
        [[2.0, 1, 1, 1], [1, -1, 1, 1], [-1, 1, 1, 1], [-3, 1, -1, 1], [-2, 1, 1, 1]]
    )
    (emb(ids) * coef).sum().backward()
    lr, wd = 0.01, 0.1
    opt = SparseEmbeddingSignSGD(emb, lr=lr, weight_decay=wd)
    opt.step()
    opt.zero_grad()
    assert emb.local_weights.grad is None
    untouched = [i for i in range(10) if i not in (1, 3, 7)]
    torch.testing.assert_close(emb.weights[untouched], before[untouched], rtol=0, atol=0)
    summed = {3: coef[0] + coef[2], 7: coef[1] + coef[4], 1: coef[3]}
    for row, g in summed.items():
        expect = before[row] * (1 - lr * wd) - lr * torch.sign(g)
        torch.testing.assert_close(emb.weights[row], expect)
    # row 7 column 0: 1 + (-2) = -1 -> sign -1 -> increases
    assert emb.weights[7, 0] > before[7, 0] * (1 - lr * wd)


def test_sign_sgd_zero_gradient_only_decays() -> None:
    w = torch.ones(4, 2)
    sparse_sign_sgd_update(w, torch.zeros(2, 2), torch.tensor([0, 2]), lr=0.5, weight_decay=0.2)
    torch.testing.assert_close(w, torch.tensor([[0.9, 0.9], [1, 1], [0.9, 0.9], [1, 1]]))


def test_sign_sgd_requires_embedding_contract() -> None:
    with pytest.raises(ValueError, match="local_ids"):
        emb = nn.Module()
        emb.register_buffer("weights", torch.zeros(3, 2))
        emb.local_weights = torch.zeros(2, 2, requires_grad=True)
        SparseEmbeddingSignSGD(emb, lr=0.1)


def test_warmup_cosine_values() -> None:
    kw = dict(base_lr=1.0, warmup_steps=10, total_steps=110)
    assert cosine_with_warmup(0, **kw) == 0.0
    assert cosine_with_warmup(5, **kw) == pytest.approx(0.5)
    assert cosine_with_warmup(10, **kw) == pytest.approx(1.0)
    assert cosine_with_warmup(60, **kw) == pytest.approx(0.5)  # half way through the cosine
    assert cosine_with_warmup(110, **kw) == pytest.approx(0.0, abs=1e-12)
    assert cosine_with_warmup(60, min_ratio=0.1, **kw) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine_with_warmup(110, min_ratio=0.1, **kw) == pytest.approx(0.1)
    # min_ratio 1 (the ARC setting) is constant after warm-up
    assert {cosine_with_warmup(s, min_ratio=1.0, **kw) for s in (10, 50, 110)} == {1.0}
    lrs = [cosine_with_warmup(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_ema_update_and_copy() -> None:
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = EMA(model, mu=0.9)
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema.update(model)  # 0.9 * 1 + 0.1 * 2
    ema.update(model)  # 0.9 * 1.1 + 0.1 * 2
    torch.testing.assert_close(ema.shadow["weight"], torch.full((1, 2), 1.19))
    ema_model = ema.ema_copy(model)
    torch.testing.assert_close(ema_model.weight.detach(), torch.full((1, 2), 1.19))
    torch.testing.assert_close(
        model.weight.detach(), torch.full((1, 2), 2.0)
    )  # live model untouched
    ema2 = EMA(model, mu=0.5)
    ema2.load_state_dict(ema.state_dict())
    assert ema2.mu == 0.9
    torch.testing.assert_close(ema2.shadow["weight"], ema.shadow["weight"])


def test_ema_uses_the_reference_expression() -> None:
    """shadow = (1 - mu) * p + mu * shadow, each product rounded: not a fused multiply-add."""
    torch.manual_seed(2)
    model = nn.Linear(64, 64, bias=False)
    ema = EMA(model, mu=0.999)
    shadow = model.weight.detach().clone()
    for _ in range(5):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight) * 0.1)
        ema.update(model)
        shadow = (1.0 - 0.999) * model.weight.detach() + 0.999 * shadow
        assert torch.equal(ema.shadow["weight"], shadow)
