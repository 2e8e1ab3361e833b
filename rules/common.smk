# Getters the rules call (the snakemake-workflows style). Every answer comes from trm.workflow,
# which is tested without Snakemake: trm/workflow/experiments.py (the config after grid
# expansion), paths.py (every output path, declared once), jobs.py (the command each job runs and
# the settings it reads), config_check.py (the checks that stop a bad config before any job).
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from trm.workflow import paths as P
from trm.workflow.config_check import check_config
from trm.workflow.experiments import Workflow, one_of
from trm.workflow.gpus import gpu_limit
from trm.workflow.hydra import hydra_overrides
from trm.workflow.report_spec import report_spec, spec_files


# An experiment name is one path segment: without this, rule train's runs/{exp}/train would
# also match runs/<exp>/llm/train with exp="<exp>/llm".
wildcard_constraints:
    exp="[A-Za-z0-9][A-Za-z0-9_.-]*",


# Ablation grids: an experiment with `variants:` becomes one experiment per variant, named
# <grid>.<variant>, each validated like any other experiment (trm/grids.py).
W = Workflow(config, Path(workflow.basedir) / "config")
if W.grids:
    validate(config, "../config/schema.yaml", set_default=False)
if problems := check_config(W, cache_dir=".snakemake/trm-config-check"):
    raise WorkflowError("invalid configuration:\n  " + "\n  ".join(problems))


# The `gpu` resource GPU rules declare: on a local run without `--resources gpu=N`, the GPUs
# present, so no more GPU jobs run at once than there are GPUs (trm/workflow/gpus.py).
if (n_gpus := gpu_limit(workflow)) is not None:
    workflow.register_resource("gpu", n_gpus)

LLM_EXPS = one_of(e for e in W.run if W.is_llm(e))
GRID_NAMES = one_of(W.grids)
TRM_PARTNERS = one_of(t for e in W.run if W.is_llm(e) for t in W.llm_trm_partners(e))


# ---- job settings, logs, resources ---------------------------------------------------------------


def get_job(name):
    """params `job`: the command job `name` runs and what its config sections give it."""

    def get(wildcards):
        return W.job(name, dict(wildcards.items()))

    return get


def logs(rule, pattern):
    return f"logs/{rule}/{pattern}.log"


def bench_record(rule, pattern):
    return f"logs/{rule}/{pattern}.benchmark.tsv"


def res(rule, key, default):
    """A resource of `rule`, overridden by experiments.<exp>.resources.<rule>.<key>."""

    def get(wildcards, attempt=1):
        value = default(wildcards) if callable(default) else default
        return W.resources(rule, wildcards.exp, key, value)

    return get


def get_gpus(wildcards):
    return W.gpus(wildcards.exp)


def get_one_gpu(wildcards):
    return min(1, W.gpus(wildcards.exp))


def get_train_threads(wildcards):
    return W.train_threads(wildcards.exp)


# ---- datasets and weights -------------------------------------------------------------------------


def get_task_files(wildcards):
    """The generate_arc_tasks output a `source: generated` ARC dataset is built from."""
    if "dataset" in wildcards.keys():
        ds = W.dataset_cfg(wildcards.dataset)
    else:
        ds = W.exp(wildcards.exp)["dataset"]
    return {"tasks": W.tasks_dir(ds)} if W.tasks_dir(ds) else {}


def get_data_dir(wildcards):
    """The experiment's own dataset (the one it trains on)."""
    return W.data_dir(wildcards.exp)


def get_data_record(wildcards):
    return P.record_of(W.data_dir(wildcards.exp))


def get_data(wildcards):
    return {"data": get_data_dir(wildcards), "data_prov": get_data_record(wildcards)}


def get_eval_data(wildcards):
    """The dataset predict, score and sweep read (predict.dataset, else the experiment's)."""
    data = W.eval_data_dir(wildcards.exp)
    return {"data": data, "data_prov": P.record_of(data)}


def get_checkpoint(wildcards):
    ckpt = W.checkpoint_dir(wildcards.exp)
    return {"ckpt": ckpt, "ckpt_prov": P.record_of(ckpt)}


def get_checkpoint_file(wildcards):
    return W.checkpoint_file(wildcards.exp)


def get_ids_from(wildcards):
    """Predict on another dataset: the training dataset, whose identifiers the test puzzles are
    mapped to by name (`trm predict --puzzle-ids-from`); nothing otherwise."""
    own, evaluated = W.data_dir(wildcards.exp), W.eval_data_dir(wildcards.exp)
    return {} if own == evaluated else {"ids_from": own, "ids_from_prov": P.record_of(own)}


