"""Accuracy over training (issue 20 section 3): `trm analyse checkpoints` predicts and scores every
kept step_N of a training run (and the raw weights of its state.pt beside the EMA ones), compares
the last with the best earlier one, and the report shows it.

Module fixtures: a tiny ARC run (generated tasks on a 6x6 canvas, EMA, step_4 and step_8 kept)
and a tiny grid run without EMA, each a few seconds on one CPU thread.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from small_datasets import TINY_ARC_MODEL

from trm.cli import main as trm_main
from trm.eval.analyses import keys as K
from trm.eval.analyses.checkpoints import headline_record, last_is_worse
from trm.eval.paired import read_comparisons
from trm.train.synthetic import write_grid_task

ROOT = Path(__file__).resolve().parents[1]
N_BOOT = ["--n-boot", "200"]
CPU = ["--device", "cpu", "--threads", "1", "--batch-size", "64", "--no-progress"]
MODEL = [
    *TINY_ARC_MODEL,
    "train.global_batch_size=8",
    "train.epochs=1000",
    "train.lr=3e-3",
    "train.lr_warmup_steps=2",
    "train.cpu_threads=1",
    "train.keep_step_weights=true",
]


@pytest.fixture(scope="module")
def arc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated ARC tasks, a run trained with EMA keeping step_4 and step_8, and its analysis."""
    threads = torch.get_num_threads()
    base = tmp_path_factory.mktemp("ckpt")
    tasks, data, run = base / "tasks", base / "data", base / "run"
    assert (
        trm_main(
            ["prepare", "arc-tasks", "--out", str(tasks), "--tasks", "training=6", "evaluation=4"]
            + ["--demos", "3", "--families", "colour_map", "fill_background", "keep_colour"]
            + ["--min-size", "2", "--max-size", "3", "--seed", "0"]
        )
        == 0
    )
    assert (
        trm_main(
            ["prepare", "arc", "--no-progress", "--input-prefix", str(tasks / "generated")]
            + ["--subsets", "training", "evaluation", "--test-set", "evaluation"]
            + ["--num-aug", "2", "--canvas", "6", "--out", str(data)]
        )
        == 0
    )
    train = ["train", "--no-progress", "--data", str(data), "--out", str(run), *MODEL]
    # the EMA of 8 steps without the final pass: averaged weights that differ from the raw ones
    train += ["train.max_steps=8", "train.checkpoint_every=4", "train.ema=true"]
    assert trm_main([*train, "train.ema_rate=0.5", "train.ema_final_pass=false"]) == 0
    out = base / "analysis"
    argv = ["analyse", "checkpoints", "--checkpoint", str(run), "--data", str(data)]
    assert trm_main([*argv, "--out", str(out), "--raw", "--keep-predictions", *N_BOOT, *CPU]) == 0
    yield {"data": data, "run": run, "out": out, "base": base}
    torch.set_num_threads(threads)


def _table(out: Path) -> list[dict[str, str]]:
    with open(out / K.CKPT_TABLE, newline="") as f:
        return list(csv.DictReader(f))


def _summary(out: Path) -> dict:
    return json.loads((out / K.CKPT_SUMMARY).read_text())


def test_one_row_per_kept_step_weights_mode_and_metric(arc):
    rows = _table(arc["out"])
    assert list(rows[0]) == K.checkpoints_columns()
    assert [(r["step"], r["weights"], r["mode"], r["metric"]) for r in rows] == [
        (step, weights, mode, f"ARC/pass@{k}")
        for step, weights in (("4", "ema"), ("8", "ema"), ("8", "raw"))
        for mode in ("paper", "single")
        for k in (1, 2)
    ]
    n_tasks = len(json.loads((arc["data"] / "test_puzzles.json").read_text()))
    for r in rows:
        assert (int(r["n"]), r["unit"]) == (n_tasks, "task")
        assert float(r["value_ci_low"]) <= float(r["value"]) <= float(r["value_ci_high"])
        assert r["value_ci_method"] in ("bootstrap", "wilson")
    s = _summary(arc["out"])
    assert (s["kind"], s["ema"], s["last"], s["best"]) == ("arc", True, "step_8 ema", "step_4 ema")
    assert [r["folder"] for r in s["runs"]] == ["ema/step_4", "ema/step_8", "raw/step_8"]


