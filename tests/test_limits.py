"""Sizes and step counts read from files are bounded before anything is allocated (issue 19,
classes 4 and 5): all_config.yaml and --arch-override, dataset.json, a dataset's .npy headers,
predictions .npz members, the LLM files of `trm llm score`; report spec values of the wrong
type. Each refusal is one line naming the file, the field and the limit."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from input_helpers import (
    ROWS,
    SEQ,
    one_line_error,
    predict_argv,
    write_checkpoint,
    write_dataset,
)

from trm.data.format import array_path, load_split, read_metadata
from trm.errors import InputError, UserError
from trm.eval import predictions as P
from trm.model.checkpoint import resolve_checkpoint

# ---- the model settings a checkpoint carries ------------------------------------------------------

# (field, value in all_config.yaml, text of the limit in the message)
MODEL_CASES = [
    ("halt_max_steps", 1_000_000_000, "<= 4,096"),
    ("halt_max_steps", 4097, "<= 4,096"),
    ("halt_max_steps", 0, ">= 1"),
    ("halt_max_steps", -5, ">= 1"),
    ("halt_max_steps", "1e9", "<= 4,096"),  # YAML 1.1 reads 1e9 as text; still a number
    ("halt_max_steps", 2.5, "whole number"),
    ("halt_max_steps", True, "whole number"),
    ("halt_max_steps", "many", "whole number"),
    ("puzzle_emb_len", "1e8", "<= 1,024"),
    ("puzzle_emb_len", -1, ">= 0"),
    ("puzzle_emb_ndim", 1_000_000, "<= 8,192"),
    ("hidden_size", 100_000, "<= 8,192"),
    ("hidden_size", 0, ">= 1"),
    ("num_heads", 5_000, "<= 1,024"),
    ("expansion", 1e6, "<= 64"),
    ("expansion", -2, "> 0"),
    ("expansion", float("inf"), "not a finite number"),
    ("H_cycles", 1_000_000, "<= 256"),
    ("L_cycles", 257, "<= 256"),
    ("L_layers", 100_000, "<= 256"),
    ("H_layers", -1, ">= 0"),
    ("halt_exploration_prob", 2.0, "<= 1"),
    ("rms_norm_eps", float("nan"), "not a finite number"),
    ("seq_len", 10**9, "<= 16,384"),
    ("vocab_size", 10**9, "<= 65,536"),
    ("num_puzzle_identifiers", 10**12, "<= 16,777,216"),
    ("mlp_t", "yes", "true or false"),
    ("hidden_size", [512], "whole number"),
]


@pytest.mark.parametrize(("field", "value", "limit"), MODEL_CASES)
def test_a_saved_model_setting_out_of_bounds_is_refused(
    tmp_path: Path, field: str, value: object, limit: str
) -> None:
    run = write_checkpoint(tmp_path / "run", {field: value})
    with pytest.raises(InputError) as err:
        resolve_checkpoint(run)
    message = str(err.value)
    assert f"{run / 'all_config.yaml'}: arch.{field}: " in message and limit in message


def test_a_run_without_end_is_refused_before_the_model_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import trm.model

    def no_model(*a: object, **k: object) -> None:
        raise AssertionError("a model was built")

    run = write_checkpoint(tmp_path / "run", {"halt_max_steps": 1_000_000_000})
    data = write_dataset(tmp_path / "data")
    monkeypatch.setattr(trm.model, "from_reference_config", no_model)
    out = tmp_path / "p.npz"
    one_line_error(
        capsys,
        predict_argv(run, data, out),
        "all_config.yaml: arch.halt_max_steps: 1000000000",
        "<= 4,096",
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("halt_max_steps=1e9", "--arch-override halt_max_steps: 1000000000"),
        ("puzzle_emb_len=100000000", "--arch-override puzzle_emb_len"),
        ("hidden_size=-1", "--arch-override hidden_size: -1"),
        ("num_heads=abc", "--arch-override num_heads: expected a whole number"),
        ("L_cycles=[1, 2", "--arch-override"),
    ],
)
def test_an_override_out_of_bounds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, needle: str
) -> None:
    run = write_checkpoint(tmp_path / "run")
    data = write_dataset(tmp_path / "data")
    one_line_error(
        capsys,
        predict_argv(run, data, tmp_path / "p.npz", "--arch-override", override),
        needle,
    )


def test_every_model_config_is_bounded_where_models_are_built() -> None:
    from trm.model.build import build_model

    with pytest.raises(InputError, match=r"model config: hidden_size: 1000000 .*<= 8,192"):
        build_model({"hidden_size": 1_000_000})
    with pytest.raises(InputError, match=r"num_puzzle_identifiers x puzzle_emb_ndim"):
        build_model({"num_puzzle_identifiers": 1 << 24, "puzzle_emb_ndim": 8192})


# ---- dataset.json -------------------------------------------------------------------------------

DATASET_CASES = [
    ("vocab_size", 10**9, "<= 65,536"),
    ("vocab_size", 0, ">= 1"),
    ("seq_len", 10**9, "<= 16,384"),
    ("seq_len", -1, ">= 1"),
    ("seq_len", "900", "whole number"),
    ("num_puzzle_identifiers", 10**12, "<= 16,777,216"),
    ("total_groups", 10**12, "<= 100,000,000"),
    ("total_puzzles", -5, ">= 0"),
    ("mean_puzzle_examples", "x", "expected a number"),
    ("mean_puzzle_examples", 1e12, "<= 1,000,000,000"),
    ("blank_identifier_id", -1, ">= 0"),
    ("pad_id", 10**9, "<= 65,536"),
    ("ignore_label_id", 1.5, "whole number"),
    ("vocab_size", None, "missing field(s) ['vocab_size']"),
    ("seq_len", [900], "whole number"),
]


@pytest.mark.parametrize(("field", "value", "limit"), DATASET_CASES)
def test_a_dataset_field_out_of_bounds_is_refused(
    tmp_path: Path, field: str, value: object, limit: str
) -> None:
    data = write_dataset(tmp_path / "data", **{field: value})
    with pytest.raises(InputError) as err:
        read_metadata(data, "test")
    message = str(err.value)
    assert message.startswith(f"{data / 'test' / 'dataset.json'}: ")
    assert field in message and limit in message


def test_a_huge_vocabulary_stops_the_command_before_allocating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_checkpoint(tmp_path / "run")
    data = write_dataset(tmp_path / "data", vocab_size=10**9)
    one_line_error(
        capsys,
        predict_argv(run, data, tmp_path / "p.npz"),
        "dataset.json: vocab_size: 1000000000",
        "<= 65,536",
    )


# ---- a dataset's .npy headers -------------------------------------------------------------------


def _object_inputs(p: Path) -> None:
    np.save(p, np.array([[1, "x", None, 2]] * ROWS, dtype=object), allow_pickle=True)


def _float_inputs(p: Path) -> None:
    np.save(p, np.zeros((ROWS, SEQ), np.float32))


def _wide_inputs(p: Path) -> None:
    np.save(p, np.zeros((ROWS, SEQ + 1), np.uint8))


def _flat_inputs(p: Path) -> None:
    np.save(p, np.zeros(ROWS * SEQ, np.uint8))


def _truncated(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-3])


def _forged_rows(p: Path) -> None:
    """A header that promises 10^12 rows in a file of a few bytes."""
    text = p.read_bytes()
    p.write_bytes(text.replace(f"({ROWS}, {SEQ})".encode(), f"(1000000000000, {SEQ})".encode()))


def _garbage(p: Path) -> None:
    p.write_bytes(b"this is not an array")


NPY_CASES = {
    "object dtype": (_object_inputs, "Python objects"),
    "float dtype": (_float_inputs, "integers"),
    "wider than seq_len": (_wide_inputs, f"seq_len {SEQ}"),
    "wrong rank": (_flat_inputs, "2-D"),
    "truncated": (_truncated, "truncated or forged"),
    "forged shape": (_forged_rows, "truncated or forged"),
    "not an array": (_garbage, "not a readable .npy"),
}


@pytest.mark.parametrize("case", sorted(NPY_CASES))
def test_a_dataset_array_header_is_checked_before_it_is_mapped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    edit, needle = NPY_CASES[case]
    data = write_dataset(tmp_path / "data")
    p = array_path(data, "test", "inputs")
    edit(p)
    with pytest.raises(UserError, match=needle):
        load_split(data, "test")
    run = write_checkpoint(tmp_path / "run")
    one_line_error(capsys, predict_argv(run, data, tmp_path / "p.npz"), "all__inputs.npy")


def test_index_arrays_must_agree_with_each_other(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    np.save(array_path(data, "test", "puzzle_indices"), np.arange(ROWS, dtype=np.int32))
    with pytest.raises(InputError, match=f"{ROWS} entries for {ROWS} puzzles"):
        load_split(data, "test")


# ---- predictions .npz ---------------------------------------------------------------------------


def _valid(n: int = ROWS, seq: int = SEQ) -> dict[str, np.ndarray]:
    return {
        "puzzle_identifiers": np.arange(1, n + 1, dtype=np.int32) % 3,
        "inputs": np.zeros((n, seq), np.uint8),
        "preds": np.zeros((n, seq), np.int32),
        "q_halt_logits": np.zeros(n, np.float32),
    }


def _write_member(zf: zipfile.ZipFile, name: str, shape: tuple[int, ...], dtype: str) -> None:
    """A compressed member of zeros written in chunks (never whole in memory)."""
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        left = int(np.prod(shape)) * np.dtype(dtype).itemsize
        chunk = bytes(1 << 22)
        while left:
            f.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))


@pytest.fixture
def never_decompressed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any member's data is read through zipfile."""

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("a member was decompressed")

    monkeypatch.setattr(np.lib.format, "read_array", refuse)


