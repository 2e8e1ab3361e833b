"""The report's figures, drawn with matplotlib and returned as embeddable PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on clusters and CI

import matplotlib.pyplot as plt  # noqa: E402


def to_data_uri(fig: Any) -> str:
    """PNG of a figure as a data: URI, so the HTML page needs no other file."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def accuracy_vs_augmentations(curves: Sequence[Mapping[str, Any]], title: str) -> str:
    """Lines of accuracy against the number of augmented views, each with its 95% band.

    Each curve: {"label", "x", "y", "lo" (optional), "hi" (optional)}; y in [0, 1].
    """
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for c in curves:
        x, y = list(c["x"]), [100 * v for v in c["y"]]
        (line,) = ax.plot(x, y, marker="o", label=c["label"])
        if c.get("lo") is not None and c.get("hi") is not None:
            ax.fill_between(
                x,
                [100 * v for v in c["lo"]],
                [100 * v for v in c["hi"]],
                alpha=0.2,
                color=line.get_color(),
            )
    if any(v > 0 for c in curves for v in c["x"]):
        ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("augmented views voted over (0 = original only)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return to_data_uri(fig)


def votes_histogram(votes: Sequence[int], title: str) -> str:
    """Histogram of the votes behind each test input's top answer."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    if votes:
        top = max(votes)
        bins = range(0, top + 2) if top <= 60 else 40
        ax.hist(votes, bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlabel("votes for the top answer (augmented views agreeing)")
    ax.set_ylabel("test inputs")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return to_data_uri(fig)


def training_curves(rows: Sequence[Mapping[str, Any]], title: str) -> str | None:
    """One panel per numeric metric logged in metrics.jsonl, against the training step."""
    steps_key = "step"
    keys: list[str] = []
    for r in rows:
        for k, v in r.items():
            if (
                k != steps_key
                and isinstance(v, int | float)
                and not isinstance(v, bool)
                and k not in keys
            ):
                keys.append(k)
    # The few curves a researcher looks at first; the rest stay in metrics.jsonl.
    first = ("loss", "lm_loss", "accuracy", "exact_accuracy", "q_halt_accuracy", "lr")
    chosen = [k for k in first if k in keys] or keys
    chosen = chosen[:6]
    if not chosen:
        return None
    ncols = min(3, len(chosen))
    nrows = (len(chosen) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(chosen) :]:
        ax.axis("off")
    for ax, k in zip(axes.flat, chosen, strict=False):
        # Accuracies are undefined on steps where no sequence halted (count 0): skip those.
        rate = "acc" in k
        pts = [
            (r.get(steps_key, i), r[k])
            for i, r in enumerate(rows)
            if isinstance(r.get(k), int | float) and not (rate and r.get("count") == 0)
        ]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.8, alpha=0.5)
        if len(pts) >= 20:  # a running mean makes the trend readable
            w = max(5, len(pts) // 40)
            ys = [p[1] for p in pts]
            smooth = [
                sum(ys[max(0, j - w + 1) : j + 1]) / len(ys[max(0, j - w + 1) : j + 1])
                for j in range(len(ys))
            ]
            ax.plot([p[0] for p in pts], smooth, lw=1.4, color="C3")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)


def bench_figure(rows: Sequence[Mapping[str, Any]], device: str, title: str) -> str | None:
    """Throughput, latency and peak memory against batch size, one line per dtype."""
    panels = [
        ("throughput", "throughput (examples/s)"),
        ("latency_ms", "latency per batch (ms)"),
        ("peak_mem_mb", "peak memory (MiB)"),
    ]
    panels = [(k, lab) for k, lab in panels if any(r.get(k) is not None for r in rows)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.9), squeeze=False)
    dtypes = sorted({str(r.get("dtype", "")) for r in rows})
    for ax, (k, lab) in zip(axes[0], panels, strict=True):
        for dt in dtypes:
            pts = sorted(
                (r["batch_size"], r[k])
                for r in rows
                if str(r.get("dtype", "")) == dt and r.get(k) is not None
            )
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=dt or None)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(lab, fontsize=8)
        ax.grid(alpha=0.3)
        if len(dtypes) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(f"{title} — {device}", fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)
