"""The report's figures, drawn with matplotlib and returned as embeddable PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on clusters and CI

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


def to_data_uri(fig: Any) -> str:
    """PNG of a figure as a data: URI, so the HTML page needs no other file."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def percent_range(values: Sequence[float], min_span: float = 10.0) -> tuple[float, float]:
    """y-limits in % for accuracies in [0, 1]: from 0, at least `min_span` points tall, so that
    flat values (all 0 %) get a readable 0-10 % axis rather than matplotlib's -0.05..0.05."""
    top = 100 * max(values, default=0.0)
    return 0.0, min(100.0, max(min_span, top * 1.1))


def flat_range(values: Sequence[float]) -> tuple[float, float] | None:
    """y-limits for a metric that never changes (None when it varies): its whole 0-1 range for a
    rate, else the value ±max(1, 10 %), rather than an axis magnifying nothing into ±0.05."""
    if not values:
        return None
    lo, hi = min(values), max(values)
    if hi - lo > 1e-9 * max(1.0, abs(hi)):
        return None
    if 0 <= lo <= 1:
        return 0.0, 1.0
    pad = max(1.0, 0.1 * abs(lo))
    return lo - pad, lo + pad


def coinciding(curves: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """{label: label of an earlier curve it lies exactly on} for curves equal at every point
    (the same x and y): drawn as they are, one would hide the other."""
    out: dict[str, str] = {}
    for i, c in enumerate(curves):
        for earlier in curves[:i]:
            same = list(c["x"]) == list(earlier["x"]) and list(c["y"]) == list(earlier["y"])
            if same and earlier["label"] not in out:
                out[c["label"]] = earlier["label"]
                break
    return out


def coincide_text(pairs: Mapping[str, str], where: str) -> str:
    """The caption's sentence about coinciding curves, each group once ('' when none do)."""
    groups: dict[str, list[str]] = {}
    for label, first in pairs.items():
        groups.setdefault(first, [first]).append(label)
    if not groups:
        return ""
    said = "; ".join(", ".join(g[:-1]) + f" and {g[-1]}" for g in groups.values())
    return (
        f" {said} coincide at every {where} (the same values): each later line is drawn dashed "
        "on top of the first."
    )


def plot_curve(ax: Any, c: Mapping[str, Any], same_as: str | None, **style: Any) -> None:
    """One curve in percent with its 95 % band; a curve lying on an earlier one is dashed and
    says so in the legend."""
    x, y = list(c["x"]), [100 * v for v in c["y"]]
    label = f"{c['label']} (= {same_as})" if same_as else c["label"]
    if same_as:
        style = {**style, "linestyle": (0, (4, 3)), "marker": "x"}
    (line,) = ax.plot(x, y, label=label, **({"marker": "o"} | style))
    if c.get("lo") is not None and c.get("hi") is not None and not same_as:
        ax.fill_between(
            x,
            [100 * v for v in c["lo"]],
            [100 * v for v in c["hi"]],
            alpha=0.15,
            color=line.get_color(),
        )


def accuracy_vs_augmentations(curves: Sequence[Mapping[str, Any]], title: str) -> str:
    """Lines of accuracy against the number of augmented views, each with its 95% band (a curve
    equal to an earlier one is drawn dashed and named so in the legend).

    Each curve: {"label", "x", "y", "lo" (optional), "hi" (optional)}; y in [0, 1].
    """
    fig, ax = plt.subplots(figsize=(6, 3.6))
    same = coinciding(curves)
    for c in curves:
        plot_curve(ax, c, same.get(c["label"]))
    levels = sorted({v for c in curves for v in c["x"]})
    if any(v > 0 for v in levels):
        ax.set_xscale("symlog", linthresh=1)
    # A tick at every level voted over (0, 1, 2, 4, ... 1000), labelled as the plain number.
    ax.set_xticks(levels, [f"{v:g}" for v in levels])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("augmented views voted over (0 = original only)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(*percent_range([v for c in curves for v in [*c["y"], *c.get("hi", [])]]))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return to_data_uri(fig)


def votes_histograms(distributions: Mapping[str, Sequence[int]], title: str) -> str:
    """One histogram per named distribution of counts per test input, side by side on the same
    x range (e.g. views pooled, and votes for the chosen answer)."""
    n = max(1, len(distributions))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.0), squeeze=False, sharex=True)
    top = max((max(v) for v in distributions.values() if len(v)), default=1)
    bins = [b - 0.5 for b in range(0, top + 2)] if top <= 60 else 40
    for ax, (label, values) in zip(axes[0], distributions.items(), strict=True):
        if len(values):
            ax.hist(values, bins=bins, color="#4c72b0", edgecolor="white")
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel("test inputs")
        ax.set_xlim(left=-0.5)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)


def smoothing_window(n: int) -> int:
    """Half-width of the training curves' running mean for n logged values."""
    return max(2, n // 80)


def centered_mean(ys: Sequence[float], w: int) -> list[float]:
    """The mean of each value and the w before and after it (fewer at the ends): a trend that
    is not shifted in time, unlike a trailing mean."""
    out = []
    for j in range(len(ys)):
        window = ys[max(0, j - w) : j + w + 1]
        out.append(sum(window) / len(window))
    return out


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
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.8, alpha=0.5, label="logged")
        if len(pts) >= 20:  # a running mean makes the trend readable
            w = smoothing_window(len(pts))
            smooth = centered_mean([p[1] for p in pts], w)
            label = f"mean of {2 * w + 1} logged values, centred"
            ax.plot([p[0] for p in pts], smooth, lw=1.4, color="C3", label=label)
            ax.legend(fontsize=6, loc="best")
        if limits := flat_range([p[1] for p in pts]):
            ax.set_ylim(*limits)  # constant: say so rather than magnify rounding
            ax.text(0.5, 0.5, f"constant {pts[0][1]:g}", transform=ax.transAxes, ha="center")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)


MIN_BENCH_POINTS = 3  # with fewer batch sizes the table says it all; a line would only mislead


def bench_figure(rows: Sequence[Mapping[str, Any]], device: str, title: str) -> str | None:
    """Throughput, latency and peak memory against batch size, one line per dtype, every axis
    from 0 (so that a 3 % difference looks like one). None when no dtype has MIN_BENCH_POINTS
    batch sizes: the report then shows the table only."""
    sizes: dict[str, set] = {}
    for r in rows:
        if r.get("throughput") is not None:
            sizes.setdefault(str(r.get("dtype", "")), set()).add(r["batch_size"])
    if max((len(v) for v in sizes.values()), default=0) < MIN_BENCH_POINTS:
        return None
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
        ax.set_ylim(bottom=0)
        ax.set_xlabel("batch size")
        ax.set_ylabel(lab, fontsize=8)
        ax.grid(alpha=0.3)
        if len(dtypes) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(f"{title} — {device}", fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)
