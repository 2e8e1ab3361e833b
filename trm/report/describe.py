"""What an experiment is, said from the configuration it ran with (never from a hand-typed label).

`paper_comparison` decides whether a run is the paper's benchmark at the paper's settings (only
then does the report put the paper's figure beside it); `describe` writes the factual part of an
experiment's description (dataset, size, model, training steps) from the experiment's config and
the resolved training config the train job saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trm.claims import ONE_OF, Setting, claims
from trm.data.arc import REFERENCE_CANVAS
from trm.kinds import KINDS

# Dataset fields that shrink a benchmark to a subset: present means not the full benchmark.
SUBSET_FIELDS = ("max_tasks", "tasks", "test_subsample")


@dataclass
class PaperComparison:
    """`benchmark` is set only when the run is the paper's benchmark at the paper's settings;
    otherwise `reasons` says why its numbers are not comparable with the paper's."""

    benchmark: str | None
    reasons: list[str] = field(default_factory=list)


def _dataset_reasons(want: Mapping[str, Any], ds: Mapping[str, Any], whose: str) -> list[str]:
    reasons = []
    for key, value in want.items():
        allowed = value[ONE_OF] if isinstance(value, Mapping) else [value]
        shown = " or ".join(repr(v) for v in allowed)
        if key not in ds:
            reasons.append(f"dataset.{key} is not set ({whose}: {shown})")
        elif ds[key] not in allowed:
            reasons.append(f"dataset.{key} is {ds[key]!r}, {whose} {shown}")
    if ds.get("canvas", REFERENCE_CANVAS) != REFERENCE_CANVAS:
        reasons.append(f"dataset.canvas = {ds['canvas']} is outside the reference layout")
    for key in SUBSET_FIELDS:
        if key in ds:
            reasons.append(f"dataset.{key} = {ds[key]!r} keeps a subset")
    return reasons


def _section_reasons(
    part: str, want: Mapping[str, Any], cfg: Mapping[str, Any], whose: str
) -> list[str]:
    """A model or train section against the setting's ({preset, key: value}): the preset, then
    every key set on either side whose values differ."""
    reasons = []
    if cfg.get("preset") != want.get("preset"):
        reasons.append(f"{part} preset is {cfg.get('preset')!r}, {whose} {want.get('preset')!r}")
    extra = {k: v for k, v in cfg.items() if k != "preset" and want.get(k, _UNSET) != v}
    if extra:
        changed = ", ".join(f"{part}.{k}={v}" for k, v in extra.items())
        reasons.append(f"{changed} changes {whose} settings")
    for key in sorted(set(want) - set(cfg) - {"preset"}):
        reasons.append(f"{part}.{key} is not set ({whose}: {want[key]!r})")
    return reasons


_UNSET = object()


def setting_reasons(
    settings: Mapping[str, Any], spec: Setting, whose: str = "the paper's"
) -> list[str]:
    """Why an experiment (its config: dataset, model, train or checkpoint) is not a run in a
    published setting (trm.claims); [] when it is. `whose` names the setting in the reasons
    ("the paper's", "the claim's")."""
    reasons: list[str] = []
    if settings.get("smoke"):
        reasons.append("it is a smoke run (a pipeline test)")
    ds = settings.get("dataset")
    if not ds:
        return [*reasons, "its dataset configuration is unknown"]
    reasons += _dataset_reasons(spec.dataset, ds, whose)
    ckpt = settings.get("checkpoint")
    if ckpt:
        src = ckpt.get("repo_id") or ckpt.get("path")
        if ckpt.get("repo_id") not in spec.checkpoints:
            published = ", ".join(spec.checkpoints) or "none is configured here"
            reasons.append(f"its checkpoint {src} is not {whose} ({published})")
        elif spec.checkpoint_file and ckpt.get("file") != spec.checkpoint_file:
            reasons.append(
                f"its checkpoint file is {ckpt.get('file')!r}, {whose} {spec.checkpoint_file!r}"
            )
    elif spec.model is None or spec.train is None:
        published = ", ".join(spec.checkpoints) or "its authors' (none is configured here)"
        reasons.append(
            f"it trained its own weights; {whose} figure is of the checkpoint {published}"
        )
    else:
        for part, want in (("model", spec.model), ("train", spec.train)):
            reasons += _section_reasons(part, want, settings.get(part) or {}, whose)
    return reasons


