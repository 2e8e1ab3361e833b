# The report: one self-contained HTML page (figures embedded) and every job's provenance
# record bundled into reports/provenance.json. The template and captions are inputs, so
# editing them re-renders only the report.


def _report_inputs(wildcards):
    inputs = {"template": sorted(str(p) for p in Path(TEMPLATE_DIR).glob("*") if p.is_file())}
    for exp in RUN:
        for key, path in experiment_targets(exp).items():
            inputs[f"{exp}::{key}"] = path
        inputs[f"{exp}::records"] = experiment_records(exp)
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
        experiments=lambda wc: {
            exp: {
                k: EXPERIMENTS[exp].get(k)
                for k in ("description", "benchmark", "smoke", "gpus")
            }
            | {"kind": EXPERIMENTS[exp]["dataset"]["kind"], "num_aug": EXPERIMENTS[exp]["dataset"].get("num_aug", 0)}
            | {"llm": is_llm(exp)}
            for exp in RUN
        },
        title=config.get("report", {}).get("title", "TRM reproduction report"),
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