def test_a_small_file_with_a_huge_member_is_refused_from_its_header(
    tmp_path: Path, never_decompressed: None
) -> None:
    data = write_dataset(tmp_path / "data")
    p = tmp_path / "p.npz"
    rows = 1 << 21  # 256 MiB of preds in a file of a few hundred KB
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in _valid().items():
            if name != "preds":
                with zf.open(f"{name}.npy", "w") as f:
                    np.lib.format.write_array(f, arr)
        _write_member(zf, "preds", (rows, SEQ), "<i4")
    assert p.stat().st_size < 2 << 20
    with pytest.raises(UserError, match=rf"field 'preds': {rows:,} rows exceeds the limit of"):
        P.load_predictions(p, data)
    with pytest.raises(UserError, match=f"{ROWS} test examples of"):
        P.read_predictions(p, data)


def test_a_member_wider_than_the_dataset_is_refused(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    p = tmp_path / "p.npz"
    np.savez(p, **_valid(seq=SEQ * 1000))
    with pytest.raises(UserError, match=f"rows of {SEQ * 1000:,} tokens exceed the limit of {SEQ}"):
        P.read_predictions(p, data)


def test_more_rows_than_the_dataset_and_its_padding_are_refused(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    p = tmp_path / "p.npz"
    np.savez(p, **_valid(n=ROWS + (1 << 16) + 1))
    with pytest.raises(UserError, match="exceeds the limit of"):
        P.read_predictions(p, data)
    np.savez(p, **_valid(n=ROWS + 5))  # a padded last batch is still read
    assert len(P.read_predictions(p, data)) == ROWS + 5


def test_a_header_that_disagrees_with_the_archive_is_refused(
    tmp_path: Path, never_decompressed: None
) -> None:
    p = tmp_path / "p.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in _valid().items():
            if name != "preds":
                with zf.open(f"{name}.npy", "w") as f:
                    np.lib.format.write_array(f, arr)
        with zf.open("preds.npy", "w") as f:  # promises 10^8 rows, holds 3
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<i4", "fortran_order": False, "shape": (10**8, SEQ)}
            )
            f.write(bytes(ROWS * SEQ * 4))
    with pytest.raises(UserError, match="field 'preds': its header implies"):
        P.read_predictions(p)


def test_an_object_member_is_refused_naming_it(tmp_path: Path) -> None:
    p = tmp_path / "p.npz"
    arrays = _valid()
    arrays["q_halt_logits"] = np.array([1.0, "x", None], dtype=object)
    np.savez(p, **arrays)
    with pytest.raises(UserError, match="field 'q_halt_logits': dtype object holds Python objects"):
        P.read_predictions(p)


def test_a_missing_member_is_named(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    p = tmp_path / "p.npz"
    arrays = _valid()
    del arrays["preds"]
    np.savez(p, **arrays)
    with pytest.raises(UserError, match=r"missing field\(s\) \['preds'\]"):
        P.load_predictions(p, data)


def test_an_undeclared_member_is_never_read(tmp_path: Path, never_decompressed: None) -> None:
    p = tmp_path / "p.npz"
    np.savez(p, **_valid())
    with zipfile.ZipFile(p, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        _write_member(zf, "junk", (1 << 24,), "<f8")
    assert len(P.read_predictions(p)) == ROWS


def test_too_many_steps_in_a_trajectory_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "p.npz"
    steps = (1 << 16) + 1
    np.savez(
        p,
        **_valid(),
        step_answer_shape=np.zeros((ROWS, steps), np.uint16),
        step_answer_hash=np.zeros((ROWS, steps), np.uint64),
        step_q_halt_logits=np.zeros((ROWS, steps), np.float32),
    )
    with pytest.raises(UserError, match=f"{steps:,} steps exceeds the limit of 65,536"):
        P.read_predictions(p)


def test_scoring_a_bad_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_dataset(tmp_path / "data")
    p = tmp_path / "p.npz"
    np.savez(p, **_valid(seq=SEQ * 1000))
    out = tmp_path / "scores"
    argv = ["score", "sudoku", "--data", str(data), "--predictions", str(p), "--out", str(out)]
    one_line_error(capsys, argv, str(p), "field 'inputs'", "exceed the limit of 4")
    assert not out.exists()


# ---- the files of `trm llm score` ---------------------------------------------------------------

GRID = [[1, 2], [3, 4]]
VIEW = "t0|||t0|||0123456789"


def _llm_data(root: Path, records: int = 2) -> Path:
    root.mkdir(parents=True)
    manifest = {
        "max_new_tokens": 10,
        "tokenizer": {},
        "config": {},
        "splits": {"test": {"records": records, "skipped": 0, "truncated": 0}},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "test_tasks.json").write_text(json.dumps({"t0": {"test": [{"output": GRID}]}}))
    # the one view a prediction may answer (trm llm score votes each view once)
    view = {"task": "t0", "test_index": 0, "name": VIEW}
    (root / "test.jsonl").write_text(json.dumps(view) + "\n")
    return root


def _llm_score(tmp_path: Path, lines: list[str], *extra: str) -> list[str]:
    p = tmp_path / "p.jsonl"
    p.write_text("".join(line + "\n" for line in lines))
    out = tmp_path / "s"
    return ["llm", "score", "--data", str(tmp_path / "d"), "--predictions", str(p)] + [
        "--out",
        str(out),
        "--n-boot",
        "100",
        *extra,
    ]


def _rec(**changes: object) -> str:
    return json.dumps({"task": "t0", "test_index": 0, "name": VIEW, "grid": GRID, **changes})


LLM_CASES = {
    "mean_logprob text": ([_rec(mean_logprob="abc")], "field mean_logprob"),
    "mean_logprob NaN": (['{"task": "t0", "test_index": 0, "mean_logprob": NaN}'], "finite"),
    "grid text": ([_rec(grid="[[1]]")], "field grid"),
    "grid 31 wide": ([_rec(grid=[[1] * 31])], "at most 30x30"),
    "grid colour 10": ([_rec(grid=[[10]])], "field grid"),
    "stopped text": ([_rec(stopped="no")], "field stopped"),
    "deep nesting": (['{"a": ' * 100_000 + "1" + "}" * 100_000], "malformed JSON"),
    "not an object": (["[1, 2]"], "expected a JSON object"),
    "overlong line": ([_rec(text="x" * (1 << 20))], "longer than the limit of 1,048,576"),
    "larger than the dataset implies": (
        [_rec(text="x" * 700_000)] * 3,
        "exceeds the limit of 2,097,152",
    ),
}


@pytest.mark.parametrize("case", sorted(LLM_CASES))
def test_a_bad_llm_prediction_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    lines, needle = LLM_CASES[case]
    _llm_data(tmp_path / "d")
    argv = _llm_score(tmp_path, lines)
    one_line_error(capsys, argv, "p.jsonl", needle)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[1]", "expected a JSON object of tasks"),
        ('{"t0": {"test": [{"output": "x"}]}}', "output is not a grid"),
        ('{"t0": {"test": []}}', "task 't0'"),
        ('{"t0": 5}', "task 't0'"),
    ],
)
def test_bad_llm_test_tasks_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, needle: str
) -> None:
    (_llm_data(tmp_path / "d") / "test_tasks.json").write_text(content)
    one_line_error(capsys, _llm_score(tmp_path, [_rec()]), "test_tasks.json", needle)


