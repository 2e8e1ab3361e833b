"""`trm report --spec SPEC`: render the HTML report and bundle the provenance records (work in
trm.report). The spec (trm.report.spec, docs/workflow.md) names every file the report reads; they
are inputs like --spec and --templates, so no output may be, contain or lie inside one."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from trm.command import Command, Overwrite, refuse_overlap
from trm.settings import input_path, output_path

# the checkout's templates, found from this file so `trm report` works from any folder
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"


@dataclass(kw_only=True)
class ReportSettings(Overwrite):
    spec: Path = input_path(
        "JSON: {title, records, experiments, grids, llm}, the files the report reads "
        "(docs/workflow.md)"
    )
    templates: Path = input_path(
        "folder with report.html.j2 and captions.yaml",
        default=DEFAULT_TEMPLATES,
    )
    out: Path = output_path("HTML page to write", default=Path("reports/report.html"), folder=False)
    claims: Path = output_path(
        "the claims ledger to write (JSON; `trm claims` prints it)",
        default=Path("reports/claims.json"),
        folder=False,
    )
    bundle: Path = output_path(
        "provenance bundle to write (every record of the spec, and --record)",
        default=Path("reports/provenance.json"),
        folder=False,
    )
    record: Path | None = output_path(
        "also write this report's own provenance record here, and bundle it",
        default=None,
        folder=False,
    )


def report(s: ReportSettings) -> int:
    from trm.report.build import build_report
    from trm.report.spec import read_spec

    spec = read_spec(s.spec)
    refuse_overlap(COMMAND, s, spec.paths())
    own = None
    if s.record is not None:
        inputs = [s.spec, *sorted(s.templates.glob("*")), *spec.paths()]
        own = {
            "path": s.record,
            "rule": "report",
            "params": {"spec": str(s.spec), "title": spec.title},
            "inputs": [str(p) for p in inputs],
            "command": shlex.split(COMMAND.command_line(s)),
        }
    bundle = build_report(
        spec.experiments,
        spec.records,
        s.out,
        s.bundle,
        s.templates,
        spec.title,
        own_record=own,
        grids=spec.grids,
        llm=spec.llm,
        out_claims=s.claims,
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
        f"trm report: wrote {s.out} ({', '.join(sections)}), {s.claims} and {s.bundle} "
        f"({len(bundle['records'])} records)"
    )
    return 0


COMMAND = Command(
    "report",
    ReportSettings,
    report,
    help="render the HTML report and bundle the provenance records",
    description="Renders --out from the files a spec names (scores, sweeps, benchmarks, "
    "comparisons, analyses, LLM baselines), opening with the claims ledger (every claim of "
    "config/claims.yaml with its verdict), which it also writes to --claims, and bundles the "
    "spec's provenance records into --bundle; `trm audit` re-checks the bundle.",
)
COMMANDS = [COMMAND]
