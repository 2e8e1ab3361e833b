# Training: one process on one device, or torchrun --nproc-per-node N when the experiment asks
# for N > 1 GPUs. params carry only the model and training overrides and the GPU count.


rule train:
    input:
        data=lambda wc: data_dir(wc.exp),
        data_prov=lambda wc: record_of(data_dir(wc.exp)),
    output:
        run=directory("runs/{exp}/train"),
        prov="runs/{exp}/train.provenance.json",
    params:
        model=lambda wc: exp_cfg(wc.exp).get("model", {}),
        train=lambda wc: exp_cfg(wc.exp)["train"],
        gpus=lambda wc: exp_cfg(wc.exp).get("gpus", 0),
    log:
        logs("train", "{exp}"),
    benchmark:
        bench_record("train", "{exp}")
    threads: lambda wc: train_threads(wc.exp)
    resources:
        mem_mb=res("train", "mem_mb", 4000),
        runtime=res("train", "runtime", 60),
        gpu=res("train", "gpu", lambda wc: exp_cfg(wc.exp).get("gpus", 0)),
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/train.py"
