# Issue 11 analyses, driven by an experiment's `analyses:` section (ARC only):
#   trajectory: true         predict records every ACT step (the ONE inference pass) -> per-step
#                            pass@K and the halting analysis
#   puzzle_ids: [blank, ..]  one extra predict per replaced-identifier variant, scored in every
#                            mode and compared with the true identifiers (paired over tasks)
#   ensemble: {last: K}      the last K step_N of the training run, voted pooled
#   adapt: {dataset: .., ..} test-time embedding fitting (trm adapt): the checkpoint adapted to a
#                            dataset of held-out tasks from the same source, predicted with the
#                            fitted embeddings and with blank identifiers, compared over tasks
#   checkpoints: true|{..}   accuracy over training (any kind): every kept step_N predicted and
#                            scored, the last vs the best earlier one (trm analyse checkpoints)


rule analyse_trajectory:
    input:
        data=get_data_dir,
        predictions=P.predictions(),
        predictions_prov=P.record_of(P.predictions()),
    output:
        trajectory=P.TRAJECTORY,
        prov=P.record_of(P.TRAJECTORY_DIR),
    log:
        logs("analyse_trajectory", "{exp}"),
    benchmark:
        bench_record("analyse_trajectory", "{exp}")
    conda:
        "../envs/trm.yaml"
    threads: 1
    resources:
        mem_mb=res("analyse_trajectory", "mem_mb", 4000),
        runtime=res("analyse_trajectory", "runtime", 30),
        gpu=0,
    params:
        job=get_job("analyse_trajectory"),
    script:
        "../workflow/scripts/analyse_trajectory.py"


use rule predict as predict_ids with:
    input:
        unpack(get_data),
        unpack(get_checkpoint),
    output:
        predictions=P.predictions(P.IDS),
        prov=P.record_of(P.predictions(P.IDS)),
    log:
        logs("predict_ids", "{exp}-{ids}"),
    benchmark:
        bench_record("predict_ids", "{exp}-{ids}")
    wildcard_constraints:
        ids="blank|random|mean",
    params:
        job=get_job("predict_ids"),
        checkpoint_file=get_checkpoint_file,
        puzzle_ids="{ids}",


use rule score as score_ids with:
    input:
        unpack(get_data),
        predictions=P.predictions(P.IDS),
        predictions_prov=P.record_of(P.predictions(P.IDS)),
    output:
        metrics=P.metrics(P.scores(P.IDS)),
        prov=P.record_of(P.scores(P.IDS)),
    log:
        logs("score_ids", "{exp}-{ids}-{mode}"),
    benchmark:
        bench_record("score_ids", "{exp}-{ids}-{mode}")
    wildcard_constraints:
        mode="paper|single",
        ids="blank|random|mean",
    params:
        job=get_job("score_ids"),
        mode=get_score_mode,


use rule score_compare as compare_ids with:
    input:
        unpack(comparison(get_id_runs)),
    output:
        compare=P.IDS_COMPARE,
        prov=P.record_of(P.IDS_COMPARE),
    log:
        logs("compare_ids", "{exp}-{mode}"),
    benchmark:
        bench_record("compare_ids", "{exp}-{mode}")
    wildcard_constraints:
        mode="paper|single",
    resources:
        mem_mb=res("compare_ids", "mem_mb", 1000),
        runtime=res("compare_ids", "runtime", 10),
        gpu=0,
    params:
        job=get_job("compare_ids"),
        runs=get_id_runs,
        compare={"base": "true"},


rule ensemble:
    input:
        unpack(get_checkpoint),
        data=get_data_dir,
    output:
        folder=directory(P.ENSEMBLE),
        prov=P.record_of(P.ENSEMBLE),
    log:
        logs("ensemble", "{exp}"),
    benchmark:
        bench_record("ensemble", "{exp}")
    conda:
        "../envs/trm.yaml"
    threads: 2
    resources:
        mem_mb=res("ensemble", "mem_mb", 4000),
        runtime=res("ensemble", "runtime", 60),
        gpu=res("ensemble", "gpu", get_one_gpu),
    params:
        job=get_job("ensemble"),
    script:
        "../workflow/scripts/ensemble.py"


