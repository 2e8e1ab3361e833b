# The report: one self-contained HTML page (figures embedded) and every job's provenance
# record bundled into reports/provenance.json. The template and captions are inputs, so
# editing them re-renders only the report.


def _report_inputs(wildcards):
    inputs = {"template": sorted(str(p) for p in Path(TEMPLATE_DIR).glob("*") if p.is_file())}
    for exp in RUN:
        for key, path in experiment_targets(exp).items():
            inputs[f"{exp}::{key}"] = path
        inputs[f"{exp}::records"] = experiment_records(exp) + analysis_records(exp)
        for key, path in analysis_targets(exp).items():
            inputs[f"{exp}::{key}"] = path
    for grid in grids_in_run():  # ablation grids: one table each (rules/score.smk score_grid)
        inputs[f"grid::{grid}"] = f"runs/{grid}/grid.json"
        inputs[f"grid::{grid}::records"] = [record_of(f"runs/{grid}/grid.json")]
    return inputs


rule report:
    input:
        unpack(_report_inputs),
    output:
        html=report(
            "reports/report.html",
            caption="../reports/templates/report.rst",
            category="TRM reproduction report",
        ),
        bundle="reports/provenance.json",
        prov="reports/report.provenance.json",
    params:
        # The experiment's config as run (not resources): the report describes the experiment
        # and decides whether it is the paper's benchmark at the paper's settings from it.
        experiments=lambda wc: {
            exp: {k: v for k, v in EXPERIMENTS[exp].items() if k != "resources"}
            | {"kind": EXPERIMENTS[exp]["dataset"]["kind"], "num_aug": EXPERIMENTS[exp]["dataset"].get("num_aug", 0)}
            for exp in RUN
        },
        title=config.get("report", {}).get("title", "TRM reproduction report"),
        grids=lambda wc: {g: GRIDS[g].experiments for g in grids_in_run()},
    log:
        logs("report", "report"),
    benchmark:
        bench_record("report", "report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/report.py"
