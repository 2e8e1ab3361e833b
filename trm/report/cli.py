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
    from trm.report.spec import read_spec

    spec = read_spec(args.spec)
    inputs = [args.spec, args.templates, *spec.records]
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
        spec.experiments,
        spec.records,
        args.out,
        args.bundle,
        args.templates,
        spec.title,
        grids=spec.grids,
        llm=spec.llm,
    )
    sections = [
        f"{len(items)} {name}"
        for name, items in (
            ("experiments", spec.experiments),
            ("grids", spec.grids),
            ("LLM experiments", spec.llm),
        )
        if items or name == "experiments"
    ]
    print(
        f"trm report: wrote {args.out} ({', '.join(sections)}) and {args.bundle} "
        f"({len(bundle['records'])} records)"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render the HTML report and bundle the provenance records")
    p.add_argument(
        "--spec",
        required=True,
        help="JSON: {title, records, experiments, grids, llm} (see docs/workflow.md)",
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
