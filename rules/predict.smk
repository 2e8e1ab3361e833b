# One inference pass over every test example; scoring and the sweep reuse its predictions.


rule predict:
    input:
        # predict.dataset: another dataset's test split, identifiers mapped by name from ids_from
        unpack(predict_ids_inputs),
        data=lambda wc: eval_data_dir(wc.exp),
        data_prov=lambda wc: record_of(eval_data_dir(wc.exp)),
        ckpt=lambda wc: checkpoint_dir(wc.exp),
        ckpt_prov=lambda wc: record_of(checkpoint_dir(wc.exp)),
    output:
        predictions="runs/{exp}/predictions.npz",
        prov="runs/{exp}/predictions.provenance.json",
    params:
        predict=lambda wc: exp_cfg(wc.exp)["predict"],
        checkpoint_file=lambda wc: checkpoint_file(wc.exp),
        # per-step trajectory and test-time depth ride on the one inference pass (analyses.smk)
        analyses=lambda wc: {
            k: v for k, v in analyses_cfg(wc.exp).items() if k in ("trajectory", "halt_max_steps")
        },
    log:
        logs("predict", "{exp}"),
    benchmark:
        bench_record("predict", "{exp}")
    threads: 2
    resources:
        mem_mb=res("predict", "mem_mb", 4000),
        runtime=res("predict", "runtime", 30),
        gpu=res("predict", "gpu", lambda wc: min(1, exp_cfg(wc.exp).get("gpus", 0))),
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/predict.py"
