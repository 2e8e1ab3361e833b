"""The report spec rule `report` writes and hands to `trm report --spec` (trm.report.spec), like
a user would: every experiment's, grid's and LLM experiment's files, and the provenance record
of every job behind them (generate_arc_tasks included)."""

from __future__ import annotations

from typing import Any

from trm.report.inputs import per_example_file
from trm.workflow import paths as P
from trm.workflow.experiments import Workflow


def _fill(pattern: str, exp: str, **wildcards: str) -> str:
    return P.fill(pattern, exp=exp, **wildcards)


def metrics_of(exp: str, mode: str, prefix: str = P.RUN) -> str:
    return P.metrics(_fill(P.scores(prefix, mode), exp))


def analysis_targets(w: Workflow, exp: str) -> dict[str, str]:
    """Every analysis output the report reads for one experiment (key -> path)."""
    a, out = w.analyses(exp), {}
    if a.get("trajectory"):
        out["analysis_trajectory"] = _fill(P.TRAJECTORY, exp)
    for mode in w.score_modes(exp) if w.id_variants(exp) else []:
        out[f"analysis_ids_{mode}"] = _fill(P.IDS_COMPARE, exp, mode=mode)
    if a.get("ensemble"):
        out["analysis_ensemble"] = _fill(P.ENSEMBLE, exp)
    if w.checkpoints_analysis(exp):
        out["analysis_checkpoints"] = _fill(P.CHECKPOINTS, exp)
    for mode in w.score_modes(exp) if a.get("adapt") else []:
        out[f"analysis_adapt_{mode}"] = _fill(P.ADAPT_COMPARE, exp, mode=mode)
    return out


def _chain_records(w: Workflow, exp: str, prefix: str) -> list[str]:
    """Records of one predictions -> scores chain (a puzzle-ID variant, an adapt fit)."""
    recs = [P.record_of(_fill(P.predictions(prefix), exp))]
    return recs + [P.record_of(_fill(P.scores(prefix, m), exp)) for m in w.score_modes(exp)]


def analysis_records(w: Workflow, exp: str) -> list[str]:
    targets = analysis_targets(w, exp)
    recs = [
        P.record_of(_fill(P.TRAJECTORY_DIR, exp) if key == "analysis_trajectory" else path)
        for key, path in targets.items()
    ]
    for ids in w.id_variants(exp):
        recs += _chain_records(w, exp, P.fill(P.IDS, ids=ids))
    if w.analyses(exp).get("adapt"):
        recs += [P.record_of(_fill(P.ADAPT_DATA, exp)), P.record_of(_fill(P.ADAPT_MODEL, exp))]
        for fit in ("fitted", "blank"):
            recs += _chain_records(w, exp, P.fill(P.ADAPT_FIT, fit=fit))
    return recs


def llm_records(w: Workflow, exp: str) -> list[str]:
    stages = [P.LLM_DATA, P.LLM_TRAIN, P.LLM_PREDICTIONS, P.LLM_SCORE]
    stages += [P.LLM_TINY] if w.exp(exp)["llm"]["model"] == "tiny" else []
    recs = [P.record_of(_fill(s, exp)) for s in stages]
    return recs + [P.record_of(_fill(P.LLM_COMPARE, exp, trm=t)) for t in w.llm_trm_partners(exp)]


def experiment_records(w: Workflow, exp: str) -> list[str]:
    """Provenance records of every job behind one experiment."""
    e = w.exp(exp)
    recs = [P.record_of(t) for t in w.tasks_dir(e["dataset"])]  # generate_arc_tasks
    if w.is_llm(exp):
        return recs + llm_records(w, exp)
    recs += [P.record_of(w.data_dir(exp)), P.record_of(w.checkpoint_dir(exp))]
    recs.append(P.record_of(_fill(P.predictions(), exp)))
    if w.eval_data_dir(exp) != w.data_dir(exp):
        recs.append(P.record_of(w.eval_data_dir(exp)))
    recs += [P.record_of(_fill(P.scores(P.RUN, m), exp)) for m in w.score_modes(exp)]
    for key, pattern in (("compare", P.COMPARE), ("sweep", P.SWEEP), ("bench", P.BENCH)):
        if w.has_compare(exp) if key == "compare" else key in e:
            recs.append(P.record_of(_fill(pattern, exp)))
    return recs + analysis_records(w, exp)


def experiment_entry(w: Workflow, exp: str) -> dict[str, Any]:
    """One trm.report.inputs.ExperimentInputs, as JSON."""
    e, modes = w.exp(exp), w.score_modes(exp)
    return {
        "name": exp,
        "settings": w.settings_as_run(exp),
        "data_dir": w.data_dir(exp),
        "metrics": {m: metrics_of(exp, m) for m in modes},
        "per_example": {m: per_example_file(metrics_of(exp, m), w.kind(exp)) for m in modes},
        "train_dir": w.checkpoint_dir(exp) if "train" in e else None,
        "sweep_csv": _fill(P.SWEEP, exp) if "sweep" in e else None,
        "bench_json": _fill(P.BENCH, exp) if "bench" in e else None,
        "comparisons": _fill(P.COMPARE, exp) if w.has_compare(exp) else None,
        "analyses": analysis_targets(w, exp),
    }


def llm_entry(w: Workflow, exp: str) -> dict[str, Any]:
    """One trm.report.llm.LlmInputs, as JSON."""
    return {
        "name": exp,
        "settings": w.settings_as_run(exp),
        "metrics_json": P.metrics(_fill(P.LLM_SCORE, exp)),
        "comparisons": {t: _fill(P.LLM_COMPARE, exp, trm=t) for t in w.llm_trm_partners(exp)},
    }


def grid_entry(w: Workflow, grid: str) -> dict[str, Any]:
    """One trm.report.grids.GridInputs, as JSON."""
    sweep = P.fill(P.SWEEP_GRID, grid=grid) if w.has_sweep_grid(grid) else None
    return {
        "name": grid,
        "comparisons": P.fill(P.GRID, grid=grid),
        "experiments": dict(w.grids[grid].experiments),
        "sweep_comparisons": sweep,
    }


def report_spec(w: Workflow) -> dict[str, Any]:
    """The spec of the whole run (the JSON `trm report --spec` reads)."""
    records: list[str] = []
    for exp in w.run:
        records += experiment_records(w, exp)
    grids = [grid_entry(w, g) for g in w.grids_in_run()]
    for g in grids:
        records += [P.record_of(p) for p in (g["comparisons"], g["sweep_comparisons"]) if p]
    return {
        "title": w.title,
        "records": list(dict.fromkeys(records)),
        "experiments": [experiment_entry(w, e) for e in w.run if not w.is_llm(e)],
        "grids": grids,
        "llm": [llm_entry(w, e) for e in w.run if w.is_llm(e)],
    }


def spec_files(spec: dict[str, Any]) -> list[str]:
    """Every output file or folder the spec names (the report job's inputs, besides records;
    per-example files live inside the score folders)."""
    files: list[str] = []
    for e in spec["experiments"]:
        files += [e["data_dir"], *e["metrics"].values(), *e["analyses"].values()]
        files += [e[k] for k in ("train_dir", "sweep_csv", "bench_json", "comparisons") if e[k]]
    for g in spec["grids"]:
        files += [p for p in (g["comparisons"], g["sweep_comparisons"]) if p]
    for e in spec["llm"]:
        files += [e["metrics_json"], *e["comparisons"].values()]
    return list(dict.fromkeys(files))
