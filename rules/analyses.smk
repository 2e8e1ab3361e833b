# Issue 11 analyses, driven by an experiment's `analyses:` section (ARC only):
#   trajectory: true         predict records every ACT step (the ONE inference pass) -> per-step
#                            pass@K and the halting analysis
#   puzzle_ids: [blank, ..]  one extra predict per replaced-identifier variant, scored in every
#                            mode and compared with the true identifiers (paired over tasks)
#   ensemble: {last: K}      the last K step_N of the training run, voted pooled


rule analyse_trajectory:
    input:
        data=lambda wc: data_dir(wc.exp),
        predictions="runs/{exp}/predictions.npz",
        predictions_prov="runs/{exp}/predictions.provenance.json",
    output:
        trajectory="runs/{exp}/analyses/trajectory/trajectory.csv",
        prov="runs/{exp}/analyses/trajectory.provenance.json",
    params:
        score=lambda wc: {k: v for k, v in exp_cfg(wc.exp).get("score", {}).items() if k in ("n_boot", "seed")},
    log:
        logs("analyse_trajectory", "{exp}"),
    benchmark:
        bench_record("analyse_trajectory", "{exp}")
    threads: 1
    resources:
        mem_mb=res("analyse_trajectory", "mem_mb", 4000),
        runtime=res("analyse_trajectory", "runtime", 30),
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/analyses.py"


rule predict_ids:
    input:
        data=lambda wc: data_dir(wc.exp),
        data_prov=lambda wc: record_of(data_dir(wc.exp)),
        ckpt=lambda wc: checkpoint_dir(wc.exp),
        ckpt_prov=lambda wc: record_of(checkpoint_dir(wc.exp)),
    output:
        predictions="runs/{exp}/analyses/ids/{ids}/predictions.npz",
        prov="runs/{exp}/analyses/ids/{ids}/predictions.provenance.json",
    wildcard_constraints:
        ids="blank|random|mean",
    params:
        predict=lambda wc: exp_cfg(wc.exp)["predict"],
        checkpoint_file=lambda wc: checkpoint_file(wc.exp),
        seed=lambda wc: analyses_cfg(wc.exp).get("puzzle_id_seed"),
        halt_max_steps=lambda wc: analyses_cfg(wc.exp).get("halt_max_steps"),
    log:
        logs("predict_ids", "{exp}-{ids}"),
    benchmark:
        bench_record("predict_ids", "{exp}-{ids}")
    threads: 2
    resources:
        mem_mb=res("predict", "mem_mb", 4000),
        runtime=res("predict", "runtime", 30),
        gpu=res("predict", "gpu", lambda wc: min(1, exp_cfg(wc.exp).get("gpus", 0))),
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/analyses.py"


use rule score as score_ids with:
    input:
        data=lambda wc: data_dir(wc.exp),
        data_prov=lambda wc: record_of(data_dir(wc.exp)),
        predictions="runs/{exp}/analyses/ids/{ids}/predictions.npz",
        predictions_prov="runs/{exp}/analyses/ids/{ids}/predictions.provenance.json",
    output:
        metrics="runs/{exp}/analyses/ids/{ids}/scores/{mode}/metrics.json",
        prov="runs/{exp}/analyses/ids/{ids}/scores/{mode}.provenance.json",
    wildcard_constraints:
        mode="paper|single",
        ids="blank|random|mean",
    log:
        logs("score_ids", "{exp}-{ids}-{mode}"),
    benchmark:
        bench_record("score_ids", "{exp}-{ids}-{mode}")


rule compare_ids:
    input:
        baseline="runs/{exp}/scores/{mode}/metrics.json",
        baseline_prov="runs/{exp}/scores/{mode}.provenance.json",
        variants=lambda wc: expand("runs/{{exp}}/analyses/ids/{ids}/scores/{{mode}}/metrics.json", ids=id_variants(wc.exp)),
    output:
        compare="runs/{exp}/analyses/ids/compare_{mode}.json",
        prov="runs/{exp}/analyses/ids/compare_{mode}.provenance.json",
    wildcard_constraints:
        mode="paper|single",
    params:
        score=lambda wc: {k: v for k, v in exp_cfg(wc.exp).get("score", {}).items() if k in ("n_boot", "seed")},
        names=lambda wc: id_variants(wc.exp),
    log:
        logs("compare_ids", "{exp}-{mode}"),
    benchmark:
        bench_record("compare_ids", "{exp}-{mode}")
    threads: 1
    resources:
        mem_mb=res("compare_ids", "mem_mb", 1000),
        runtime=res("compare_ids", "runtime", 10),
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/analyses.py"


rule ensemble:
    input:
        data=lambda wc: data_dir(wc.exp),
        ckpt=lambda wc: checkpoint_dir(wc.exp),
        ckpt_prov=lambda wc: record_of(checkpoint_dir(wc.exp)),
    output:
        folder=directory("runs/{exp}/analyses/ensemble"),
        prov="runs/{exp}/analyses/ensemble.provenance.json",
    params:
        last=lambda wc: analyses_cfg(wc.exp)["ensemble"]["last"],
        score=lambda wc: {k: v for k, v in exp_cfg(wc.exp).get("score", {}).items() if k in ("n_boot", "seed")},
        batch_size=lambda wc: exp_cfg(wc.exp)["predict"].get("batch_size"),
        device=lambda wc: exp_cfg(wc.exp)["predict"].get("device"),
    log:
        logs("ensemble", "{exp}"),
    benchmark:
        bench_record("ensemble", "{exp}")
    threads: 2
    resources:
        mem_mb=res("ensemble", "mem_mb", 4000),
        runtime=res("ensemble", "runtime", 60),
        gpu=res("ensemble", "gpu", lambda wc: min(1, exp_cfg(wc.exp).get("gpus", 0))),
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/analyses.py"
