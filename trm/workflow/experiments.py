"""The workflow's config after grid expansion, and the questions the rules ask of it.

`Workflow(config)` answers, per experiment: which dataset it trains on and which it evaluates
on, where its weights come from, which score modes and analyses it runs, and what each job reads
of the config (`job`). rules/common.smk wraps these in `get_*` input functions; nothing here
needs Snakemake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trm.grids import Grid, expand_grids
from trm.kinds import KINDS
from trm.workflow import paths as P
from trm.workflow.jobs import JOBS, declared_default, job_settings
from trm.workflow.sections import rule_keys

NOTHING = "(?!x)x"  # a wildcard constraint that matches nothing: keeps a rule inert


def one_of(names: Any) -> str:
    """A wildcard constraint matching exactly these names."""
    names = sorted(set(names))
    return "|".join(map(re.escape, names)) if names else NOTHING


def generated_source(ds: Mapping[str, Any]) -> dict[str, Any]:
    """A dataset section as the prepare commands read it: `source: generated` reads the files
    of rule generate_arc_tasks (`trm prepare arc-tasks`) as Kaggle files, with their subsets."""
    from trm.data.arc_generated import DEFAULT_SUBSETS, PREFIX_NAME

    ds = dict(ds)
    if ds.get("source") == "generated":
        del ds["source"]
        ds["input_prefix"] = f"{P.fill(P.TASKS, dataset=ds['name'])}/{PREFIX_NAME}"
        ds.setdefault("subsets", list(ds.get("generate", {}).get("tasks", DEFAULT_SUBSETS)))
        ds.setdefault("test_set", "evaluation")
    return ds


class Workflow:
    def __init__(self, config: dict[str, Any], config_dir: str | Path = "config") -> None:
        self.grids: dict[str, Grid] = expand_grids(config)  # edits config in place
        self.experiments: dict[str, dict[str, Any]] = config["experiments"]
        self.run: list[str] = list(config["run"])
        self.config_dir = Path(config_dir)
        self.title = config.get("report", {}).get("title", "TRM reproduction report")

    # ---- experiments and their sections --------------------------------------------------------

    def exp(self, name: str) -> dict[str, Any]:
        return self.experiments[name]

    def kind(self, exp: str) -> str:
        return self.exp(exp)["dataset"]["kind"]

    def voted(self, exp: str) -> bool:
        return KINDS[self.kind(exp)].voted

    def dataset_cfg(self, name: str) -> dict[str, Any]:
        for e in self.run:
            if self.exp(e)["dataset"]["name"] == name:
                return self.exp(e)["dataset"]
        raise KeyError(f"no experiment in run uses dataset {name!r}")

    def checkpoint_cfg(self, name: str) -> dict[str, Any]:
        for e in self.run:
            ckpt = self.exp(e).get("checkpoint")
            if ckpt and ckpt["name"] == name:
                return ckpt
        raise KeyError(f"no experiment in run fetches checkpoint {name!r}")

    def datasets(self, kind: str | None = None, source: str | None = None) -> str:
        """Constraint: the datasets of the run (of one kind, from one source)."""
        return one_of(
            ds["name"]
            for ds in (self.exp(e)["dataset"] for e in self.run)
            if kind in (None, ds["kind"]) and source in (None, ds["source"])
        )

    def grid_datasets(self) -> str:
        """Constraint: the datasets of the run whose kind is not ARC (rule prepare_grid)."""
        return one_of(
            ds["name"] for ds in (self.exp(e)["dataset"] for e in self.run) if ds["kind"] != "arc"
        )

    def dataset_value(self, ds: Mapping[str, Any], key: str) -> Any:
        """A dataset setting as prepared: configured, else `trm prepare <kind>`'s default."""
        return ds[key] if key in ds else declared_default(f"prepare {ds['kind']}", key)

    def analyses(self, exp: str) -> dict[str, Any]:
        return self.exp(exp).get("analyses", {})

    def sections(self, wildcards: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """Every config section a job with these wildcards may read, by path."""
        if "dataset" in wildcards:  # the prepare rules
            ds = self.dataset_cfg(wildcards["dataset"])
            return {"dataset": generated_source(ds), "dataset.generate": ds.get("generate", {})}
        if "ckpt" in wildcards:
            return {"checkpoint": self.checkpoint_cfg(wildcards["ckpt"])}
        if "grid" in wildcards:  # a grid's comparisons read its base variant's settings
            grid = self.grids[wildcards["grid"]]
            exp = self.exp(grid.experiments[grid.base])
        elif "exp" in wildcards:
            exp = self.exp(wildcards["exp"])
        else:
            return {}
        out = {k: v for k, v in exp.items() if isinstance(v, dict)}
        out["dataset"] = generated_source(exp["dataset"])
        if isinstance(exp["dataset"].get("generate"), dict):  # checked at start-up too
            out["dataset.generate"] = exp["dataset"]["generate"]
        for parent in ("analyses", "llm"):
            for key, value in exp.get(parent, {}).items():
                if isinstance(value, dict):
                    out[f"{parent}.{key}"] = value
        if "adapt" in exp.get("analyses", {}):
            held_out = {**exp["dataset"], **exp["analyses"]["adapt"]["dataset"]}
            out["analyses.adapt.dataset"] = generated_source(held_out)
        return out

    def job(self, name: str, wildcards: Mapping[str, str]) -> dict[str, Any]:
        """params `job` of a rule: the command it runs and the settings its sections give."""
        job = JOBS[name]
        command = job.command
        if "{kind}" in command:  # the experiment's kind, or the dataset's (prepare rules)
            kind = (
                self.dataset_cfg(wildcards["dataset"])["kind"]
                if "dataset" in wildcards
                else self.kind(wildcards["exp"])
            )
            command = command.replace("{kind}", kind)
        settings = job_settings(job, command, self.sections(wildcards), rule_keys())
        return {"command": command, "settings": settings}

    def experiment_of(self, wildcards: Mapping[str, str]) -> str | None:
        """The experiment whose config a job with these wildcards reads (a shared dataset or
        checkpoint: the first experiment of the run that defines it)."""
        if "exp" in wildcards:
            return wildcards["exp"]
        if "grid" in wildcards:
            return self.grid_base(wildcards["grid"])
        for section, wildcard in (("dataset", "dataset"), ("checkpoint", "ckpt")):
            if wildcard in wildcards:
                return next(
                    e
                    for e in self.run
                    if (self.exp(e).get(section) or {}).get("name") == wildcards[wildcard]
                )
        return None

    # ---- datasets and weights --------------------------------------------------------------------

    def data_dir(self, exp: str) -> str:
        """The experiment's own dataset: the one it trains on (or its checkpoint was trained on)."""
        return P.fill(P.DATA, dataset=self.exp(exp)["dataset"]["name"])

    def eval_data_dir(self, exp: str) -> str:
        """The dataset whose test split predict, score and sweep read: the experiment's own, or
        `predict.dataset` (e.g. a variant trained at num_aug 0 voted over the base's views)."""
        name = self.exp(exp).get("predict", {}).get("dataset")
        return P.fill(P.DATA, dataset=name) if name else self.data_dir(exp)

    def tasks_dir(self, ds: Mapping[str, Any]) -> list[str]:
        """The generate_arc_tasks output a `source: generated` dataset is built from, if any."""
        return [P.fill(P.TASKS, dataset=ds["name"])] if ds["source"] == "generated" else []

    def trained_by(self, exp: str) -> str:
        """The experiment whose training run `exp` uses: itself, or the grid variant it differs
        from only in evaluation settings."""
        for grid in self.grids.values():
            if exp in grid.train_of:
                return grid.train_of[exp]
        return exp

    def checkpoint_dir(self, exp: str) -> str:
        """The folder holding the weights predict and bench read: trained here or fetched."""
        ckpt = self.exp(exp).get("checkpoint")
        if ckpt:
            return P.fill(P.CHECKPOINT, ckpt=ckpt["name"])
        return P.fill(P.TRAIN, exp=self.trained_by(exp))

    def checkpoint_file(self, exp: str) -> str | None:
        """The weights file inside checkpoint_dir; None = the latest step_N written by training."""
        ckpt = self.exp(exp).get("checkpoint")
        return ckpt.get("file", ".") if ckpt else None

    def gpus(self, exp: str) -> int:
        return int(self.exp(exp).get("gpus", 0))

    def train_threads(self, exp: str) -> int:
        """Cores a training job claims: 1 when it runs on the CPU with one torch thread (the
        experiment's train.cpu_threads, else its train preset's), so two small trainings run side
        by side on a 2-core machine; 2 otherwise (a GPU job's data loading, or more threads)."""
        train = self.exp(exp)["train"]
        cpu_threads = train.get("cpu_threads")
        if cpu_threads is None:
            import yaml

            preset = self.config_dir / "train" / f"{train.get('preset', '')}.yaml"
            if preset.is_file():
                cpu_threads = (yaml.safe_load(preset.read_text()) or {}).get("cpu_threads")
        return 1 if cpu_threads == 1 and not self.gpus(exp) else 2

    def resources(self, rule: str, exp: str, key: str, default: Any) -> Any:
        """A rule's resource, overridden by experiments.<exp>.resources.<rule>."""
        return self.exp(exp).get("resources", {}).get(rule, {}).get(key, default)

    # ---- scores and analyses ---------------------------------------------------------------------

    def score_modes(self, exp: str) -> list[str]:
        """Voting over augmented views (paper) and the original view only (single) for a voted
        kind (ARC); paper only otherwise (the modes would be the same)."""
        return list(self.exp(exp).get("score", {}).get("modes", KINDS[self.kind(exp)].modes))

    def has_compare(self, exp: str) -> bool:
        """ARC scored in both modes: paper vs single is compared (rule score_compare)."""
        return self.voted(exp) and {"paper", "single"} <= set(self.score_modes(exp))

    def checkpoints_analysis(self, exp: str) -> bool:
        """analyses.checkpoints: true, or a mapping of `trm analyse checkpoints` settings."""
        return self.analyses(exp).get("checkpoints", False) not in (False, None)

    def id_variants(self, exp: str) -> list[str]:
        return list(self.analyses(exp).get("puzzle_ids", []))

    def is_llm(self, exp: str) -> bool:
        """An LLM-baseline experiment (an `llm:` section; rules/llm.smk) rather than a TRM one."""
        return "llm" in self.exp(exp)

    def llm_model(self, exp: str) -> str:
        """The model the LLM jobs load: a Hub id or folder, or the tiny model built here."""
        model = self.exp(exp)["llm"]["model"]
        return P.fill(P.LLM_TINY, exp=exp) if model == "tiny" else model

    def llm_on_gpu(self, exp: str) -> int:
        device = self.exp(exp)["llm"].get("device") or declared_default("llm train", "device")
        return 0 if str(device) == "cpu" else 1

    # The test tasks of an ARC experiment are fixed by these dataset settings.
    SAME_TASKS_KEYS = ("source", "input_prefix", "test_set", "test_set2", "tasks", "max_tasks")

    def llm_trm_partners(self, exp: str) -> list[str]:
        """TRM ARC experiments of this run on the same test tasks as the LLM experiment `exp`:
        each is compared with it (rule llm_compare)."""
        ds = self.exp(exp)["dataset"]
        return [
            e
            for e in self.run
            if not self.is_llm(e)
            and self.kind(e) == "arc"
            and "paper" in self.score_modes(e)
            and all(self.exp(e)["dataset"].get(k) == ds.get(k) for k in self.SAME_TASKS_KEYS)
        ]

    # ---- grids -----------------------------------------------------------------------------------

    def grids_in_run(self) -> list[str]:
        """Grids with every variant in `run` (the report shows one table per grid)."""
        return [
            g for g, grid in self.grids.items() if set(grid.experiments.values()) <= set(self.run)
        ]

    def grid_base(self, grid: str) -> str:
        return self.grids[grid].experiments[self.grids[grid].base]

    def has_sweep_grid(self, grid: str) -> bool:
        """A grid whose variants all sweep over the same test split: variants x test votes."""
        exps = list(self.grids[grid].experiments.values())
        return (
            all("sweep" in self.exp(e) for e in exps)
            and len({self.eval_data_dir(e) for e in exps}) == 1
        )

    def grid_labels(self, grid: str) -> dict[str, str]:
        """Each sweep-grid row's training data, as the table labels it."""
        out = {}
        for variant, e in self.grids[grid].experiments.items():
            ds = self.exp(self.trained_by(e))["dataset"]
            ckpt = self.exp(e).get("checkpoint")
            source = f"checkpoint {ckpt['name']}, " if ckpt else ""
            num_aug = self.dataset_value(ds, "num_aug")
            out[variant] = f"{source}trained on {ds['name']} (num_aug {num_aug})"
        return out

    def grid_comparison(self, grid: str, sweep: bool = False) -> dict[str, Any]:
        """What `trm compare runs` (a grid's table) or `trm compare sweep` (its variants x test
        votes) is told besides the runs: the base, each row's label, the paper's figures."""
        g = self.grids[grid]
        if sweep:
            return {"base": g.base, "label": self.grid_labels(grid), "title": g.name}
        return {"base": g.base, "label": g.changes, "paper": g.paper, "title": g.name}

    def settings_as_run(self, exp: str) -> dict[str, Any]:
        """The experiment's config as run (not resources), for the report's descriptions."""
        e = self.exp(exp)
        settings = {k: v for k, v in e.items() if k != "resources"}
        num_aug = self.dataset_value(e["dataset"], "num_aug")
        return settings | {"kind": self.kind(exp), "num_aug": num_aug, "llm": self.is_llm(exp)}
