# Issue 11 analyses, driven by an experiment's `analyses:` section (ARC only):
#   trajectory: true         predict records every ACT step (the ONE inference pass) -> per-step
#                            pass@K and the halting analysis
#   puzzle_ids: [blank, ..]  one extra predict per replaced-identifier variant, scored in every
#                            mode and compared with the true identifiers (paired over tasks)
#   ensemble: {last: K}      the last K step_N of the training run, voted pooled
#   adapt: {dataset: .., ..} test-time embedding fitting (trm adapt): the checkpoint adapted to a
#                            dataset of held-out tasks from the same source, predicted with the
#                            fitted embeddings and with blank identifiers, compared over tasks


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


# ---- test-time embedding fitting (analyses.adapt) ------------------------------------------------


rule adapt_data:
    input:
        unpack(exp_task_files),
    output:
        data=directory("runs/{exp}/analyses/adapt/data"),
        prov="runs/{exp}/analyses/adapt/data.provenance.json",
    params:
        dataset=lambda wc: _adapt_dataset(wc.exp),
    log:
        logs("adapt_data", "{exp}"),
    benchmark:
        bench_record("adapt_data", "{exp}")
    threads: 2
    resources:
        mem_mb=res("adapt_data", "mem_mb", 4000),
        runtime=res("adapt_data", "runtime", 60),
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/prepare.py"


rule adapt:
    input:
        source=lambda wc: data_dir(wc.exp),
        source_prov=lambda wc: record_of(data_dir(wc.exp)),
        data="runs/{exp}/analyses/adapt/data",
        data_prov="runs/{exp}/analyses/adapt/data.provenance.json",
        ckpt=lambda wc: checkpoint_dir(wc.exp),
        ckpt_prov=lambda wc: record_of(checkpoint_dir(wc.exp)),
    output:
        model=directory("runs/{exp}/analyses/adapt/model"),
        prov="runs/{exp}/analyses/adapt/model.provenance.json",
    params:
        adapt=lambda wc: {k: v for k, v in adapt_cfg(wc.exp).items() if k != "dataset"},
        checkpoint_file=lambda wc: checkpoint_file(wc.exp),
        device=lambda wc: exp_cfg(wc.exp)["predict"].get("device"),
    log:
        logs("adapt", "{exp}"),
    benchmark:
        bench_record("adapt", "{exp}")
    # One thread: a tiny model's many small ops ran 2.3x faster than on two on a shared 2-core
    # machine (20 steps: 59 s vs 138 s wall); override with --set-threads adapt=N.
    threads: 1
    resources:
        mem_mb=res("adapt", "mem_mb", 4000),
        runtime=res("adapt", "runtime", 60),
        gpu=res("adapt", "gpu", lambda wc: min(1, exp_cfg(wc.exp).get("gpus", 0))),
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/adapt.py"


rule predict_adapt:
    input:
        data="runs/{exp}/analyses/adapt/data",
        data_prov="runs/{exp}/analyses/adapt/data.provenance.json",
        ckpt="runs/{exp}/analyses/adapt/model",
        ckpt_prov="runs/{exp}/analyses/adapt/model.provenance.json",
    output:
        predictions="runs/{exp}/analyses/adapt/{fit}/predictions.npz",
        prov="runs/{exp}/analyses/adapt/{fit}/predictions.provenance.json",
    wildcard_constraints:
        fit="fitted|blank",
    params:
        predict=lambda wc: exp_cfg(wc.exp)["predict"],
    log:
        logs("predict_adapt", "{exp}-{fit}"),
    benchmark:
        bench_record("predict_adapt", "{exp}-{fit}")
    threads: 2
    resources:
        mem_mb=res("predict", "mem_mb", 4000),
        runtime=res("predict", "runtime", 30),
        gpu=res("predict", "gpu", lambda wc: min(1, exp_cfg(wc.exp).get("gpus", 0))),
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/adapt.py"


use rule score as score_adapt with:
    input:
        data="runs/{exp}/analyses/adapt/data",
        data_prov="runs/{exp}/analyses/adapt/data.provenance.json",
        predictions="runs/{exp}/analyses/adapt/{fit}/predictions.npz",
        predictions_prov="runs/{exp}/analyses/adapt/{fit}/predictions.provenance.json",
    output:
        metrics="runs/{exp}/analyses/adapt/{fit}/scores/{mode}/metrics.json",
        prov="runs/{exp}/analyses/adapt/{fit}/scores/{mode}.provenance.json",
    wildcard_constraints:
        mode="paper|single",
        fit="fitted|blank",
    log:
        logs("score_adapt", "{exp}-{fit}-{mode}"),
    benchmark:
        bench_record("score_adapt", "{exp}-{fit}-{mode}")


rule compare_adapt:
    input:
        baseline="runs/{exp}/analyses/adapt/blank/scores/{mode}/metrics.json",
        baseline_prov="runs/{exp}/analyses/adapt/blank/scores/{mode}.provenance.json",
        variant="runs/{exp}/analyses/adapt/fitted/scores/{mode}/metrics.json",
        variant_prov="runs/{exp}/analyses/adapt/fitted/scores/{mode}.provenance.json",
        model="runs/{exp}/analyses/adapt/model",
    output:
        compare="runs/{exp}/analyses/adapt/compare_{mode}.json",
        prov="runs/{exp}/analyses/adapt/compare_{mode}.provenance.json",
    wildcard_constraints:
        mode="paper|single",
    params:
        score=lambda wc: {k: v for k, v in exp_cfg(wc.exp).get("score", {}).items() if k in ("n_boot", "seed")},
    log:
        logs("compare_adapt", "{exp}-{mode}"),
    benchmark:
        bench_record("compare_adapt", "{exp}-{mode}")
    threads: 1
    resources:
        mem_mb=res("compare_adapt", "mem_mb", 1000),
        runtime=res("compare_adapt", "runtime", 10),
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/adapt.py"