def test_llm_json_files_are_bounded_before_they_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import trm.llm.inputs
    import trm.llm.prepare

    data = _llm_data(tmp_path / "d")
    monkeypatch.setattr(trm.llm.inputs, "LLM_MAX_JSON_BYTES", 64)
    (data / "test_tasks.json").write_text(
        json.dumps({"t0": {"test": [{"output": GRID}]}}) + " " * 64
    )
    one_line_error(capsys, _llm_score(tmp_path, [_rec()]), "test_tasks.json", "limit of 64")
    monkeypatch.setattr(trm.llm.prepare, "LLM_MAX_JSON_BYTES", 64)  # manifest.json: ~100 bytes
    one_line_error(capsys, _llm_score(tmp_path, [_rec()]), "manifest.json", "limit of 64")


def test_a_cost_summary_must_hold_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _llm_data(tmp_path / "d")
    cost = tmp_path / "train.summary.json"
    cost.write_text(json.dumps({"tokens_generated": "many"}))
    argv = _llm_score(tmp_path, [_rec()], "--cost", str(cost))
    one_line_error(capsys, argv, str(cost), "tokens_generated", "finite number")


def test_good_llm_files_still_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trm.cli import main

    _llm_data(tmp_path / "d")
    assert main(_llm_score(tmp_path, [_rec(mean_logprob=-0.5, stopped=True)])) == 0
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["ARC/pass@1"] == 1.0


