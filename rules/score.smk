# Scoring in the paper's mode (augmentation voting, pass@K) and in single mode (the original
# view only), from the same predictions; then the comparisons the report shows, each computed
# once by `trm compare runs|sweep` (paired over the same tasks or examples).


rule score:
    input:
        unpack(get_eval_data),
        predictions=P.predictions(),
        predictions_prov=P.record_of(P.predictions()),
    output:
        # Beside metrics.json: per_example.jsonl (ARC) or per_example.csv, submission.json (ARC);
        # the provenance record covers the whole folder.
        metrics=P.metrics(P.scores()),
        prov=P.record_of(P.scores()),
    log:
        logs("score", "{exp}-{mode}"),
    benchmark:
        bench_record("score", "{exp}-{mode}")
    wildcard_constraints:
        mode="paper|single",
    conda:
        "../envs/trm.yaml"
    threads: 1
    resources:
        mem_mb=res("score", "mem_mb", 4000),
        runtime=res("score", "runtime", 30),
        gpu=0,
    params:
        job=get_job("score"),
        mode=get_score_mode,
    script:
        "../workflow/scripts/score.py"


# Paper vs single mode (ARC), paired over tasks.


rule score_compare:
    input:
        unpack(comparison(get_mode_runs)),
    output:
        compare=P.COMPARE,
        prov=P.record_of(P.COMPARE),
    log:
        logs("score_compare", "{exp}"),
    benchmark:
        bench_record("score_compare", "{exp}")
    conda:
        "../envs/trm.yaml"
    threads: 1
    resources:
        mem_mb=res("score_compare", "mem_mb", 1000),
        runtime=res("score_compare", "runtime", 10),
        gpu=0,
    params:
        job=get_job("score_compare"),
        runs=get_mode_runs,
        compare={"base": "single"},
    script:
        "../workflow/scripts/compare.py"


# One ablation grid's table: each variant's accuracy and its paired difference from the base.


use rule score_compare as score_grid with:
    input:
        unpack(comparison(get_grid_runs)),
    output:
        compare=P.GRID,
        prov=P.record_of(P.GRID),
    log:
        logs("score_grid", "{grid}"),
    benchmark:
        bench_record("score_grid", "{grid}")
    wildcard_constraints:
        grid=GRID_NAMES,
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    params:
        job=get_job("score_grid"),
        runs=get_grid_runs,
        compare=get_grid_comparison,


# A grid whose variants all sweep over the same test split (e.g. training at num_aug 0 vs N):
# variants x test votes, pass@2 paired against the base variant at each level.


use rule score_compare as sweep_grid with:
    input:
        unpack(comparison(get_grid_predictions)),
        data=get_sweep_grid_data,
    output:
        compare=P.SWEEP_GRID,
        prov=P.record_of(P.SWEEP_GRID),
    log:
        logs("sweep_grid", "{grid}"),
    benchmark:
        bench_record("sweep_grid", "{grid}")
    wildcard_constraints:
        grid=GRID_NAMES,
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    params:
        job=get_job("sweep_grid"),
        runs=get_grid_predictions,
        compare=get_sweep_grid_comparison,
