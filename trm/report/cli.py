"""`trm report`: render reports/report.html and bundle provenance records into provenance.json."""

from __future__ import annotations

import argparse
from pathlib import Path

# the checkout's templates, found from this file so `trm report` works from any folder
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"
_HTML_MARKERS = ("<html", "provenance.json")


def is_report_html(path: Path) -> bool:
    """recognise(): a page an earlier `trm report` rendered (HTML that cites its bundle)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return False
    return path.is_file() and all(m in text for m in _HTML_MARKERS)


def is_report_bundle(path: Path) -> bool:
    """recognise(): a provenance bundle an earlier `trm report` wrote ({"records": [...]})."""
    import json

    try:
        bundle = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(bundle, dict) and isinstance(bundle.get("records"), list)


def _cmd_report(args: argparse.Namespace) -> int:
    from trm.outputs import check_output_path
    from trm.report.build import build_report
    from trm.report.inputs import experiments_from_spec
    from trm.utils import read_json

    spec = read_json(args.spec, "report spec")
    experiments = experiments_from_spec(spec)
    records = spec.get("records", [])
    inputs = [args.spec, args.templates, *(r for r in records if isinstance(r, str))]
    for path, kind, recognise, option in (
        (args.out, "report page", is_report_html, "--out"),
        (args.bundle, "provenance bundle", is_report_bundle, "--bundle"),
    ):
        check_output_path(
            path,
            kind=kind,
            recognise=recognise,
            inputs=inputs,
            overwrite=args.overwrite,
            option=option,
        )
    bundle = build_report(
        experiments,
        records,
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
        default=str(DEFAULT_TEMPLATES),
        help="folder with report.html.j2 and captions.yaml (default: the checkout's "
        "reports/templates)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out/--bundle even if `trm report` did not write them",
    )
    p.set_defaults(func=_cmd_report)
