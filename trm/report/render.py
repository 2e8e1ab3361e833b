"""Render reports/report.html: per experiment, what it ran (from its config), scores with their
counts and intervals (beside the paper's figures only for the paper's benchmark at its settings),
the sweep, votes, training curves, benchmarks, the dataset manifest, caveats, and the provenance
chain behind them, listed once per experiment and linked from each table and figure.

Everything is read through trm.report.inputs (and comparisons through trm.report.comparisons)
from the files the workflow wrote; nothing is computed here beyond formatting. The paper's
figures come from trm.claims (config/claims.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from trm.claims import claims
from trm.eval import schema as S
from trm.kinds import PuzzleKind
from trm.provenance import lineage, now_iso
from trm.report import comparisons, figures, fmt
from trm.report.analyses import analyses_section
from trm.report.checkpoints import checkpoints_section
from trm.report.describe import describe, paper_comparison
from trm.report.inputs import (
    VOTE_COLUMNS,
    ExperimentInputs,
    headline_keys,
    per_input_file,
    read_bench,
    read_headline,
    read_jsonl,
    read_sweep,
    read_train_config,
    read_votes,
)
from trm.report.ledger import claims_view, ledger, write_ledger
from trm.report.llm import LlmInputs, llm_sections
from trm.report.manifest import manifest_summary
from trm.utils import atomic_file

TEMPLATE_NAME = "report.html.j2"
CAPTIONS_NAME = "captions.yaml"
# How the report names interval methods where a table abbreviates them (trm.eval.stats).
CI_METHODS_NOTE = (
    "bootstrap: percentile bootstrap over tasks; Wilson: Wilson score interval, used below "
    "30 tasks or where every task has the same value; Wilson-MOVER: for a paired difference, "
    "the Wilson intervals of gains and losses combined, used likewise"
)

# ---------------------------------------------------------------------------------------------
# Assembling the page


def chain(bundle: Mapping[str, Any] | None, targets: Sequence[str]) -> list[dict[str, Any]]:
    """The provenance records behind some files, summarised for the page."""
    if not bundle:
        return []
    out = []
    for rec in lineage(bundle, [Path(t).as_posix() for t in targets if t]):
        env = rec.get("environment", {})
        out.append(
            {
                "id": rec["id"],
                "record_path": rec["record_path"],
                "start": rec.get("start"),
                "end": rec.get("end"),
                "device": env.get("device"),
                "host": rec.get("host"),
                "slurm_job_id": (rec.get("scheduler") or {}).get("SLURM_JOB_ID"),
                "git": rec.get("git", {}),
                "outputs": [
                    {"path": o["path"], "sha256": (o.get("sha256") or "")[:16]}
                    for o in rec.get("outputs", [])[:8]
                ],
                "n_outputs": len(rec.get("outputs", [])),
            }
        )
    return out


class Provenance:
    """One experiment's provenance: the chain behind all its outputs, listed once, and for
    each table or figure the links into that list."""

    def __init__(self, bundle: Mapping[str, Any] | None, exp_name: str) -> None:
        self.bundle = bundle
        self.exp_name = exp_name
        self.records: list[dict[str, Any]] = []
        self._anchor: dict[str, str] = {}

    def links(self, targets: Sequence[str]) -> list[dict[str, str]]:
        """[{id, anchor}] of the records behind `targets`, adding new ones to the list."""
        out = []
        for rec in chain(self.bundle, targets):
            if rec["id"] not in self._anchor:
                self._anchor[rec["id"]] = f"rec-{self.exp_name}-{len(self.records) + 1}"
                self.records.append(rec | {"anchor": self._anchor[rec["id"]]})
            out.append({"id": rec["id"], "anchor": self._anchor[rec["id"]]})
        return out


def n_text(counts: Mapping[str, int]) -> str:
    """ "n = 4 tasks, 4 test inputs": the units an accuracy is over."""
    return "n = " + ", ".join(f"{n} {unit}" for unit, n in counts.items())


COMPARE_RUNS = "trm compare runs"


def summary_table(exp: ExperimentInputs) -> dict[str, Any]:
    """Headline metrics per mode with the scorer's intervals (and their method) and the counts
    they are over, the paper-minus-single comparison (when the experiment has both modes), and
    the paper's figures only for a run of the paper's benchmark at its settings."""
    kind = exp.kind
    headlines = {mode: read_headline(p, kind) for mode, p in exp.metrics.items()}
    diffs = {}
    if exp.comparisons:
        diffs = comparisons.differences(exp.comparisons, COMPARE_RUNS, "paper")
    rows = []
    for key in headline_keys(kind):
        row: dict[str, Any] = {"metric": key, "modes": {}}
        for mode, h in headlines.items():
            est = h.estimates[key]
            row["modes"][mode] = {
                "value": fmt.pct(est.value),
                "ci": fmt.interval(est.ci_low, est.ci_high),
                "method": S.CI_METHODS[est.method or "bootstrap"],
                "n": n_text(h.counts),
                "raw": est.value,
            }
        row["difference"] = diffs.get(key, "–")
        rows.append(row)
    paired = None
    if exp.comparisons:
        paired = comparisons.comparison_table(exp.comparisons, COMPARE_RUNS)
    comparison = paper_comparison(exp.settings)
    return {
        "modes": list(headlines),
        "rows": rows,
        "paired": paired,
        "paper": claims().about(comparison.benchmark) if comparison.benchmark else [],
        "not_comparable": comparison.reasons,
    }


def caveats_for(
    exp: ExperimentInputs, votes: Mapping[str, list[int]], bench_device: str | None
) -> list[str]:
    s = exp.settings
    out = []
    if s.get("smoke"):
        out.append(
            "Smoke run: a tiny model trained briefly on a small dataset on a CPU. Its numbers test "
            "the pipeline; they are not the paper's numbers and must not be compared with them."
        )
    if exp.kind.voted:  # the paper votes over 1000 augmented views (ARC)
        num_aug = int(s.get("num_aug") or 0)
        pooled = votes.get(S.PER_INPUT_N_VOTES, [])
        agree = votes.get(S.PER_INPUT_TOP_VOTES, [])
        if num_aug < 1000 or (pooled and max(pooled) < 1000):
            out.append(
                f"Effective votes below 1000: the paper votes over 1000 augmented views per test "
                f"input; this run prepared {num_aug} augmentations per puzzle and pooled at most "
                f"{max(pooled, default=0)} views per test input, and no chosen answer received "
                f"more than {max(agree, default=0)} votes. pass@K with fewer views is expected "
                f"to be lower."
            )
    if s.get("benchmark") == "ARC-AGI-2":
        out.append(
            "ARC-AGI-2's training set contains ARC-AGI-1 evaluation tasks: a model trained on it "
            "has seen those tasks, so do not evaluate it on ARC-AGI-1."
        )
    if bench_device and "cuda" not in bench_device.lower() and "gpu" not in bench_device.lower():
        out.append(
            f"Benchmarks were measured on {bench_device}, not a GPU; absolute latency and "
            "throughput are not comparable to GPU figures."
        )
    return out


def votes_table(votes: Mapping[str, list[int]]) -> dict[str, Any]:
    """The votes figure's numbers as a table: per count, how many test inputs had it."""
    values = sorted({v for vs in votes.values() for v in vs})
    return {
        "labels": [VOTE_COLUMNS[c] for c in votes],
        "columns": list(votes),
        "rows": [{"value": v, "counts": [vs.count(v) for vs in votes.values()]} for v in values],
    }


