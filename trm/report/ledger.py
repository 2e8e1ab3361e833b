"""The claims ledger: every claim of the registry (trm.claims, config/claims.yaml) with what this
report measured for it and its verdict by the one rule (trm.verdict).

For each claim, every experiment of the report that measures the claim's metric (its scores, its
paper-vs-single comparisons, its puzzle-ID ablation, its ACT-step trajectory or its benchmark;
config/claims.yaml's `measure`) is an observation; the setting check of the report's "comparable
with the paper" boxes (trm.report.describe.setting_reasons) names what differs from the claim's
setting. A comparable observation is judged (levels on the file's 95 % interval, effects on the
paired difference of a comparisons file); otherwise the closest one makes the claim "not
comparable", naming the differences; no observation at all is "not run". Values are read
through the report's readers (trm.report.inputs, .comparisons, .analyses); nothing is computed
beyond unit conversion.

reports/claims.json (`write_ledger`, read back by `read_ledger` and `trm claims`):
{"format": FORMAT, "citation": the reproduced work, "claims": [entry, ...]} with each entry's
keys ENTRY_KEYS (in that order) and `ours` null or with keys OURS_KEYS.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.claims import Claim, Claims, Setting, claims
from trm.errors import InputError
from trm.eval.analyses import keys as K
from trm.eval.schema import CI_METHOD_SHORT
from trm.report import comparisons
from trm.report.describe import setting_reasons
from trm.report.inputs import ExperimentInputs, headline_keys, read_bench, read_headline
from trm.utils import read_format_doc, write_json
from trm.verdict import (
    HIGHER,
    LOWER,
    NOT_RUN,
    VERDICTS,
    Measured,
    Verdict,
    judge,
    not_comparable,
)

FORMAT = "trm-claims/1"
WHOSE = "the claim's"
ENTRY_KEYS = (
    "id",
    "source",
    "citation",
    "url",
    "where",
    "statement",
    "type",
    "metric",
    "claimed",
    "tolerance",
    "unit",
    "setting",
    "experiment_config",
    "checked",
    "check",
    "verdict",
    "reason",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "ours",
)
OURS_KEYS = (
    "experiment",
    "value",
    "ci_low",
    "ci_high",
    "ci_method",
    "n",
    "n_unit",
    "also",
    "file",
    "section",
    "provenance",
)
# (experiment name, files) -> [{"id", "anchor"}]: the provenance records behind the files
Links = Callable[[str, Sequence[str]], list[dict[str, str]]]


@dataclass
class Observation:
    """What one experiment measured for a claim, in the claim's unit (measured None: it
    measures the metric but has no value in the claim's terms, e.g. no benchmark row at the
    claim's batch size; `differs` then says why)."""

    experiment: str
    file: str
    section: str  # the page anchor of the section that shows it
    measured: Measured | None = None
    n_unit: str = ""
    also: str = ""  # a paired difference shown with a level (blank minus true)
    differs: list[str] = field(default_factory=list)


def _scale(claim: Claim) -> float:
    return 100.0 if claim.unit in ("%", "pt") else 1.0


def _measured(
    claim: Claim, exp: str, value: float, lo: float, hi: float, n: int, method: str
) -> Measured:
    f = _scale(claim)
    return Measured(f * value, f * lo, f * hi, n=int(n), ci_method=method, experiment=exp)


def _record(path: str, writer: str, claim: Claim, a: str, b: str) -> dict[str, Any] | None:
    """The comparisons record of claim.metric with sides a and b (and the claim's mode, where
    the file has modes), or None."""
    for r in comparisons.read(path, writer)["comparisons"]:
        mode = r["context"].get(K.TRAJ_MODE, claim.mode)
        if r["metric"] == claim.metric and r["a"] == a and r["b"] == b and mode == claim.mode:
            return r
    return None


def _from_record(claim: Claim, exp: str, r: Mapping[str, Any], side: str) -> Measured:
    k = f"{side}_" if side else "diff_"
    value = r[f"{side}_value"] if side else r["diff"]
    return _measured(
        claim, exp, value, r[f"{k}ci_low"], r[f"{k}ci_high"], r["n"], r[f"{k}ci_method"]
    )


def _tasks(exp: ExperimentInputs, mode: str) -> tuple[int, str]:
    """(n, unit) of an experiment's scores in `mode` (the first count), or (0, "")."""
    if mode not in exp.metrics:
        return 0, ""
    unit, n = next(iter(read_headline(exp.metrics[mode], exp.kind).counts.items()))
    return n, unit


