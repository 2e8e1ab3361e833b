"""Render reports/report.html: per experiment, scores beside the paper's figures, the sweep,
training curves, benchmarks, the dataset manifest, caveats, and the provenance behind each.

Everything is read from the files the workflow wrote; nothing is recomputed except intervals
that the scorer did not state (marked as computed here).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trm.provenance import lineage, now_iso
from trm.report import figures
from trm.utils import atomic_file, read_json

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


@dataclass
class ExperimentInputs:
    """The files behind one experiment's section (paths relative to the workflow folder)."""

    name: str
    settings: dict[str, Any]
    data_dir: str
    metrics: dict[str, str] = field(default_factory=dict)  # mode -> metrics.json
    per_example: dict[str, str] = field(default_factory=dict)  # mode -> per_example.jsonl
    train_dir: str | None = None
    sweep_csv: str | None = None
    bench_json: str | None = None


# ---------------------------------------------------------------------------------------------
# Reading the workflow's outputs


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    rows = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}: line {i}: malformed JSON ({e.msg})") from e
    return rows


def per_example_file(metrics_path: str | os.PathLike) -> str:
    """The scorer's per-example file beside metrics.json: JSON lines (ARC) or CSV."""
    folder = Path(metrics_path).parent
    for name in ("per_example.jsonl", "per_example.csv"):
        if (folder / name).exists():
            return str(folder / name)
    return str(folder / "per_example.jsonl")


def read_per_example(path: str | os.PathLike) -> list[dict[str, Any]]:
    if str(path).endswith(".csv"):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            for k, v in r.items():
                try:
                    r[k] = int(v)
                except (TypeError, ValueError):
                    pass
        return rows
    return read_jsonl(path)


def headline_keys(kind: str, metrics: Mapping[str, Any]) -> list[str]:
    """The metrics the summary table shows: pass@1 and pass@2 for ARC, exact accuracy otherwise."""
    keys = [k for k in metrics if not isinstance(metrics[k], dict | list)]
    if kind == "arc":
        return [k for k in ("ARC/pass@1", "ARC/pass@2") if k in metrics]
    exact = [k for k in keys if "exact" in k.lower()]
    return exact[:2] or [k for k in keys if "acc" in k.lower()][:2]


def metric_value(metrics: Mapping[str, Any], key: str) -> float | None:
    v = metrics.get(key)
    if isinstance(v, dict):
        v = v.get("value", v.get("mean"))
    return float(v) if isinstance(v, int | float) else None


