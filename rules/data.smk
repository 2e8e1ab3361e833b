# Dataset preparation: one rule per source kind, all writing data/<dataset>/ (+ manifest.json).
# params carry only the dataset's own settings, so changing e.g. num_aug reruns this dataset
# and everything downstream of it, and nothing else.


rule generate_arc_tasks:
    output:
        tasks=directory("data/{dataset}.tasks"),
        prov="data/{dataset}.tasks.provenance.json",
    wildcard_constraints:
        dataset=_generated_arc_datasets(),
    params:
        generate=lambda wildcards: dataset_cfg(wildcards.dataset).get("generate", {}),
    log:
        logs("generate_arc_tasks", "{dataset}"),
    benchmark:
        bench_record("generate_arc_tasks", "{dataset}")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/arc_tasks.py"


rule prepare_arc:
    input:
        unpack(_arc_task_files),
    output:
        data=directory("data/{dataset}"),
        prov="data/{dataset}.provenance.json",
    wildcard_constraints:
        dataset=datasets_of_kind("arc"),
    params:
        dataset=_dataset_params,
    log:
        logs("prepare_arc", "{dataset}"),
    benchmark:
        bench_record("prepare_arc", "{dataset}")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/prepare.py"


rule prepare_sudoku:
    output:
        data=directory("data/{dataset}"),
        prov="data/{dataset}.provenance.json",
    wildcard_constraints:
        dataset=datasets_of_kind("sudoku"),
    params:
        dataset=_dataset_params,
    log:
        logs("prepare_sudoku", "{dataset}"),
    benchmark:
        bench_record("prepare_sudoku", "{dataset}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/prepare.py"


rule prepare_maze:
    output:
        data=directory("data/{dataset}"),
        prov="data/{dataset}.provenance.json",
    wildcard_constraints:
        dataset=datasets_of_kind("maze"),
    params:
        dataset=_dataset_params,
    log:
        logs("prepare_maze", "{dataset}"),
    benchmark:
        bench_record("prepare_maze", "{dataset}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/prepare.py"
