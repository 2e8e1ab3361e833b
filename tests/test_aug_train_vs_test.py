"""Issue 11 section 4, training-time vs test-time augmentation: a checkpoint evaluated on another
dataset's test split with identifiers mapped by puzzle name (`trm predict --puzzle-ids-from`),
the variants x test votes comparison (`trm compare sweep`), its report view, and the grid
configs' DAG. Each test takes a few seconds (the dry runs ~10-20 s) on 2 shared cores."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from workflow_helpers import ROOT, copy_workflow, planned_jobs, snakemake, tail

from trm.cli import main as trm_main
from trm.errors import UserError
from trm.eval.compare import compare_sweep
from trm.eval.paired import read_comparisons, write_comparisons
from trm.eval.predict.identifiers import PuzzleNameMappingError, canonical_name, map_by_name
from trm.eval.scoring import score_arc
from trm.eval.stats import Bootstrap, paired_diff_ci

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDEN = SHARED / "golden" / "arc-mini"
DATA = GOLDEN / "upstream-aug-8"  # 12 test tasks x (original + 8 augmented views)
EVAL = GOLDEN / "eval-seed0"
needs_golden = pytest.mark.skipif(
    not EVAL.exists(), reason=f"golden ARC fixtures not found at {GOLDEN} (CI always has them)"
)
N_ROWS = 19  # predicted rows: rows 0, 9 and 18 are three tasks' un-augmented views
N_BOOT = 200
OVERRIDES = {"hidden_size": 32, "num_heads": 2, "halt_max_steps": 2, "H_cycles": 1, "L_cycles": 1}


def _names(data: Path) -> list[str]:
    return json.loads((data / "identifiers.json").read_text())


def _row_ids(data: Path) -> np.ndarray:
    ids = np.load(data / "test" / "all__puzzle_identifiers.npy")
    return np.repeat(ids, np.diff(np.load(data / "test" / "all__puzzle_indices.npy")))


@pytest.fixture(scope="module")
def aug0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden tasks built without augmentation (the 0x training dataset)."""
    if not DATA.exists():
        pytest.skip(f"golden ARC fixtures not found at {GOLDEN} (CI always has them)")
    from trm.cli import main

    out = tmp_path_factory.mktemp("aug0") / "data"
    argv = ["prepare", "arc", "--input-prefix", str(GOLDEN / "kaggle" / "arc-agi")]
    argv += ["--subsets", "training", "evaluation", "concept", "--test-set", "evaluation"]
    assert main([*argv, "--num-aug", "0", "--seed", "42", "--out", str(out)]) == 0
    return out


def _checkpoint(folder: Path, num_identifiers: int) -> Path:
    """A tiny random TRM whose puzzle embeddings and halting head matter."""
    from trm.model.build import build_random_model

    model, _ = build_random_model(
        "tiny",
        seq_len=900,
        vocab_size=12,
        num_puzzle_identifiers=num_identifiers,
        overrides=OVERRIDES,
        seed=0,
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.q_head.weight.normal_(0, 0.5, generator=gen)
        model.puzzle_emb.weights.normal_(0, 1.0, generator=gen)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "step_1")
    return folder / "step_1"


def _predict(ckpt: Path, data: Path, out: Path, **kw) -> dict[str, np.ndarray]:
    from trm.cli.predict import PredictSettings
    from trm.eval.predict import run_predict

    old = torch.get_num_threads()
    try:
        run_predict(
            PredictSettings(
                checkpoint=ckpt,
                data=data,
                out=out,
                batch_size=N_ROWS,
                device="cpu",
                arch="tiny",
                arch_override=OVERRIDES,
                no_progress=True,
                threads=1,
                **kw,
            )
        )
    finally:
        torch.set_num_threads(old)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


# ---- the name mapping ---------------------------------------------------------------------------


@needs_golden
def test_same_dataset_maps_every_puzzle_to_itself():
    used = _row_ids(DATA)
    mapping = map_by_name(DATA, DATA, used)
    np.testing.assert_array_equal(mapping.table[used], used)
    assert mapping.exact == len(np.unique(used)) and mapping.canonical == 0


@needs_golden
def test_name_mapped_predict_on_the_same_dataset_equals_a_plain_predict(tmp_path):
    ckpt = _checkpoint(tmp_path / "ckpt8", len(_names(DATA)))
    plain = _predict(ckpt, DATA, tmp_path / "plain.npz", max_examples=N_ROWS)
    mapped = _predict(
        ckpt, DATA, tmp_path / "mapped.npz", max_examples=N_ROWS, puzzle_ids_from=DATA
    )
    for key in ("puzzle_identifiers", "inputs", "preds", "q_halt_logits"):
        np.testing.assert_array_equal(mapped[key], plain[key])
    meta = json.loads((tmp_path / "mapped.meta.json").read_text())
    assert meta["puzzle_ids_from"] == str(DATA)
    assert meta["puzzle_id_mapping"]["puzzles_by_task_name"] == 0