def _score(claim: Claim, exp: ExperimentInputs, _: Setting) -> Observation | None:
    path = exp.metrics.get(claim.mode)
    if path is None or claim.metric not in headline_keys(exp.kind):
        return None
    h = read_headline(path, exp.kind)
    est = h.estimates[claim.metric]
    unit, n = next(iter(h.counts.items()))
    m = _measured(claim, exp.name, est.value, est.ci_low, est.ci_high, n, est.method or "")
    return Observation(exp.name, path, f"exp-{exp.name}", m, unit)


def _modes(claim: Claim, exp: ExperimentInputs, _: Setting) -> Observation | None:
    if not exp.comparisons or not claim.metric.startswith(f"{exp.kind.title}/"):
        return None
    r = _record(exp.comparisons, "trm compare runs", claim, str(claim.a), str(claim.b))
    if r is None:
        return None
    m = _from_record(claim, exp.name, r, "")
    return Observation(exp.name, exp.comparisons, f"exp-{exp.name}", m, f"{r['unit']}s")


def _ids(claim: Claim, exp: ExperimentInputs, _: Setting) -> Observation | None:
    path = exp.analyses.get(f"analysis_ids_{claim.mode}")
    if path is None:
        return None
    r = _record(path, "trm compare runs", claim, str(claim.a), str(claim.b))
    if r is None:
        return None
    diff = _from_record(claim, exp.name, r, "")
    also = (
        f"{claim.a} minus {claim.b}: {diff.value:+.1f} pt "
        f"[{diff.ci_low:+.1f}, {diff.ci_high:+.1f}] ({diff.ci_method})"
    )
    m = _from_record(claim, exp.name, r, "a")
    return Observation(exp.name, path, f"ids-{exp.name}", m, f"{r['unit']}s", also)


def _trajectory(claim: Claim, exp: ExperimentInputs, _: Setting) -> Observation | None:
    from trm.report.analyses import read_trajectory

    path = exp.analyses.get("analysis_trajectory")
    if path is None:
        return None
    obs = Observation(exp.name, path, f"traj-{exp.name}")
    rows = [r for r in read_trajectory(path) if r[K.TRAJ_MODE] == claim.mode]
    row = next((r for r in rows if r[K.TRAJ_STEP] == claim.step), None)
    if row is None:
        obs.differs.append(f"its trajectory has {len(rows)} ACT steps, none is step {claim.step}")
        return obs
    lo, hi = K.ci_keys(claim.metric)
    n, unit = _tasks(exp, claim.mode)
    method = row[K.ci_method_key(claim.metric)]
    obs.measured = _measured(claim, exp.name, row[claim.metric], row[lo], row[hi], n, method)
    obs.n_unit = unit
    return obs


def _trajectory_steps(claim: Claim, exp: ExperimentInputs, _: Setting) -> Observation | None:
    traj = exp.analyses.get("analysis_trajectory")
    path = Path(traj).parent / K.STEPS_VS_FIRST if traj else None
    if path is None or not path.exists():
        return None
    obs = Observation(exp.name, str(path), f"traj-{exp.name}")
    r = _record(str(path), "trm analyse trajectory", claim, f"step {claim.step}", "step 1")
    if r is None:
        obs.differs.append(f"its trajectory has no step {claim.step}")
        return obs
    obs.measured, obs.n_unit = _from_record(claim, exp.name, r, ""), f"{r['unit']}s"
    return obs


def _bench(claim: Claim, exp: ExperimentInputs, setting: Setting) -> Observation | None:
    if not exp.bench_json:
        return None
    rows, device = read_bench(exp.bench_json)
    obs = Observation(exp.name, exp.bench_json, f"bench-{exp.name}")
    if setting.device and setting.device not in device:
        obs.differs.append(f"it was measured on {device}, {WHOSE} on {setting.device}")
    want = (setting.bench.get("batch_size"), setting.bench.get("dtype"))
    row = next((r for r in rows if (r["batch_size"], r["dtype"]) == want), None)
    key = "peak_mem_mb" if claim.measure == "bench_memory" else "throughput"
    if row is None or row[key] is None:
        ran = ", ".join(f"{r['batch_size']} {r['dtype']}" for r in rows) or "none"
        obs.differs.append(f"it has no result at batch size {want[0]}, {want[1]} (it ran: {ran})")
        return obs
    value = row[key] * 2**20 / 1e9 if key == "peak_mem_mb" else row[key]
    obs.measured = Measured(value, value, value, 0, "one benchmark", exp.name)
    return obs


