"""Small shared helpers: hashing, atomic outputs, JSON I/O, device choice."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trm.errors import (
    ENVIRONMENT_ERRNOS,
    InputError,
    InputNotFoundError,
    OutputIncompleteError,
    OutputWriteError,
    UserError,
)

_CHUNK = 1 << 20


def _default_mode(is_dir: bool) -> int:
    """The mode a plain mkdir/open would give (mkdtemp/mkstemp make private 0700/0600 files)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if is_dir else 0o666) & ~umask


# Errors of the machine while writing an output: reported naming the OUTPUT, not the temporary.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def _output_error(final: Path, e: OSError) -> OutputWriteError:
    cause = e.strerror or os.strerror(e.errno or 0)
    name = errno.errorcode.get(e.errno or 0, str(e.errno))
    where = f" ({e.filename})" if e.filename and Path(e.filename).name != final.name else ""
    return OutputWriteError(f"cannot write {final}: {cause} ({name}){where}", e.errno)


def _is_environment_error(e: BaseException, during_body: bool) -> bool:
    if not isinstance(e, OSError) or isinstance(e, UserError):
        return False
    # Inside the caller's block an EACCES may be about reading an input: leave it as it is.
    return e.errno in (_WRITE_ERRNOS if during_body else ENVIRONMENT_ERRNOS | {errno.EEXIST})


def _prepare_parent(final: Path) -> None:
    """Create the output's parent folders, with one clear error when that is impossible."""
    for ancestor in [final.parent, *final.parent.parents]:
        if ancestor.exists() or ancestor.is_symlink():
            if not ancestor.is_dir():
                raise OutputWriteError(
                    f"cannot write {final}: {ancestor} is a file, not a folder", errno.ENOTDIR
                )
            break
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _output_error(final, e) from e


def _temporary_prefix(final: Path) -> str:
    # The name, PID and host make a killed run's leftovers recognisable (see remove_stale_temporaries).
    return f".{final.name}.tmp-{os.getpid()}@{socket.gethostname()}-"