@needs_golden
def test_0x_model_sees_every_augmented_view_with_its_tasks_embedding(aug0, tmp_path, monkeypatch):
    import trm.eval.predict.batches as P

    ckpt = _checkpoint(tmp_path / "ckpt0", len(_names(aug0)))
    fed: list[np.ndarray] = []
    real = P.predict_batch

    def spy(model, inputs, puzzle_ids, *args, **kw):
        fed.append(np.asarray(puzzle_ids).copy())
        return real(model, inputs, puzzle_ids, *args, **kw)

    monkeypatch.setattr(P, "predict_batch", spy)
    mapped = _predict(
        ckpt, DATA, tmp_path / "mapped.npz", max_examples=N_ROWS, puzzle_ids_from=aug0
    )
    monkeypatch.undo()
    # every view (original and augmented) is fed its task's identifier in the 0x dataset
    names8, names0 = _names(DATA), _names(aug0)
    rows8 = _row_ids(DATA)[:N_ROWS]
    expected = [names0.index(names8[i].partition("|||")[0]) for i in rows8]
    np.testing.assert_array_equal(np.concatenate(fed), expected)
    assert len({names8[i] for i in rows8}) > len(set(expected))  # views really were merged
    # the file keeps the evaluated dataset's identifiers, the meta says what the model was fed
    np.testing.assert_array_equal(mapped["puzzle_identifiers"], rows8)
    meta = json.loads((tmp_path / "mapped.meta.json").read_text())
    assert meta["puzzle_ids_from"] == str(aug0)
    assert meta["puzzle_id_mapping"] == {"puzzles_by_own_name": 3, "puzzles_by_task_name": 16}
    # an un-augmented view is the 0x test example itself: the same answer as a plain predict
    plain = _predict(ckpt, aug0, tmp_path / "plain0.npz")
    rows0 = list(_row_ids(aug0))
    for row in (0, 9, 18):
        j = rows0.index(names0.index(names8[rows8[row]]))
        np.testing.assert_array_equal(mapped["inputs"][row], plain["inputs"][j])
        np.testing.assert_array_equal(mapped["preds"][row], plain["preds"][j])
        np.testing.assert_allclose(mapped["q_halt_logits"][row], plain["q_halt_logits"][j], 1e-5)


