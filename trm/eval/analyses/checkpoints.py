"""Accuracy over training (`trm analyse checkpoints`): every kept step_N of a training run
predicted by `trm predict`'s code (trm.eval.predict.run_predict, as `trm predict --step N`) and
scored by `trm score`'s (trm.eval.scoring), so each row is what those two commands give for that
step; where the run trained with EMA, also the raw (not averaged) weights that state.pt holds;
then the last checkpoint compared with the best earlier one, paired over the same units
(trm.eval.paired).

Which weights a row scored (its `weights`, trm.eval.analyses.keys.CKPT_WEIGHT_KINDS): the run's
all_config.yaml says whether it trained with EMA (`ema: true`: its step_N files hold the averaged
weights, "ema"; `ema: false`: the live ones, "raw"; absent: "unknown"). state.pt, the full
training state, holds the live weights of its own step only (training overwrites it at every
checkpoint), so raw weights beside the EMA ones exist for that one step, normally the last. A
run without EMA has nothing more to score; a fetched checkpoint has no state.pt. summary.json
says which case held.

Layout of `out`:
    checkpoints.csv                    one row per (step, weights, mode, metric)
    summary.json                       what was scored, the last and the best, the caveat flag
    best_vs_last.json                  comparisons file: the last step_N minus the best earlier one
    raw_vs_ema.json                    comparisons file: raw minus EMA weights at state.pt's step
                                       (only when raw weights were scored)
    <weights>/step_<N>/scores/<mode>/  the `trm score` folder of those weights in that mode
    <weights>/step_<N>/predictions.meta.json  (and predictions.npz with keep_predictions)
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trm.errors import InputError, UserError
from trm.eval import schema as S
from trm.eval.analyses import keys as K
from trm.kinds import KINDS, PuzzleKind

if TYPE_CHECKING:
    from trm.cli.analyse import CheckpointsSettings
    from trm.eval.stats import Bootstrap

RAW_WEIGHTS_DIR = ".raw-weights"  # state.pt's live weights as a step_N file, while predicted


@dataclass(frozen=True)
class Weights:
    """One set of weights the analysis scores."""

    step: int
    weights: str  # a value of K.CKPT_WEIGHT_KINDS
    source: Path  # the folder whose step_<step> file holds them

    @property
    def name(self) -> str:
        """How tables and the comparisons file name them: "step_800 ema"."""
        return f"step_{self.step} {self.weights}"

    @property
    def folder(self) -> str:
        """Its folder inside the analysis's output."""
        return f"{self.weights}/step_{self.step}"


def metric_keys(kind: PuzzleKind) -> tuple[str, ...]:
    """The metrics a row holds: pass@1 and pass@2 (ARC), exact accuracy (the other kinds)."""
    return S.ARC_HEADLINE if kind.voted else (kind.headline,)


def run_folder(checkpoint: str | os.PathLike) -> Path:
    """The folder of step_N files: the path itself, or the folder of a step_N file."""
    path = Path(checkpoint)
    if path.is_file():
        return path.parent
    if not path.is_dir():
        raise UserError(f"--checkpoint: {path} does not exist (a training run folder)")
    return path


def trained_with_ema(folder: Path) -> bool | None:
    """The `ema` setting in the run's all_config.yaml (trm train and the reference write it);
    None when the folder has no such file or key (whether the weights are averaged is unknown)."""
    import yaml

    from trm.model.checkpoint import ARCH_CONFIG_FILE

    path = folder / ARCH_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise InputError(f"{path}: malformed YAML ({e})") from e
    value = cfg.get("ema") if isinstance(cfg, dict) else None
    if value is not None and not isinstance(value, bool):
        raise InputError(f"{path}: ema: expected true or false, got {value!r}")
    return value


def select_steps(folder: Path, steps: Sequence[int]) -> list[int]:
    """The kept step_N numbers of `folder` (all, or those asked for), ascending."""
    from trm.model.checkpoint import step_files

    have = list(step_files(folder))
    if not have:
        raise UserError(
            f"{folder}: no step_N files: train with train.keep_step_weights: true (a step_N at "
            "every train.checkpoint_every steps) or pass a folder of step_N files"
        )
    missing = [n for n in steps if n not in have]
    if missing:
        raise UserError(f"--steps: no step_N file for {missing} in {folder} (it has {have})")
    return sorted(set(steps)) if steps else have


