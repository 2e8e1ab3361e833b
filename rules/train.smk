# Training: one process on one device, or torchrun --nproc-per-node N when the experiment asks
# for N > 1 GPUs. params carry only the model and training overrides and the GPU count.


rule train:
    input:
        unpack(get_data),
    output:
        run=directory(P.TRAIN),
        prov=P.record_of(P.TRAIN),
    log:
        logs("train", "{exp}"),
    benchmark:
        bench_record("train", "{exp}")
    conda:
        "../envs/trm.yaml"
    threads: get_train_threads
    resources:
        mem_mb=res("train", "mem_mb", 4000),
        runtime=res("train", "runtime", 60),
        gpu=res("train", "gpu", get_gpus),
    params:
        job=get_job("train"),
        overrides=get_train_overrides,
        gpus=get_gpus,
    script:
        "../workflow/scripts/train.py"