@needs_golden
def test_a_task_missing_from_the_training_dataset_is_a_clear_error(aug0, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(aug0, partial)
    names = _names(aug0)
    lost = canonical_name(_names(DATA)[int(_row_ids(DATA)[0])])
    names[names.index(lost)] = "renamed-task"
    (partial / "identifiers.json").write_text(json.dumps(names))
    with pytest.raises(PuzzleNameMappingError) as err:
        map_by_name(DATA, partial, _row_ids(DATA))
    msg = str(err.value)
    assert str(DATA) in msg and str(partial) in msg and lost in msg and "\n" not in msg
    # trm predict stops before writing anything
    ckpt = _checkpoint(tmp_path / "ckpt0", len(names))
    with pytest.raises(UserError, match=lost):
        _predict(ckpt, DATA, tmp_path / "out.npz", max_examples=N_ROWS, puzzle_ids_from=partial)
    assert not (tmp_path / "out.npz").exists()
    assert not (tmp_path / "out.npz.shards").exists()


# ---- the variants x test votes table ------------------------------------------------------------


@needs_golden
def test_sweep_comparisons_are_the_scores_and_paired_at_equal_votes(tmp_path):
    with np.load(EVAL / "preds.npz") as z:
        good = {k: z[k] for k in z.files}
    worse = dict(good, preds=good["preds"].copy())
    worse["preds"][::2] = 0  # every other view answers nothing: fewer votes for the right answer
    np.savez(tmp_path / "worse.npz", **worse)
    runs = {"aug8": EVAL / "preds.npz", "aug0": tmp_path / "worse.npz"}
    boot = Bootstrap(n_boot=N_BOOT)
    records = compare_sweep(DATA, runs, [0, 2, 8], None, boot)
    # one record per level, aug0 (a) against the base aug8 (b) at equal votes
    assert [(r["context"]["level"], r["a"], r["b"]) for r in records] == [
        (0, "aug0", "aug8"),
        (2, "aug0", "aug8"),
        (8, "aug0", "aug8"),
    ]
    assert {(r["metric"], r["unit"], r["n"]) for r in records} == {("ARC/pass@2", "task", 12)}
    # K = 8 (every view) is the paper-mode score, K = 0 the single-mode one
    for mode, rec in (("paper", records[-1]), ("single", records[0])):
        for name, side in (("aug8", "b"), ("aug0", "a")):
            metrics = score_arc(
                DATA, runs[name], tmp_path / f"{name}-{mode}", mode, boot=boot, progress=False
            )
            assert rec[f"{side}_value"] == pytest.approx(metrics["ARC/pass@2"])
    assert [r["context"]["b_mean_votes"] for r in records] == [1.0, 3.0, 9.0]
    for r in records:
        assert r["b_ci_low"] <= r["b_value"] <= r["b_ci_high"]
    # the difference is paired over the same tasks: paired_diff_ci of the task rates
    from trm.eval.arc.processed import process_predictions
    from trm.eval.arc.voting import level_rows, vote

    per_task = {}
    for name, path in runs.items():
        pp = process_predictions(DATA, path, progress=False)
        per_task[name] = vote(pp, level_rows(pp, 8), pass_ks=(2,)).task_pass[:, 0]
    d = paired_diff_ci(per_task["aug0"], per_task["aug8"], boot)
    last = records[-1]
    assert last["diff"] == pytest.approx(d["diff"]) and last["diff"] < 0
    assert (last["diff_ci_low"], last["diff_ci_high"]) == (
        pytest.approx(d["ci_low"]),
        pytest.approx(d["ci_high"]),
    )
    assert last["diff_ci_method"] == d["ci_method"]
    # the command: one comparisons file with the levels and labels
    out = tmp_path / "sweep.json"
    argv = ["compare", "sweep", "--data", str(DATA), "--levels", "0,2", "8", "--out", str(out)]
    argv += ["--run", f"aug8={runs['aug8']}", f"aug0={runs['aug0']}", "--n-boot", str(N_BOOT)]
    assert trm_main([*argv, "--label", "aug0=trained at num_aug 0"]) == 0
    doc = read_comparisons(out)
    assert doc["levels"] == [0, 2, 8] and doc["labels"] == {"aug0": "trained at num_aug 0"}
    assert doc["comparisons"] == records


def _record(level: int, a: float, b: float, diff: float) -> dict:
    """A record of `trm compare sweep` (trm.eval.paired) with +-0.1 / +-0.05 intervals."""
    return {
        "metric": "ARC/pass@2",
        "unit": "task",
        "n": 12,
        "a": "aug0",
        "a_value": a,
        "a_ci_low": a - 0.1,
        "a_ci_high": a + 0.1,
        "a_ci_method": "wilson",
        "b": "aug8",
        "b_value": b,
        "b_ci_low": b - 0.1,
        "b_ci_high": b + 0.1,
        "b_ci_method": "wilson",
        "diff": diff,
        "diff_ci_low": diff - 0.05,
        "diff_ci_high": diff + 0.05,
        "diff_ci_method": "wilson-mover",
        "p_value": 0.04,
        "n_boot": 200,
        "seed": 0,
        "context": {"level": level, "a_mean_votes": 1.0 + level, "b_mean_votes": 1.0 + level},
    }


def _synthetic_sweep(path: Path) -> None:
    labels = {"aug8": "trained on d8 (num_aug 8)", "aug0": "trained on d0 (num_aug 0)"}
    records = [_record(0, 0.125, 0.25, -0.125), _record(8, 0.25, 0.5, -0.25)]
    write_comparisons(path, records, title="g", base="aug8", labels=labels, levels=[0, 8])


def test_report_view_of_the_sweep_comparisons(tmp_path):
    from trm.report.comparisons import comparison_table
    from trm.report.inputs import ReportInputError

    _synthetic_sweep(tmp_path / "sg.json")
    view = comparison_table(tmp_path / "sg.json", "trm compare sweep", labels_title="training data")
    assert view["base"] == "aug8" and view["n"] == 12 and view["metrics"] == ["ARC/pass@2"]
    assert [c["title"] for c in view["columns"]] == ["training data", "views pooled"]
    assert [g["label"] for g in view["groups"]] == ["K = 0", "K = 8"]
    base, other = view["groups"][1]["rows"]
    assert base["name"] == "aug8" and base["side"] == ["trained on d8 (num_aug 8)", "9.0"]
    assert base["cells"] == [
        {
            "value": "50.0 %",
            "interval": "[40.0, 60.0] Wilson",
            "diff": "baseline",
            "diff_interval": "",
            "p": "",
        }
    ]
    assert other["side"] == ["trained on d0 (num_aug 0)", "9.0"] and other["n"] == 12
    assert other["cells"][0] | {"value": "", "interval": ""} == {
        "value": "",
        "interval": "",
        "diff": "-25.0 pt",
        "diff_interval": "[-30.0, -20.0] pt Wilson-MOVER",
        "p": "0.04",
    }
    broken = json.loads((tmp_path / "sg.json").read_text())
    del broken["comparisons"][1]["context"]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    place = re.escape("broken.json: comparisons[1] lacks key 'context'")
    with pytest.raises(ReportInputError, match=place):
        comparison_table(tmp_path / "broken.json", "trm compare sweep")


def test_report_renders_the_train_aug_x_test_votes_table(tmp_path):
    from trm.report.grids import GridInputs
    from trm.report.render import render_html

    _synthetic_sweep(tmp_path / "sg.json")
    grid = dict(_record(0, 0.5, 0.5, 0.0), a="aug0", context={})
    write_comparisons(tmp_path / "grid.json", [grid], base="aug8", paper={})
    inputs = GridInputs(
        "g",
        str(tmp_path / "grid.json"),
        {"aug8": "g.aug8"},
        sweep_comparisons=str(tmp_path / "sg.json"),
    )
    html = render_html([], {}, str(ROOT / "reports" / "templates"), "t", grids=[inputs])
    assert "by variant and test votes K" in html
    sweep = html.split('class="grid-table sweep-grid"')[1].split("</table>")[0]
    assert "trained on d0 (num_aug 0)" in sweep and "-25.0 pt" in sweep and "K = 8" in sweep
    assert "[-30.0, -20.0] pt Wilson-MOVER" in sweep and "<th>views pooled</th>" in sweep


# ---- the grid configs plan the expected jobs ----------------------------------------------------


@pytest.fixture(scope="module")
def wf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("wf") / "repo")