def sweep_figure(
    exp: ExperimentInputs,
    curves: Sequence[Mapping[str, Any]],
    captions: Mapping[str, str],
    prov: Provenance,
) -> dict[str, Any]:
    """Accuracy vs augmentations: the figure, a caption that gives n and says which curves
    coincide, and the figure's values as a table."""
    methods = sorted({m for c in curves for m in c["methods"]})
    if "paper" in exp.metrics:
        tasks = n_text(read_headline(exp.metrics["paper"], exp.kind).counts)
    else:
        tasks = f"n = {max(curves[0]['n'])} test inputs"
    same = figures.coinciding(curves)
    rows = []
    for i, level in enumerate(curves[0]["x"]):
        cells = [
            (
                fmt.pct(c["y"][i]),
                fmt.interval(c["lo"][i], c["hi"][i], S.CI_METHOD_SHORT[c["method"][i]]),
            )
            for c in curves
        ]
        rows.append(
            {"level": f"{level:g}", "views": f"{curves[0]['views'][i]:.1f}", "cells": cells}
        )
    return {
        "id": "acc_vs_aug",
        "title": "Accuracy vs number of augmentations",
        "uri": figures.accuracy_vs_augmentations(curves, f"{exp.name}: accuracy vs augmentations"),
        "caption": captions.get("acc_vs_aug", "")
        + f" Every point is over the whole test set: {tasks}."
        + " Band: "
        + " or ".join(S.CI_METHODS[m] for m in methods)
        + " over tasks."
        + figures.coincide_text(same, "level"),
        "sweep": {"labels": [c["label"] for c in curves], "rows": rows},
        "sources": prov.links([exp.sweep_csv]),
    }