def paper_comparison(settings: Mapping[str, Any]) -> PaperComparison:
    """Whether the experiment (its config: dataset, model, train or checkpoint) is a run of the
    paper's benchmark at the paper's settings (trm.claims)."""
    claimed = settings.get("benchmark")
    spec = claims().settings.get(str(claimed))
    if spec is None or not claims().about(spec.name):
        reasons = ["it is a smoke run (a pipeline test)"] if settings.get("smoke") else []
        reasons.append(f"the paper reports no figure for benchmark {claimed!r}")
    else:
        reasons = setting_reasons(settings, spec)
    return PaperComparison(benchmark=None if reasons else str(claimed), reasons=reasons)


def _dataset_text(ds: Mapping[str, Any]) -> str:
    kind, source = KINDS.get(str(ds.get("kind"))), str(ds.get("source", ""))
    aug = ds.get("num_aug", 0)
    aug_text = (
        f"{aug} augmentation{'s' if aug != 1 else ''} per puzzle" if aug else "no augmentation"
    )
    if kind is not None and kind.voted:  # ARC: tasks from subsets, augmented views voting
        where = {"files": "the ARC Kaggle files", "generated": "generated tasks"}.get(
            source, source
        )
        subsets = ", ".join(ds.get("subsets", [])) or "default subsets"
        limit = f", at most {ds['max_tasks']} tasks per subset" if "max_tasks" in ds else ""
        test = f"; test set {ds['test_set']}" if "test_set" in ds else ""
        canvas = int(ds.get("canvas", REFERENCE_CANVAS))
        layout = (
            f", on a {canvas}x{canvas} canvas (outside the reference's "
            f"{REFERENCE_CANVAS}x{REFERENCE_CANVAS} layout)"
            if canvas != REFERENCE_CANVAS
            else ""
        )
        return f"{kind.title} from {where} ({subsets}{test}{limit}), {aug_text}{layout}"
    name = kind.title if kind is not None else str(ds.get("kind"))
    if source == "generate":
        size = ds.get("size")
        shape = f"{size}x{size} " if size else ""
        counts = f"{ds.get('num', '?')} train"
        if "num_test" in ds:
            counts += f", {ds['num_test']} test"
        return f"generated {shape}{name} puzzles ({counts}), {aug_text}"
    sub = f", {ds['subsample']} training puzzles" if "subsample" in ds else ""
    return f"{name} from {source}{sub}, {aug_text}"


def _model_text(settings: Mapping[str, Any], resolved: Mapping[str, Any] | None) -> str:
    m = (resolved or {}).get("model")
    if not m:
        preset = (settings.get("model") or {}).get("preset")
        return f"model preset {preset}" if preset else "the checkpoint's model"
    block = "MLP-t" if m.get("mlp_t") else "attention"
    return (
        f"TRM with hidden size {m.get('hidden_size')}, {m.get('L_layers')} {block} layer(s), "
        f"{m.get('H_cycles')}x{m.get('L_cycles')} recursion cycles, up to "
        f"{m.get('halt_max_steps')} halting steps"
    )


def _train_text(settings: Mapping[str, Any], resolved: Mapping[str, Any] | None) -> str:
    ckpt = settings.get("checkpoint")
    if ckpt:
        src = ckpt.get("repo_id") or ckpt.get("path")
        return f"weights from checkpoint {src}" + (f" ({ckpt['file']})" if "file" in ckpt else "")
    t = (resolved or {}).get("train")
    if not t:
        preset = (settings.get("train") or {}).get("preset")
        return f"train preset {preset}"
    return f"trained {t.get('max_steps')} steps at global batch size {t.get('global_batch_size')}"


def describe(settings: Mapping[str, Any], resolved: Mapping[str, Any] | None = None) -> str:
    """Dataset, model and training as run: from the experiment config and, when the experiment
    trained, the resolved training config (runs/<exp>/train/config.yaml)."""
    ds = settings.get("dataset")
    parts = [_dataset_text(ds)] if ds else []
    parts += [_model_text(settings, resolved), _train_text(settings, resolved)]
    gpus = settings.get("gpus") or 0
    if settings.get("train") or not settings.get("checkpoint"):
        parts.append(f"{gpus} GPU(s) reserved for training")
    return "; ".join(parts) + "."
