"""What workflow/scripts/ call: run one `trm` command for a Snakemake job, then write its
provenance record.

A rule's params carry `job` = {"command": "score arc", "settings": {...}} (rules/common.smk
`get_job`): the command and the values its config sections give it. The adapter adds the job's
inputs and outputs under the command's declared names, and `Command.argv` turns all of them
into the command line, so no adapter knows a flag.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trm.provenance import run_logged
from trm.provenance import run_snakemake_job as record_job
from trm.settings import specs
from trm.utils import write_json


def command(name: str) -> Any:
    from trm.cli import command as find

    return find(name)


def trm_argv(name: str, values: Mapping[str, Any]) -> list[str]:
    """`python -m trm.cli <name> ...` for declared names -> values (None values are left out:
    the command's default)."""
    values = {k: v for k, v in values.items() if v is not None}
    return [sys.executable, "-m", "trm.cli", *command(name).argv(values)]


def torchrun(gpus: int) -> list[str]:
    """The launcher of a training on `gpus` > 1 GPUs (one process per GPU)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={gpus}",
    ]


def limit_threads(threads: int) -> None:
    """Jobs share the machine: torch and BLAS use the threads Snakemake gave this job."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(max(1, int(threads)))


def folder(path: str | os.PathLike) -> str:
    """The folder an output file lies in (a score folder from its metrics.json)."""
    return str(Path(path).parent)


def checkpoint_path(ckpt_dir: str, file: str | None) -> str:
    """The weights to load: the configured file of a fetched checkpoint, else the last step_N."""
    from trm.model.checkpoint import find_weights

    return str(Path(ckpt_dir) / file) if file else str(find_weights(ckpt_dir))


def _command_outputs(name: str, values: Mapping[str, Any]) -> list[str]:
    out = []
    for spec in specs(command(name).settings):
        value = values.get(spec.name) if spec.role == "output" else None
        out += [str(v) for v in (value if isinstance(value, list | tuple) else [value]) if v]
    return out


def run(
    smk: Any,
    *,
    extra_outputs: Iterable[str] = (),
    launcher: Sequence[str] = (),
    limit: bool = False,
    **io: Any,
) -> dict[str, Any]:
    """Run the job's command with its settings and `io` (declared names -> paths and other
    values the rule decides), then write the job's provenance record. The record covers every
    output the command declares (e.g. a score folder beside the metrics.json the rule names).
    `limit`: also limit torch/BLAS threads to the job's (the jobs that run a model)."""
    job = smk.params.job
    values = {**job["settings"], **io}
    # Snakemake decided to rebuild the job and removed its declared outputs; a folder around
    # them (a score folder) is the workflow's own path, possibly from an older version: replace.
    if "overwrite" in {s.name for s in specs(command(job["command"]).settings)}:
        values["overwrite"] = True
    argv = trm_argv(job["command"], values)
    if launcher:  # e.g. torchrun: the launcher runs `-m trm.cli ...` itself
        argv = [*launcher, *argv[1:]]
    if limit:
        limit_threads(smk.threads)
    declared = {str(p) for p in smk.output}
    extra = [p for p in _command_outputs(job["command"], values) if p not in declared]
    return record_job(smk, argv, extra_outputs=[*extra, *extra_outputs])


def run_report(smk: Any) -> None:
    """Rule report: write the spec and run `trm report --spec ... --record ...`, exactly as a
    user would; the command writes the page, the bundle and the report's own record in it."""
    out = smk.output
    write_json(out.spec, smk.params.spec)
    io = {
        "spec": out.spec,
        "out": out.html,
        "claims": out.claims,
        "bundle": out.bundle,
        "record": out.prov,
        "templates": smk.params.templates,
    }
    run_logged(trm_argv(smk.params.job["command"], io), str(smk.log[0]) if len(smk.log) else None)
