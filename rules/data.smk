# Dataset preparation: one rule per source kind, all writing data/<dataset>/ (+ manifest.json).
# params carry only the dataset's own settings, so changing e.g. num_aug reruns this dataset
# and everything downstream of it, and nothing else.


def _dataset_params(wildcards):
    return dataset_cfg(wildcards.dataset)


def _generated_arc_datasets():
    """Regex of the ARC datasets built from generated task files (source: generated)."""
    names = {
        EXPERIMENTS[e]["dataset"]["name"]
        for e in RUN
        if EXPERIMENTS[e]["dataset"]["kind"] == "arc" and EXPERIMENTS[e]["dataset"]["source"] == "generated"
    }
    return "|".join(sorted(map(re.escape, names))) if names else "(?!x)x"


def _arc_task_files(wildcards):
    """prepare_arc reads generated task files when the dataset says so; other sources need none."""
    if dataset_cfg(wildcards.dataset)["source"] == "generated":
        return {"tasks": f"data/{wildcards.dataset}.tasks"}
    return {}


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
