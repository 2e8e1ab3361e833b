# The LLM baseline (experiments with an `llm:` section): a causal LM fine-tuned with (Q)LoRA on
# the ARC training tasks written as chat prompts, decoded greedily and scored with TRM's ARC
# metric. prepare -> train -> predict -> score under runs/<exp>/llm/. `llm.model: tiny` builds
# a random tiny Llama locally (CPU smoke and tests); anything else is a Hub id or a folder.
# A gated model reads HF_TOKEN from the environment; it is never a param, log line or record.


localrules:
    llm_all,


rule llm_all:
    input:
        [P.metrics(P.fill(P.LLM_SCORE, exp=e)) for e in W.run if W.is_llm(e)],
        [
            P.fill(P.LLM_COMPARE, exp=e, trm=t)
            for e in W.run
            if W.is_llm(e)
            for t in W.llm_trm_partners(e)
        ],


rule llm_tiny_model:
    output:
        model=directory(P.LLM_TINY),
        prov=P.record_of(P.LLM_TINY),
    log:
        logs("llm_tiny_model", "{exp}"),
    benchmark:
        bench_record("llm_tiny_model", "{exp}")
    wildcard_constraints:
        exp=LLM_EXPS,
    conda:
        "../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    params:
        job=get_job("llm_tiny_model"),
    script:
        "../workflow/scripts/llm_tiny_model.py"


rule llm_prepare:
    input:
        unpack(get_task_files),
        model=get_llm_model_input,
    output:
        data=directory(P.LLM_DATA),
        prov=P.record_of(P.LLM_DATA),
    log:
        logs("llm_prepare", "{exp}"),
    benchmark:
        bench_record("llm_prepare", "{exp}")
    wildcard_constraints:
        exp=LLM_EXPS,
    conda:
        "../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=res("llm_prepare", "mem_mb", 4000),
        runtime=res("llm_prepare", "runtime", 30),
        gpu=0,
    params:
        job=get_job("llm_prepare"),
        model=get_llm_model,
    script:
        "../workflow/scripts/llm_prepare.py"


rule llm_train:
    input:
        model=get_llm_model_input,
        data=P.LLM_DATA,
        data_prov=P.record_of(P.LLM_DATA),
    output:
        run=directory(P.LLM_TRAIN),
        prov=P.record_of(P.LLM_TRAIN),
    log:
        logs("llm_train", "{exp}"),
    benchmark:
        bench_record("llm_train", "{exp}")
    wildcard_constraints:
        exp=LLM_EXPS,
    conda:
        "../envs/llm.yaml"
    threads: get_llm_threads
    resources:
        mem_mb=res("llm_train", "mem_mb", 8000),
        runtime=res("llm_train", "runtime", 120),
        gpu=res("llm_train", "gpu", get_llm_gpu),
    params:
        job=get_job("llm_train"),
        model=get_llm_model,
    script:
        "../workflow/scripts/llm_train.py"


rule llm_predict:
    input:
        model=get_llm_model_input,
        data=P.LLM_DATA,
        data_prov=P.record_of(P.LLM_DATA),
        run=P.LLM_TRAIN,
        run_prov=P.record_of(P.LLM_TRAIN),
    output:
        predictions=P.LLM_PREDICTIONS,
        summary=P.LLM_SUMMARY,
        prov=P.record_of(P.LLM_PREDICTIONS),
    log:
        logs("llm_predict", "{exp}"),
    benchmark:
        bench_record("llm_predict", "{exp}")
    wildcard_constraints:
        exp=LLM_EXPS,
    conda:
        "../envs/llm.yaml"
    threads: get_llm_threads
    resources:
        mem_mb=res("llm_predict", "mem_mb", 8000),
        runtime=res("llm_predict", "runtime", 120),
        gpu=res("llm_predict", "gpu", get_llm_gpu),
    params:
        job=get_job("llm_predict"),
        model=get_llm_model,
    script:
        "../workflow/scripts/llm_predict.py"


rule llm_score:
    input:
        data=P.LLM_DATA,
        data_prov=P.record_of(P.LLM_DATA),
        predictions=P.LLM_PREDICTIONS,
        summary=P.LLM_SUMMARY,
        predictions_prov=P.record_of(P.LLM_PREDICTIONS),
        run=P.LLM_TRAIN,
    output:
        # Beside metrics.json: submission.json, per_input.csv, per_task.json.
        metrics=P.metrics(P.LLM_SCORE),
        prov=P.record_of(P.LLM_SCORE),
    log:
        logs("llm_score", "{exp}"),
    benchmark:
        bench_record("llm_score", "{exp}")
    wildcard_constraints:
        exp=LLM_EXPS,
    conda:
        "../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=res("llm_score", "mem_mb", 2000),
        runtime=res("llm_score", "runtime", 15),
        gpu=0,
    params:
        job=get_job("llm_score"),
    script:
        "../workflow/scripts/llm_score.py"


# TRM minus LLM over the same tasks: one job per TRM experiment of the run on the same tasks.


use rule score_compare as llm_compare with:
    input:
        unpack(comparison(get_llm_runs)),
    output:
        compare=P.LLM_COMPARE,
        prov=P.record_of(P.LLM_COMPARE),
    log:
        logs("llm_compare", "{exp}-{trm}"),
    benchmark:
        bench_record("llm_compare", "{exp}-{trm}")
    wildcard_constraints:
        exp=LLM_EXPS,
        trm=TRM_PARTNERS,
    resources:
        mem_mb=res("llm_compare", "mem_mb", 1000),
        runtime=res("llm_compare", "runtime", 10),
        gpu=0,
    params:
        job=get_job("llm_compare"),
        runs=get_llm_runs,
        compare={"base": "llm"},
