"""trm predict: contract fields, equality with trm.infer.predict, resume, torchrun, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from shared_data import SHARED, shared_missing

from trm.cli.predict import COMMAND, PredictSettings
from trm.command import invoke
from trm.data.format import DatasetMetadata, array_path, write_metadata
from trm.errors import UserError
from trm.eval.predict import meta_path_for, run_predict, shards_dir_for
from trm.eval.predictions import load_predictions

GOLDEN = SHARED / "golden"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
N_TEST = 40


def predict_cpu(checkpoint: Path, data: Path, out: Path, on_shard_written=None, **kw) -> dict:
    """`trm predict` in-process on the CPU, one thread, no progress bar."""
    kw = {"device": "cpu", "threads": 1, "no_progress": True, **kw}
    settings = PredictSettings(checkpoint=checkpoint, data=data, out=out, **kw)
    return run_predict(settings, on_shard_written=on_shard_written)


def _golden() -> dict:
    for root in (FIXTURES, GOLDEN):
        if (root / "trm_rope.pt").exists():
            return torch.load(root / "trm_rope.pt", weights_only=False)
    shared_missing(f"golden model fixture trm_rope.pt not found in {FIXTURES} or {GOLDEN}")


def _write_dataset(root: Path, golden: dict, n: int = N_TEST, num_ids: int | None = None) -> Path:
    """A test split in the reference format whose first rows are the golden batch."""
    cfg = golden["config"]
    seq, num_ids = cfg["seq_len"], num_ids or cfg["num_puzzle_identifiers"]
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, cfg["vocab_size"], size=(n, seq)).astype(np.uint8)
    pids = rng.integers(1, num_ids, size=n).astype(np.int32)
    gb = golden["batch"]
    k = gb["inputs"].shape[0]
    inputs[:k] = gb["inputs"].numpy().astype(np.uint8)
    pids[:k] = gb["puzzle_identifiers"].numpy()
    arrays = {
        "inputs": inputs,
        "labels": inputs.copy(),
        "puzzle_identifiers": pids,
        "puzzle_indices": np.arange(n + 1, dtype=np.int32),
        "group_indices": np.arange(n + 1, dtype=np.int32),
    }
    for split in ("train", "test"):
        for name, arr in arrays.items():
            p = array_path(root, split, name)
            p.parent.mkdir(parents=True, exist_ok=True)
            np.save(p, arr)
        write_metadata(
            root,
            split,
            DatasetMetadata(
                pad_id=0,
                ignore_label_id=0,
                blank_identifier_id=0,
                vocab_size=cfg["vocab_size"],
                seq_len=seq,
                num_puzzle_identifiers=num_ids,
                total_groups=n,
                mean_puzzle_examples=1.0,
                total_puzzles=n,
            ),
        )
    (root / "identifiers.json").write_text(
        json.dumps(["<blank>"] + [f"p{i}" for i in range(1, num_ids)])
    )
    return root


def _write_run(root: Path, golden: dict) -> Path:
    """A training-run folder: step_N state dicts (compiled-run keys) and a reference all_config.yaml."""
    root.mkdir(parents=True)
    arch = {
        k: v
        for k, v in golden["config"].items()
        if k not in ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers")
    }
    arch.update(
        name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
        loss={"name": "losses@ACTLossHead"},
    )
    (root / "all_config.yaml").write_text(yaml.safe_dump({"arch": arch, "global_batch_size": 768}))
    torch.save(golden["state_dict"], root / "step_20")
    # an earlier step with other weights: the folder must resolve to step_20
    torch.save({k: torch.zeros_like(v) for k, v in golden["state_dict"].items()}, root / "step_10")
    return root


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> object:
    """One torch thread: the CI machine is shared, and the direct comparison must use the same
    thread count as the runs it is compared with (float reductions depend on it)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def setup(one_thread: object, tmp_path_factory: pytest.TempPathFactory) -> dict:
    g = _golden()
    base = tmp_path_factory.mktemp("predict")
    data = _write_dataset(base / "data", g)
    run = _write_run(base / "run", g)
    ref = base / "ref.npz"
    predict_cpu(run, data, ref, batch_size=8, shard_batches=2)
    return {"golden": g, "data": data, "run": run, "ref": ref, "base": base}


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_contract_fields_and_equal_to_infer_predict(setup: dict) -> None:
    from trm.infer import predict
    from trm.model.build import build_model_for_dataset

    out = _arrays(setup["ref"])
    assert set(out) == {"puzzle_identifiers", "inputs", "preds", "q_halt_logits"}
    assert out["puzzle_identifiers"].dtype == np.int32 and out["preds"].dtype == np.int32
    assert out["q_halt_logits"].dtype == np.float32 and out["inputs"].dtype == np.uint8
    assert out["preds"].shape == (N_TEST, 36) and out["q_halt_logits"].shape == (N_TEST,)
    data_inputs = np.load(setup["data"] / "test" / "all__inputs.npy")
    np.testing.assert_array_equal(out["inputs"], data_inputs)

    # same batches through trm.infer.predict directly: identical bits
    model, info = build_model_for_dataset(setup["run"], setup["data"], device="cpu")
    assert info["weights"].endswith("step_20") and info["arch_source"] == "all_config.yaml"
    assert info["config"]["forward_dtype"] == "float32"
    with torch.inference_mode():
        for s in range(0, N_TEST, 8):
            batch = {
                "inputs": torch.from_numpy(data_inputs[s : s + 8].astype(np.int32)),
                "puzzle_identifiers": torch.from_numpy(out["puzzle_identifiers"][s : s + 8]),
            }
            r = predict(model, batch)
            np.testing.assert_array_equal(out["preds"][s : s + 8], r["preds"].numpy())
            np.testing.assert_array_equal(
                out["q_halt_logits"][s : s + 8], r["q_halt_logits"].float().numpy()
            )

    # and the golden batch (first 6 rows) gives the reference implementation's final-step answers
    last = setup["golden"]["eval_steps"][-1]
    np.testing.assert_array_equal(out["preds"][:6], last["preds"].numpy())
    np.testing.assert_allclose(
        out["q_halt_logits"][:6], last["q_halt_logits"].float().numpy(), rtol=1e-4, atol=1e-5
    )

    meta = json.loads(meta_path_for(setup["ref"]).read_text())
    assert meta["num_examples"] == N_TEST and meta["device"] == "cpu" and meta["dtype"] == "float32"
    assert meta["computed_examples"] == N_TEST and meta["resumed_shards"] == 0
    assert len(meta["checkpoint_sha256"]) == 64 and meta["examples_per_s"] > 0
    assert not shards_dir_for(setup["ref"]).exists()
    # the file passes its own dataset check
    load_predictions(setup["ref"], setup["data"])