def test_each_step_equals_trm_predict_and_trm_score_of_that_step(arc, tmp_path):
    """Byte for byte: the analysis predicts and scores as the two commands do."""
    out = arc["out"]
    rows = _table(out)
    for step in (4, 8):
        pred = tmp_path / f"step_{step}.npz"
        argv = ["predict", "--checkpoint", str(arc["run"]), "--data", str(arc["data"])]
        assert trm_main([*argv, "--step", str(step), "--out", str(pred), *CPU]) == 0
        ours = out / "ema" / f"step_{step}"
        assert pred.read_bytes() == (ours / "predictions.npz").read_bytes()
        for mode in ("paper", "single"):
            scored = tmp_path / f"{step}-{mode}"
            argv = ["score", "arc", "--data", str(arc["data"]), "--predictions", str(pred)]
            assert trm_main([*argv, "--mode", mode, "--out", str(scored), *N_BOOT]) == 0
            for name in ("metrics.json", "per_input.csv", "submission.json"):
                assert (scored / name).read_bytes() == (ours / "scores" / mode / name).read_bytes()
            metrics = json.loads((scored / "metrics.json").read_text())
            for r in rows:
                if (r["step"], r["weights"], r["mode"]) == (str(step), "ema", mode):
                    assert float(r["value"]) == metrics[r["metric"]]
                    assert float(r["value_ci_high"]) == metrics[r["metric"] + "_ci_high"]


def test_raw_weights_of_state_pt_are_scored_beside_the_ema_ones(arc):
    out = arc["out"]
    s = _summary(out)
    assert s["raw"]["scored"] and s["raw"]["step"] == 8 and "state.pt" in s["raw"]["reason"]
    ema = out / "ema" / "step_8"
    raw = out / "raw" / "step_8"
    # other weights (the EMA at rate 0.5 is not the live model): other q_halt logits
    metas = [json.loads((p / "predictions.meta.json").read_text()) for p in (ema, raw)]
    assert metas[0]["checkpoint_sha256"] != metas[1]["checkpoint_sha256"]
    q = [np.load(p / "predictions.npz")["q_halt_logits"] for p in (ema, raw)]
    assert not np.array_equal(*q)
    # the extracted weights were a temporary: only scores and predictions remain
    assert not any(p.name.startswith(".raw") for p in out.iterdir())
    doc = read_comparisons(out / K.CKPT_RAW_COMPARISONS)
    assert {(r["a"], r["b"]) for r in doc["comparisons"]} == {("step_8 raw", "step_8 ema")}
    assert {r["context"]["mode"] for r in doc["comparisons"]} == {"paper", "single"}


def test_best_vs_last_is_a_comparisons_file(arc):
    out = arc["out"]
    doc = read_comparisons(out / K.CKPT_COMPARISONS)
    records = doc["comparisons"]
    assert doc["base"] == "step_4 ema"
    assert [(r["a"], r["b"], r["metric"], r["context"]["mode"]) for r in records] == [
        ("step_8 ema", "step_4 ema", f"ARC/pass@{k}", mode)
        for mode in ("paper", "single")
        for k in (1, 2)
    ]
    values = {(r["step"], r["mode"], r["metric"]): float(r["value"]) for r in _table(out)}
    for r in records:
        mode = r["context"]["mode"]
        assert r["a_value"] == pytest.approx(values["8", mode, r["metric"]])
        assert r["b_value"] == pytest.approx(values["4", mode, r["metric"]])
        assert r["diff"] == pytest.approx(r["a_value"] - r["b_value"])
    assert _summary(out)["last_worse_beyond_noise"] == last_is_worse(
        records, {"metric": "ARC/pass@2", "mode": "paper"}
    )


def _record(metric: str, mode: str, high: float) -> dict:
    return {"metric": metric, "context": {"mode": mode}, "diff_ci_high": high}


def test_the_caveat_flag_needs_the_whole_interval_below_zero():
    by = {"metric": "ARC/pass@2", "mode": "paper"}
    for high, worse in ((-0.01, True), (0.0, False), (0.01, False)):
        assert last_is_worse([_record("ARC/pass@2", "paper", high)], by) is worse
    # only the metric and mode "best" is judged on count
    others = [_record("ARC/pass@1", "paper", -0.5), _record("ARC/pass@2", "single", -0.5)]
    assert not last_is_worse([*others, _record("ARC/pass@2", "paper", 0.2)], by)
    assert headline_record(others, by) is None and not last_is_worse(others, by)
    # kinds without modes: the records have no mode in their context
    grid = {"metric": "Sudoku/exact_accuracy", "mode": "paper"}
    assert last_is_worse([{"metric": grid["metric"], "context": {}, "diff_ci_high": -0.1}], grid)


