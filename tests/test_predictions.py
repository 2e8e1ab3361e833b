"""The predictions file: declared fields, writer, memory-mapped reader, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from trm.errors import UserError
from trm.eval import predictions as P


def _arrays(n: int = 5, seq: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "puzzle_identifiers": np.arange(1, n + 1, dtype=np.int64),  # the writer stores int32
        "inputs": rng.integers(0, 12, (n, seq)).astype(np.uint8),
        "preds": rng.integers(0, 12, (n, seq)).astype(np.int32),
        "q_halt_logits": rng.normal(size=n),  # float64 in, float32 on disk
    }


def test_roundtrip_is_memory_mapped_with_contract_dtypes(tmp_path):
    path = tmp_path / "p.npz"
    arrays = _arrays()
    P.write_predictions(path, **arrays)
    pred = P.read_predictions(path)
    assert len(pred) == 5 and pred.optional == {}
    assert isinstance(pred.preds, np.memmap) and isinstance(pred.inputs, np.memmap)
    assert pred.puzzle_identifiers.dtype == np.int32 and pred.q_halt_logits.dtype == np.float32
    for name, arr in arrays.items():
        np.testing.assert_array_equal(
            getattr(pred, name), arr.astype(getattr(pred, name).dtype), err_msg=name
        )
    # the file is a plain .npz with exactly the contract's fields
    with np.load(path) as z:
        assert sorted(z.files) == sorted(P.REQUIRED)


def test_writer_refuses_undeclared_and_missing_fields(tmp_path):
    with pytest.raises(ValueError, match=r"undeclared field\(s\) \['logits'\]"):
        P.write_predictions(tmp_path / "p.npz", **_arrays(), logits=np.zeros(5))
    arrays = _arrays()
    del arrays["preds"]
    with pytest.raises(ValueError, match=r"missing field\(s\) \['preds'\]"):
        P.write_predictions(tmp_path / "p.npz", **arrays)
    assert not list(tmp_path.iterdir()), "no partial output"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.pop("q_halt_logits"), r"missing field\(s\) \['q_halt_logits'\]"),
        (lambda a: a.update(preds=a["preds"][:, 0]), r"field 'preds' must be 2-D"),
        (lambda a: a.update(inputs=a["inputs"][:3]), r"field 'inputs' has 3 rows"),
        (
            lambda a: a.update(preds=a["preds"].astype(np.float32)),
            r"field 'preds' must hold integers",
        ),
        (
            lambda a: a.update(q_halt_logits=np.zeros(5, np.int32)),
            r"field 'q_halt_logits' must hold floats",
        ),
    ],
)
def test_reader_names_file_and_field(tmp_path, edit, message):
    path = tmp_path / "bad.npz"
    arrays = _arrays()
    edit(arrays)
    np.savez(path, **arrays)
    with pytest.raises(UserError, match=message) as err:
        P.read_predictions(path)
    assert str(path) in str(err.value)


def test_unreadable_and_absent_files(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable .npz"):
        P.read_predictions(path)
    with pytest.raises(UserError, match="predictions file not found"):
        P.read_predictions(tmp_path / "none.npz")


def test_an_optional_field_is_one_declaration(tmp_path, monkeypatch):
    extra = P.FieldSpec("extra_scores", "f", 2, required=False, write_dtype="float32")
    monkeypatch.setattr(P, "FIELDS", (*P.FIELDS, extra))
    path = tmp_path / "p.npz"
    P.write_predictions(path, **_arrays(), extra_scores=np.ones((5, 3)))
    pred = P.read_predictions(path)
    assert pred.optional["extra_scores"].shape == (5, 3)
    assert set(pred.arrays()) == {*P.REQUIRED, "extra_scores"}
    # without it the file is still valid; with a wrong rank it is named
    P.write_predictions(path, **_arrays())
    assert P.read_predictions(path).optional == {}
    np.savez(path, **_arrays(), extra_scores=np.ones(5))
    with pytest.raises(UserError, match="field 'extra_scores' must be 2-D"):
        P.read_predictions(path)