OBSERVERS: dict[str, Callable[[Claim, ExperimentInputs, Setting], Observation | None]] = {
    "score": _score,
    "modes": _modes,
    "ids": _ids,
    "trajectory": _trajectory,
    "trajectory_steps": _trajectory_steps,
    "bench_memory": _bench,
    "bench_throughput": _bench,
}


def observe(claim: Claim, exp: ExperimentInputs, setting: Setting) -> Observation | None:
    """What `exp` measured for `claim`, with what differs from the claim's setting (None: it
    does not measure the claim's metric)."""
    observer = OBSERVERS.get(claim.measure)
    if observer is None or exp.kind.name != setting.kind:
        return None
    obs = observer(claim, exp, setting)
    if obs is None:
        return None
    obs.differs = setting_reasons(exp.settings, setting, WHOSE) + obs.differs
    if obs.differs and setting.note:
        obs.differs.append(f"note: {setting.note}")
    if obs.measured is not None:
        obs.measured = dataclasses.replace(obs.measured, differs=tuple(obs.differs))
    return obs


def _verdict(claim: Claim, found: Sequence[Observation]) -> tuple[Verdict, Observation | None]:
    if claim.measure == "none":
        return Verdict(NOT_RUN, f"this pipeline does not measure it: {claim.not_measured}"), None
    if not found:
        v = judge(claim.value, claim.tolerance, None)
        if claim.experiment:
            where = f"config/experiments/{claim.experiment}.yaml"
            v = Verdict(v.verdict, f"{v.reason}; {where} runs it")
        return v, None
    best = min(found, key=lambda o: len(o.differs))  # the first comparable, else the closest
    if best.measured is None:
        return not_comparable(best.experiment, best.differs), best
    v = judge(claim.value, claim.tolerance, best.measured)
    others = len([o for o in found if o.differs]) - (1 if best.differs else 0)
    if best.differs and others:
        v = Verdict(v.verdict, f"{v.reason} ({others} other experiment(s) measure it, none in it)")
    return v, best


def _ours(obs: Observation | None, links: Links | None) -> dict[str, Any] | None:
    if obs is None:
        return None
    m = obs.measured
    prov = links(obs.experiment, [obs.file]) if links else []
    return {
        "experiment": obs.experiment,
        "value": m.value if m else None,
        "ci_low": m.ci_low if m else None,
        "ci_high": m.ci_high if m else None,
        "ci_method": m.ci_method if m else None,
        "n": m.n if m else None,
        "n_unit": obs.n_unit,
        "also": obs.also,
        "file": obs.file,
        "section": obs.section,
        "provenance": prov,
    }


def entry(
    claim: Claim, experiments: Sequence[ExperimentInputs], reg: Claims, links: Links | None = None
) -> dict[str, Any]:
    """One claim's ledger entry (keys ENTRY_KEYS)."""
    setting = reg.setting_of(claim)
    found = [o for e in experiments if (o := observe(claim, e, setting)) is not None]
    verdict, best = _verdict(claim, found)
    source = reg.sources[claim.source]
    return {
        "id": claim.id,
        "source": source.label,
        "citation": source.citation,
        "url": source.url,
        "where": claim.where,
        "statement": claim.statement,
        "type": claim.type,
        "metric": claim.metric,
        "claimed": claim.value,
        "tolerance": claim.tolerance,
        "unit": claim.unit,
        "setting": claim.setting,
        "experiment_config": (
            f"config/experiments/{claim.experiment}.yaml" if claim.experiment else None
        ),
        "checked": bool(claim.checked),
        "check": claim.checked or claim.unchecked,
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        "diff": verdict.diff,
        "diff_ci_low": verdict.diff_ci_low,
        "diff_ci_high": verdict.diff_ci_high,
        "ours": _ours(best, links),
    }


def ledger(
    experiments: Sequence[ExperimentInputs], links: Links | None = None, reg: Claims | None = None
) -> list[dict[str, Any]]:
    """Every claim of the registry, in file order, with its verdict."""
    reg = reg or claims()
    return [entry(c, experiments, reg, links) for c in reg.claims]