def get_train_overrides(wildcards):
    """The experiment's model and train sections as Hydra overrides of `trm train`."""
    exp = W.exp(wildcards.exp)
    return hydra_overrides("model", exp.get("model", {})) + hydra_overrides("train", exp["train"])


# ---- scores and comparisons -------------------------------------------------------------------


def get_kind(wildcards):
    """The experiment's puzzle kind (how its predictions are scored)."""
    return W.kind(wildcards.exp)


def get_score_mode(wildcards):
    """--mode for a voted kind (ARC); the other kinds have one mode."""
    return wildcards.mode if W.voted(wildcards.exp) else None


def comparison(runs):
    """Input function of a comparison: each run's metrics.json (or predictions) and record."""

    def get(wildcards):
        files = [P.metrics(f) if not f.endswith(".npz") else f for f in runs(wildcards).values()]
        return {"runs": files, "records": [P.record_of(p) for p in runs(wildcards).values()]}

    return get


def get_mode_runs(wildcards):
    """Paper vs single mode (ARC): the score folders."""
    return {m: P.fill(P.scores(P.RUN, m), exp=wildcards.exp) for m in ("paper", "single")}


def get_grid_runs(wildcards):
    """{variant: scores/paper folder} of every variant of a grid."""
    grid = W.grids[wildcards.grid]
    return {v: P.scores(P.fill(P.RUN, exp=e), "paper") for v, e in grid.experiments.items()}


def get_grid_predictions(wildcards):
    """{variant: predictions.npz} of every variant of a grid (its sweep grid)."""
    grid = W.grids[wildcards.grid]
    return {v: P.fill(P.predictions(), exp=e) for v, e in grid.experiments.items()}


def get_grid_comparison(wildcards):
    return W.grid_comparison(wildcards.grid)


def get_sweep_grid_data(wildcards):
    return W.eval_data_dir(W.grid_base(wildcards.grid))


def get_sweep_grid_comparison(wildcards):
    return W.grid_comparison(wildcards.grid, sweep=True)


def get_id_runs(wildcards):
    """true = the experiment's own scores, then one run per puzzle-ID variant."""
    runs = {"true": P.fill(P.scores(), **dict(wildcards.items()))}
    for ids in W.id_variants(wildcards.exp):
        runs[ids] = P.fill(P.scores(P.IDS), ids=ids, **dict(wildcards.items()))
    return runs


def get_adapt_runs(wildcards):
    """Fitted embeddings vs blank identifiers on the held-out tasks."""
    fits = ("fitted", "blank")
    return {f: P.fill(P.scores(P.ADAPT_FIT), fit=f, **dict(wildcards.items())) for f in fits}


def get_adapt_puzzle_ids(wildcards):
    """blank: the baseline without fitting (the blank row and every weight are the checkpoint's)."""
    return "blank" if wildcards.fit == "blank" else "true"


# ---- the LLM baseline ---------------------------------------------------------------------------


def get_llm_model(wildcards):
    return W.llm_model(wildcards.exp)


def get_llm_model_input(wildcards):
    """The tiny model folder a job depends on (a job input), or nothing for a Hub id."""
    model = W.llm_model(wildcards.exp)
    return [model] if model == P.fill(P.LLM_TINY, exp=wildcards.exp) else []


def get_llm_gpu(wildcards):
    return W.llm_on_gpu(wildcards.exp)


def get_llm_threads(wildcards):
    """One thread on the CPU: a tiny model gains nothing from more, and on a shared machine two
    threads spinning on contended cores ran 30x slower (measured); GPUs do the work elsewhere."""
    return 2 if W.llm_on_gpu(wildcards.exp) else 1


def get_llm_runs(wildcards):
    """TRM (paper mode) vs the LLM on the same tasks: the score folders."""
    trm = P.fill(P.scores(), exp=wildcards.trm, mode="paper")
    return {"trm": trm, "llm": P.fill(P.LLM_SCORE, exp=wildcards.exp)}


# ---- the report -----------------------------------------------------------------------------------


def get_report_spec(wildcards):
    """The JSON `trm report --spec` reads (trm/workflow/report_spec.py)."""
    return report_spec(W)


def get_report_inputs(wildcards):
    spec = report_spec(W)
    templates = sorted(str(p) for p in Path(P.TEMPLATES).glob("*") if p.is_file())
    return {"templates": templates, "files": spec_files(spec), "records": spec["records"]}
