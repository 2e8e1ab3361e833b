"""`trm report`: render reports/report.html and bundle provenance records into provenance.json."""

from __future__ import annotations

import argparse


def _cmd_report(args: argparse.Namespace) -> int:
    from trm.report.build import build_report
    from trm.report.inputs import experiments_from_spec
    from trm.utils import read_json

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
        f"trm report: wrote {args.out} ({len(experiments)} experiments) and {args.bundle} "
        f"({len(bundle['records'])} records)"
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