def write_ledger(path: str | os.PathLike, entries: Sequence[Mapping[str, Any]]) -> None:
    """reports/claims.json: the ledger without the page's anchors."""
    out = []
    for e in entries:
        ours = e["ours"] and {
            **e["ours"],
            "provenance": [p["id"] for p in e["ours"]["provenance"]],
        }
        out.append({**e, "ours": ours})
    write_json(path, {"format": FORMAT, "citation": claims().citation, "claims": out})


def read_ledger(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of a claims.json, checked: its format, every entry's keys and verdict."""
    _, entries = read_format_doc(path, "claims ledger", FORMAT, "claims")
    for i, e in enumerate(entries):
        if missing := [k for k in ENTRY_KEYS if k not in e]:
            raise InputError(f"{path}: claims[{i}] lacks {missing}")
        if e["verdict"] not in VERDICTS:
            raise InputError(
                f"{path}: claims[{i}].verdict {e['verdict']!r} is not one of {VERDICTS}"
            )
        if e["ours"] is not None and (missing := [k for k in OURS_KEYS if k not in e["ours"]]):
            raise InputError(f"{path}: claims[{i}].ours lacks {missing}")
    return entries


# ---- how the page and `trm claims` write an entry -------------------------------------------


def _number(value: float, unit: str, signed: bool = False) -> str:
    if unit in ("%", "pt"):
        text = f"{value:+.1f}" if signed or unit == "pt" else f"{value:.1f}"
    elif unit == "GB":
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return text.replace("-", "\u2212")


def claimed_text(e: Mapping[str, Any]) -> str:
    """'44.6 %', '87 % \u00b1 2', '+10.75 pt'."""
    sign = "+" if e["unit"] == "pt" and e["claimed"] > 0 else ""
    text = f"{sign}{e['claimed']:g} {e['unit']}"
    return text + (f" \u00b1 {e['tolerance']:g}" if e["tolerance"] is not None else "")


def ours_text(e: Mapping[str, Any]) -> str:
    """'62.5 % [38.6, 81.5] Wilson, n = 16 tasks' (or '\u2013': nothing measured it)."""
    o = e["ours"]
    if o is None or o["value"] is None:
        return "\u2013"
    unit = e["unit"]
    text = f"{_number(o['value'], unit)} {unit}"
    if o["ci_low"] != o["ci_high"]:
        lo, hi = (_number(o[k], unit, unit == "pt") for k in ("ci_low", "ci_high"))
        text += f" [{lo}, {hi}] {CI_METHOD_SHORT.get(o['ci_method'], o['ci_method'])}"
    else:
        text += f" ({o['ci_method']}, no interval)"
    if o["n"]:
        text += f", n = {o['n']} {o['n_unit']}"
    return text


def diff_text(e: Mapping[str, Any]) -> str:
    """Ours minus claimed with its interval, for higher / lower ('' otherwise)."""
    if e["diff"] is None or e["verdict"] not in (HIGHER, LOWER):
        return ""
    unit = "pt" if e["unit"] in ("%", "pt") else e["unit"]
    d, lo, hi = (
        _number(e[k], "pt" if unit == "pt" else e["unit"], True)
        for k in ("diff", "diff_ci_low", "diff_ci_high")
    )
    return f"ours minus claimed {d} {unit} [{lo}, {hi}]"


def line(e: Mapping[str, Any]) -> str:
    """One terminal line: id, claimed, ours [interval] n, verdict, reason."""
    diff = diff_text(e)
    reason = e["reason"] + (f"; {diff}" if diff else "")
    return f"{e['id']}  claimed {claimed_text(e)}  ours {ours_text(e)}  {e['verdict'].upper()}: {reason}"


def claims_view(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The template's view of the ledger (reports/templates/claims.html.j2): one row per claim
    and the count of each verdict."""
    rows = []
    for e in entries:
        o = e["ours"] or {}
        rows.append(
            {
                "id": e["id"],
                "statement": e["statement"],
                "source": e["source"],
                "url": e["url"],
                "where": e["where"],
                "checked": e["checked"],
                "check": e["check"],
                "claimed": claimed_text(e),
                "ours": ours_text(e),
                "experiment": o.get("experiment"),
                "also": o.get("also", ""),
                "verdict": e["verdict"],
                "reason": e["reason"],
                "diff": diff_text(e),
                "section": o.get("section"),
                "provenance": o.get("provenance", []),
                "experiment_config": e["experiment_config"],
            }
        )
    counts = {v: sum(e["verdict"] == v for e in entries) for v in VERDICTS}
    return {"rows": rows, "counts": {v: n for v, n in counts.items() if n}}