# ---- report spec values of the wrong type --------------------------------------------------------

EXPERIMENT = {"name": "e", "settings": {}, "data_dir": "d"}
GRID_ENTRY = {"name": "g", "comparisons": "c.json"}
LLM_ENTRY = {"name": "l", "settings": {}, "metrics_json": "m.json"}
SPEC_CASES = [
    ({"title": 5}, "spec.json: title: expected a string, got 5"),
    ({"title": None}, "spec.json: title: a value is required"),
    ({"records": "a.json"}, "spec.json: records: expected a list"),
    ({"records": [1]}, "spec.json: records[0]: expected a string, got 1"),
    ({"experiments": [{**EXPERIMENT, "name": 3}]}, "experiments[0].name: expected a string"),
    ({"experiments": [{**EXPERIMENT, "data_dir": None}]}, "experiments[0].data_dir: a value"),
    ({"experiments": [{**EXPERIMENT, "settings": []}]}, "experiments[0].settings: expected a"),
    ({"experiments": [{**EXPERIMENT, "metrics": "m.json"}]}, "experiments[0].metrics: expected"),
    ({"experiments": [{**EXPERIMENT, "metrics": {"paper": 3}}]}, "experiments[0].metrics.paper"),
    ({"experiments": [EXPERIMENT, {**EXPERIMENT, "train_dir": 5}]}, "experiments[1].train_dir"),
    ({"grids": [{**GRID_ENTRY, "comparisons": 5}]}, "grids[0].comparisons: expected a string"),
    ({"grids": [{**GRID_ENTRY, "experiments": ["a"]}]}, "grids[0].experiments: expected a"),
    ({"grids": [{**GRID_ENTRY, "records": "r.json"}]}, "grids[0].records: expected a list"),
    ({"llm": [{**LLM_ENTRY, "metrics_json": {}}]}, "llm[0].metrics_json: expected a string"),
    ({"llm": [{**LLM_ENTRY, "comparisons": {"a": 1}}]}, "llm[0].comparisons.a: expected a"),
]


