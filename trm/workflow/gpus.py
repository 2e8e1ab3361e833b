"""How many GPUs this machine offers the workflow's jobs (the `gpu` resource of a local run)."""

from __future__ import annotations

import os
import subprocess


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