def _dry_run(wf: Path, config: str) -> tuple[dict[str, int], str]:
    proc = snakemake(wf, "-n", "--cores", "2", "report", "--configfile", config)
    assert proc.returncode == 0, tail(proc)
    return planned_jobs(proc.stdout + proc.stderr), proc.stdout + proc.stderr


def _job_blocks(output: str, rule: str) -> list[str]:
    blocks = output.split("\nrule ")
    return [b for b in blocks if b.startswith(f"{rule}:")]


@pytest.mark.parametrize(
    "name, base_data, aug0_data",
    [
        ("arc-aug-smoke", "arc-aug-smoke-aug8", "arc-aug-smoke-aug0"),
        ("arc1-aug-train-vs-test", "arc1-concept-aug1000", "arc1-concept-aug0"),
    ],
)
def test_aug_grid_configs_train_twice_and_evaluate_both_on_the_base_test_split(
    wf, name, base_data, aug0_data
):
    if name.startswith("arc1") and not (SHARED / "arc-kaggle-combined").exists():
        pytest.skip("../shared/arc-kaggle-combined is absent (CI always has it)")
    jobs, out = _dry_run(wf, f"config/experiments/{name}.yaml")
    assert jobs["train"] == 2 and jobs["predict"] == 2 and jobs["sweep"] == 2
    assert jobs["score"] == 2 and jobs["score_grid"] == 1 and jobs["sweep_grid"] == 1
    assert sum(v for k, v in jobs.items() if k.startswith("prepare_")) == 2
    (predict0,) = [b for b in _job_blocks(out, "predict") if f"runs/{name}.aug0/" in b]
    inputs = next(line for line in predict0.splitlines() if line.strip().startswith("input:"))
    # the 0x model predicts the base's test split, mapped through its own training dataset
    assert f"data/{base_data}," in inputs + "," and f"data/{aug0_data}," in inputs + ","
    for rule, count in (("score", 1), ("sweep", 1)):
        blocks = [b for b in _job_blocks(out, rule) if f"runs/{name}.aug0/" in b]
        assert len(blocks) == count
        for block in blocks:
            assert f"data/{base_data}" in block and f"data/{aug0_data}," not in block
    cfg = yaml.safe_load((ROOT / f"config/experiments/{name}.yaml").read_text())
    train = cfg["experiments"][name]["train"]
    if name.startswith("arc1"):  # the fork's Experiment D settings
        assert (train["global_batch_size"], train["max_steps"]) == (256, 2500)
        assert cfg["experiments"][name]["variants"]["aug0"]["dataset"]["num_aug"] == 0


def test_predict_dataset_outside_a_grid_must_name_a_prepared_dataset(wf):
    cfg = yaml.safe_load((ROOT / "config/experiments/arc-aug-smoke.yaml").read_text())
    exp = cfg["experiments"]["arc-aug-smoke"]
    del exp["variants"]
    exp["predict"]["dataset"] = "base"  # only a grid variant has a base
    (wf / "config/bad-eval.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(wf, "-n", "--cores", "1", "report", "--configfile", "config/bad-eval.yaml")
    assert proc.returncode != 0
    assert "predict.dataset" in tail(proc) and "'base'" in tail(proc), tail(proc)
    assert "Job stats" not in proc.stdout + proc.stderr
