# Latency, throughput and peak memory against batch size, on the device the job runs on.


rule bench:
    input:
        data=lambda wc: data_dir(wc.exp),
        data_prov=lambda wc: record_of(data_dir(wc.exp)),
        ckpt=lambda wc: checkpoint_dir(wc.exp),
        ckpt_prov=lambda wc: record_of(checkpoint_dir(wc.exp)),
    output:
        bench="runs/{exp}/bench.json",
        prov="runs/{exp}/bench.provenance.json",
    params:
        bench=lambda wc: exp_cfg(wc.exp)["bench"],
        checkpoint_file=lambda wc: checkpoint_file(wc.exp),
    log:
        logs("bench", "{exp}"),
    benchmark:
        bench_record("bench", "{exp}")
    threads: 2
    resources:
        mem_mb=res("bench", "mem_mb", 4000),
        runtime=res("bench", "runtime", 30),
        gpu=res("bench", "gpu", lambda wc: min(1, exp_cfg(wc.exp).get("gpus", 0))),
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/bench.py"
