"""Every output path of the workflow, declared once (rules use these names, never literals).

Patterns keep Snakemake's `{wildcard}` fields; `fill` formats them for one job. A chain of
predictions -> scores lives under a prefix: the experiment's own (`RUN`), one puzzle-ID variant
(`IDS`) or one adapt fit (`ADAPT_FIT`).
"""

from __future__ import annotations

import os
from pathlib import Path

# ---- file names the commands write -------------------------------------------------------------
PREDICTIONS_FILE = "predictions.npz"  # trm predict --out
METRICS_FILE = "metrics.json"  # inside the --out folder of trm score / trm llm score
RECORD_SUFFIX = ".provenance.json"

# ---- datasets and weights -----------------------------------------------------------------------
DATA = "data/{dataset}"  # trm prepare <kind>
TASKS = "data/{dataset}.tasks"  # trm prepare arc-tasks (source: generated)
CHECKPOINT = "checkpoints/{ckpt}"  # trm fetch-checkpoint

# ---- one experiment -----------------------------------------------------------------------------
RUN = "runs/{exp}"
TRAIN = f"{RUN}/train"
SWEEP = f"{RUN}/acc_vs_aug.csv"
BENCH = f"{RUN}/bench.json"
COMPARE = f"{RUN}/scores/compare.json"  # paper vs single (ARC)

# ---- analyses (rules/analyses.smk) ------------------------------------------------------------
ANALYSES = f"{RUN}/analyses"
TRAJECTORY_DIR = f"{ANALYSES}/trajectory"
TRAJECTORY = f"{TRAJECTORY_DIR}/trajectory.csv"
IDS = f"{ANALYSES}/ids/{{ids}}"  # one puzzle-identifier variant's chain
IDS_COMPARE = f"{ANALYSES}/ids/compare_{{mode}}.json"
ENSEMBLE = f"{ANALYSES}/ensemble"
CHECKPOINTS = f"{ANALYSES}/checkpoints"  # trm analyse checkpoints: accuracy over training
ADAPT = f"{ANALYSES}/adapt"
ADAPT_DATA = f"{ADAPT}/data"
ADAPT_MODEL = f"{ADAPT}/model"
ADAPT_FIT = f"{ADAPT}/{{fit}}"  # fitted | blank: one chain each
ADAPT_COMPARE = f"{ADAPT}/compare_{{mode}}.json"

# ---- ablation grids -----------------------------------------------------------------------------
GRID = "runs/{grid}/grid.json"
SWEEP_GRID = "runs/{grid}/sweep_grid.json"

# ---- the LLM baseline (rules/llm.smk) ----------------------------------------------------------
LLM = f"{RUN}/llm"
LLM_TINY = f"{LLM}/tiny-model"
LLM_DATA = f"{LLM}/data"
LLM_TRAIN = f"{LLM}/train"
LLM_PREDICTIONS = f"{LLM}/predictions.jsonl"
LLM_SUMMARY = f"{LLM}/predictions.summary.json"
LLM_SCORE = f"{LLM}/score"
LLM_COMPARE = f"{LLM}/compare/{{trm}}.json"

# ---- the report ---------------------------------------------------------------------------------
REPORT_HTML = "reports/report.html"
REPORT_BUNDLE = "reports/provenance.json"
REPORT_CLAIMS = "reports/claims.json"  # the claims ledger (`trm claims` prints it)
REPORT_SPEC = "reports/report.spec.json"
REPORT_RECORD = "reports/report.provenance.json"
TEMPLATES = "reports/templates"


def predictions(prefix: str = RUN) -> str:
    return f"{prefix}/{PREDICTIONS_FILE}"


def scores(prefix: str = RUN, mode: str = "{mode}") -> str:
    """The --out folder of `trm score` for one mode."""
    return f"{prefix}/scores/{mode}"


def metrics(folder: str) -> str:
    """metrics.json inside a score folder (the file a rule declares as its output)."""
    return f"{folder}/{METRICS_FILE}"


def meta_of(predictions_path: str | os.PathLike) -> str:
    """The run record `trm predict` writes beside its predictions file."""
    return str(Path(predictions_path).with_suffix(".meta.json"))


def record_of(path: str | os.PathLike) -> str:
    """The provenance record a job writes beside its output folder or file."""
    p = str(path)
    for suffix in (".npz", ".json", ".csv", ".jsonl"):
        if p.endswith(suffix):
            p = p[: -len(suffix)]
            break
    return f"{p}{RECORD_SUFFIX}"


def fill(pattern: str, **wildcards: str) -> str:
    """One job's path from a pattern (fields not given stay as they are)."""
    out = pattern
    for key, value in wildcards.items():
        out = out.replace("{" + key + "}", str(value))
    return out
