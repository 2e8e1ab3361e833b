# Accuracy against the number of augmented views voted over, from the saved predictions.


rule sweep:
    input:
        unpack(get_eval_data),
        predictions=P.predictions(),
        predictions_prov=P.record_of(P.predictions()),
    output:
        csv=P.SWEEP,
        prov=P.record_of(P.SWEEP),
    log:
        logs("sweep", "{exp}"),
    benchmark:
        bench_record("sweep", "{exp}")
    conda:
        "../envs/trm.yaml"
    threads: 1
    resources:
        mem_mb=res("sweep", "mem_mb", 4000),
        runtime=res("sweep", "runtime", 30),
        gpu=0,
    params:
        job=get_job("sweep"),
    script:
        "../workflow/scripts/sweep.py"