@pytest.mark.parametrize(("spec", "needle"), SPEC_CASES)
def test_a_report_spec_value_of_the_wrong_type_is_named(
    tmp_path: Path, spec: dict, needle: str
) -> None:
    from trm.report.spec import read_spec

    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(UserError) as err:
        read_spec(path)
    assert str(path.parent) in str(err.value) and needle in str(err.value), str(err.value)


def test_a_bad_report_spec_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"experiments": [{**EXPERIMENT, "name": ["e"]}]}))
    argv = ["report", "--spec", str(path), "--out", str(tmp_path / "r.html")]
    argv += ["--bundle", str(tmp_path / "b.json")]
    one_line_error(capsys, argv, str(path), "experiments[0].name")
    assert not (tmp_path / "r.html").exists()


def test_a_well_typed_spec_reads(tmp_path: Path) -> None:
    from trm.report.spec import read_spec

    path = tmp_path / "spec.json"
    spec = {
        "title": "t",
        "records": ["r.json"],
        "experiments": [{**EXPERIMENT, "metrics": {"paper": "m.json"}, "train_dir": None}],
        "grids": [GRID_ENTRY],
        "llm": [{**LLM_ENTRY, "comparisons": {"e": "c.json"}}],
    }
    path.write_text(json.dumps(spec))
    s = read_spec(path)
    assert s.title == "t" and s.experiments[0].metrics == {"paper": "m.json"}


def test_yaml_scientific_notation_is_a_number(tmp_path: Path) -> None:
    run = write_checkpoint(tmp_path / "run", {"rms_norm_eps": "1e-5"})
    _, saved = resolve_checkpoint(run)
    assert saved is not None and saved["rms_norm_eps"] == 1e-5
    assert yaml.safe_load("x: 1e-5")["x"] == "1e-5"  # why: YAML 1.1 reads it as text