def stated_interval(metrics: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    """A 95% interval the scorer wrote, in any of the layouts it may use."""
    candidates = [
        metrics.get(key) if isinstance(metrics.get(key), dict) else None,
        {"ci95": metrics.get(f"{key}_ci95")},
        {"ci95": metrics.get(f"{key}/ci95")},
        {
            "ci95": (metrics.get("ci95") or {}).get(key)
            if isinstance(metrics.get("ci95"), dict)
            else None
        },
        {
            "ci95": (metrics.get("ci") or {}).get(key)
            if isinstance(metrics.get("ci"), dict)
            else None
        },
    ]
    for c in candidates:
        if not c:
            continue
        for lo_k, hi_k in (("lo", "hi"), ("ci_low", "ci_high"), ("low", "high")):
            if isinstance(c.get(lo_k), int | float) and isinstance(c.get(hi_k), int | float):
                return float(c[lo_k]), float(c[hi_k])
        ci = c.get("ci95", c.get("ci"))
        if isinstance(ci, list | tuple) and len(ci) == 2:
            return float(ci[0]), float(ci[1])
        if isinstance(ci, dict) and {"lo", "hi"} <= ci.keys():
            return float(ci["lo"]), float(ci["hi"])
    return None


def wilson_interval(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion observed over n items."""
    if n == 0:
        return (0.0, 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def example_key(row: Mapping[str, Any]) -> tuple:
    return (
        row.get("puzzle_name", row.get("puzzle", row.get("index"))),
        row.get("input_hash", row.get("index")),
    )


def correct_flag(row: Mapping[str, Any]) -> bool | None:
    for k in ("top1_correct", "correct", "exact_correct"):
        if k in row:
            return bool(row[k])
    return None


def paired_difference(
    a_rows: Sequence[Mapping[str, Any]],
    b_rows: Sequence[Mapping[str, Any]],
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Top-1 accuracy of a minus b over the same test inputs, with a paired bootstrap 95% interval."""
    a = {example_key(r): correct_flag(r) for r in a_rows}
    b = {example_key(r): correct_flag(r) for r in b_rows}
    common = [k for k in a if k in b and a[k] is not None and b[k] is not None]
    if not common:
        return None
    diffs = [int(a[k]) - int(b[k]) for k in common]
    n = len(diffs)
    rng = random.Random(seed)
    boots = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return {
        "value": sum(diffs) / n,
        "lo": boots[int(0.025 * resamples)],
        "hi": boots[int(0.975 * resamples) - 1],
        "n": n,
    }


def read_sweep(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Curves from acc_vs_aug.csv: x = the level column, y = every pass@K/accuracy column."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return []
    cols = list(rows[0].keys())
    x_col = next(
        (
            c
            for c in cols
            if c.lower() in ("level", "levels", "num_aug", "n_aug", "augmentations", "views")
        ),
        cols[0],
    )

    def num(v: str) -> float | None:
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    band_words = ("lo", "hi", "low", "high", "ci")
    y_cols = [
        c
        for c in cols
        if c != x_col
        and ("pass@" in c.lower() or "acc" in c.lower())
        and not any(c.lower().endswith(w) or f"_{w}" in c.lower() for w in band_words)
    ]
    curves = []
    for y in y_cols:
        lo = next(
            (c for c in cols if c != y and c.startswith(y) and c.lower().endswith(("lo", "low"))),
            None,
        )
        hi = next(
            (c for c in cols if c != y and c.startswith(y) and c.lower().endswith(("hi", "high"))),
            None,
        )
        pts = sorted(
            (num(r[x_col]), r) for r in rows if num(r[x_col]) is not None and num(r[y]) is not None
        )
        curves.append(
            {
                "label": y,
                "x": [p[0] for p in pts],
                "y": [num(p[1][y]) for p in pts],
                "lo": [num(p[1][lo]) for p in pts] if lo else None,
                "hi": [num(p[1][hi]) for p in pts] if hi else None,
            }
        )
    return curves


def _bench_device(device: Any) -> str:
    if isinstance(device, dict):
        kind = device.get("type", device.get("device", ""))
        name = device.get("name") or device.get("gpu_name") or device.get("cpu_name") or ""
        threads = (
            f", {device['threads']} threads" if kind == "cpu" and device.get("threads") else ""
        )
        return f"{kind} ({name}{threads})" if name else str(kind or "unknown device")
    return str(device or "unknown device")


def _first(row: Mapping[str, Any], names: Sequence[str]) -> Any:
    """The first of several (possibly nested, dotted) keys present in a bench row."""
    for n in names:
        v: Any = row
        for part in n.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, int | float):
            return v
    return None


def read_bench(path: str | os.PathLike) -> tuple[list[dict[str, Any]], str]:
    """Rows of bench.json in the report's units (ms, examples/s, MiB), and the device it ran on."""
    data = read_json(path, "benchmark result")
    rows = data.get("results", data.get("rows", [])) if isinstance(data, dict) else data
    device = _bench_device(data.get("device") if isinstance(data, dict) else None)
    out = []
    for r in rows:
        if r.get("mode", "inference") != "inference":
            continue
        latency_s = _first(r, ("latency_batch_s.median", "latency_s"))
        latency_ms = _first(r, ("latency_ms", "latency_ms_median"))
        mem_bytes = _first(
            r,
            (
                "memory.cuda_peak_allocated_bytes",
                "memory.cuda_peak_bytes",
                "memory.cpu_peak_rss_bytes",
                "peak_mem_bytes",
            ),
        )
        mem_mb = _first(r, ("peak_mem_mb", "peak_memory_mb", "peak_mem_mib"))
        out.append(
            {
                "batch_size": r.get("batch_size"),
                "dtype": str(r.get("dtype", "")) + (" compiled" if r.get("compile") else ""),
                "latency_ms": latency_ms
                if latency_ms is not None
                else (None if latency_s is None else 1000 * latency_s),
                "throughput": _first(
                    r, ("throughput_examples_per_s", "throughput", "examples_per_s")
                ),
                "peak_mem_mb": mem_mb
                if mem_mb is not None
                else (None if mem_bytes is None else mem_bytes / 2**20),
            }
        )
    return out, device


def manifest_summary(data_dir: str | os.PathLike) -> dict[str, Any]:
    manifest_path = Path(data_dir) / "manifest.json"
    if not manifest_path.exists():
        return {"path": str(manifest_path), "missing": True}
    m = read_json(manifest_path, "dataset manifest")
    counts = m.get("counts", {})
    shortfalls = {
        k: v for k, v in counts.items() if "shortfall" in k.lower() or "short_of" in k.lower()
    }
    # Also look one level down (e.g. counts per split).
    for k, v in counts.items():
        if isinstance(v, dict):
            shortfalls.update(
                {
                    f"{k}.{kk}": vv
                    for kk, vv in v.items()
                    if "shortfall" in kk.lower() or "short_of" in kk.lower()
                }
            )
    outputs = m.get("outputs", [])
    return {
        "path": str(manifest_path),
        "command": m.get("command"),
        "params": m.get("params", {}),
        "counts": {k: v for k, v in counts.items() if k not in shortfalls},
        "shortfalls": shortfalls,
        "inputs": m.get("inputs", []),
        "n_files": len(outputs),
        "total_mb": sum(o.get("size", 0) for o in outputs) / 2**20,
        "created": m.get("created"),
    }


# ---------------------------------------------------------------------------------------------
# Assembling the page


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


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
    kind = exp.settings.get("kind", "arc")
    metrics = {m: read_json(p, "metrics") for m, p in exp.metrics.items()}
    per_ex = {m: read_per_example(p) for m, p in exp.per_example.items() if Path(p).exists()}
    first = next(iter(metrics.values()), {})
    keys = headline_keys(kind, first)
    rows = []
    computed_intervals = False
    for key in keys:
        row: dict[str, Any] = {"metric": key, "modes": {}}
        for mode, m in metrics.items():
            value = metric_value(m, key)
            ci = stated_interval(m, key)
            if ci is None and value is not None and per_ex.get(mode):
                ci = wilson_interval(value, len(per_ex[mode]))
                computed_intervals = True
            row["modes"][mode] = {"value": pct(value), "ci": interval(ci), "raw": value}
        vals = [row["modes"].get(m, {}).get("raw") for m in ("paper", "single")]
        row["difference"] = f"{100 * (vals[0] - vals[1]):+.1f} pt" if None not in vals else "–"
        rows.append(row)
    paired = None
    if "paper" in per_ex and "single" in per_ex:
        paired = paired_difference(per_ex["paper"], per_ex["single"])
    bench_name = exp.settings.get("benchmark")
    return {
        "modes": list(metrics),
        "rows": rows,
        "paired": paired,
        "computed_intervals": computed_intervals,
        "paper": PAPER_FIGURES.get(bench_name or "", None),
        "n_examples": {m: len(r) for m, r in per_ex.items()},
        "per_example": per_ex,
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
    summary = summary_table(exp)
    per_ex = summary.pop("per_example")
    sec["summary"] = summary
    sec["summary_chain"] = chain(
        bundle, list(exp.metrics.values()) + list(exp.per_example.values())
    )

    votes: list[int] = []
    rows = per_ex.get("paper") or next(iter(per_ex.values()), [])
    for r in rows:
        for k in ("effective_votes", "num_votes", "votes", "n_votes"):
            if isinstance(r.get(k), int | float):
                votes.append(int(r[k]))
                break
    figs: list[dict[str, Any]] = []
    if exp.sweep_csv and Path(exp.sweep_csv).exists():
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
    if exp.bench_json and Path(exp.bench_json).exists():
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
    )


def write_report(
    out_html: str | os.PathLike,
    experiments: Sequence[ExperimentInputs],
    bundle: Mapping[str, Any] | None,
    template_dir: str | os.PathLike,
    title: str = "TRM reproduction report",
) -> None:
    """Render and write the page atomically (a failed render leaves no half-written report)."""
    html = render_html(experiments, bundle, template_dir, title)
    with atomic_file(out_html) as f:
        f.write(html)
