"""Running one workflow job's command: its log, its failure as one line, its provenance record.

The command's output goes to the job's log, after the command line as a shell would take it
(`$ <shlex-quoted line>`). When the command fails, `JobFailedError` carries one line: the
command's own `trm <command>: error: ...` line when it printed one (a user error), else what
ended it (a bug's last traceback line, a signal), and the log's path. The adapter
(trm.workflow.adapter) shows that line to the workflow user, without a traceback.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trm.errors import UserError
from trm.provenance import make_record, now_iso, write_record

# The one line `trm` prints for a user error (trm.cli; argparse's usage errors look alike).
_ERROR_LINE = re.compile(r"\btrm(?: [a-z0-9][a-z0-9-]*)*: error: .*")
_TRACEBACK = "Traceback (most recent call last):"
_STAMP = re.compile(r"\[\d{4}-\d\d-\d\dT")  # the lines run_logged adds around the command's


class JobFailedError(UserError, RuntimeError):
    """A workflow job's command failed; the message is one line naming the log."""

    def __init__(self, error: str, *, log: str | None, user_error: bool, returncode: int) -> None:
        super().__init__(error + (f" (log: {log})" if log else ""))
        self.error = error  # the line without the log's path
        self.log = log
        self.user_error = user_error
        self.returncode = returncode


def _status(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
            return f"killed by {name}" + (", out of memory?" if name == "SIGKILL" else "")
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def failure(command: list[str], returncode: int, output: str, log: str | None) -> JobFailedError:
    """The one-line error of a command that ended with `returncode` after printing `output`."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [m[0] for ln in lines if (m := _ERROR_LINE.search(ln))]
    if errors:  # also under torchrun, whose own traceback follows a rank's error line
        return JobFailedError(errors[-1], log=log, user_error=True, returncode=returncode)
    words = command[command.index("trm.cli") + 1 :] if "trm.cli" in command else []
    name = " ".join(itertools.takewhile(lambda w: not w.startswith("-"), words[:2]))
    more = " ..." if len(command) > 3 else ""
    what = f"`trm {name}`" if name else f"`{shlex.join(command[:3])}{more}`"
    last = next((ln for ln in reversed(lines) if not _STAMP.match(ln)), "no output")
    if _TRACEBACK in output:
        message = f"{what} failed with an unexpected error, a bug ({_status(returncode)}): {last}"
        message += "; its traceback is in the log" if log else ""
    else:
        message = f"{what} failed ({_status(returncode)}): {last}"
    return JobFailedError(message, log=log, user_error=False, returncode=returncode)


def run_logged(command: list[str], log: str | os.PathLike | None) -> None:
    """Run a command with stdout and stderr appended to the job's log; a failure raises
    JobFailedError with one line (the command's own error line when it printed one)."""
    if log is None:
        proc = subprocess.run(command, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise failure(command, proc.returncode, proc.stderr, None)
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        start = f.tell()
        f.write(f"[{now_iso()}] $ {shlex.join(command)}\n")
        f.flush()
        proc = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT)
        f.write(f"[{now_iso()}] {_status(proc.returncode)}\n")
    if proc.returncode != 0:
        with open(log, errors="replace") as f:  # this run's part of the log only
            f.seek(start)
            output = f.read()
        raise failure(command, proc.returncode, output, str(log))


def run_snakemake_job(
    smk: Any,
    command: list[str] | None,
    record_key: str = "prov",
    extra_outputs: Iterable[str | os.PathLike] = (),
) -> dict[str, Any]:
    """Run `command` for a Snakemake `script:` job, then write its provenance record.

    `smk` is the `snakemake` object a script receives; the record goes to its output named
    `record_key` and covers every other input and output of the job, plus `extra_outputs`
    (files a command writes beside its declared outputs, e.g. a folder holding them).
    """
    start = now_iso()
    log = str(smk.log[0]) if len(smk.log) else None
    if command:
        run_logged(command, log)
    end = now_iso()
    record_path = getattr(smk.output, record_key)
    outputs = [str(p) for p in smk.output if str(p) != str(record_path)]
    outputs += [str(p) for p in extra_outputs]
    params = {k: v for k, v in smk.params.items()}
    resources = {
        k: v
        for k, v in smk.resources.items()
        if not k.startswith("_") and isinstance(v, int | float | str)
    }
    record = make_record(
        rule=smk.rule,
        wildcards={k: v for k, v in smk.wildcards.items()},
        params=params,
        inputs=[str(p) for p in smk.input],
        outputs=outputs,
        start=start,
        end=end,
        command=command,
        log=log,
        resources=resources,
    )
    write_record(record_path, record)
    return record
