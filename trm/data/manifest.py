"""manifest.json: what a dataset build read, what it wrote (with sha256), and what it counted."""

from __future__ import annotations

import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from trm import __version__
from trm.utils import sha256_file, write_json

MANIFEST_NAME = "manifest.json"


def write_manifest(
    out_dir: str | os.PathLike,
    *,
    command: str,
    params: dict[str, Any],
    inputs: list[str | os.PathLike] | dict[str, str | os.PathLike],
    counts: dict[str, Any],
    extra: dict[str, Any] | None = None,
    hash_workers: int | None = None,
) -> dict[str, Any]:
    """Hash every file under `out_dir` (except the manifest) and every input, then write the manifest.

    `inputs` may map a label to a path (for inputs that are not files a user gave, such as a
    package's bundled data, pass the label and the path that was read).
    """
    out_dir = Path(out_dir)
    items = inputs.items() if isinstance(inputs, dict) else ((str(p), p) for p in inputs)
    input_records = []
    for label, p in items:
        p = Path(p)
        input_records.append(
            {"name": label, "path": str(p), "size": p.stat().st_size, "sha256": sha256_file(p)}
        )
    files = [p for p in sorted(out_dir.rglob("*")) if p.is_file() and p.name != MANIFEST_NAME]
    # hashlib releases the GIL on large reads: threads hash multi-GB outputs side by side
    workers = hash_workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(sha256_file, files))
    outputs = [
        {"path": p.relative_to(out_dir).as_posix(), "size": p.stat().st_size, "sha256": d}
        for p, d in zip(files, digests, strict=True)
    ]
    manifest = {
        "command": command,
        "params": params,
        "inputs": input_records,
        "outputs": outputs,
        "counts": counts,
        **(extra or {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "trm_repro_version": __version__,
        "python": sys.version.split()[0],
        "host": platform.node(),
    }
    write_json(out_dir / MANIFEST_NAME, manifest)
    return manifest
