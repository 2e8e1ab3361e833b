# Accuracy against the number of augmented views voted over, from the saved predictions.


rule sweep:
    input:
        data=lambda wc: eval_data_dir(wc.exp),
        data_prov=lambda wc: record_of(eval_data_dir(wc.exp)),
        predictions="runs/{exp}/predictions.npz",
        predictions_prov="runs/{exp}/predictions.provenance.json",
    output:
        csv="runs/{exp}/acc_vs_aug.csv",
        prov="runs/{exp}/acc_vs_aug.provenance.json",
    params:
        sweep=lambda wc: exp_cfg(wc.exp)["sweep"],
    log:
        logs("sweep", "{exp}"),
    benchmark:
        bench_record("sweep", "{exp}")
    threads: 1
    resources:
        mem_mb=res("sweep", "mem_mb", 4000),
        runtime=res("sweep", "runtime", 30),
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/sweep.py"
