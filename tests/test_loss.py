"""Reference ACT loss: golden train step (loss, metrics, every gradient norm), CE functions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import trm.train
from trm.model import TRM, load_weights
from trm.train.loss import (
    act_loss,
    get_loss_fn,
    loss_step,
    softmax_cross_entropy,
    stablemax_cross_entropy,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PREFIX = "model.inner."


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _golden(name: str) -> tuple[dict, TRM]:
    g = torch.load(FIXTURES / f"{name}.pt", weights_only=False)
    model = TRM.from_reference_config(g["config"])
    load_weights(model, g["state_dict"])
    return g, model


@pytest.mark.parametrize("name", ["trm_rope", "trm_mlp_t"])
def test_train_step_matches_golden(name: str) -> None:
    g, model = _golden(name)
    model.train()
    loss, metrics, carry = trm.train.loss_step(model, g["batch"])
    assert loss.dtype == torch.float64  # stablemax CE runs in float64, as the reference
    assert abs(loss.item() / g["train_loss"].item() - 1) < 1e-5
    for key, ref in g["train_metrics"].items():
        got = metrics[key]
        if ref.dtype.is_floating_point:
            assert abs(float(got) - float(ref)) <= 1e-5 * max(1.0, abs(float(ref))), key
        else:
            assert int(got) == int(ref), key
    assert float(metrics["q_continue_loss"]) == 0.0
    assert torch.equal(carry.steps, torch.ones_like(carry.steps))

    loss.backward()
    params = dict(model.named_parameters())
    assert set(g["grad_norms"]) == {PREFIX + n for n in params}
    for ref_name, ref_norm in g["grad_norms"].items():
        grad = params[ref_name.removeprefix(PREFIX)].grad
        assert grad is not None, ref_name
        assert abs(float(grad.norm()) / ref_norm - 1) < 1e-4, ref_name
    emb_grad = model.puzzle_emb.local_weights.grad
    ref_grad = g["puzzle_emb_grad"]
    assert float((emb_grad - ref_grad).norm() / ref_grad.norm()) < 1e-4
    # Rows of the same puzzle get their own gradients; weights itself has none.
    assert model.puzzle_emb.weights.grad is None


def test_loss_step_continues_from_carry() -> None:
    g, model = _golden("trm_rope")
    model.train()
    _, m1, carry = loss_step(model, g["batch"])
    _, m2, carry2 = loss_step(model, g["batch"], carry=carry)
    # Un-halted sequences advance to step 2; halted ones restart at 1.
    expected = torch.where(carry.halted, 1, 2).to(carry2.steps.dtype)
    assert torch.equal(carry2.steps, expected)
    assert set(m2) == set(m1)


def _stablemax_ce_by_hand(logits: list[float], label: int) -> float:
    s = [1 / (1 - x) if x < 0 else x + 1 for x in logits]
    return -math.log(s[label] / sum(s))


def test_stablemax_cross_entropy_by_hand() -> None:
    rows = [[2.0, -1.0, 0.5], [-3.0, -0.5, 4.0]]
    logits = torch.tensor([rows], dtype=torch.float32)
    labels = torch.tensor([[0, -100]])
    ce = stablemax_cross_entropy(logits, labels)
    assert ce.dtype == torch.float64
    assert ce[0, 0].item() == pytest.approx(_stablemax_ce_by_hand(rows[0], 0), rel=1e-12)
    assert ce[0, 1].item() == 0.0
    labels = torch.tensor([[1, 2]])
    ce = stablemax_cross_entropy(logits, labels)
    assert ce[0, 1].item() == pytest.approx(_stablemax_ce_by_hand(rows[1], 2), rel=1e-12)


def test_softmax_cross_entropy_by_hand() -> None:
    rows = [[2.0, -1.0, 0.5], [-3.0, -0.5, 4.0]]
    logits = torch.tensor([rows], dtype=torch.bfloat16)
    labels = torch.tensor([[1, -100]])
    ce = softmax_cross_entropy(logits, labels)
    assert ce.dtype == torch.float32 and ce.shape == labels.shape
    row = [float(v) for v in logits[0, 0].float()]
    expected = -row[1] + math.log(sum(math.exp(v) for v in row))
    assert ce[0, 0].item() == pytest.approx(expected, rel=1e-6)
    assert ce[0, 1].item() == 0.0


def test_loss_division_and_sum() -> None:
    """lm_loss = sum over sequences of CE / labelled cells; unlabelled rows add nothing."""
    g, model = _golden("trm_rope")
    model.eval()
    batch = dict(g["batch"])
    labels = batch["labels"].clone()
    labels[0] = -100  # a row with no labels
    batch["labels"] = labels
    with torch.no_grad():
        carry, out = model(model.initial_carry(batch), batch)
        for loss_type in ("stablemax_cross_entropy", "losses@softmax_cross_entropy"):
            loss, metrics = act_loss(out, carry, loss_type)
            ce = get_loss_fn(loss_type)(out["logits"], labels)
            counts = (labels != -100).sum(-1)
            expected = sum(float(ce[i].sum() / counts[i]) for i in range(1, 6))
            assert float(metrics["lm_loss"]) == pytest.approx(expected, rel=1e-6)
            seq_ok = ((out["logits"].argmax(-1) == labels) | (labels == -100)).all(-1)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(
                out["q_halt_logits"], seq_ok.float(), reduction="sum"
            )
            assert float(metrics["q_halt_loss"]) == pytest.approx(float(bce), rel=1e-6)
            assert float(loss) == pytest.approx(expected + 0.5 * float(bce), rel=1e-6)
            # Row 0 has no labels: not counted in the metrics.
            assert int(metrics["count"]) == 0  # nothing halted after one eval step


def test_loss_errors() -> None:
    g, model = _golden("trm_rope")
    with pytest.raises(ValueError, match="loss_type"):
        get_loss_fn("hinge")
    batch = {k: v for k, v in g["batch"].items() if k != "labels"}
    with pytest.raises(ValueError, match="labels"):
        loss_step(model, batch)
