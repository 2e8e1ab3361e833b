"""report: render reports/report.html from every experiment's outputs; bundle the records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _job  # noqa: E402,F401 (puts the checkout's trm/ first on the path)

from trm.report.build import build_report
from trm.report.grids import GridInputs
from trm.report.inputs import ExperimentInputs, per_example_file
from trm.report.llm import LlmInputs

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp = dict(smk.input.items())
experiments, llm, records = [], [], []
for name, settings in smk.params.experiments.items():

    def get(key, name=name):
        return inp.get(f"{name}::{key}")

    records += [str(p) for p in get("records")]
    if settings["llm"]:  # the LLM baseline: its own section (trm/report/llm.py)
        prefix = f"{name}::llm_compare::"
        compare = {k[len(prefix) :]: str(v) for k, v in inp.items() if k.startswith(prefix)}
        llm.append(LlmInputs(name, dict(settings), str(get("llm_metrics")), compare))
        continue

    modes = [
        k.split("_", 1)[1]
        for k in (key.split("::", 1)[1] for key in inp if key.startswith(f"{name}::metrics_"))
    ]
    experiments.append(
        ExperimentInputs(
            name=name,
            settings=dict(settings),
            data_dir=str(get("data")),
            metrics={m: str(get(f"metrics_{m}")) for m in modes},
            per_example={m: per_example_file(get(f"metrics_{m}"), settings["kind"]) for m in modes},
            train_dir=get("train") and str(get("train")),
            sweep_csv=get("sweep") and str(get("sweep")),
            bench_json=get("bench") and str(get("bench")),
            compare_json=get("compare") and str(get("compare")),
            analyses={
                k.split("::", 1)[1]: str(v)
                for k, v in inp.items()
                if k.startswith(f"{name}::analysis_")
            },
        )
    )

grids = [
    GridInputs(
        name=g,
        grid_json=str(inp[f"grid::{g}"]),
        experiments=dict(variants),
        sweep_json=inp.get(f"grid::{g}::sweep") and str(inp[f"grid::{g}::sweep"]),
    )
    for g, variants in smk.params.grids.items()
]
records += [str(p) for g in smk.params.grids for p in inp[f"grid::{g}::records"]]

template_dir = str(smk.input.template[0]).rsplit("/", 1)[0]
build_report(
    experiments,
    records,
    smk.output.html,
    smk.output.bundle,
    template_dir,
    smk.params.title,
    grids=grids,
    own_record={
        "path": smk.output.prov,
        "rule": smk.rule,
        "params": dict(smk.params.items()),
        "inputs": [str(p) for p in smk.input],
        "log": str(smk.log[0]),
    },
    llm=llm,
)
