# Latency, throughput and peak memory against batch size, on the device the job runs on.


rule bench:
    input:
        unpack(get_data),
        unpack(get_checkpoint),
    output:
        bench=P.BENCH,
        prov=P.record_of(P.BENCH),
    log:
        logs("bench", "{exp}"),
    benchmark:
        bench_record("bench", "{exp}")
    conda:
        "../envs/trm.yaml"
    threads: 2
    resources:
        mem_mb=res("bench", "mem_mb", 4000),
        runtime=res("bench", "runtime", 30),
        gpu=res("bench", "gpu", get_one_gpu),
    params:
        job=get_job("bench"),
        checkpoint_file=get_checkpoint_file,
    script:
        "../workflow/scripts/bench.py"