def raw_from_state(
    folder: Path, ema: bool | None, requested: bool, dest: Path
) -> tuple[Weights | None, str]:
    """The raw weights of state.pt written as dest/step_N (beside a copy of all_config.yaml),
    or None; and why (what summary.json states). state.pt is read as trm train's --resume reads
    it: weights_only, never unpickled."""
    from trm.train.state import STATE_FILE, load_state

    if not requested:
        return None, "not requested (raw: false)"
    if ema is False:
        return None, "the run trained without EMA: its step_N files are the raw weights"
    if ema is None:
        return None, "the run's all_config.yaml does not say whether it trained with EMA"
    if not (folder / STATE_FILE).is_file():
        return None, (
            f"no {STATE_FILE} beside the step_N files (a fetched checkpoint keeps only its "
            "weights): the raw weights cannot be scored"
        )
    import torch

    from trm.model.checkpoint import ARCH_CONFIG_FILE

    state = load_state(folder)
    if state.get("ema") is None:
        return None, f"{folder / STATE_FILE} holds no EMA state: it was saved without EMA"
    step = int(state["step"])
    dest.mkdir(parents=True)
    torch.save(state["model"], dest / f"step_{step}")
    shutil.copyfile(folder / ARCH_CONFIG_FILE, dest / ARCH_CONFIG_FILE)
    return Weights(step, "raw", dest), (
        f"the live weights in {STATE_FILE} at its step {step} (training overwrites it at every "
        "checkpoint: earlier steps have no raw weights)"
    )


def _predict(s: CheckpointsSettings, w: Weights, out: Path) -> Path:
    """`trm predict --checkpoint SOURCE --step N` with the analysis's own settings."""
    from trm.cli.predict import PredictSettings
    from trm.eval.predict import run_predict

    path = out / w.folder / "predictions.npz"
    path.parent.mkdir(parents=True)
    shared = ("data", "batch_size", "device", "threads", "no_progress", "halt_max_steps")
    run_predict(
        PredictSettings(
            **{name: getattr(s, name) for name in shared},
            checkpoint=w.source,
            step=w.step,
            out=path,
        )
    )
    return path


def _score(
    s: CheckpointsSettings, kind: PuzzleKind, predictions: Path, out: Path, boot: Bootstrap
) -> dict[str, dict[str, Any]]:
    """`trm score <kind>` of one predictions file in every mode of the kind: {mode: metrics}."""
    from trm.eval.scoring import score_arc, score_grid

    scores = predictions.parent / "scores"
    if kind.voted:
        return {
            mode: score_arc(
                s.data, predictions, scores / mode, mode, boot=boot, progress=not s.no_progress
            )
            for mode in kind.modes
        }
    return {
        kind.modes[0]: score_grid(
            s.data, predictions, scores / kind.modes[0], kind.title, boot=boot
        )
    }


