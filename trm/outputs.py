"""May this command write to that output path? One rule for every command that writes outputs.

An existing output is replaced only when the command recognises it as its own earlier output
(`recognise(path) -> True`, e.g. a dataset folder whose manifest says `trm prepare sudoku`), or
when the user passed `--overwrite`. An output equal to, inside, or containing one of the
command's inputs is always refused: replacing it would delete what is being read.

Also here: SIGTERM handling for commands that have no checkpointing of their own, so that a
stopped build removes its temporaries (atomic writers clean up on any exception) and exits
with 143 and one line instead of leaving `.tmp-*` folders behind.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from trm.errors import OutputRefusedError, OutputWriteError


def _overlap(out: Path, inp: Path) -> str | None:
    if out == inp:
        return "is"
    if out in inp.parents:
        return "contains"
    if inp in out.parents:
        return "is inside"
    return None


def check_output_path(
    out: str | os.PathLike,
    *,
    kind: str,
    recognise: Callable[[Path], bool],
    inputs: Iterable[str | os.PathLike] = (),
    overwrite: bool = False,
    option: str = "--out",
) -> None:
    """Raise a one-line UserError unless `out` may be (re)written by this command.

    kind: what the command writes, for the message (e.g. "Sudoku dataset").
    recognise: True when an existing `out` is this command's own earlier output.
    inputs: paths the command reads; `out` may not be, contain or lie inside any of them.
    """
    out_path = Path(out)
    resolved = out_path.resolve()
    for inp in inputs:
        how = _overlap(resolved, Path(inp).resolve())
        if how is not None:
            raise OutputRefusedError(
                f"{option} {out_path} {how} the input {inp}: writing it would destroy the input; "
                "choose another output path"
            )
    for ancestor in out_path.absolute().parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputWriteError(
                    f"cannot write {out_path}: {ancestor} is a file, not a folder"
                )
            break
    if not (out_path.exists() or out_path.is_symlink()):
        return
    if out_path.is_dir() and not out_path.is_symlink() and not any(out_path.iterdir()):
        return  # an empty folder holds nothing to lose
    if overwrite or recognise(out_path):  # recognise() sees files too (predictions, CSV, HTML)
        return
    what = "a folder" if out_path.is_dir() else "a file"
    raise OutputRefusedError(
        f"{option} {out_path} is {what} that is not a {kind} written by trm: refusing to replace "
        "it (choose another path, remove it, or pass --overwrite)"
    )


def manifest_command_is(prefix: str) -> Callable[[Path], bool]:
    """recognise(): the folder's manifest.json records a command starting with `prefix`."""

    def recognise(folder: Path) -> bool:
        try:
            with open(folder / "manifest.json") as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            return False
        command = manifest.get("command") if isinstance(manifest, dict) else None
        return isinstance(command, str) and (command == prefix or command.startswith(prefix + " "))

    return recognise


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C so that every atomic writer removes its temporary."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


def install_termination_handler() -> Any:
    """Turn SIGTERM in this process into `Terminated` (raised in the main thread).

    Child processes that inherit the handler (fork) die the default way instead, so a worker
    pool being shut down does not print tracebacks. Returns the handler it replaced.
    """
    owner = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated(signum)

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an in-process caller): leave signals alone
        return None


def restore_termination_handler(previous: Any) -> None:
    """Put back what `install_termination_handler` replaced (None: nothing was installed)."""
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
