"""Render reports/report.html: per experiment, scores beside the paper's figures, the sweep,
training curves, benchmarks, the dataset manifest, caveats, and the provenance behind each.

Everything is read through trm.report.inputs from the files the workflow wrote; nothing is
computed here beyond formatting (intervals and the paper-minus-single difference come from
the scorers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from trm.provenance import lineage, now_iso
from trm.report import figures
from trm.report.inputs import (
    ExperimentInputs,
    headline_keys,
    manifest_summary,
    read_bench,
    read_compare,
    read_headline,
    read_jsonl,
    read_sweep,
    read_votes,
)
from trm.report.llm import LlmInputs, llm_sections
from trm.utils import atomic_file

TEMPLATE_NAME = "report.html.j2"
CAPTIONS_NAME = "captions.yaml"

# The paper's reported figures (pass@2 for ARC, exact accuracy otherwise), in percent.
PAPER_FIGURES: dict[str, dict[str, Any]] = {
    "ARC-AGI-1": {"metric": "pass@2", "TRM": 44.6, "HRM": 40.3},
    "ARC-AGI-2": {"metric": "pass@2", "TRM": 7.8, "HRM": 5.0},
    "Sudoku-Extreme": {"metric": "exact accuracy", "TRM": 87.4, "HRM": 55.0, "note": "TRM-MLP"},
    "Maze-Hard": {"metric": "exact accuracy", "TRM": 85.3, "HRM": 74.5},
}
PAPER_CITATION = (
    'Jolicoeur-Martineau, "Less is More: Recursive Reasoning with Tiny Networks", arXiv 2510.04871'
)


# ---------------------------------------------------------------------------------------------
# Assembling the page


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def signed_pt(v: float) -> str:
    return f"{100 * v:+.1f} pt"


def signed_interval(lo: float, hi: float) -> str:
    return f"[{100 * lo:+.1f}, {100 * hi:+.1f}] pt"


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


def summary_table(exp: ExperimentInputs) -> dict[str, Any]:
    """Headline metrics per mode with the scorer's intervals, and `trm score compare`'s
    paper-minus-single difference (when the experiment has both modes)."""
    kind = exp.settings.get("kind", "arc")
    metrics = {mode: read_headline(p, kind) for mode, p in exp.metrics.items()}
    compare = read_compare(exp.compare_json) if exp.compare_json else None
    rows = []
    for key in headline_keys(kind):
        row: dict[str, Any] = {"metric": key, "modes": {}}
        for mode, m in metrics.items():
            est = m[key]
            row["modes"][mode] = {
                "value": pct(est.value),
                "ci": interval((est.ci_low, est.ci_high)),
                "raw": est.value,
            }
        diff = compare["diffs"].get(key) if compare else None
        row["difference"] = signed_pt(diff["estimate"].value) if diff else "–"
        rows.append(row)
    paired = None
    if compare:
        paired = {
            "n_tasks": compare["n_tasks"],
            "rows": [
                {
                    "label": d["label"],
                    "value": signed_pt(d["estimate"].value),
                    "ci": signed_interval(d["estimate"].ci_low, d["estimate"].ci_high),
                    "p_value": f"{d['p_value']:.3g}",
                }
                for d in compare["diffs"].values()
            ],
        }
    bench_name = exp.settings.get("benchmark")
    return {
        "modes": list(metrics),
        "rows": rows,
        "paired": paired,
        "paper": PAPER_FIGURES.get(bench_name or "", None),
    }


def caveats_for(exp: ExperimentInputs, votes: list[int], bench_device: str | None) -> list[str]:
    s = exp.settings
    out = []
    if s.get("smoke"):
        out.append(
            "Smoke run: a tiny model trained briefly on a small dataset on a CPU. Its numbers test "
            "the pipeline; they are not the paper's numbers and must not be compared with them."
        )
    if s.get("kind") == "arc":
        num_aug = int(s.get("num_aug") or 0)
        if num_aug < 1000 or (votes and max(votes) < 1000):
            top = max(votes) if votes else 0
            out.append(
                f"Effective votes below 1000: the paper votes over 1000 augmented views per test "
                f"input; this run prepared {num_aug} augmentations and the most votes any answer "
                f"received is {top}. pass@K with fewer views is expected to be lower."
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


def experiment_section(
    exp: ExperimentInputs, bundle: Mapping[str, Any] | None, captions: Mapping[str, str]
) -> dict[str, Any]:
    sec: dict[str, Any] = {"name": exp.name, "settings": exp.settings}
    sec["summary"] = summary_table(exp)
    compare = [exp.compare_json] if exp.compare_json else []
    sec["summary_chain"] = chain(
        bundle, list(exp.metrics.values()) + list(exp.per_example.values()) + compare
    )

    votes: list[int] = []
    if exp.settings.get("kind", "arc") == "arc" and exp.per_example:
        votes = read_votes(exp.per_example.get("paper") or next(iter(exp.per_example.values())))
    figs: list[dict[str, Any]] = []
    if exp.sweep_csv:
        curves = read_sweep(exp.sweep_csv)
        if curves:
            figs.append(
                {
                    "id": "acc_vs_aug",
                    "title": "Accuracy vs number of augmentations",
                    "uri": figures.accuracy_vs_augmentations(
                        curves, f"{exp.name}: accuracy vs augmentations"
                    ),
                    "caption": captions.get("acc_vs_aug", ""),
                    "chain": chain(bundle, [exp.sweep_csv]),
                }
            )
    if votes:
        figs.append(
            {
                "id": "votes",
                "title": "Effective votes per test input",
                "uri": figures.votes_histogram(votes, f"{exp.name}: votes for the top answer"),
                "caption": captions.get("votes", ""),
                "chain": chain(bundle, list(exp.per_example.values())),
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
                        "chain": chain(bundle, [exp.train_dir]),
                    }
                )
    sec["figures"] = figs

    bench_device = None
    sec["bench"] = None  # an experiment without `bench:` (the template tests it)
    if exp.bench_json:
        rows_b, bench_device = read_bench(exp.bench_json)
        sec["bench"] = {
            "device": bench_device,
            "rows": rows_b,
            "uri": figures.bench_figure(rows_b, bench_device, f"{exp.name}: inference benchmark"),
            "caption": captions.get("bench", ""),
            "chain": chain(bundle, [exp.bench_json]),
        }
    sec["manifest"] = manifest_summary(exp.data_dir)
    sec["manifest_chain"] = chain(bundle, [exp.data_dir])
    sec["caveats"] = caveats_for(exp, votes, bench_device)
    return sec


def environment_summary(bundle: Mapping[str, Any] | None) -> dict[str, Any]:
    """Code versions, packages, devices and hosts the records were made with."""
    if not bundle or not bundle.get("records"):
        return {}
    recs = bundle["records"]
    commits = sorted(
        {
            f"{r['git'].get('commit')}{' (dirty)' if r['git'].get('dirty') else ''}"
            for r in recs
            if r.get("git")
        }
    )
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
    return {
        "commits": commits,
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


def render_html(
    experiments: Sequence[ExperimentInputs],
    bundle: Mapping[str, Any] | None,
    template_dir: str | os.PathLike,
    title: str = "TRM reproduction report",
    llm: Sequence[LlmInputs] = (),
) -> str:
    import jinja2

    template_dir = Path(template_dir)
    captions_path = template_dir / CAPTIONS_NAME
    captions = yaml.safe_load(captions_path.read_text()) if captions_path.exists() else {}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template(TEMPLATE_NAME)
    sections = [experiment_section(e, bundle, captions or {}) for e in experiments]
    return template.render(
        title=title,
        created=now_iso(),
        experiments=sections,
        environment=environment_summary(bundle),
        paper_figures=PAPER_FIGURES,
        citation=PAPER_CITATION,
        captions=captions or {},
        llm_sections=llm_sections(llm, bundle),
    )


def write_report(
    out_html: str | os.PathLike,
    experiments: Sequence[ExperimentInputs],
    bundle: Mapping[str, Any] | None,
    template_dir: str | os.PathLike,
    title: str = "TRM reproduction report",
    llm: Sequence[LlmInputs] = (),
) -> None:
    """Render and write the page atomically (a failed render leaves no half-written report)."""
    html = render_html(experiments, bundle, template_dir, title, llm)
    with atomic_file(out_html) as f:
        f.write(html)
