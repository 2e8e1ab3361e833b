"""Checkpoints: download from the Hugging Face Hub (or copy a local path) and checksum.

`fetch_checkpoint` snapshots a Hub repository (or copies a local folder, for users without
network access) into DIR and writes DIR/checksums.json with the sha256 of every file. Finding
the weights inside a checkpoint and building its model live in trm.model.checkpoint and
trm.model.build; the `trm fetch-checkpoint` command in trm.cli.fetch_checkpoint.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from trm.errors import InputError, InputNotFoundError
from trm.utils import atomic_dir, read_json, sha256_file, write_json

DEFAULT_REPO_ID = "arcprize/trm_arc_prize_verification"
DEFAULT_TIMEOUT_S = 60.0  # seconds per network read
CHECKSUMS_FILE = "checksums.json"
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def local_path_hint(repo: str, pattern: str) -> str:
    """What to do without the Hub, in the caller's words (trm.caller): a command line at the
    shell, the config's checkpoint.path in the workflow."""
    from trm.caller import how_to_set, in_workflow, key_of

    fetch = (
        "Download the checkpoint on a machine with network access (e.g. `hf download "
        f"{repo} --include '{pattern}' --local-dir ckpt`), copy the folder here and "
    )
    if in_workflow("--path"):
        return (
            fetch + f"set `{how_to_set('--path', '/path/to/ckpt')}` in the config instead of "
            f"`{key_of('--repo-id')}`."
        )
    return (
        fetch + "pass its local path instead: `trm fetch-checkpoint --repo-id /path/to/ckpt "
        "--out DIR` (or give the path directly to `trm predict --checkpoint`)."
    )


# --------------------------------------------------------------------------------------------
# Download / copy
# --------------------------------------------------------------------------------------------


def _select(rel_paths: Iterable[str], include: Sequence[str] | None) -> list[str]:
    """Relative paths matching any include pattern (all when none), sorted."""
    rels = sorted(rel_paths)
    if not include:
        return rels
    return [r for r in rels if any(fnmatch.fnmatch(r, pat) for pat in include)]


def _list_files(root: Path) -> list[str]:
    """Relative POSIX paths of the regular files under root, skipping hidden bookkeeping folders."""
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):  # .cache/huggingface, .git
            continue
        if p.is_file():
            out.append(rel.as_posix())
    return out


# --------------------------------------------------------------------------------------------
# Containment: nothing outside the source reaches the output
# --------------------------------------------------------------------------------------------

MAX_LINK_HOPS = 40  # as the operating system's own limit on a chain of symbolic links
_HUB_REPO_PREFIXES = ("models--", "datasets--", "spaces--")


def _hub_blobs(root: Path) -> Path | None:
    """`<repo>/blobs` when `root` lies in a snapshot of the Hugging Face cache
    (`<repo>/snapshots/<commit>/...`), whose files are links into that folder."""
    for folder in (root, *root.parents):
        repo = folder.parent.parent
        if folder.parent.name == "snapshots" and repo.name.startswith(_HUB_REPO_PREFIXES):
            return repo / "blobs"
    return None


def _within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _escape(link: Path, roots: Sequence[Path]) -> str | None:
    """Where the chain of links starting at `link` first leaves `roots`, else None. Every hop
    is checked, not only the last one: a chain through a folder outside is refused even when
    it ends inside."""
    current = link
    for _ in range(MAX_LINK_HOPS):
        step = current.parent / os.readlink(current)
        # the folders leading to the target resolved; its own name is the next hop
        if step.name in ("", ".", ".."):
            step = Path(os.path.realpath(step))
        else:
            step = Path(os.path.realpath(step.parent)) / step.name
        if not _within(step, roots):
            return str(step)
        if not step.is_symlink():
            return None
        current = step
    return f"a chain of more than {MAX_LINK_HOPS} links (a loop)"


def check_contained(root: Path, paths: Iterable[Path] | None = None) -> None:
    """Refuse symbolic links that lead outside the source `root`: every link under `root`
    (hidden folders included), or only `paths` when given (the files taken from the folder of
    a single weights file). A snapshot of the Hugging Face cache may link into its own
    `blobs/` folder, as huggingface_hub makes it. One line names the first such link."""
    real = Path(os.path.realpath(root))
    roots = [real, *([b] if (b := _hub_blobs(real)) is not None else [])]
    if paths is None:
        paths = (
            Path(d) / n
            for d, dirs, files in os.walk(root, followlinks=False)
            for n in sorted(dirs) + sorted(files)
        )
    for p in paths:
        if p.is_symlink() and (where := _escape(p, roots)) is not None:
            raise InputError(
                f"{p}: a link to {where}, outside the checkpoint source {root}: refused (the "
                "output would hold a file from elsewhere); nothing was written"
            )


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link when possible (checkpoints reach GB; the Hub cache holds real blob files)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    real = src.resolve()
    try:
        os.link(real, dst)
    except OSError:
        shutil.copy2(real, dst)


