"""`trm report`: render reports/report.html and bundle provenance records into provenance.json."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trm.provenance import collect, make_record, now_iso, write_record
from trm.utils import read_json, write_json


def experiments_from_spec(spec: Mapping[str, Any]) -> list[Any]:
    from trm.report.render import ExperimentInputs

    out = []
    for i, e in enumerate(spec.get("experiments", [])):
        missing = {"name", "data_dir"} - e.keys()
        if missing:
            raise ValueError(f"report spec: experiments[{i}] lacks {sorted(missing)}")
        out.append(
            ExperimentInputs(
                name=e["name"],
                settings=dict(e.get("settings", {})),
                data_dir=e["data_dir"],
                metrics=dict(e.get("metrics", {})),
                per_example=dict(e.get("per_example", {})),
                train_dir=e.get("train_dir"),
                sweep_csv=e.get("sweep_csv"),
                bench_json=e.get("bench_json"),
            )
        )
    return out


def build_report(
    experiments: Sequence[Any],
    record_paths: Iterable[str | os.PathLike],
    out_html: str | os.PathLike,
    bundle_path: str | os.PathLike,
    template_dir: str | os.PathLike,
    title: str = "TRM reproduction report",
    own_record: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Render the page from the upstream records, then write the bundle.

    `own_record` = {"path", "rule", "params", "inputs", ...}: the report job's own record, written
    after the page so that it hashes it, and included in the bundle.
    """
    from trm.report.render import write_report

    record_paths = [str(p) for p in record_paths]
    for p in record_paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"provenance record not found: {p}")
    start = now_iso()
    bundle = collect(record_paths, bundle_path=bundle_path)
    write_report(out_html, experiments, bundle, template_dir, title)
    if own_record is not None:
        rec = make_record(
            rule=own_record.get("rule", "report"),
            wildcards=own_record.get("wildcards", {}),
            params=own_record.get("params", {}),
            inputs=list(own_record.get("inputs", [])),
            outputs=[out_html],
            start=start,
            end=now_iso(),
            log=own_record.get("log"),
            resources=own_record.get("resources"),
        )
        write_record(own_record["path"], rec)
        record_paths.append(str(own_record["path"]))
        bundle = collect(record_paths, bundle_path=bundle_path)
    write_json(bundle_path, bundle)
    return bundle


def _cmd_report(args: argparse.Namespace) -> int:
    spec = read_json(args.spec, "report spec")
    experiments = experiments_from_spec(spec)
    bundle = build_report(
        experiments,
        spec.get("records", []),
        args.out,
        args.bundle,
        args.templates,
        spec.get("title", "TRM reproduction report"),
    )
    print(
        f"trm report: wrote {args.out} ({len(experiments)} experiments) and {args.bundle} ({len(bundle['records'])} records)"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render the HTML report and bundle the provenance records")
    p.add_argument(
        "--spec",
        required=True,
        help="JSON: {title, experiments: [...], records: [...]} (see docs/workflow.md)",
    )
    p.add_argument("--out", default="reports/report.html", help="HTML page to write")
    p.add_argument("--bundle", default="reports/provenance.json", help="provenance bundle to write")
    p.add_argument(
        "--templates",
        default="reports/templates",
        help="folder with report.html.j2 and captions.yaml",
    )
    p.set_defaults(func=_cmd_report)
