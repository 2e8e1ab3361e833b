# The LLM baseline (experiments with an `llm:` section): a causal LM fine-tuned with (Q)LoRA on
# the ARC training tasks written as chat prompts, decoded greedily and scored with TRM's ARC
# metric. prepare -> train -> predict -> score under runs/<exp>/llm/. `llm.model: tiny` builds
# a random tiny Llama locally (CPU smoke and tests); anything else is a Hub id or a folder.
# A gated model reads HF_TOKEN from the environment; it is never a param, log line or record.


LLM_RUN = [e for e in RUN if "llm" in EXPERIMENTS[e]]
# wildcard constraint: only experiments with an llm section reach these rules
LLM_EXPS = "|".join(map(re.escape, LLM_RUN)) if LLM_RUN else "(?!x)x"
_PARTNERS = sorted({t for e in LLM_RUN for t in llm_trm_partners(e)})
TRM_ARC_EXPS = "|".join(map(re.escape, _PARTNERS)) if _PARTNERS else "(?!x)x"


localrules:
    llm_all,


rule llm_all:
    input:
        [f"runs/{e}/llm/score/metrics.json" for e in LLM_RUN],
        [f"runs/{e}/llm/compare/{t}.json" for e in LLM_RUN for t in llm_trm_partners(e)],


