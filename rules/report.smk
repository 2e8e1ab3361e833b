# The report: the rule writes the report spec (reports/report.spec.json: every experiment's
# files and every job's provenance record) and runs `trm report --spec` on it, as a user would.
# One self-contained HTML page opening with the claims ledger (also reports/claims.json); every
# record bundled into reports/provenance.json. The template and captions are inputs, so editing
# them re-renders only the report.


rule report:
    input:
        unpack(get_report_inputs),
    output:
        html=report(
            P.REPORT_HTML,
            caption="../reports/templates/report.rst",
            category="TRM reproduction report",
        ),
        bundle=P.REPORT_BUNDLE,
        claims=P.REPORT_CLAIMS,
        spec=P.REPORT_SPEC,
        prov=P.REPORT_RECORD,
    log:
        logs("report", "report"),
    benchmark:
        bench_record("report", "report")
    conda:
        "../envs/trm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        gpu=0,
    params:
        job=get_job("report"),
        spec=get_report_spec,
        templates=P.TEMPLATES,
    script:
        "../workflow/scripts/report.py"
