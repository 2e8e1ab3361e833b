"""The files of a run folder besides the weights and the full state (trm.train.state).

config.yaml (the resolved Hydra config), all_config.yaml (reference-style `arch` section and
hyper-parameters: what `trm predict` reads to build the model), metrics.jsonl (one line per
logged step), final.json (the final weights file), and the optional Weights & Biases run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import yaml
from omegaconf import DictConfig, OmegaConf

from trm.utils import atomic_file, write_json

METRICS_FILE = "metrics.jsonl"
FINAL_FILE = "final.json"
CONFIG_FILE = "config.yaml"
ALL_CONFIG_FILE = "all_config.yaml"


def clear_previous_run(run_dir: Path) -> list[str]:
    """Remove what an earlier `trm train` wrote into `run_dir` (a run without a state to resume:
    it crashed before its first checkpoint, or stopped at a non-finite loss): configs, metrics,
    final.json and its step_N weights, so that none of them outlives the new run (`trm predict`
    would load the highest step_N of the folder). Other files are left alone. Returns the names
    removed."""
    import re

    ours = {CONFIG_FILE, ALL_CONFIG_FILE, METRICS_FILE, FINAL_FILE}  # state.pt: --resume
    step = re.compile(r"^step_\d+$")  # what Trainer._write_weights names its weights
    removed = []
    if not run_dir.is_dir():
        return removed
    for p in sorted(run_dir.iterdir()):
        if (p.name in ours or step.match(p.name)) and p.is_file() and not p.is_symlink():
            p.unlink()
            removed.append(p.name)
    return removed


def write_yaml(path: Path, obj: Any) -> None:
    with atomic_file(path) as f:
        yaml.safe_dump(obj, f, sort_keys=False)


def arch_section(arch: Mapping[str, Any], loss_type: str) -> dict[str, Any]:
    """all_config.yaml's `arch`: the reference's architecture name, the model settings and the
    loss (the layout trm.model.checkpoint reads back)."""
    from trm.model import REFERENCE_NAMES
    from trm.model.build import ARCH_KEY

    return {
        "name": REFERENCE_NAMES[str(arch.get(ARCH_KEY, "trm"))],
        **{k: v for k, v in arch.items() if k != ARCH_KEY},
        "loss": {"name": "losses@ACTLossHead", "loss_type": loss_type},
    }


def write_run_configs(
    run_dir: Path,
    cfg: DictConfig,
    arch: Mapping[str, Any],
    loss_type: str,
    data_dir: Path,
    extra: Mapping[str, Any],
) -> None:
    """config.yaml and all_config.yaml (train settings, then `extra`: world size, steps)."""
    write_yaml(run_dir / CONFIG_FILE, OmegaConf.to_container(cfg, resolve=True))
    train = OmegaConf.to_container(cfg.train, resolve=True)
    assert isinstance(train, dict)
    all_config = {
        "arch": arch_section(arch, loss_type),
        "data_paths": [str(data_dir)],
        **train,
        **extra,
    }
    write_yaml(run_dir / ALL_CONFIG_FILE, all_config)


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only the lines up to the resumed step (later ones will be written again)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                if json.loads(line)["step"] <= last_step:
                    keep.append(line)
            except (json.JSONDecodeError, KeyError):
                continue  # a half-written last line from a killed run
    with atomic_file(path) as f:
        f.write("".join(x + "\n" for x in keep))


def write_metrics_line(f: IO[str], metrics: Mapping[str, Any]) -> None:
    """One metrics.jsonl line, flushed; a non-finite number is written as null."""
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in metrics.items()
    }
    f.write(json.dumps(clean) + "\n")
    f.flush()


def write_final(run_dir: Path, record: Mapping[str, Any]) -> None:
    write_json(run_dir / FINAL_FILE, dict(record))


def init_wandb(cfg: DictConfig, data_dir: Path) -> Any:
    """The Weights & Biases run when `wandb.enabled` (None otherwise, or without wandb)."""
    w = cfg.get("wandb")
    if not w or not bool(w.get("enabled", False)):
        return None
    try:
        import wandb  # type: ignore[import-not-found]
    except ImportError:
        print(
            "trm train: wandb.enabled is set but wandb is not installed; logging to metrics.jsonl only"
        )
        return None
    return wandb.init(
        project=w.get("project") or f"{data_dir.name}-trm",
        name=w.get("run_name"),
        config=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
        resume="allow",
    )
