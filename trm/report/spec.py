"""`trm report --spec spec.json`: the report's inputs from one JSON document (the workflow's
rule `report` writes one; users can too). The one reader of report specs.

{"title": str, "records": [provenance record paths],
 "experiments": [ExperimentInputs fields], "grids": [GridInputs fields],
 "llm": [LlmInputs fields]}
Each entry's keys are its dataclass's fields: the ones without a default are required, an
unknown key is an error naming the entry (a typo must not drop a section silently).
Comparisons are comparisons files (trm.eval.paired): experiments[].comparisons (paper vs single
mode), grids[].comparisons and grids[].sweep_comparisons, llm[].comparisons {TRM experiment:
file}.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from trm.errors import UserError
from trm.report.grids import GridInputs
from trm.report.inputs import ExperimentInputs
from trm.report.llm import LlmInputs
from trm.settings import REQUIRED, Spec, coerce
from trm.utils import read_json

SECTIONS: dict[str, type] = {"experiments": ExperimentInputs, "grids": GridInputs, "llm": LlmInputs}
TOP_KEYS = ("title", "records", *SECTIONS)


@dataclass
class ReportSpec:
    title: str = "TRM reproduction report"
    records: list[str] = field(default_factory=list)
    experiments: list[ExperimentInputs] = field(default_factory=list)
    grids: list[GridInputs] = field(default_factory=list)
    llm: list[LlmInputs] = field(default_factory=list)

    def paths(self) -> list[str]:
        """Every file and folder the report reads (its inputs besides the spec and templates)."""
        sections = [*self.experiments, *self.grids, *self.llm]
        return [*self.records, *(p for s in sections for p in s.paths())]


def _entries(path: str, spec: dict[str, Any], key: str) -> list[Any]:
    cls = SECTIONS[key]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    required = {
        n
        for n, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    items = spec.get(key, [])
    if not isinstance(items, list):
        raise UserError(f"{path}: '{key}' must be a list of objects")
    out = []
    for i, e in enumerate(items):
        where = f"{path}: {key}[{i}]"
        if not isinstance(e, dict):
            raise UserError(f"{where} must be an object with keys {sorted(fields)}")
        if missing := required - e.keys():
            raise UserError(f"{where} lacks {sorted(missing)}")
        if unknown := e.keys() - fields.keys():
            raise UserError(
                f"{where} has unknown key(s) {sorted(unknown)}; known: {sorted(fields)}"
            )
        out.append(cls(**_typed(cls, e, where)))
    return out


def _typed(cls: type, values: dict[str, Any], where: str, sep: str = ".") -> dict[str, Any]:
    """`values` checked against the types `cls` declares for them (trm.settings.coerce: a string
    where a string is declared, a mapping for a mapping, null only where optional), one line
    naming the file, the entry and the key. A list must be given as a list."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        spec = Spec(name=f.name, type=hints[f.name], default=REQUIRED, role="setting", help="")
        key = f"{where}{sep}{f.name}"
        if spec.is_list and not isinstance(values[f.name], list | type(None)):
            raise UserError(f"{key}: expected a list, got {values[f.name]!r}")
        out[f.name] = coerce(spec, values[f.name], key)
    return out


def read_spec(path: str | os.PathLike) -> ReportSpec:
    """The spec file as dataclasses, or a UserError naming the file, the entry and the key."""
    path = str(path)
    spec = read_json(path, "report spec")
    if not isinstance(spec, dict):
        raise UserError(f"{path}: expected a JSON object with keys {list(TOP_KEYS)}")
    if unknown := spec.keys() - set(TOP_KEYS):
        raise UserError(f"{path}: unknown key(s) {sorted(unknown)}; known: {list(TOP_KEYS)}")
    top = _typed(
        ReportSpec, {k: spec[k] for k in ("title", "records") if k in spec}, f"{path}:", " "
    )
    return ReportSpec(**top, **{key: _entries(path, spec, key) for key in SECTIONS})
