"""May this command write to that output path? One rule for every command that writes outputs.

The command layer (trm.command) applies it to every declared output by construction:

- an output equal to, inside, or containing one of the command's inputs is always refused:
  replacing it would delete what is being read (`refuse_if_overlapping`);
- an existing output is replaced only when it carries the marker this same command wrote
  (`is_marked`: `<folder>/.trm-output.json`, or `.<file>.trm-output.json` beside a file), or
  when the user passed --overwrite (`check_replaceable`);
- `output_lock`: a lock file beside the output keeps a second writer out; the lock of a writer
  that died (same host, process gone) is taken over.

Also here: SIGTERM handling for commands that have no checkpointing of their own, so that a
stopped build removes its temporaries (atomic writers clean up on any exception) and exits
with 143 and one line instead of leaving `.tmp-*` folders behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from trm.errors import OutputBusyError, OutputRefusedError, OutputWriteError
from trm.utils import process_alive


def _overlap(out: Path, inp: Path) -> str | None:
    if out == inp:
        return "is"
    if out in inp.parents:
        return "contains"
    if inp in out.parents:
        return "is inside"
    return None


# ---- markers: "this output was written by that command" ------------------------------------------

MARKER_NAME = ".trm-output.json"


def marker_path(out: str | os.PathLike, folder: bool | None = None) -> Path:
    """Where the marker of `out` lives: inside a folder, beside a file."""
    out = Path(out)
    if folder is None:
        folder = out.is_dir() and not out.is_symlink()
    return out / MARKER_NAME if folder else out.with_name(f".{out.name}{MARKER_NAME}")


def write_marker(out: str | os.PathLike, command: str, folder: bool) -> None:
    """Mark `out` as written by `command` (`trm score arc`)."""
    from trm import __version__

    path = marker_path(out, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"command": command, "trm_repro": __version__}) + "\n")
    os.replace(tmp, path)


def marked_by(out: str | os.PathLike) -> str | None:
    """The command named by `out`'s marker, None when it carries none."""
    try:
        with open(marker_path(out)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    command = data.get("command") if isinstance(data, dict) else None
    return command if isinstance(command, str) else None


def remove_if_only_marker(out: str | os.PathLike) -> None:
    """Remove a folder output that holds nothing but its marker (a run that failed at once)."""
    out = Path(out)
    marker = marker_path(out, folder=True)
    with contextlib.suppress(OSError):
        if out.is_dir() and not out.is_symlink() and list(out.iterdir()) == [marker]:
            marker.unlink()
            out.rmdir()


def is_marked(out: str | os.PathLike, command: str) -> bool:
    return marked_by(out) == command


def refuse_if_overlapping(
    out: str | os.PathLike,
    inp: str | os.PathLike,
    *,
    option: str = "--out",
    what: str | None = None,
) -> None:
    """Refuse an output that is, contains or lies inside `inp` (links resolved)."""
    how = _overlap(Path(out).resolve(), Path(inp).resolve())
    if how is not None:
        raise OutputRefusedError(
            f"{option} {out} {how} {what or f'the input {inp}'}: writing it would destroy "
            "what the command reads; choose another output path"
        )


def check_replaceable(
    out: str | os.PathLike, command: str, *, overwrite: bool, option: str = "--out"
) -> None:
    """Refuse to replace an existing, non-empty `out` that `command` did not mark as its own,
    unless `overwrite`."""
    out_path = Path(out)
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
    if overwrite:
        return
    owner = marked_by(out_path)
    if owner == command:
        return
    what = "a folder" if out_path.is_dir() else "a file"
    by = f"written by `{owner}`" if owner else "not written by trm"
    raise OutputRefusedError(
        f"{option} {out_path} is {what} {by}, not by `{command}`: refusing to replace it "
        "(choose another path, remove it, or pass --overwrite)"
    )


# ---- the lock beside an output -------------------------------------------------------------------


def _make_parent(out: str | os.PathLike) -> None:
    """Create the folder an output goes into, or one line naming the output and the cause."""
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        cause = e.strerror or os.strerror(e.errno or 0)
        name = errno.errorcode.get(e.errno or 0, str(e.errno))
        raise OutputWriteError(f"cannot write {out}: {cause} ({name})", e.errno) from e


def lock_path(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(f".{out.name}.lock")


def _lock_owner(path: Path) -> tuple[int, str, str] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    head, _, command = text.strip().partition(" ")
    pid, _, host = head.partition("@")
    try:
        return int(pid), host, command
    except ValueError:
        return None


@contextlib.contextmanager
def output_lock(out: str | os.PathLike, command: str) -> Iterator[Path]:
    """Hold `.<name>.lock` beside `out` while the block runs; a second writer fails at once.

    A lock left by a writer that died on this host is taken over. One on another host (a
    shared file system) is not: the message names the file to remove if that run is gone.
    """
    path = lock_path(out)
    _make_parent(out)
    me = f"{os.getpid()}@{socket.gethostname()} {command}\n"
    for _attempt in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(path)
            if (
                owner is not None
                and owner[1] == socket.gethostname()
                and not process_alive(owner[0])
            ):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # its writer died: take over
                continue
            if owner is None:  # being written this instant, or not ours: look again
                import time

                time.sleep(0.05)
                owner = _lock_owner(path)
                if owner is None:
                    raise OutputBusyError(
                        f"{out} is locked by {path}, which is not a trm lock: remove it if no "
                        "trm command is writing this output"
                    ) from None
                continue
            pid, host, other = owner
            raise OutputBusyError(
                f"{out} is being written by another process ({other or 'trm'}, pid {pid} on "
                f"{host}): wait for it to finish; if that run is gone, remove {path}"
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    else:
        raise OutputBusyError(f"{out}: could not take the lock {path}")
    try:
        yield path
    finally:
        if path.exists() and _lock_owner(path) is not None and path.read_text() == me:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


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