def test_resume_after_interruption_equals_uninterrupted(setup: dict) -> None:
    out = setup["base"] / "resumed.npz"

    class Preempted(Exception):
        pass

    def preempt_after_first(start: int, end: int) -> None:
        raise Preempted(f"killed after rows {start}-{end}")

    with pytest.raises(Preempted):
        predict_cpu(
            setup["run"],
            setup["data"],
            out,
            batch_size=8,
            shard_batches=2,
            on_shard_written=preempt_after_first,
        )
    assert not out.exists()
    shards = sorted(p.name for p in shards_dir_for(out).iterdir())
    assert shards == [".trm-output.json", "plan.json", "rows_0000000000-0000000016.npz"]

    # a rerun with other settings refuses to mix shards
    with pytest.raises(UserError, match="other settings .*batch_size"):
        predict_cpu(
            setup["run"],
            setup["data"],
            out,
            batch_size=4,
            shard_batches=4,
        )
    assert not out.exists()

    meta = predict_cpu(
        setup["run"],
        setup["data"],
        out,
        batch_size=8,
        shard_batches=2,
    )
    assert meta["resumed_shards"] == 1 and meta["computed_examples"] == N_TEST - 16
    a, b = _arrays(setup["ref"]), _arrays(out)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not shards_dir_for(out).exists()


def test_max_examples_and_cli(setup: dict) -> None:
    from trm.cli import main

    out = setup["base"] / "cli" / "predictions.npz"
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(setup["run"] / "step_20"),
            "--data",
            str(setup["data"]),
            "--out",
            str(out),
            "--batch-size",
            "5",
            "--max-examples",
            "12",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--no-progress",
        ]
    )
    assert rc == 0
    part = _arrays(out)
    assert part["preds"].shape == (12, 36)
    np.testing.assert_array_equal(part["preds"], _arrays(setup["ref"])["preds"][:12])
    meta = json.loads((out.parent / "predictions.meta.json").read_text())
    assert meta["max_examples"] == 12 and meta["dataset_test_examples"] == N_TEST
    load_predictions(out, setup["data"], allow_prefix=True)
    with pytest.raises(UserError, match="12 rows but the test split .* has 40 examples"):
        load_predictions(out, setup["data"])


