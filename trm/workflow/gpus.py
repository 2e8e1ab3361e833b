"""How many GPUs this machine offers the workflow's jobs (the `gpu` resource of a local run)."""

from __future__ import annotations

import os
import subprocess
from typing import Any


def visible_gpus() -> int:
    """CUDA_VISIBLE_DEVICES when set (its non-empty entries other than -1), else the GPUs that
    `nvidia-smi -L` lists; 0 without an NVIDIA driver (a CPU-only machine)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return 0
    if out.returncode != 0:
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines())


def gpu_limit(workflow: Any) -> int | None:
    """The `gpu` resource limit of a local run: the GPUs present. None when the user gave
    `--resources gpu=N`, when jobs run elsewhere (a cluster requests GPUs per job) or when no
    GPU is visible (a CPU-only machine, or a login node): capping the claims to 0 would strip
    the GPU requests of cluster jobs, and on a CPU-only machine the jobs run on the CPU."""
    if "gpu" in workflow.global_resources:
        return None
    try:
        local = bool(workflow.local_exec)
    except Exception:  # executor not known yet: treat as local
        local = True
    return (visible_gpus() or None) if local else None