def caption(captions: Mapping[str, str], key: str, kind: PuzzleKind) -> str:
    """The caption for the experiment's kind (`key_arc`: voted views, `key_grid`: Sudoku and
    Maze), else the shared one."""
    return captions.get(f"{key}_{'arc' if kind.voted else 'grid'}") or captions.get(key, "")


def experiment_section(
    exp: ExperimentInputs,
    bundle: Mapping[str, Any] | None,
    captions: Mapping[str, str],
    prov: Provenance | None = None,
) -> dict[str, Any]:
    """The template's view of one experiment; `prov`: its provenance list, which links made
    later (the claims ledger's) extend."""
    kind = exp.kind
    prov = prov or Provenance(bundle, exp.name)
    sec: dict[str, Any] = {"name": exp.name, "settings": exp.settings, "kind": kind.name}
    sec["facts"] = describe(exp.settings, read_train_config(exp.train_dir))
    sec["summary"] = summary_table(exp)
    sec["summary_caption"] = caption(captions, "summary", kind)
    compared = [exp.comparisons] if exp.comparisons else []
    sec["summary_sources"] = prov.links(
        list(exp.metrics.values()) + list(exp.per_example.values()) + compared
    )

    votes: dict[str, list[int]] = {}
    if kind.voted and exp.metrics:
        scores = exp.metrics.get("paper") or next(iter(exp.metrics.values()))
        votes = read_votes(per_input_file(scores))
    figs: list[dict[str, Any]] = []
    if exp.sweep_csv:
        curves = read_sweep(exp.sweep_csv)
        if curves:
            figs.append(sweep_figure(exp, curves, captions, prov))
    if votes:
        figs.append(
            {
                "id": "votes",
                "title": "Views pooled and votes for the chosen answer, per test input",
                "uri": figures.votes_histograms(
                    {VOTE_COLUMNS[c]: v for c, v in votes.items()}, f"{exp.name}: votes"
                ),
                "caption": captions.get("votes", ""),
                "table": votes_table(votes),
                "sources": prov.links(list(exp.metrics.values())),
            }
        )
    if exp.train_dir:
        mpath = Path(exp.train_dir) / "metrics.jsonl"
        if mpath.exists():
            uri = figures.training_curves(read_jsonl(mpath), f"{exp.name}: training")
            if uri:
                figs.append(
                    {
                        "id": "training",
                        "title": "Training curves",
                        "uri": uri,
                        "caption": captions.get("training", ""),
                        "sources": prov.links([exp.train_dir]),
                    }
                )
    sec["figures"] = figs

    bench_device = None
    sec["bench"] = None  # experiments without `bench:` (the template is strict about keys)
    if exp.bench_json:
        rows_b, bench_device = read_bench(exp.bench_json)
        sec["bench"] = {
            "device": bench_device,
            "rows": rows_b,
            "uri": figures.bench_figure(rows_b, bench_device, f"{exp.name}: inference benchmark"),
            "caption": captions.get("bench", ""),
            "sources": prov.links([exp.bench_json]),
        }
    sec["manifest"] = manifest_summary(exp.data_dir, kind)
    sec["manifest_sources"] = prov.links([exp.data_dir])
    sec["caveats"] = caveats_for(exp, votes, bench_device)
    sec["provenance"] = prov.records
    sec["analyses"] = analyses_section(exp, prov.links)
    sec["checkpoints"] = checkpoints_section(exp, prov.links)
    return sec


