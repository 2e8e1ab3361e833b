# Dataset preparation: one rule per puzzle kind, all writing data/<dataset>/ (+ manifest.json).
# params carry only the dataset settings `trm prepare <kind>` declares, so changing e.g. num_aug
# reruns this dataset and everything downstream of it, and nothing else.


rule generate_arc_tasks:
    output:
        tasks=directory(P.TASKS),
        prov=P.record_of(P.TASKS),
    log:
        logs("generate_arc_tasks", "{dataset}"),
    benchmark:
        bench_record("generate_arc_tasks", "{dataset}")
    wildcard_constraints:
        dataset=W.datasets("arc", "generated"),
    conda:
        "../envs/trm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    params:
        job=get_job("generate_arc_tasks"),
    script:
        "../workflow/scripts/arc_tasks.py"


rule prepare_arc:
    input:
        unpack(get_task_files),
    output:
        data=directory(P.DATA),
        prov=P.record_of(P.DATA),
    log:
        logs("prepare_arc", "{dataset}"),
    benchmark:
        bench_record("prepare_arc", "{dataset}")
    wildcard_constraints:
        dataset=W.datasets("arc"),
    conda:
        "../envs/trm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    params:
        job=get_job("prepare_arc"),
    script:
        "../workflow/scripts/prepare.py"


# Every other puzzle kind (trm.kinds: Sudoku, Maze, ...): one rule, `trm prepare <kind>`, so a
# new kind needs no rule of its own.
use rule prepare_arc as prepare_grid with:
    log:
        logs("prepare_grid", "{dataset}"),
    benchmark:
        bench_record("prepare_grid", "{dataset}")
    wildcard_constraints:
        dataset=W.grid_datasets(),
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=0,
    params:
        job=get_job("prepare_grid"),