rule llm_tiny_model:
    output:
        model=directory("runs/{exp}/llm/tiny-model"),
        prov="runs/{exp}/llm/tiny-model.provenance.json",
    wildcard_constraints:
        exp=LLM_EXPS,
    params:
        tiny=lambda wc: llm_cfg(wc.exp).get("tiny", {}),
    log:
        logs("llm_tiny_model", "{exp}"),
    benchmark:
        bench_record("llm_tiny_model", "{exp}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    conda:
        "../envs/llm.yaml"
    script:
        "../workflow/scripts/llm_tiny_model.py"


rule llm_prepare:
    input:
        unpack(exp_task_files),
        model=lambda wc: llm_model_input(wc.exp),
    output:
        data=directory("runs/{exp}/llm/data"),
        prov="runs/{exp}/llm/data.provenance.json",
    wildcard_constraints:
        exp=LLM_EXPS,
    params:
        model=lambda wc: llm_model(wc.exp),
        # every dataset setting but the TRM data folder's name and TRM's token canvas (an LLM
        # reads grids as text); kind is always arc here
        dataset=lambda wc: {
            k: v
            for k, v in exp_cfg(wc.exp)["dataset"].items()
            if k not in ("name", "canvas")
        },
        prepare=lambda wc: llm_cfg(wc.exp).get("prepare", {}),
    log:
        logs("llm_prepare", "{exp}"),
    benchmark:
        bench_record("llm_prepare", "{exp}")
    threads: 1
    resources:
        mem_mb=res("llm_prepare", "mem_mb", 4000),
        runtime=res("llm_prepare", "runtime", 30),
        gpu=0,
    conda:
        "../envs/llm.yaml"
    script:
        "../workflow/scripts/llm_prepare.py"


rule llm_train:
    input:
        model=lambda wc: llm_model_input(wc.exp),
        data="runs/{exp}/llm/data",
        data_prov="runs/{exp}/llm/data.provenance.json",
    output:
        run=directory("runs/{exp}/llm/train"),
        prov="runs/{exp}/llm/train.provenance.json",
    wildcard_constraints:
        exp=LLM_EXPS,
    params:
        model=lambda wc: llm_model(wc.exp),
        train=lambda wc: llm_cfg(wc.exp).get("train", {}),
        device=lambda wc: llm_cfg(wc.exp).get("device", "auto"),
    log:
        logs("llm_train", "{exp}"),
    benchmark:
        bench_record("llm_train", "{exp}")
    # One thread on CPU: a tiny model gains nothing from more, and on a shared machine two
    # threads spinning on contended cores ran 30x slower (measured); GPUs do the work elsewhere.
    threads: lambda wc: 1 if llm_on_gpu(wc.exp) == 0 else 2
    resources:
        mem_mb=res("llm_train", "mem_mb", 8000),
        runtime=res("llm_train", "runtime", 120),
        gpu=res("llm_train", "gpu", lambda wc: llm_on_gpu(wc.exp)),
    conda:
        "../envs/llm.yaml"
    script:
        "../workflow/scripts/llm_train.py"


rule llm_predict:
    input:
        model=lambda wc: llm_model_input(wc.exp),
        data="runs/{exp}/llm/data",
        data_prov="runs/{exp}/llm/data.provenance.json",
        run="runs/{exp}/llm/train",
        run_prov="runs/{exp}/llm/train.provenance.json",
    output:
        predictions="runs/{exp}/llm/predictions.jsonl",
        summary="runs/{exp}/llm/predictions.summary.json",
        prov="runs/{exp}/llm/predictions.provenance.json",
    wildcard_constraints:
        exp=LLM_EXPS,
    params:
        model=lambda wc: llm_model(wc.exp),
        predict=lambda wc: exp_cfg(wc.exp)["predict"],
        load_in_4bit=lambda wc: llm_cfg(wc.exp).get("train", {}).get("load_in_4bit", False),
    log:
        logs("llm_predict", "{exp}"),
    benchmark:
        bench_record("llm_predict", "{exp}")
    threads: lambda wc: 1 if llm_on_gpu(wc.exp) == 0 else 2
    resources:
        mem_mb=res("llm_predict", "mem_mb", 8000),
        runtime=res("llm_predict", "runtime", 120),
        gpu=res("llm_predict", "gpu", lambda wc: llm_on_gpu(wc.exp)),
    conda:
        "../envs/llm.yaml"
    script:
        "../workflow/scripts/llm_predict.py"


rule llm_score:
    input:
        data="runs/{exp}/llm/data",
        data_prov="runs/{exp}/llm/data.provenance.json",
        predictions="runs/{exp}/llm/predictions.jsonl",
        summary="runs/{exp}/llm/predictions.summary.json",
        predictions_prov="runs/{exp}/llm/predictions.provenance.json",
        run="runs/{exp}/llm/train",
    output:
        # Beside metrics.json: submission.json, per_input.csv, per_task.json.
        metrics="runs/{exp}/llm/score/metrics.json",
        prov="runs/{exp}/llm/score.provenance.json",
    wildcard_constraints:
        exp=LLM_EXPS,
    params:
        score=lambda wc: {k: v for k, v in exp_cfg(wc.exp).get("score", {}).items() if k != "modes"},
    log:
        logs("llm_score", "{exp}"),
    benchmark:
        bench_record("llm_score", "{exp}")
    threads: 1
    resources:
        mem_mb=res("llm_score", "mem_mb", 2000),
        runtime=res("llm_score", "runtime", 15),
        gpu=0,
    conda:
        "../envs/llm.yaml"
    script:
        "../workflow/scripts/llm_score.py"


# TRM minus LLM over the same tasks (paired bootstrap over tasks): the one place this difference
# is computed; the report shows it. One job per TRM experiment of the run on the same tasks.


rule llm_compare:
    input:
        trm="runs/{trm}/scores/paper/metrics.json",
        trm_prov="runs/{trm}/scores/paper.provenance.json",
        llm="runs/{exp}/llm/score/metrics.json",
        llm_prov="runs/{exp}/llm/score.provenance.json",
    output:
        compare="runs/{exp}/llm/compare/{trm}.json",
        prov="runs/{exp}/llm/compare/{trm}.provenance.json",
    wildcard_constraints:
        exp=LLM_EXPS,
        trm=TRM_ARC_EXPS,
    params:
        score=lambda wc: {
            k: v for k, v in exp_cfg(wc.exp).get("score", {}).items() if k in ("n_boot", "seed")
        },
    log:
        logs("llm_compare", "{exp}-{trm}"),
    benchmark:
        bench_record("llm_compare", "{exp}-{trm}")
    threads: 1
    resources:
        mem_mb=res("llm_compare", "mem_mb", 1000),
        runtime=res("llm_compare", "runtime", 10),
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/llm_compare.py"