def _bounded_client_factory(
    timeout_s: float, base: Callable[[], Any] | None = None
) -> Callable[[], Any]:
    """An httpx client factory like `base` (huggingface_hub's current one: default, or a user's
    proxy setup) whose every request has finite timeouts.

    The library's client has `timeout=None` and some calls (repo_info) pass `timeout=None` per
    request, so a server that accepts the connection but never answers hangs forever. A request
    hook fills every unset timeout of every request before it is sent.
    """
    import httpx2
    from huggingface_hub.utils import _http as hf_http

    base = base or hf_http.default_client_factory
    bound = httpx2.Timeout(timeout_s, connect=min(timeout_s, 10.0)).as_dict()

    def bound_timeouts(request: Any) -> None:
        current = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            k: (current.get(k) if current.get(k) is not None else v) for k, v in bound.items()
        }

    def factory() -> Any:
        client = base()
        client.timeout = httpx2.Timeout(**bound)
        client.event_hooks["request"].append(bound_timeouts)
        return client

    return factory


def _run_with_deadline(fn: Callable[[], Any], deadline_s: float | None, what: str) -> Any:
    """Run fn in a daemon thread; give up after deadline_s seconds (a last-resort bound)."""
    if deadline_s is None:
        return fn()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=target, daemon=True, name="trm-hub-download")
    t.start()
    t.join(deadline_s)
    if t.is_alive():
        raise TimeoutError(f"{what} did not finish within {deadline_s:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def download_snapshot(
    repo_id: str,
    revision: str | None = None,
    include: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    deadline_s: float | None = None,
    endpoint: str | None = None,
    progress: bool = True,
) -> Path:
    """snapshot_download into the Hub cache with bounded network calls; returns the snapshot folder.

    Honours HF_HUB_OFFLINE / HF_HUB_CACHE (read by huggingface_hub at import). Raises
    FileNotFoundError with instructions for passing a local path when nothing can be reached.
    """
    import huggingface_hub
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import _http as hf_http
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars

    bars_were_off = are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    # wrap (then restore) whatever factory is installed, so a user's proxy settings still apply
    previous = getattr(hf_http, "_GLOBAL_CLIENT_FACTORY", hf_http.default_client_factory)
    huggingface_hub.set_client_factory(_bounded_client_factory(timeout_s, previous))
    hint = local_path_hint(repo_id, (include or ["*"])[0])

    def call() -> str:
        return huggingface_hub.snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=str(cache_dir) if cache_dir else None,
            allow_patterns=list(include) if include else None,
            etag_timeout=timeout_s,
            endpoint=endpoint,
        )

    try:
        folder = _run_with_deadline(call, deadline_s, f"download of {repo_id}")
    except (RepositoryNotFoundError, GatedRepoError) as e:
        raise InputNotFoundError(
            f"Hub repository {repo_id!r} not found or not accessible ({type(e).__name__}). {hint}"
        ) from e
    except RevisionNotFoundError as e:
        raise InputNotFoundError(f"revision {revision!r} not found in {repo_id!r}") from e
    except LocalEntryNotFoundError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputNotFoundError(
            f"cannot download {repo_id!r} (no network or Hub unreachable, and not in the cache "
            f"{cache_dir or huggingface_hub.constants.HF_HUB_CACHE}): {first}. {hint}"
        ) from e
    except TimeoutError as e:
        raise InputNotFoundError(f"{e}. {hint}") from e
    except Exception as e:
        # httpx timeouts and connection errors that the library does not turn into its own
        if type(e).__module__.startswith("httpx"):
            raise InputNotFoundError(
                f"cannot reach the Hub for {repo_id!r} ({type(e).__name__}: {e}). {hint}"
            ) from e
        raise
    finally:
        huggingface_hub.set_client_factory(previous)
        if not bars_were_off:
            huggingface_hub.utils.enable_progress_bars()
    return Path(folder)