def test_torchrun_two_ranks_equals_one(setup: dict) -> None:
    out = setup["base"] / "ddp.npz"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "trm.cli",
        "predict",
        "--checkpoint",
        str(setup["run"]),
        "--data",
        str(setup["data"]),
        "--out",
        str(out),
        "--batch-size",
        "8",
        "--shard-batches",
        "1",
        "--device",
        "cpu",
        "--no-progress",
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _arrays(setup["ref"]), _arrays(out)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    meta = json.loads(meta_path_for(out).read_text())
    assert meta["world_size"] == 2 and meta["computed_examples"] == N_TEST


def test_bad_checkpoint_and_data(setup: dict, tmp_path: Path) -> None:
    g = setup["golden"]
    out = tmp_path / "p.npz"
    # dataset built with another number of puzzle identifiers
    other = _write_dataset(tmp_path / "other", g, num_ids=17)
    with pytest.raises(
        ValueError,
        match=r"10 puzzle-embedding rows but dataset .* has 17 .*same subsets, --num-aug and --seed",
    ):
        predict_cpu(setup["run"], other, out)
    # ... loads with --resize-puzzle-emb
    meta = predict_cpu(
        setup["run"],
        other,
        out,
        resize_puzzle_emb=True,
        max_examples=4,
    )
    assert meta["num_examples"] == 4
    out.unlink()
    # a model shape that does not fit the checkpoint: names keys and shapes
    with pytest.raises(
        ValueError,
        match=r"(?s)step_20: shape mismatch.*lm_head.weight: checkpoint \(12, 64\) vs model \(12, 32\)",
    ):
        predict_cpu(
            setup["run"],
            setup["data"],
            out,
            arch_override={"hidden_size": "32", "puzzle_emb_ndim": "32"},
        )
    # no config beside the weights and no --arch
    bare = tmp_path / "bare"
    bare.mkdir()
    torch.save(g["state_dict"], bare / "step_1")
    with pytest.raises(ValueError, match="no all_config.yaml"):
        predict_cpu(bare, setup["data"], out)
    meta = predict_cpu(
        bare,
        setup["data"],
        out,
        arch="tiny_golden",
        max_examples=6,
    )
    np.testing.assert_array_equal(_arrays(out)["preds"], g["eval_steps"][-1]["preds"].numpy())
    out.unlink()
    # a missing dataset file
    broken = _write_dataset(tmp_path / "broken", g)
    (broken / "test" / "all__puzzle_identifiers.npy").unlink()
    with pytest.raises(FileNotFoundError, match="all__puzzle_identifiers.npy"):
        predict_cpu(setup["run"], broken, out)
    with pytest.raises(FileNotFoundError, match="dataset metadata not found"):
        predict_cpu(setup["run"], tmp_path / "nowhere", out)
    assert not out.exists() and not shards_dir_for(out).exists()


def test_load_predictions_rejects_foreign_files(setup: dict, tmp_path: Path) -> None:
    ref = _arrays(setup["ref"])
    bad_ids = dict(ref, puzzle_identifiers=ref["puzzle_identifiers"].copy())
    bad_ids["puzzle_identifiers"][7] += 1
    p = tmp_path / "ids.npz"
    np.savez(p, **bad_ids)
    with pytest.raises(UserError, match="puzzle_identifiers differs .* 1 row\\(s\\), first row 7"):
        load_predictions(p, setup["data"])
    bad_inputs = dict(ref, inputs=ref["inputs"].copy())
    bad_inputs["inputs"][3, 0] ^= 1
    np.savez(p, **bad_inputs)
    with pytest.raises(UserError, match="inputs differs .* first row 3"):
        load_predictions(p, setup["data"])
    np.savez(p, preds=ref["preds"], inputs=ref["inputs"])
    with pytest.raises(
        UserError, match=r"missing field\(s\) \['puzzle_identifiers', 'q_halt_logits'\]"
    ):
        load_predictions(p, setup["data"])
    np.savez(p, **{k: v[:-1] for k, v in ref.items()})
    with pytest.raises(UserError, match="39 rows but the test split"):
        load_predictions(p, setup["data"])
    with pytest.raises(UserError, match="predictions file not found"):
        load_predictions(tmp_path / "none.npz", setup["data"])


