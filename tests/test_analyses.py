"""Issue 11 analyses: per-step trajectories and halting, puzzle-ID ablation, ensemble voting."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from trm.eval import arc as V
from trm.eval.analyses import keys as K
from trm.eval.analyses.trajectory import (
    analyse_trajectory,
    first_halt_step,
    load_trajectory,
    vote_step,
    write_trajectory,
)
from trm.eval.arc.hashing import hash_blocks
from trm.eval.paired import read_comparisons
from trm.eval.predict.identifiers import replacement_table
from trm.eval.predictions import read_predictions, write_predictions
from trm.eval.scoring import score_arc
from trm.eval.stats import Bootstrap

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDEN = SHARED / "golden" / "arc-mini"
DATA = GOLDEN / "upstream-aug-8"
EVAL = GOLDEN / "eval-seed0"
needs_golden = pytest.mark.skipif(
    not EVAL.exists(), reason=f"golden ARC fixtures not found at {GOLDEN}"
)
N_BOOT = 200
BOOT = Bootstrap(n_boot=N_BOOT, seed=0)
N_ROWS = 24  # test rows a model predicts (900-token attention is slow on a shared CPU)


def _step_fields(tokens_per_step: list[np.ndarray], q_per_step: list[np.ndarray], pids):
    """What `trm predict --trajectory` stores for these per-step answers (hashed as scoring does)."""
    ts = V.load_arc_test_set(DATA, np.asarray(pids))
    shapes, keys = [], []
    for tokens in tokens_per_step:
        shape, k = hash_blocks(tokens, np.asarray(pids, dtype=np.int64), ts, True, False, "")
        shapes.append(shape)
        keys.append(k[:, 0])
    return {
        "step_answer_shape": np.stack(shapes, 1),
        "step_answer_hash": np.stack(keys, 1),
        "step_q_halt_logits": np.stack(q_per_step, 1).astype(np.float32),
    }


@pytest.fixture(scope="module")
def golden_trajectory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden predictions as the last of 3 steps; earlier steps are other answers."""
    with np.load(EVAL / "preds.npz") as z:
        raw = {k: z[k] for k in z.files}
    rng = np.random.default_rng(1)
    n = len(raw["preds"])
    step1 = raw["preds"][rng.permutation(n)]  # other rows' answers: mostly wrong
    step2 = raw["preds"].copy()
    step2[::3] = step1[::3]  # a third still wrong
    q = [rng.normal(0, 2, n), rng.normal(0, 2, n), raw["q_halt_logits"]]
    fields = _step_fields([step1, step2, raw["preds"]], q, raw["puzzle_identifiers"])
    path = tmp_path_factory.mktemp("traj") / "predictions.npz"
    write_predictions(path, **raw, **fields)
    return path


@needs_golden
def test_last_step_of_trajectory_equals_the_normal_score(golden_trajectory, tmp_path):
    traj = load_trajectory(DATA, golden_trajectory)
    assert traj.steps == 3
    for mode in ("paper", "single"):
        full = V.vote(traj.pp, V.mode_rows(traj.pp, mode))
        last = vote_step(traj, 3, mode, pass_ks=V.PASS_KS)
        assert last.metrics == full.metrics
        np.testing.assert_array_equal(last.label_rank, full.label_rank)
        np.testing.assert_array_equal(last.top_votes, full.top_votes)
        np.testing.assert_array_equal(last.n_candidates, full.n_candidates)
        np.testing.assert_array_equal(last.top_rows, full.top_rows)
        # an earlier step is a different vote (the test would notice a step mix-up)
        assert vote_step(traj, 1, mode).metrics != {
            k: full.metrics[k] for k in ("ARC/pass@1", "ARC/pass@2")
        }

    rows, summary, comparisons = analyse_trajectory(DATA, golden_trajectory, boot=BOOT)
    write_trajectory(rows, summary, comparisons, tmp_path / "traj")
    with open(tmp_path / "traj" / "trajectory.csv") as f:
        table = list(csv.DictReader(f))
    assert [r[K.TRAJ_STEP] for r in table] == ["1", "2", "3"] * 2
    # halting.json holds the halting figures; the halted-vs-last differences are a
    # comparisons file (trm.eval.paired), one record per mode and K
    halting = json.loads((tmp_path / "traj" / "halting.json").read_text())
    assert halting == summary and not any("halted" in key for key in halting)
    records = read_comparisons(tmp_path / "traj" / K.HALTED_VS_LAST)["comparisons"]
    assert records == json.loads(json.dumps(comparisons))
    assert [(r["context"]["mode"], r["metric"], r["a"], r["b"]) for r in records] == [
        (mode, f"ARC/pass@{k}", "halted", "last") for mode in ("paper", "single") for k in (1, 2)
    ]
    last = {(r["context"]["mode"], r["metric"]): r["b_value"] for r in records}
    for mode in ("paper", "single"):
        metrics = score_arc(
            DATA, golden_trajectory, tmp_path / mode, mode=mode, boot=BOOT, progress=False
        )
        row = next(r for r in table if r[K.TRAJ_MODE] == mode and r[K.TRAJ_STEP] == "3")
        for k in (1, 2):
            assert float(row[f"pass@{k}"]) == metrics[f"ARC/pass@{k}"]
            assert last[mode, f"ARC/pass@{k}"] == pytest.approx(metrics[f"ARC/pass@{k}"])
            lo, hi = (float(row[c]) for c in K.ci_keys(f"pass@{k}"))
            assert lo <= float(row[f"pass@{k}"]) <= hi
    # the golden expectation, for the record
    expected = json.loads((EVAL / "expected.json").read_text())["ARC/pass@2"]
    assert last["paper", "ARC/pass@2"] == pytest.approx(expected)