def _copy_run(arc, tmp_path: Path, *, ema: object = "keep", state: bool = True) -> Path:
    run = tmp_path / "run"
    shutil.copytree(arc["run"], run)
    cfg = yaml.safe_load((run / "all_config.yaml").read_text())
    if ema is None:
        del cfg["ema"]
    elif ema != "keep":
        cfg["ema"] = ema
    (run / "all_config.yaml").write_text(yaml.safe_dump(cfg))
    if not state:
        (run / "state.pt").unlink()
    return run


@pytest.mark.parametrize(
    ("case", "weights", "reason"),
    [
        ({"ema": False}, "raw", "trained without EMA: its step_N files are the raw weights"),
        ({"state": False}, "ema", "no state.pt beside the step_N files (a fetched checkpoint"),
        ({"ema": None}, "unknown", "does not say whether it trained with EMA"),
    ],
)
def test_runs_without_ema_or_state_say_why_no_raw_weights(arc, tmp_path, case, weights, reason):
    run = _copy_run(arc, tmp_path, **case)
    out = tmp_path / "out"
    argv = ["analyse", "checkpoints", "--checkpoint", str(run / "step_8"), "--steps", "8"]
    assert trm_main([*argv, "--data", str(arc["data"]), "--out", str(out), "--raw"] + CPU) == 0
    s = _summary(out)
    assert {r["weights"] for r in _table(out)} == {weights}
    assert not s["raw"]["scored"] and reason in s["raw"]["reason"]
    assert s["best"] is None and read_comparisons(out / K.CKPT_COMPARISONS)["comparisons"] == []
    assert not (out / K.CKPT_RAW_COMPARISONS).exists()
    assert not (out / weights / "step_8" / "predictions.npz").exists()  # scores only by default


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "3"], "--steps: no step_N file for [3] in"),
        (["--kind", "chess"], "--kind: 'chess' is not one of arc, sudoku, maze"),
        (["--steps", "-1"], "--steps[0]: -1 is not a valid count"),
    ],
)
def test_bad_values_are_one_line_errors_leaving_nothing(arc, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    argv = ["analyse", "checkpoints", "--checkpoint", str(arc["run"]), "--data", str(arc["data"])]
    assert trm_main([*argv, "--out", str(out), *extra, *CPU]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trm analyse checkpoints: error: ") and message in err, err
    assert err.count("\n") == 1 and not out.exists()


def test_a_folder_without_step_files_says_how_to_keep_them(arc, tmp_path, capsys):
    empty = tmp_path / "run"
    empty.mkdir()
    argv = ["analyse", "checkpoints", "--checkpoint", str(empty), "--data", str(arc["data"])]
    assert trm_main([*argv, "--out", str(tmp_path / "out"), *CPU]) == 2
    assert "train.keep_step_weights: true" in capsys.readouterr().err


def test_grid_kinds_score_exact_accuracy(tmp_path):
    data = write_grid_task(
        tmp_path / "grid", n_groups=8, puzzles_per_group=2, examples_per_puzzle=3, side=3, seed=1
    )
    run = tmp_path / "run"
    train = ["train", "--no-progress", "--data", str(data), "--out", str(run), *MODEL]
    assert trm_main([*train, "train.max_steps=4", "train.checkpoint_every=2"]) == 0
    out = tmp_path / "out"
    argv = ["analyse", "checkpoints", "--checkpoint", str(run), "--data", str(data)]
    assert trm_main([*argv, "--out", str(out), "--kind", "sudoku", "--raw", *N_BOOT, *CPU]) == 0
    rows = _table(out)
    assert [(r["step"], r["weights"], r["mode"], r["metric"]) for r in rows] == [
        (step, "raw", "paper", "Sudoku/exact_accuracy") for step in ("2", "4")
    ]
    n_test = len(np.load(data / "test" / "all__inputs.npy"))
    assert {(r["n"], r["unit"]) for r in rows} == {(str(n_test), "test example")}
    records = read_comparisons(out / K.CKPT_COMPARISONS)["comparisons"]
    assert [(r["a"], r["b"], r["metric"], r["context"]) for r in records] == [
        ("step_4 raw", "step_2 raw", "Sudoku/exact_accuracy", {})
    ]
    # the last row is `trm predict` + `trm score sudoku` of the last step_N
    pred, scored = tmp_path / "p.npz", tmp_path / "scored"
    assert (
        trm_main(
            ["predict", "--checkpoint", str(run), "--data", str(data)]
            + CPU[:-1]
            + ["--out", str(pred), "--no-progress"]
        )
        == 0
    )
    argv = ["score", "sudoku", "--data", str(data), "--predictions", str(pred)]
    assert trm_main([*argv, "--out", str(scored), *N_BOOT]) == 0
    ours = out / "raw" / "step_4" / "scores" / "paper"
    assert (scored / "metrics.json").read_bytes() == (ours / "metrics.json").read_bytes()


# ---- the report section -------------------------------------------------------------------------


def _experiment(arc, folder: Path):
    from trm.report.inputs import ExperimentInputs

    scores = folder / "ema" / "step_8" / "scores"
    settings = {"kind": "arc", "benchmark": "ARC-AGI-1", "num_aug": 2, "smoke": True}
    return ExperimentInputs(
        name="tiny",
        settings=settings | {"gpus": 0, "description": "tiny"},
        data_dir=str(arc["data"]),
        metrics={m: str(scores / m / "metrics.json") for m in ("paper", "single")},
        per_example={m: str(scores / m / "per_example.jsonl") for m in ("paper", "single")},
        analyses={"analysis_checkpoints": str(folder)},
    )


def _section(html: str) -> str:
    section = html.split('<h3 class="analysis-checkpoints"')[1].split("<h3")[0]
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "URI", section)


def test_report_shows_accuracy_over_training(arc, tmp_path):
    from trm.report.render import render_html

    templates = ROOT / "reports" / "templates"
    html = render_html([_experiment(arc, arc["out"])], None, templates)
    sec = _section(html)
    assert "Accuracy over training" in html and "URI" in sec  # the figure
    table = sec.split('class="checkpoints-table"')[1].split("</table>")[0]
    assert table.count("<tr>") == 4  # header + step 4 ema, step 8 ema, step 8 raw
    assert "<th>paper mode pass@2</th>" in table and "<th>n (tasks)</th>" in table
    assert re.search(r"<td class=\"num\">\[\d+\.\d, \d+\.\d\] (Wilson|bootstrap)</td>", table)
    compare = sec.split('class="checkpoints-compare-table"')[1].split("</table>")[0]
    assert "the last checkpoint (step_8 ema) minus the best earlier one" in compare
    assert "<td>step_4 ema</td>" in compare and "<td>step_8 ema</td>" in compare
    assert 'class="checkpoints-raw-table"' in sec and "Raw weights from state.pt" in sec
    assert "EMA (the step_N file" in sec and "training step (optimizer steps)" in sec
    assert "checkpoints-caveat" not in sec
    # what the figure plots, series by series (its labels), and the lines that hide others
    from trm.report.checkpoints import curves, read_table

    series = curves(read_table(arc["out"] / K.CKPT_TABLE), voted=True)
    assert [c["label"] for c in series] == [
        f"{mode} mode pass@{k} ({w} weights)"
        for w in ("EMA", "raw")
        for mode in ("paper", "single")
        for k in (1, 2)
    ]
    assert [(c["x"], len(c["lo"]), len(c["hi"])) for c in series[:4]] == [([4, 8], 2, 2)] * 4
    # one kind of weights: the labels leave it to the title
    ema_only = [r for r in read_table(arc["out"] / K.CKPT_TABLE) if r["weights"] == "ema"]
    assert curves(ema_only, voted=True)[0]["label"] == "paper mode pass@1"
    for c in series:
        if c["hidden_by"]:
            earlier = next(o for o in series if o["label"] == c["hidden_by"])
            assert (earlier["x"], earlier["y"]) == (c["x"], c["y"])
            assert f"{c['label']}" in sec and "the lines coincide" in sec

    # the last worse beyond noise: a caveat box naming the difference and its interval
    worse = tmp_path / "worse"
    shutil.copytree(arc["out"], worse)
    summary = _summary(worse) | {"last_worse_beyond_noise": True}
    (worse / K.CKPT_SUMMARY).write_text(json.dumps(summary))
    doc = json.loads((worse / K.CKPT_COMPARISONS).read_text())
    for r in doc["comparisons"]:
        r.update(diff=-0.5, diff_ci_low=-0.9, diff_ci_high=-0.1)
    (worse / K.CKPT_COMPARISONS).write_text(json.dumps(doc))
    sec = _section(render_html([_experiment(arc, worse)], None, templates))
    box = sec.split('class="caveat checkpoints-caveat"')[1].split("</div>")[0]
    assert "The last checkpoint (step_8 ema) is worse than step_4 ema on ARC/pass@2" in box
    assert "-50.0 pt" in box and "[-90.0, -10.0] pt" in box and "picked on these same" in box

    # a missing column is named with the file and the command that writes it
    from trm.report.inputs import ReportInputError

    table_path = worse / K.CKPT_TABLE
    table_path.write_text(table_path.read_text().replace("value_ci_method", "method"))
    with pytest.raises(ReportInputError, match=r"checkpoints.csv: missing column.*checkpoints"):
        render_html([_experiment(arc, worse)], None, templates)
