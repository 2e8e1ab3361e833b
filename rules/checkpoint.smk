# Published weights: download from the Hugging Face Hub (or copy a local folder) once.


rule fetch_checkpoint:
    output:
        ckpt=directory(P.CHECKPOINT),
        prov=P.record_of(P.CHECKPOINT),
    log:
        logs("fetch_checkpoint", "{ckpt}"),
    benchmark:
        bench_record("fetch_checkpoint", "{ckpt}")
    conda:
        "../envs/trm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=0,
    params:
        job=get_job("fetch_checkpoint"),
    script:
        "../workflow/scripts/fetch_checkpoint.py"