@needs_golden
def test_halting_votes_each_row_at_its_first_halting_step(golden_trajectory):
    traj = load_trajectory(DATA, golden_trajectory)
    q = traj.q_logits
    halt = first_halt_step(q)
    # first_halt_step by hand, row by row
    for i in range(len(q)):
        over = [k + 1 for k in range(q.shape[1]) if q[i, k] > 0]
        assert halt[i] == (over[0] if over else q.shape[1])
    _, summary, comparisons = analyse_trajectory(DATA, golden_trajectory, boot=BOOT)
    assert summary[K.HALT_MEAN_STEP] == pytest.approx(halt.mean())
    assert summary[K.HALT_SAVED] == pytest.approx(1 - halt.mean() / 3)
    assert sum(summary[K.HALT_HISTOGRAM].values()) == len(q)
    # halting accuracy = a vote where every row answers at its own halting step: rows that
    # halt at step 3 keep the final answer, so forcing all to halt at 3 gives the last score
    never = np.full(len(q), 3)
    from trm.eval.analyses.trajectory import vote_answers

    assert vote_answers(traj, never - 1, "paper").metrics == vote_step(traj, 3, "paper").metrics
    res = vote_answers(traj, halt - 1, "paper")
    (record,) = [
        c for c in comparisons if c["context"]["mode"] == "paper" and c["metric"] == "ARC/pass@2"
    ]
    assert record["a_value"] == pytest.approx(res.metrics["ARC/pass@2"])
    assert record["b_value"] == pytest.approx(vote_step(traj, 3, "paper").metrics["ARC/pass@2"])
    assert record["diff"] == pytest.approx(record["a_value"] - record["b_value"])
    assert record["diff_ci_low"] <= record["diff"] <= record["diff_ci_high"]
    assert record["n"] == len(res.task_names) and record["n_boot"] == N_BOOT


def test_random_ids_are_valid_other_puzzles_and_seeded():
    t = replacement_table("random", 50, seed=3)
    assert t[0] == 0 and np.all((t[1:] >= 1) & (t[1:] < 50)) and np.all(t[1:] != np.arange(1, 50))
    np.testing.assert_array_equal(t, replacement_table("random", 50, seed=3))
    assert not np.array_equal(t, replacement_table("random", 50, seed=4))
    assert np.all(replacement_table("blank", 50) == 0)
    np.testing.assert_array_equal(replacement_table("true", 50), np.arange(50))


# ---- with a model: trm predict --trajectory / --puzzle-ids on the golden ARC dataset ------------