def table_rows(
    kind: PuzzleKind, w: Weights, scored: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """checkpoints.csv rows of one set of weights, from `trm score`'s metrics."""
    n_key = S.ARC_N_TASKS if kind.voted else S.GRID_N_EXAMPLES
    rows = []
    for mode, m in scored.items():
        for metric in metric_keys(kind):
            lo, hi = S.ci_keys(metric)
            rows.append(
                dict(
                    zip(
                        K.checkpoints_columns(),
                        (w.step, w.weights, mode, metric, m[metric], m[lo], m[hi])
                        + (m[S.ci_method_key(metric)], m[n_key], kind.unit),
                        strict=True,
                    )
                )
            )
    return rows


def best_of(
    candidates: Sequence[Weights], rows: Sequence[dict[str, Any]], metric: str, mode: str
) -> Weights:
    """The candidate with the highest `metric` in `mode` (ties: the later step)."""
    value = {
        (r[K.CKPT_STEP], r[K.CKPT_WEIGHTS]): r[K.CKPT_VALUE]
        for r in rows
        if r[K.CKPT_METRIC] == metric and r[K.CKPT_MODE] == mode
    }
    return max(candidates, key=lambda w: (value[w.step, w.weights], w.step))


def paired(
    kind: PuzzleKind, out: Path, a: Weights, b: Weights, boot: Bootstrap
) -> list[dict[str, Any]]:
    """`a` minus `b` per mode and metric, paired over units (`trm compare runs` of their score
    folders; context: the mode, for a voted kind)."""
    from trm.eval.compare import compare_runs

    records = []
    for mode in kind.modes:
        runs = {w.name: out / w.folder / "scores" / mode for w in (b, a)}
        for r in compare_runs(runs, b.name, boot):
            records.append(r | {"context": {"mode": mode}} if kind.voted else r)
    return records


def headline_record(
    records: Sequence[dict[str, Any]], best_by: dict[str, str]
) -> dict[str, Any] | None:
    """The record of the metric and mode "best" is judged on."""
    for r in records:
        mode = r["context"].get("mode", best_by["mode"])
        if r["metric"] == best_by["metric"] and mode == best_by["mode"]:
            return r
    return None


def last_is_worse(records: Sequence[dict[str, Any]], best_by: dict[str, str]) -> bool:
    """The caveat: last minus best on the judged metric and mode, its whole 95 % interval below
    0 (the last is worse beyond noise)."""
    record = headline_record(records, best_by)
    return record is not None and record["diff_ci_high"] < 0


def write_table(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=K.checkpoints_columns(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def run_checkpoints(s: CheckpointsSettings, *, boot: Bootstrap) -> dict[str, Any]:
    """Predict and score every selected step_N (and the raw weights); write `s.out`; return
    the summary."""
    from trm.eval.paired import write_comparisons
    from trm.utils import atomic_dir, write_json

    kind = KINDS[s.kind]
    folder = run_folder(s.checkpoint)
    steps = select_steps(folder, s.steps)
    ema = trained_with_ema(folder)
    label = {True: "ema", False: "raw", None: "unknown"}[ema]
    plan = [Weights(n, label, folder) for n in steps]
    last = plan[-1]
    with atomic_dir(Path(s.out)) as tmp:
        raw, reason = raw_from_state(folder, ema, s.raw, tmp / RAW_WEIGHTS_DIR)
        plan += [raw] if raw else []
        rows: list[dict[str, Any]] = []
        for w in plan:
            predictions = _predict(s, w, tmp)
            rows += table_rows(kind, w, _score(s, kind, predictions, tmp, boot))
            if not s.keep_predictions:
                predictions.unlink()
        shutil.rmtree(tmp / RAW_WEIGHTS_DIR, ignore_errors=True)
        write_table(tmp / K.CKPT_TABLE, rows)
        best_by = {"metric": kind.headline, "mode": kind.modes[0]}
        earlier = [w for w in plan if w.source == folder and w != last]
        best = best_of(earlier, rows, **best_by) if earlier else None
        records = paired(kind, tmp, last, best, boot) if best else []
        write_comparisons(
            tmp / K.CKPT_COMPARISONS,
            records,
            title="the last checkpoint minus the best earlier one",
            base=best.name if best else None,
            runs=[w.name for w in (best, last) if w],
        )
        beside = next((w for w in plan if raw and w.step == raw.step and w != raw), None)
        if raw and beside:
            write_comparisons(
                tmp / K.CKPT_RAW_COMPARISONS,
                paired(kind, tmp, raw, beside, boot),
                title=f"raw minus EMA weights at step {raw.step}",
                base=beside.name,
                runs=[beside.name, raw.name],
            )
        summary = {
            K.CKPT_S_KIND: kind.name,
            K.CKPT_S_EMA: ema,
            K.CKPT_S_RUNS: [
                {"name": w.name, "step": w.step, "weights": w.weights, "folder": w.folder}
                for w in plan
            ],
            K.CKPT_S_LAST: last.name,
            K.CKPT_S_BEST: best.name if best else None,
            K.CKPT_S_BEST_BY: best_by,
            K.CKPT_S_LAST_WORSE: last_is_worse(records, best_by),
            K.CKPT_S_RAW: {
                "requested": s.raw,
                "scored": raw is not None,
                "step": raw.step if raw else None,
                "reason": reason,
                "compared": K.CKPT_RAW_COMPARISONS if raw and beside else None,
            },
        }
        write_json(tmp / K.CKPT_SUMMARY, summary)
    return summary | {"rows": rows}