def remove_stale_temporaries(final: str | os.PathLike) -> list[Path]:
    """Remove the temporaries a killed earlier writer of `final` left beside it; return them.

    Only entries named by this module for this output, on this host, whose process no longer
    exists are removed: a concurrent writer's temporary, or anything else, is left alone.
    """
    final = Path(final)
    if not final.parent.is_dir():
        return []
    pattern = re.compile(
        rf"^\.{re.escape(final.name)}\.(?:tmp|old)-(\d+)@(.+?)-[A-Za-z0-9_]+(?:\..*)?$"
    )
    host = socket.gethostname()
    removed = []
    for entry in final.parent.iterdir():
        m = pattern.match(entry.name)
        if not m or m.group(2) != host or process_alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process of this host has this pid (someone else's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, streamed in 1 MiB chunks (datasets reach several GB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; rename it to `final` only if the block succeeds.

    A failure (bad input, Ctrl-C, SIGTERM through trm.cli) removes the temporary folder, so no
    partial output is left; temporaries of an earlier killed run of the same output are removed
    first. Whether an existing `final` may be replaced is the caller's decision
    (the output guard of trm.command); `overwrite=False` refuses any existing `final`.
    """
    final = Path(final)
    _prepare_parent(final)
    remove_stale_temporaries(final)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(final), dir=final.parent))
        os.chmod(tmp, _default_mode(is_dir=True))
    except OSError as e:
        raise _output_error(final, e) from e
    try:
        yield tmp
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OutputIncompleteError):
            raise OutputWriteError(f"cannot write {final}: {e}") from e
        if _is_environment_error(e, during_body=True):
            raise _output_error(final, e) from e  # type: ignore[arg-type]
        raise
    try:
        if final.exists() or final.is_symlink():
            if not overwrite:
                raise FileExistsError(f"{final} already exists")
            if final.is_dir() and not final.is_symlink():
                old = final.with_name(f".{final.name}.old-{os.getpid()}@{socket.gethostname()}-x")
                final.rename(old)
                tmp.rename(final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                final.unlink()  # a file (or a link) where the folder goes
                tmp.rename(final)
        else:
            tmp.rename(final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if _is_environment_error(e, during_body=False):
            raise _output_error(final, e) from e  # type: ignore[arg-type]
        raise


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike, mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside `final` and rename it into place when the block succeeds."""
    with atomic_path(final) as tmp, open(tmp, mode) as f:
        yield f


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path (with the same suffix) to write with any library, then rename it.

    The file gets the mode a plain open() would give (umask honoured), not mkstemp's 0600, so
    colleagues on a shared cluster can read checkpoints and predictions like any other output.
    """
    p = Path(final)
    _prepare_parent(p)
    remove_stale_temporaries(p)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=_temporary_prefix(p), suffix="".join(p.suffixes), dir=p.parent
        )
        os.close(fd)
        os.chmod(tmp, _default_mode(is_dir=False))
    except OSError as e:
        raise _output_error(p, e) from e
    try:
        yield Path(tmp)
        os.replace(tmp, p)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if _is_environment_error(e, during_body=True) or (
            isinstance(e, OSError) and e.errno in (errno.EISDIR, errno.ENOTEMPTY)
        ):
            raise _output_error(p, e) from e  # type: ignore[arg-type]
        raise


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write JSON atomically."""
    with atomic_file(path) as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique (json keeps the last of a repeated key silently)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _RepeatedKey(k)
            seen.add(k)
    return out


def read_json(
    path: str | os.PathLike, what: str = "JSON file", max_bytes: int | None = None
) -> Any:
    """Read JSON, turning a parse error into one that names the file, line and column. A key
    repeated in one object (a task id, a name) is refused: JSON parsers keep one of them.
    `max_bytes`: refuse a larger file before reading it (one line naming the limit)."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{what} not found: {path}")
    if max_bytes is not None and path.is_file() and (n := path.stat().st_size) > max_bytes:
        raise InputError(f"{path}: {n:,} bytes exceeds the limit of {max_bytes:,} for a {what}")
    try:
        with open(path) as f:
            return json.load(f, object_pairs_hook=_unique_keys)
    except _RepeatedKey as e:
        raise InputError(
            f"{path}: key {e.args[0]!r} appears twice in one object: every key (task id, name) "
            "must be unique"
        ) from e
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not a text JSON file ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path}: malformed JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from e
    except RecursionError as e:
        raise InputError(f"{path}: malformed JSON (nested too deeply)") from e


def read_format_doc(
    path: str | os.PathLike, what: str, fmt: str, key: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A JSON object {"format": fmt, ..., key: [objects]}, checked that far: (the object, its
    list), or an InputError naming the file (and the entry)."""
    doc = read_json(path, what)
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise InputError(f"{path}: not a {what} (format {fmt!r} expected)")
    items = doc.get(key)
    if not isinstance(items, list):
        raise InputError(f"{path}: '{key}' must be a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"{path}: {key}[{i}] must be an object")
    return doc, items


def _unique_key_loader() -> type:
    """A YAML SafeLoader that refuses a key given twice in one mapping (PyYAML, and so
    Snakemake's config reader, keeps the last one silently: a grid variant or an experiment
    written twice would vanish)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<:` merges: later keys override them by design
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: PyYAML refuses it itself
                    continue
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} appears twice in one mapping (the second would silently "
                        "replace the first)",
                        key_node.start_mark,
                    )
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def yaml_syntax_error(path: str | os.PathLike) -> str | None:
    """ "PATH: malformed YAML at line L, column C: problem" for a file that does not parse (or
    gives one key twice in a mapping), else None (a config's file and line, which Snakemake's
    own message names neither of)."""
    import yaml

    try:
        with open(path) as f:
            yaml.load(f, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        return f"{path}: malformed YAML at {where}: {e.problem or e.context}"
    return None


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
