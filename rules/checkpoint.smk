# Published weights: download from the Hugging Face Hub (or copy a local folder) once.


rule fetch_checkpoint:
    output:
        ckpt=directory("checkpoints/{ckpt}"),
        prov="checkpoints/{ckpt}.provenance.json",
    params:
        checkpoint=_ckpt_cfg,
    log:
        logs("fetch_checkpoint", "{ckpt}"),
    benchmark:
        bench_record("fetch_checkpoint", "{ckpt}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/fetch_checkpoint.py"
