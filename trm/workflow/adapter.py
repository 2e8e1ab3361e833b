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

from trm import caller
from trm.provenance import now_iso
from trm.settings import specs
from trm.utils import write_json
from trm.workflow.run_job import JobFailedError, run_logged
from trm.workflow.run_job import run_snakemake_job as record_job


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


def config_keys(smk: Any) -> tuple[dict[str, str], list[str]]:
    """This job's {flag: config key} table and the config sections it reads (trm.workflow.keys;
    nothing for a job outside the workflow's declarations)."""
    import copy

    from trm.workflow.experiments import Workflow
    from trm.workflow.keys import job_keys, job_sections

    try:
        w = Workflow(copy.deepcopy(dict(smk.config)))
        wildcards = {k: v for k, v in smk.wildcards.items()}
        return job_keys(w, smk.rule, wildcards), job_sections(w, smk.rule, wildcards)
    except (AttributeError, KeyError, StopIteration):
        return {}, []


def job_error(
    smk: Any, error: JobFailedError, keys: Mapping[str, str], sections: Sequence[str]
) -> str:
    """The one line a failed job shows: the job, the command's error in the config's words
    (naming the sections the job reads when the error names no key of them), the log."""
    line = caller.in_callers_words(error.error, keys)
    if sections and not any(s in line for s in sections):
        line += f" (this job's settings: {', '.join(sections)})"
    wildcards = ", ".join(f"{k}={v}" for k, v in smk.wildcards.items())
    log = f" (log: {error.log})" if error.log else ""
    return f"{smk.rule}{f' ({wildcards})' if wildcards else ''}: {line}{log}"


def run_command(smk: Any, run: Any, *args: Any, **kwargs: Any) -> Any:
    """Call `run` (which runs the job's command) in the caller's words: the command gets the
    job's {flag: config key} table (trm.caller), so its error and advice name config keys; a
    failure ends the job with one line on stderr, exit status 1 and no traceback."""
    keys, sections = config_keys(smk)
    os.environ.update(caller.environment(keys))
    try:
        return run(*args, **kwargs)
    except JobFailedError as e:
        line = job_error(smk, e, keys, sections)
        if len(smk.log):
            with open(smk.log[0], "a") as f:
                f.write(f"[{now_iso()}] job failed: {line}\n")
        print(line, file=sys.stderr, flush=True)
        raise SystemExit(1) from None


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
    return run_command(smk, record_job, smk, argv, extra_outputs=[*extra, *extra_outputs])


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
    log = str(smk.log[0]) if len(smk.log) else None
    run_command(smk, run_logged, trm_argv(smk.params.job["command"], io), log)
