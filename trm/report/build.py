"""Build the report: render the page from the experiments' outputs, then bundle every job's
provenance record (and the report job's own) into one provenance.json."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trm.errors import UserError
from trm.provenance import collect, make_record, now_iso, write_record
from trm.report.inputs import ExperimentInputs
from trm.report.llm import LlmInputs
from trm.report.render import write_report
from trm.utils import write_json


def build_report(
    experiments: Sequence[ExperimentInputs],
    record_paths: Iterable[str | os.PathLike],
    out_html: str | os.PathLike,
    bundle_path: str | os.PathLike,
    template_dir: str | os.PathLike,
    title: str = "TRM reproduction report",
    own_record: Mapping[str, Any] | None = None,
    grids: Sequence[Any] = (),  # trm.report.grids.GridInputs
    llm: Sequence[LlmInputs] = (),
    out_claims: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Render the page (and the claims ledger, `out_claims`) from the upstream records, then
    write the bundle.

    `own_record` = {"path", "rule", "params", "inputs", "command", ...}: the report job's own
    record, written after the page so that it hashes it, and included in the bundle.
    """
    record_paths = [str(p) for p in record_paths]
    for p in record_paths:
        if not Path(p).exists():
            raise UserError(f"provenance record not found: {p}")
    start = now_iso()
    bundle = collect(record_paths, bundle_path=bundle_path)
    write_report(
        out_html,
        experiments,
        bundle,
        template_dir,
        title,
        grids=grids,
        llm=llm,
        out_claims=out_claims,
    )
    if own_record is not None:
        rec = make_record(
            rule=own_record.get("rule", "report"),
            wildcards=own_record.get("wildcards", {}),
            params=own_record.get("params", {}),
            inputs=list(own_record.get("inputs", [])),
            outputs=[out_html, *([out_claims] if out_claims is not None else [])],
            start=start,
            end=now_iso(),
            command=own_record.get("command"),
            log=own_record.get("log"),
            resources=own_record.get("resources"),
        )
        write_record(own_record["path"], rec)
        record_paths.append(str(own_record["path"]))
        bundle = collect(record_paths, bundle_path=bundle_path)
    write_json(bundle_path, bundle)
    return bundle