@pytest.fixture(scope="module")
def arc_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny random TRM for the golden ARC dataset, with non-trivial halting and embeddings."""
    if not DATA.exists():
        pytest.skip(f"golden ARC fixtures not found at {GOLDEN}")
    from trm.model.build import build_random_model

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    overrides = {
        "hidden_size": 32,
        "num_heads": 2,
        "halt_max_steps": 3,
        "H_cycles": 1,
        "L_cycles": 1,
    }
    model, _ = build_random_model(
        "tiny", seq_len=900, vocab_size=12, num_puzzle_identifiers=433, overrides=overrides, seed=0
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.q_head.weight.normal_(0, 0.5, generator=gen)
        model.q_head.bias.zero_()
        model.puzzle_emb.weights.normal_(0, 1.0, generator=gen)
    base = tmp_path_factory.mktemp("arcmodel")
    torch.save(model.state_dict(), base / "step_1")
    yield {"ckpt": base / "step_1", "base": base, "overrides": overrides}
    torch.set_num_threads(old)


def _predict(arc_model: dict, out: Path, data: Path = DATA, **kw) -> dict:
    from trm.cli.predict import PredictSettings
    from trm.eval.predict import run_predict

    settings = PredictSettings(
        checkpoint=arc_model["ckpt"],
        data=data,
        out=out,
        batch_size=N_ROWS,
        max_examples=N_ROWS,
        device="cpu",
        arch="tiny",
        arch_override=arc_model["overrides"],
        no_progress=True,
        threads=1,
        **kw,
    )
    run_predict(settings)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def test_step_k_of_trajectory_equals_a_predict_with_k_steps(arc_model):
    base = arc_model["base"]
    traj = _predict(arc_model, base / "traj.npz", trajectory=True)
    assert traj["step_answer_hash"].shape == (N_ROWS, 3)
    assert traj["step_answer_hash"].dtype == np.uint64
    assert traj["step_answer_shape"].dtype == np.uint16
    pids = traj["puzzle_identifiers"].astype(np.int64)
    ts = V.load_arc_test_set(DATA, np.load(DATA / "test" / "all__puzzle_identifiers.npy"))
    seen = set()
    for k in (1, 2, 3):
        direct = _predict(arc_model, base / f"k{k}.npz", halt_max_steps=k)
        shape, keys = hash_blocks(direct["preds"], pids, ts, True, False, "")  # as scoring does
        np.testing.assert_array_equal(traj["step_answer_shape"][:, k - 1], shape)
        np.testing.assert_array_equal(traj["step_answer_hash"][:, k - 1], keys[:, 0])
        np.testing.assert_array_equal(traj["step_q_halt_logits"][:, k - 1], direct["q_halt_logits"])
        seen.add(traj["step_answer_hash"][:, k - 1].tobytes())
    for name in ("preds", "q_halt_logits"):  # recording leaves the final outputs unchanged
        np.testing.assert_array_equal(traj[name], direct[name])
    assert len(seen) == 3  # the steps differ, so a step mix-up would fail
    # test-time depth: more steps than trained; its first 3 steps are the 3-step trajectory
    deeper = _predict(arc_model, base / "deep.npz", trajectory=True, halt_max_steps=5)
    assert deeper["step_answer_hash"].shape == (N_ROWS, 5)
    np.testing.assert_array_equal(deeper["step_answer_hash"][:, :3], traj["step_answer_hash"])
    meta = json.loads((base / "deep.meta.json").read_text())
    assert meta["act_steps"] == 5 and meta["trajectory"] is True
    assert read_predictions(base / "deep.npz").optional["step_q_halt_logits"].shape == (N_ROWS, 5)


def test_blank_ids_equal_a_dataset_whose_identifiers_are_all_blank(arc_model, tmp_path):
    blank = _predict(arc_model, tmp_path / "blank.npz", puzzle_ids="blank")
    zeroed = tmp_path / "zeroed"
    shutil.copytree(DATA, zeroed)
    ids_file = zeroed / "test" / "all__puzzle_identifiers.npy"
    np.save(ids_file, np.zeros_like(np.load(ids_file)))
    direct = _predict(arc_model, tmp_path / "direct.npz", data=zeroed)
    np.testing.assert_array_equal(blank["preds"], direct["preds"])
    np.testing.assert_array_equal(blank["q_halt_logits"], direct["q_halt_logits"])
    # the file keeps the dataset's identifiers, and the ids mattered
    np.testing.assert_array_equal(
        blank["puzzle_identifiers"], np.load(DATA / "test" / "all__puzzle_identifiers.npy")[:N_ROWS]
    )
    true = _predict(arc_model, tmp_path / "true.npz")
    assert not np.array_equal(true["q_halt_logits"], blank["q_halt_logits"])
    for mode in ("random", "mean"):
        other = _predict(arc_model, tmp_path / f"{mode}.npz", puzzle_ids=mode)
        assert not np.array_equal(other["q_halt_logits"], blank["q_halt_logits"])
        assert not np.array_equal(other["q_halt_logits"], true["q_halt_logits"])


# ---- checkpoint ensembles: several predictions files vote pooled --------------------------------


@needs_golden
def test_pooling_two_copies_equals_single_voting_with_doubled_counts(tmp_path):
    from trm.cli import main

    pred = EVAL / "preds.npz"
    one = V.process_predictions(DATA, pred, progress=False)
    two = V.process_pooled(DATA, [pred, pred], progress=False)
    assert len(two.input_index) == 2 * len(one.input_index)
    for mode in ("paper", "single"):
        a = V.vote(one, V.mode_rows(one, mode))
        b = V.vote(two, V.mode_rows(two, mode))
        assert b.metrics == a.metrics
        np.testing.assert_array_equal(b.n_votes, 2 * a.n_votes)
        np.testing.assert_array_equal(b.top_votes, 2 * a.top_votes)
        np.testing.assert_array_equal(b.n_candidates, a.n_candidates)
        np.testing.assert_array_equal(b.label_rank, a.label_rank)
        np.testing.assert_array_equal(b.top_rows, a.top_rows)  # first appearance: the 1st copy
    # the CLI takes several files (one path given twice is refused: a copy stands for a second
    # checkpoint's identical predictions); a pool with other answers changes the vote
    copy = tmp_path / "copy.npz"
    copy.write_bytes(pred.read_bytes())
    rc = main(
        [
            "score",
            "arc",
            "--data",
            str(DATA),
            "--predictions",
            str(pred),
            str(copy),
            "--out",
            str(tmp_path / "pooled"),
            "--n-boot",
            "200",
            "--no-progress",
        ]
    )
    assert rc == 0
    pooled = json.loads((tmp_path / "pooled" / "metrics.json").read_text())
    assert pooled["ARC/pass@2"] == json.loads((EVAL / "expected.json").read_text())["ARC/pass@2"]
    assert pooled["effective_votes_mean"] == 2 * V.vote(one).n_votes.mean()


def test_per_step_fields_come_together(tmp_path):
    from trm.errors import UserError

    base = {
        "puzzle_identifiers": np.arange(1, 5, dtype=np.int32),
        "inputs": np.zeros((4, 9), np.uint8),
        "preds": np.zeros((4, 9), np.int32),
        "q_halt_logits": np.zeros(4, np.float32),
    }
    write_predictions(tmp_path / "p.npz", **base, step_q_halt_logits=np.zeros((4, 2)))
    with pytest.raises(UserError, match="per-step fields .* must all be present"):
        read_predictions(tmp_path / "p.npz")
    steps = {
        "step_answer_shape": np.zeros((4, 2)),
        "step_answer_hash": np.zeros((4, 3)),
        "step_q_halt_logits": np.zeros((4, 2)),
    }
    write_predictions(tmp_path / "p.npz", **base, **steps)
    with pytest.raises(UserError, match="one step count"):
        read_predictions(tmp_path / "p.npz")
    steps["step_answer_hash"] = np.zeros((4, 2))
    write_predictions(tmp_path / "p.npz", **base, **steps)
    pred = read_predictions(tmp_path / "p.npz")
    assert pred.optional["step_answer_hash"].dtype == np.uint64  # 14 bytes per example-step:
    assert sum(pred.optional[k].itemsize for k in pred.optional) == 14


# ---- the report section ------------------------------------------------------------------------


@needs_golden
def test_report_shows_trajectory_ids_and_ensemble(golden_trajectory, tmp_path):
    from trm.cli import main
    from trm.report.inputs import ExperimentInputs, ReportInputError
    from trm.report.render import render_html

    root = Path(__file__).resolve().parents[1]
    scores = {}
    for mode in ("paper", "single"):
        scores[mode] = tmp_path / "scores" / mode
        score_arc(DATA, golden_trajectory, scores[mode], mode=mode, boot=BOOT, progress=False)
        # a variant that is the same predictions twice, pooled: differences are exactly 0
        pooled = tmp_path / "pooled" / mode
        score_arc(DATA, [golden_trajectory] * 2, pooled, mode=mode, boot=BOOT, progress=False)
        argv = ["compare", "runs", "--run", f"true={scores[mode]}", f"pooled={pooled}"]
        assert main([*argv, "--out", str(tmp_path / f"cmp_{mode}.json"), "--n-boot", "200"]) == 0
    argv = ["analyse", "trajectory", "--data", str(DATA), "--predictions", str(golden_trajectory)]
    assert main([*argv, "--out", str(tmp_path / "traj"), "--n-boot", "200"]) == 0
    analyses = {
        "analysis_trajectory": str(tmp_path / "traj" / "trajectory.csv"),
        "analysis_ids_paper": str(tmp_path / "cmp_paper.json"),
        "analysis_ids_single": str(tmp_path / "cmp_single.json"),
    }
    exp = ExperimentInputs(
        name="arcmini",
        settings={
            "kind": "arc",
            "benchmark": "ARC-AGI-1",
            "num_aug": 8,
            "description": "golden",
            "smoke": True,
            "gpus": 0,
        },
        data_dir=str(DATA),
        metrics={m: str(scores[m] / "metrics.json") for m in scores},
        per_example={m: str(scores[m] / "per_example.jsonl") for m in scores},
        analyses=analyses,
    )
    html = render_html([exp], None, root / "reports" / "templates")
    assert "Accuracy over ACT steps and halting" in html and "Puzzle-identifier ablation" in html
    last = json.loads((scores["paper"] / "metrics.json").read_text())["ARC/pass@2"]
    assert f"{100 * last:.1f} %" in html
    assert "+0.0 pt" in html  # pooled copies minus the baseline
    ids = html.split('class="ids-table"')[1].split("</table>")[0]
    assert '<td class="num">baseline</td>' in ids  # the baseline is not compared with itself
    assert "<td>true</td>" in ids and "<td>pooled</td>" in ids and "paper mode, 12 tasks" in ids
    # halted vs last step (halted_vs_last.json), one group per mode
    halting = html.split('class="halting-table"')[1].split("</table>")[0]
    assert "mode = paper" in halting and "mode = single" in halting
    assert halting.count("<td>halted</td>") == 2 and halting.count("<td>last</td>") == 2
    # a file without a key of the layout is named, with the record and the key
    bad = json.loads((tmp_path / "cmp_paper.json").read_text())
    del bad["comparisons"][0]["a_ci_method"]
    (tmp_path / "cmp_paper.json").write_text(json.dumps(bad))
    with pytest.raises(
        ReportInputError, match=r"cmp_paper.json: comparisons\[0\] lacks key 'a_ci_method'"
    ):
        render_html([exp], None, root / "reports" / "templates")


def test_ensemble_selects_the_last_k_steps(tmp_path):
    from trm.errors import UserError
    from trm.eval.analyses.ensemble import select_steps

    for n in (5, 10, 20, 100):
        (tmp_path / f"step_{n}").write_bytes(b"")
    (tmp_path / "state.pt").write_bytes(b"")
    assert select_steps(tmp_path, 2) == [20, 100]
    assert select_steps(tmp_path, 4) == [5, 10, 20, 100]
    with pytest.raises(UserError, match="has 4 step_N file.*last 5: train with"):
        select_steps(tmp_path, 5)


@needs_golden
def test_analyse_trajectory_command_writes_its_four_files(golden_trajectory, tmp_path):
    from trm.cli import main

    out = tmp_path / "traj"
    argv = ["analyse", "trajectory", "--data", str(DATA), "--predictions", str(golden_trajectory)]
    argv += ["--out", str(out), "--n-boot", str(N_BOOT), "--no-progress"]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "halted_vs_last.json",
        "halting.json",
        "steps_vs_first.json",
        "trajectory.csv",
    ]
    doc = read_comparisons(out / K.HALTED_VS_LAST)
    assert {r["n_boot"] for r in doc["comparisons"]} == {N_BOOT}
    # every later ACT step against the first, paired over tasks, per mode and K (the claims
    # ledger judges "step 4 vs step 1" on these): the sides are trajectory.csv's values
    steps = read_comparisons(out / K.STEPS_VS_FIRST)["comparisons"]
    assert [(r["context"]["mode"], r["a"], r["b"], r["metric"]) for r in steps] == [
        (mode, f"step {s}", "step 1", f"ARC/pass@{k}")
        for mode in ("paper", "single")
        for s in (2, 3)
        for k in (1, 2)
    ]
    with open(out / "trajectory.csv") as f:
        table = {(r["mode"], int(r["step"])): r for r in csv.DictReader(f)}
    for r in steps:
        k = r["metric"].split("@")[1]
        step = int(r["a"].split()[1])
        assert r["a_value"] == pytest.approx(float(table[r["context"]["mode"], step][f"pass@{k}"]))
        assert r["b_value"] == pytest.approx(float(table[r["context"]["mode"], 1][f"pass@{k}"]))
        assert r["diff"] == pytest.approx(r["a_value"] - r["b_value"])
    assert main(argv) == 0  # its own earlier output is replaced without --overwrite


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["analyse", "trajectory", "--n-boot", "99"], "--n-boot: 99 is not a valid count"),
        (["analyse", "trajectory", "--seed", "-1"], "--seed: -1 is not a valid seed"),
        (["analyse", "ensemble", "--last", "0"], "--last: 0 is not a valid count (>= 1"),
        (["analyse", "ensemble", "--batch-size", "0"], "--batch-size: 0 is not a valid size"),
        (["analyse", "ensemble", "--threads", "0"], "--threads: 0 is not a valid count"),
    ],
)
def test_analyse_bad_values_are_one_line_errors(argv, message, tmp_path, capsys):
    from trm.cli import main

    out = tmp_path / "out"
    inputs = ["--data", str(tmp_path / "d")]
    inputs += ["--predictions", str(tmp_path / "p.npz")] if argv[1] == "trajectory" else []
    inputs += ["--checkpoint", str(tmp_path / "run")] if argv[1] == "ensemble" else []
    assert main([*argv[:2], *inputs, "--out", str(out), *argv[2:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trm {' '.join(argv[:2])}: error: {message}"), err
    assert err.count("\n") == 1 and not out.exists()


def test_ensemble_votes_pooled_and_compares_with_the_last_checkpoint(arc_model, tmp_path):
    """Two checkpoints of a run: each predicted (as `trm predict --step` would), scored, and
    compared with the last one in a comparisons file, with the pool."""
    import yaml

    from trm.cli import main

    state = torch.load(arc_model["ckpt"], weights_only=True)
    run = tmp_path / "run"
    run.mkdir()
    torch.save(state, run / "step_2")
    earlier = {k: v.clone() for k, v in state.items()}
    earlier["q_head.weight"] = -earlier["q_head.weight"]  # another halting head: other votes
    torch.save(earlier, run / "step_1")
    from trm.model.build import build_random_model

    _, info = build_random_model(
        "tiny",
        seq_len=900,
        vocab_size=12,
        num_puzzle_identifiers=433,
        overrides=arc_model["overrides"],
    )
    shape = ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers", "forward_dtype")
    arch = {k: v for k, v in info["config"].items() if k not in shape}
    arch.update(
        name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
        loss={"name": "losses@ACTLossHead"},
    )
    (run / "all_config.yaml").write_text(yaml.safe_dump({"arch": arch}))
    out = tmp_path / "ensemble"
    argv = ["analyse", "ensemble", "--checkpoint", str(run), "--data", str(DATA)]
    argv += ["--out", str(out), "--device", "cpu", "--threads", "1", "--batch-size", "54"]
    assert main([*argv, "--n-boot", str(N_BOOT), "--no-progress"]) == 0

    # each checkpoint's file is what trm predict --step writes
    direct = tmp_path / "direct.npz"
    rc = main(
        ["predict", "--checkpoint", str(run), "--step", "1", "--data", str(DATA)]
        + ["--out", str(direct), "--device", "cpu", "--threads", "1", "--batch-size", "54"]
        + ["--no-progress"]
    )
    assert rc == 0
    assert direct.read_bytes() == (out / "step_1" / "predictions.npz").read_bytes()
    for mode in ("paper", "single"):
        doc = read_comparisons(out / K.ensemble_comparisons(mode))
        assert doc["base"] == "step_2"
        records = doc["comparisons"]
        assert [(r["a"], r["b"], r["metric"]) for r in records] == [
            (a, "step_2", f"ARC/pass@{k}") for a in ("step_1", "pooled") for k in (1, 2)
        ]
        for r in records:
            scored = json.loads((out / r["a"] / "scores" / mode / "metrics.json").read_text())
            assert r["a_value"] == pytest.approx(scored[r["metric"]])
            assert r["diff"] == pytest.approx(r["a_value"] - r["b_value"])
            assert r["n"] == 12 and r["unit"] == "task"
