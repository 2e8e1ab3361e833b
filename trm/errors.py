"""Errors that mean "the input or the environment is wrong", as opposed to a bug.

The `trm` command turns exactly these (and their subclasses) into a one-line message and exit
status 2; any other exception is a bug and keeps its traceback. Environment failures raised by
the operating system itself (disk full, permission denied, read-only file system, a path
component that is a file) also get one line and exit 2: see `environment_error_message`.

The input errors also derive from the built-in class their callers used to catch (ValueError,
FileNotFoundError), so `except ValueError` around library calls keeps working.
"""

from __future__ import annotations

import errno
import os

# Exit status of `trm` for a UserError or an environment error (argparse uses 2 for bad usage).
USER_ERROR_EXIT = 2


class UserError(Exception):
    """An error caused by the user's input or environment: printed without a traceback, exit 2."""


class InputError(UserError, ValueError):
    """A value in a file or an option the user gave is wrong (names the file/option and field)."""


class InputNotFoundError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class OutputRefusedError(UserError):
    """The output path holds something this command did not write, or overlaps an input."""


class OutputBusyError(UserError):
    """Another process is writing the same output (its lock is held)."""


class OutputWriteError(UserError, OSError):
    """Writing an output failed for a reason of the environment (no space, permission, ...)."""

    def __init__(self, message: str, errno_value: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_value


class OutputIncompleteError(UserError):
    """Writing stopped partway for a reason outside the program (e.g. a worker process was
    killed); `trm.utils.atomic_dir` re-raises it as an OutputWriteError naming the output."""


# errno values that describe the machine, not the program: one line instead of a traceback.
ENVIRONMENT_ERRNOS: frozenset[int] = frozenset(
    {
        errno.ENOSPC,  # no space left on device
        errno.EDQUOT,  # disk quota exceeded
        errno.EFBIG,  # file too large for the file system
        errno.EACCES,  # permission denied
        errno.EPERM,  # operation not permitted
        errno.EROFS,  # read-only file system
        errno.ENOTDIR,  # a component of the path is a file
    }
)


def environment_error_message(e: BaseException) -> str | None:
    """ "PATH: cause" for an OSError caused by the environment, None for anything else."""
    if isinstance(e, UserError) or not isinstance(e, OSError):
        return None
    if e.errno not in ENVIRONMENT_ERRNOS:
        return None
    cause = e.strerror or os.strerror(e.errno)
    name = errno.errorcode.get(e.errno, str(e.errno))
    where = e.filename if e.filename is not None else "(no path given by the system)"
    return f"{os.fspath(where)}: {cause} ({name})"
