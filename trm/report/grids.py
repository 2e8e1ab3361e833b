"""The report's ablation grids: per grid, its variants against the base (a comparisons file of
`trm compare runs`, with what each variant changes and the paper's figure) and, for a grid whose
variants sweep over one test split, variants x test votes (`trm compare sweep`). Both tables
come from the one table builder (trm.report.comparisons); formatting only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.report.comparisons import comparison_table

COMPARE_RUNS = "trm compare runs"
COMPARE_SWEEP = "trm compare sweep"


@dataclass
class GridInputs:
    """One grid's comparisons files and the provenance records behind them."""

    name: str
    comparisons: str  # `trm compare runs`: every variant against the base
    experiments: dict[str, str] = field(default_factory=dict)  # variant -> experiment name
    records: list[str] = field(default_factory=list)
    sweep_comparisons: str | None = None  # `trm compare sweep`: variants x test votes

    def paths(self) -> list[str]:
        """Every file this section reads (inputs of `trm report`)."""
        return [self.comparisons, *self.records] + (
            [self.sweep_comparisons] if self.sweep_comparisons else []
        )


def grid_section(
    grid: GridInputs, bundle: Mapping[str, Any] | None = None, shown: Sequence[str] = ()
) -> dict[str, Any]:
    """The template's view of one grid; a variant links to its experiment's section when that
    section is on the page (`shown`)."""
    from trm.report.render import chain

    links = {v: f"exp-{e}" for v, e in grid.experiments.items() if e in shown}
    tables = [str(Path(grid.comparisons))]
    sweep = None
    if grid.sweep_comparisons:
        tables.append(str(Path(grid.sweep_comparisons)))
        sweep = comparison_table(
            grid.sweep_comparisons, COMPARE_SWEEP, labels_title="training data"
        )
    return {
        "name": grid.name,
        "table": comparison_table(
            grid.comparisons, COMPARE_RUNS, labels_title="what it changes", paper=True, links=links
        ),
        "sweep": sweep,
        "provenance": chain(bundle, tables),
    }


def grid_sections(
    grids: Sequence[GridInputs], bundle: Mapping[str, Any] | None = None, shown: Sequence[str] = ()
) -> list[dict[str, Any]]:
    return [grid_section(g, bundle, shown) for g in grids]