def parse_expected_sha256(items: Sequence[str] | None) -> dict[str, str]:
    """`--expect-sha256` values: `REL=HEX`, a bare HEX (the checkpoint's weights file), or a
    checksums.json from an earlier fetch. Returns {relative path or '': hex}."""
    expected: dict[str, str] = {}
    for item in items or ():
        if "=" in item:
            rel, hexd = item.split("=", 1)
            expected[rel.strip()] = hexd.strip().lower()
        elif re.fullmatch(r"[0-9a-fA-F]{64}", item.strip()):
            expected[""] = item.strip().lower()
        elif Path(item).is_file():
            data = read_json(item, "checksums file")
            expected.update({k: v.lower() for k, v in data.get("files", data).items()})
        else:
            raise InputError(
                f"--expect-sha256 {item!r}: expected REL_PATH=HEX, a 64-digit hex digest, or a checksums.json file"
            )
    return expected


def _check_expected(checksums: dict[str, str], expected: dict[str, str], root: Path) -> None:
    problems = []
    for rel, want in expected.items():
        if rel == "":  # a bare digest: the weights file that find_weights picks
            from trm.model.checkpoint import find_weights

            try:
                weights = find_weights(root)
            except (FileNotFoundError, ValueError) as e:
                raise InputError(
                    f"--expect-sha256 {want}: cannot pick the weights file ({e})"
                ) from e
            rel = weights.relative_to(root).as_posix()
        got = checksums.get(rel)
        if got is None:
            problems.append(f"{rel}: expected sha256 {want} but the file was not fetched")
        elif got != want:
            problems.append(f"{rel}: sha256 mismatch: expected {want}, got {got}")
    if problems:
        raise InputError("checksum verification failed:\n  " + "\n  ".join(problems))


def fetch_checkpoint(
    source: str,
    out: str | os.PathLike,
    revision: str | None = None,
    include: Sequence[str] | None = None,
    expect_sha256: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    deadline_s: float | None = None,
    endpoint: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fetch a checkpoint into `out` (atomically) and write out/checksums.json; returns its content.

    `source` is a local file/folder (copied; the offline path) or a Hub repo id (downloaded).
    """
    out = Path(out)
    src_path = Path(source).expanduser()
    commit = None
    if src_path.exists():
        kind = "local"
        if src_path.is_file():
            root, rels = src_path.parent, [src_path.name]
            from trm.model.checkpoint import ARCH_CONFIG_FILE

            # keep the run's config beside a single weights file (the file named is the user's)
            check_contained(root, [root / ARCH_CONFIG_FILE])
            rels += [ARCH_CONFIG_FILE] if (root / ARCH_CONFIG_FILE).is_file() else []
        else:
            check_contained(src_path)
            root, rels = src_path, _list_files(src_path)
    elif _REPO_ID_RE.match(source) and not source.startswith((".", "/", "~")):
        kind = "hub"
        root = download_snapshot(
            source, revision, include, cache_dir, timeout_s, deadline_s, endpoint, progress
        )
        check_contained(root)
        rels = _list_files(root)
        commit = root.name  # snapshots/<commit hash>
    else:
        raise InputNotFoundError(
            f"checkpoint source {source!r} is neither an existing local path nor a Hub repo id (org/name)"
        )
    # an earlier fetch's checksums.json is replaced by this one's, never listed in it
    selected = [r for r in _select(rels, include) if r != CHECKSUMS_FILE]
    if not selected:
        raise InputNotFoundError(
            f"no file in {source!r} matches --include {list(include or [])} (files: {sorted(rels)[:10]})"
        )
    expected = parse_expected_sha256(expect_sha256)
    if kind == "local":
        # an earlier fetch's checksums.json covering the source is checked as at load, so a
        # changed or added file cannot come out of a re-fetch with a fresh record
        from trm.model.checkpoint import verify_checksum

        for rel in selected:
            verify_checksum(root / rel)
    with atomic_dir(out) as tmp:
        checksums: dict[str, str] = {}
        sizes: dict[str, int] = {}
        from trm.progress import progress as tqdm

        bar = tqdm(selected, desc="sha256", unit="file", disable=not progress or len(selected) < 2)
        for rel in bar:
            dst = tmp / rel
            _link_or_copy(root / rel, dst)
            checksums[rel] = sha256_file(dst)
            sizes[rel] = dst.stat().st_size
        _check_expected(checksums, expected, tmp)
        record = {
            "source": source,
            "kind": kind,
            "revision": revision,
            "commit": commit,
            "include": list(include) if include else None,
            "files": checksums,
            "sizes": sizes,
        }
        write_json(tmp / CHECKSUMS_FILE, record)
    return record
