# The report: one self-contained HTML page (figures embedded) and every job's provenance
# record bundled into reports/provenance.json. The template and captions are inputs, so
# editing them re-renders only the report.


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