def test_dtype_option_reaches_the_model(setup: dict) -> None:
    from trm.infer import predict
    from trm.model.build import build_model_for_dataset

    out = setup["base"] / "bf16.npz"
    meta = predict_cpu(
        setup["run"],
        setup["data"],
        out,
        batch_size=6,
        max_examples=6,
        dtype="bfloat16",
    )
    assert meta["dtype"] == "bfloat16" and meta["config"]["forward_dtype"] == "bfloat16"
    model, _ = build_model_for_dataset(setup["run"], setup["data"], device="cpu", dtype="bfloat16")
    g = setup["golden"]["batch"]
    r = predict(
        model,
        {"inputs": g["inputs"], "puzzle_identifiers": g["puzzle_identifiers"]},
        dtype=torch.bfloat16,
    )
    got = _arrays(out)
    np.testing.assert_array_equal(got["preds"], r["preds"].numpy())
    np.testing.assert_array_equal(got["q_halt_logits"], r["q_halt_logits"].float().numpy())


def test_a_puzzle_with_several_test_examples_gets_its_identifier_on_every_row(
    setup: dict, tmp_path: Path
) -> None:
    """ARC tasks with two test inputs are one puzzle holding two examples: each prediction row
    carries that puzzle's identifier, and the file passes the dataset check."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(setup["data"], data)
    pids = np.load(array_path(data, "test", "puzzle_identifiers"))
    # rows 0-2 become one puzzle (identifier of row 0), the rest stay one row per puzzle
    grouped = np.concatenate([pids[:1], pids[3:]]).astype(np.int32)
    indices = np.concatenate([[0], np.arange(3, N_TEST + 1)]).astype(np.int32)
    np.save(array_path(data, "test", "puzzle_identifiers"), grouped)
    np.save(array_path(data, "test", "puzzle_indices"), indices)
    out = tmp_path / "p.npz"
    predict_cpu(setup["run"], data, out, batch_size=8)
    rows = _arrays(out)["puzzle_identifiers"]
    assert rows.shape == (N_TEST,)
    np.testing.assert_array_equal(rows[:3], [pids[0]] * 3)
    np.testing.assert_array_equal(rows[3:], pids[3:])
    load_predictions(out, data)


def _preempted_run(setup: dict, out: Path) -> None:
    """Stop a predict run right after its first shard is written."""

    class Preempted(Exception):
        pass

    def stop(start: int, end: int) -> None:
        raise Preempted

    with pytest.raises(Preempted):
        predict_cpu(
            setup["run"],
            setup["data"],
            out,
            batch_size=8,
            shard_batches=2,
            on_shard_written=stop,
        )


@pytest.mark.parametrize("damage", ["truncated", "not_a_zip"])
def test_corrupted_shard_on_resume_is_discarded_and_recomputed_with_a_warning(
    setup: dict, tmp_path: Path, damage: str
) -> None:
    out = tmp_path / "p.npz"
    _preempted_run(setup, out)
    shard = next(shards_dir_for(out).glob("rows_*.npz"))
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"garbage" * 10)
    with pytest.warns(UserWarning, match=f"discarding corrupted prediction shard .*{shard.name}"):
        meta = predict_cpu(
            setup["run"],
            setup["data"],
            out,
            batch_size=8,
            shard_batches=2,
        )
    assert meta["computed_examples"] == N_TEST  # the damaged shard was computed again
    a, b = _arrays(setup["ref"]), _arrays(out)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_predict_replaces_only_its_own_output(setup: dict, tmp_path: Path) -> None:
    from trm.errors import OutputRefusedError

    def command(out: Path, **kw) -> int:
        """`trm predict` as the CLI runs it: checks and the output guard, then the run."""
        kw = {"device": "cpu", "threads": 1, "no_progress": True, "max_examples": 8, **kw}
        s = PredictSettings(checkpoint=setup["run"], data=setup["data"], out=out, **kw)
        return invoke(COMMAND, s)

    out = tmp_path / "p.npz"
    out.write_bytes(b"my notes")
    with pytest.raises(OutputRefusedError, match=r"p.npz is a file not written by trm"):
        command(out)
    assert out.read_bytes() == b"my notes"
    assert command(out, overwrite=True) == 0
    assert command(out) == 0  # its own earlier output: replaced
    assert len(_arrays(out)["preds"]) == 8
    # an unrelated folder where the shards would go is refused too, and kept
    other = tmp_path / "q.npz"
    shards_dir_for(other).mkdir()
    (shards_dir_for(other) / "keep.txt").write_text("x")
    with pytest.raises(OutputRefusedError, match="q.npz.shards is a folder not written by trm"):
        command(other)
    assert (shards_dir_for(other) / "keep.txt").read_text() == "x" and not other.exists()
    # an output inside the dataset or equal to the checkpoint is refused even with --overwrite
    for bad in (setup["data"] / "p.npz", setup["run"] / "step_20"):
        with pytest.raises(OutputRefusedError, match="would destroy what the command reads"):
            command(bad, overwrite=True)


def test_a_resumed_shard_folder_is_the_commands_own(setup: dict, tmp_path: Path) -> None:
    """An interrupted run's shard folder carries the command's marker, so the rerun resumes it
    without --overwrite (the marker guard, not a recogniser of shard files)."""
    from trm import outputs

    out = tmp_path / "p.npz"
    _preempted_run(setup, out)
    assert outputs.is_marked(shards_dir_for(out), COMMAND.marker)
    kw = {"device": "cpu", "threads": 1, "no_progress": True, "batch_size": 8, "shard_batches": 2}
    s = PredictSettings(checkpoint=setup["run"], data=setup["data"], out=out, **kw)
    assert invoke(COMMAND, s) == 0
    assert json.loads(meta_path_for(out).read_text())["resumed_shards"] == 1
    assert outputs.is_marked(out, COMMAND.marker) and not shards_dir_for(out).exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch-size", "0"], "--batch-size: 0 is not a valid size (>= 1 and <= 1,048,576)"),
        (["--max-examples", "0"], "--max-examples: 0 is not a valid count (>= 1)"),
        (["--halt-max-steps", "0"], "--halt-max-steps: 0 is not a valid count"),
        (["--shard-batches", "-1"], "--shard-batches: -1 is not a valid count"),
        (["--puzzle-id-seed", "-1"], "--puzzle-id-seed: -1 is not a valid seed"),
        (["--threads", "0"], "--threads: 0 is not a valid count"),
        (["--step", "-2"], "--step: -2 is not a valid count"),
    ],
)
def test_bad_values_are_one_line_errors_before_any_work(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from trm.cli import main

    out = tmp_path / "p.npz"
    base = ["predict", "--checkpoint", str(tmp_path / "none"), "--data", str(tmp_path / "none")]
    assert main([*base, "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trm predict: error: {message}") and err.count("\n") == 1, err
    assert not out.exists() and not shards_dir_for(out).exists()


@pytest.mark.parametrize(
    ("argv", "choices"),
    [
        (["--puzzle-ids", "other"], "true, blank, random, mean"),
        (["--dtype", "int8"], "auto, float32, bfloat16, float16"),
        (["--arch", "paper-arc"], "arc_paper"),  # the presets of config/model
    ],
)
def test_choices_are_refused_naming_them(
    argv: list[str], choices: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from trm.cli import main

    base = ["predict", "--checkpoint", str(tmp_path), "--data", str(tmp_path)]
    assert main([*base, "--out", str(tmp_path / "p.npz"), *argv]) == 2
    err = capsys.readouterr().err
    assert "is not one of" in err and choices in err and err.count("\n") == 1, err


def test_the_workflow_predict_and_analyses_sections_are_passed_as_they_stand() -> None:
    """Field names are the config keys: `predict:` and the `analyses:` keys predict reads become
    its flags; the keys a rule consumes itself (dataset, the list of id variants, ensemble) are
    not predict's settings and are left out by `select`."""
    from trm.cli import build_parser
    from trm.command import settings_from_namespace
    from trm.settings_export import select

    predict = {"batch_size": 64, "device": "cpu", "dtype": "float32", "dataset": "other"}
    analyses = {
        "trajectory": True,
        "halt_max_steps": 4,
        "puzzle_ids": ["blank", "random"],
        "puzzle_id_seed": 7,
        "ensemble": {"last": 2},
    }
    values = {**select(PredictSettings, predict), **select(PredictSettings, analyses)}
    assert set(values) == {
        "batch_size",
        "device",
        "dtype",
        "trajectory",
        "halt_max_steps",
        "puzzle_id_seed",
    }
    argv = COMMAND.argv(values) + ["--checkpoint", "c", "--data", "d", "--out", "o.npz"]
    s = settings_from_namespace(PredictSettings, build_parser().parse_args(argv))
    assert (s.batch_size, s.device, s.dtype, s.trajectory) == (64, "cpu", "float32", True)
    assert (s.halt_max_steps, s.puzzle_id_seed, s.puzzle_ids) == (4, 7, "true")