# environment fields the Environment table shows in rows of their own (or not at all)
ENV_SHOWN = ("python", "torch", "cuda", "platform", "device", "gpus", "cuda_visible_devices")


def environment_summary(bundle: Mapping[str, Any] | None) -> dict[str, Any]:
    """Code versions (each once, with the jobs that ran on it), packages, devices and hosts."""
    if not bundle or not bundle.get("records"):
        return {}
    recs = bundle["records"]
    versions: dict[tuple[str, bool], list[str]] = {}
    for r in recs:
        git = r.get("git") or {}
        key = (git.get("commit") or "", bool(git.get("dirty")))
        versions.setdefault(key, []).append(r.get("id", r["rule"]))
    devices = sorted({f"{r['rule']}: {r.get('environment', {}).get('device')}" for r in recs})
    hosts = sorted({r.get("host", "?") for r in recs})
    slurm = sorted(
        {
            str(r.get("scheduler", {}).get("SLURM_JOB_ID"))
            for r in recs
            if r.get("scheduler", {}).get("SLURM_JOB_ID")
        }
    )
    env = recs[-1].get("environment", {})
    # every other field the records' environment carries (the CPU's model, the instruction set
    # torch uses, ...), with each value the jobs saw
    machine = {}
    for r in recs:
        for key, value in (r.get("environment") or {}).items():
            if key not in ENV_SHOWN and value not in (None, "", [], {}):
                machine.setdefault(key, []).append(str(value))
    return {
        "machine": [
            {"name": k.replace("_", " "), "value": "; ".join(dict.fromkeys(v))}
            for k, v in machine.items()
        ],
        "code_versions": [
            {"commit": commit, "dirty": dirty, "jobs": jobs}
            for (commit, dirty), jobs in versions.items()
        ],
        "packages": recs[-1].get("packages", {}),
        "python": env.get("python"),
        "torch": env.get("torch"),
        "cuda": env.get("cuda"),
        "platform": env.get("platform"),
        "devices": devices,
        "hosts": hosts,
        "slurm_jobs": slurm,
        "n_records": len(recs),
    }


def render_page(
    experiments: Sequence[ExperimentInputs],
    bundle: Mapping[str, Any] | None,
    template_dir: str | os.PathLike,
    title: str = "TRM reproduction report",
    grids: Sequence[Any] = (),  # trm.report.grids.GridInputs
    llm: Sequence[LlmInputs] = (),
) -> tuple[list[dict[str, Any]], str]:
    """(the claims ledger's entries, the page)."""
    import jinja2

    from trm.report.grids import grid_sections

    template_dir = Path(template_dir)
    captions_path = template_dir / CAPTIONS_NAME
    captions = yaml.safe_load(captions_path.read_text()) if captions_path.exists() else {}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template(TEMPLATE_NAME)
    provs = {e.name: Provenance(bundle, e.name) for e in experiments}
    sections = [experiment_section(e, bundle, captions or {}, provs[e.name]) for e in experiments]
    entries = ledger(experiments, lambda name, files: provs[name].links(files))
    return entries, template.render(
        title=title,
        created=now_iso(),
        claims=claims_view(entries),
        experiments=sections,
        grids=grid_sections(grids, bundle, [e.name for e in experiments]),
        environment=environment_summary(bundle),
        citation=claims().citation,
        captions=captions or {},
        llm_sections=llm_sections(llm, bundle),
        ci_methods_note=CI_METHODS_NOTE,
    )


def render_html(*args: Any, **kwargs: Any) -> str:
    """The page alone (render_page's arguments)."""
    return render_page(*args, **kwargs)[1]


def write_report(
    out_html: str | os.PathLike,
    experiments: Sequence[ExperimentInputs],
    bundle: Mapping[str, Any] | None,
    template_dir: str | os.PathLike,
    title: str = "TRM reproduction report",
    grids: Sequence[Any] = (),
    llm: Sequence[LlmInputs] = (),
    out_claims: str | os.PathLike | None = None,
) -> None:
    """Render and write the page atomically (a failed render leaves no half-written report),
    and the claims ledger to `out_claims`."""
    entries, html = render_page(experiments, bundle, template_dir, title, grids=grids, llm=llm)
    with atomic_file(out_html) as f:
        f.write(html)
    if out_claims is not None:
        write_ledger(out_claims, entries)