rule analyse_checkpoints:
    input:
        unpack(get_checkpoint),
        unpack(get_data),
    output:
        folder=directory(P.CHECKPOINTS),
        prov=P.record_of(P.CHECKPOINTS),
    log:
        logs("analyse_checkpoints", "{exp}"),
    benchmark:
        bench_record("analyse_checkpoints", "{exp}")
    conda:
        "../envs/trm.yaml"
    threads: 2
    resources:
        mem_mb=res("analyse_checkpoints", "mem_mb", 4000),
        runtime=res("analyse_checkpoints", "runtime", 60),
        gpu=res("analyse_checkpoints", "gpu", get_one_gpu),
    params:
        job=get_job("analyse_checkpoints"),
        checkpoint_file=get_checkpoint_file,
        kind=get_kind,
    script:
        "../workflow/scripts/analyse_checkpoints.py"


# ---- test-time embedding fitting (analyses.adapt) ------------------------------------------------


use rule prepare_arc as adapt_data with:
    input:
        unpack(get_task_files),
    output:
        data=directory(P.ADAPT_DATA),
        prov=P.record_of(P.ADAPT_DATA),
    log:
        logs("adapt_data", "{exp}"),
    benchmark:
        bench_record("adapt_data", "{exp}")
    threads: 2
    resources:
        mem_mb=res("adapt_data", "mem_mb", 4000),
        runtime=res("adapt_data", "runtime", 60),
        gpu=0,
    params:
        job=get_job("adapt_data"),


rule adapt:
    input:
        unpack(get_checkpoint),
        source=get_data_dir,
        source_prov=get_data_record,
        data=P.ADAPT_DATA,
        data_prov=P.record_of(P.ADAPT_DATA),
    output:
        model=directory(P.ADAPT_MODEL),
        prov=P.record_of(P.ADAPT_MODEL),
    log:
        logs("adapt", "{exp}"),
    benchmark:
        bench_record("adapt", "{exp}")
    conda:
        "../envs/trm.yaml"
    # One thread: a tiny model's many small ops ran 2.3x faster than on two on a shared 2-core
    # machine (20 steps: 59 s vs 138 s wall); override with --set-threads adapt=N.
    threads: 1
    resources:
        mem_mb=res("adapt", "mem_mb", 4000),
        runtime=res("adapt", "runtime", 60),
        gpu=res("adapt", "gpu", get_one_gpu),
    params:
        job=get_job("adapt"),
        checkpoint_file=get_checkpoint_file,
    script:
        "../workflow/scripts/adapt.py"


use rule predict as predict_adapt with:
    input:
        data=P.ADAPT_DATA,
        data_prov=P.record_of(P.ADAPT_DATA),
        ckpt=P.ADAPT_MODEL,
        ckpt_prov=P.record_of(P.ADAPT_MODEL),
    output:
        predictions=P.predictions(P.ADAPT_FIT),
        prov=P.record_of(P.predictions(P.ADAPT_FIT)),
    log:
        logs("predict_adapt", "{exp}-{fit}"),
    benchmark:
        bench_record("predict_adapt", "{exp}-{fit}")
    wildcard_constraints:
        fit="fitted|blank",
    params:
        job=get_job("predict_adapt"),
        checkpoint_file=".",  # the adapted model folder itself
        puzzle_ids=get_adapt_puzzle_ids,


use rule score as score_adapt with:
    input:
        data=P.ADAPT_DATA,
        data_prov=P.record_of(P.ADAPT_DATA),
        predictions=P.predictions(P.ADAPT_FIT),
        predictions_prov=P.record_of(P.predictions(P.ADAPT_FIT)),
    output:
        metrics=P.metrics(P.scores(P.ADAPT_FIT)),
        prov=P.record_of(P.scores(P.ADAPT_FIT)),
    log:
        logs("score_adapt", "{exp}-{fit}-{mode}"),
    benchmark:
        bench_record("score_adapt", "{exp}-{fit}-{mode}")
    wildcard_constraints:
        mode="paper|single",
        fit="fitted|blank",
    params:
        job=get_job("score_adapt"),
        mode=get_score_mode,


use rule score_compare as compare_adapt with:
    input:
        unpack(comparison(get_adapt_runs)),
        model=P.ADAPT_MODEL,
    output:
        compare=P.ADAPT_COMPARE,
        prov=P.record_of(P.ADAPT_COMPARE),
    log:
        logs("compare_adapt", "{exp}-{mode}"),
    benchmark:
        bench_record("compare_adapt", "{exp}-{mode}")
    wildcard_constraints:
        mode="paper|single",
    resources:
        mem_mb=res("compare_adapt", "mem_mb", 1000),
        runtime=res("compare_adapt", "runtime", 10),
        gpu=0,
    params:
        job=get_job("compare_adapt"),
        runs=get_adapt_runs,
        compare={"base": "blank"},
