# One inference pass over every test example; scoring and the sweep reuse its predictions.


rule predict:
    input:
        # predict.dataset: another dataset's test split, identifiers mapped by name from ids_from
        unpack(get_ids_from),
        unpack(get_eval_data),
        unpack(get_checkpoint),
    output:
        predictions=P.predictions(),
        prov=P.record_of(P.predictions()),
    log:
        logs("predict", "{exp}"),
    benchmark:
        bench_record("predict", "{exp}")
    conda:
        "../envs/trm.yaml"
    threads: 2
    resources:
        mem_mb=res("predict", "mem_mb", 4000),
        runtime=res("predict", "runtime", 30),
        gpu=res("predict", "gpu", get_one_gpu),
    params:
        # the per-step trajectory and test-time depth (analyses) ride on this one pass
        job=get_job("predict"),
        checkpoint_file=get_checkpoint_file,
    script:
        "../workflow/scripts/predict.py"
