"""Checkpoints: download from the Hugging Face Hub (or copy a local path), checksum, resolve, build.

`trm fetch-checkpoint` snapshots a Hub repository (or copies a local folder, for users without
network access) into DIR and writes DIR/checksums.json with the sha256 of every file.
`resolve_checkpoint` finds the state-dict file and the run's saved architecture config inside a
checkpoint path; `build_model_for_dataset` builds the model with the shape it was trained with
and the dataset's sequence length, vocabulary and puzzle identifiers, then loads the weights.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from trm.utils import atomic_dir, read_json, sha256_file, write_json

DEFAULT_REPO_ID = "arcprize/trm_arc_prize_verification"
CHECKSUMS_FILE = "checksums.json"
CONFIG_NAMES = ("all_config.yaml",)
_STEP_RE = re.compile(r"^step_(\d+)(\.pt|\.pth)?$")
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
LOCAL_PATH_HINT = (
    "Download the checkpoint on a machine with network access (e.g. `hf download "
    "{repo} --include '{pattern}' --local-dir ckpt`), copy the folder here and pass its local "
    "path instead: `trm fetch-checkpoint --repo-id /path/to/ckpt --out DIR` (or give the path "
    "directly to `trm predict --checkpoint`)."
)

# Reference model settings that depend on the run, not on the dataset ("paper-arc": the reference
# config/arch/trm.yaml with the README's ARC-AGI command-line overrides; "tiny": the golden-fixture
# shape, for CPU tests and benchmarks).
ARCH_PRESETS: dict[str, dict[str, Any]] = {
    "paper-arc": {
        "H_cycles": 3,
        "L_cycles": 4,  # the README's ARC-AGI runs override trm.yaml's 6
        "H_layers": 0,
        "L_layers": 2,
        "hidden_size": 512,
        "num_heads": 8,
        "expansion": 4,
        "puzzle_emb_ndim": 512,
        "puzzle_emb_len": 16,
        "pos_encodings": "rope",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "halt_max_steps": 16,
        "halt_exploration_prob": 0.1,
        "forward_dtype": "bfloat16",
        "mlp_t": False,
        "no_ACT_continue": True,
    },
    "tiny": {
        "H_cycles": 2,
        "L_cycles": 3,
        "H_layers": 0,
        "L_layers": 2,
        "hidden_size": 64,
        "num_heads": 4,
        "expansion": 4,
        "puzzle_emb_ndim": 64,
        "puzzle_emb_len": 4,
        "pos_encodings": "rope",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "halt_max_steps": 4,
        "halt_exploration_prob": 0.0,
        "forward_dtype": "float32",
        "mlp_t": False,
        "no_ACT_continue": True,
    },
}

# Keys of all_config.yaml's `arch:` section that are not model-shape settings.
_NON_MODEL_ARCH_KEYS = {"name", "loss"}


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
    timeout_s: float = 60.0,
    deadline_s: float | None = None,
    endpoint: str | None = None,
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

    # wrap (then restore) whatever factory is installed, so a user's proxy settings still apply
    previous = getattr(hf_http, "_GLOBAL_CLIENT_FACTORY", hf_http.default_client_factory)
    huggingface_hub.set_client_factory(_bounded_client_factory(timeout_s, previous))
    hint = LOCAL_PATH_HINT.format(repo=repo_id, pattern=(include or ["*"])[0])

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
        raise FileNotFoundError(
            f"Hub repository {repo_id!r} not found or not accessible ({type(e).__name__}). {hint}"
        ) from e
    except RevisionNotFoundError as e:
        raise FileNotFoundError(f"revision {revision!r} not found in {repo_id!r}") from e
    except LocalEntryNotFoundError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FileNotFoundError(
            f"cannot download {repo_id!r} (no network or Hub unreachable, and not in the cache "
            f"{cache_dir or huggingface_hub.constants.HF_HUB_CACHE}): {first}. {hint}"
        ) from e
    except TimeoutError as e:
        raise FileNotFoundError(f"{e}. {hint}") from e
    except Exception as e:
        # httpx timeouts and connection errors that the library does not turn into its own
        if type(e).__module__.startswith("httpx"):
            raise FileNotFoundError(
                f"cannot reach the Hub for {repo_id!r} ({type(e).__name__}: {e}). {hint}"
            ) from e
        raise
    finally:
        huggingface_hub.set_client_factory(previous)
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
            raise ValueError(
                f"--expect-sha256 {item!r}: expected REL_PATH=HEX, a 64-digit hex digest, or a checksums.json file"
            )
    return expected


def _check_expected(checksums: dict[str, str], expected: dict[str, str], root: Path) -> None:
    problems = []
    for rel, want in expected.items():
        if rel == "":  # a bare digest: the weights file that resolve_checkpoint picks
            try:
                weights, _ = resolve_checkpoint(root)
            except (FileNotFoundError, ValueError) as e:
                raise ValueError(
                    f"--expect-sha256 {want}: cannot pick the weights file ({e})"
                ) from e
            rel = weights.relative_to(root).as_posix()
        got = checksums.get(rel)
        if got is None:
            problems.append(f"{rel}: expected sha256 {want} but the file was not fetched")
        elif got != want:
            problems.append(f"{rel}: sha256 mismatch: expected {want}, got {got}")
    if problems:
        raise ValueError("checksum verification failed:\n  " + "\n  ".join(problems))


def fetch_checkpoint(
    source: str,
    out: str | os.PathLike,
    revision: str | None = None,
    include: Sequence[str] | None = None,
    expect_sha256: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    timeout_s: float = 60.0,
    deadline_s: float | None = None,
    endpoint: str | None = None,
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
            # keep the run's config beside a single weights file
            rels += [n for n in CONFIG_NAMES if (root / n).is_file()]
        else:
            root, rels = src_path, _list_files(src_path)
    elif _REPO_ID_RE.match(source) and not source.startswith((".", "/", "~")):
        kind = "hub"
        root = download_snapshot(
            source, revision, include, cache_dir, timeout_s, deadline_s, endpoint
        )
        rels = _list_files(root)
        commit = root.name  # snapshots/<commit hash>
    else:
        raise FileNotFoundError(
            f"checkpoint source {source!r} is neither an existing local path nor a Hub repo id (org/name)"
        )
    # an earlier fetch's checksums.json is replaced by this one's, never listed in it
    selected = [r for r in _select(rels, include) if r != CHECKSUMS_FILE]
    if not selected:
        raise FileNotFoundError(
            f"no file in {source!r} matches --include {list(include or [])} (files: {sorted(rels)[:10]})"
        )
    expected = parse_expected_sha256(expect_sha256)
    with atomic_dir(out) as tmp:
        checksums: dict[str, str] = {}
        sizes: dict[str, int] = {}
        try:
            from tqdm import tqdm

            it = tqdm(selected, desc="sha256", unit="file", disable=len(selected) < 2)
        except ImportError:  # pragma: no cover
            it = selected
        for rel in it:
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


# --------------------------------------------------------------------------------------------
# Resolve a checkpoint path and build the model
# --------------------------------------------------------------------------------------------


def _step_number(p: Path) -> int | None:
    m = _STEP_RE.match(p.name)
    return int(m.group(1)) if m else None


def _find_config(weights: Path) -> Path | None:
    """all_config.yaml beside the weights file, or one folder up (a run's checkpoint subfolder)."""
    for d in (weights.parent, weights.parent.parent):
        for name in CONFIG_NAMES:
            if (d / name).is_file():
                return d / name
    return None


def read_arch_config(path: str | os.PathLike) -> dict[str, Any]:
    """The model settings from a reference-style all_config.yaml (its `arch:` section)."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: malformed YAML ({e})") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    arch = raw.get("arch", raw)
    if not isinstance(arch, dict) or "hidden_size" not in arch:
        raise ValueError(
            f"{path}: no model settings (expected an `arch:` section with hidden_size, ...)"
        )
    return {k: v for k, v in arch.items() if k not in _NON_MODEL_ARCH_KEYS}


def resolve_checkpoint(
    path: str | os.PathLike, step: int | None = None
) -> tuple[Path, dict[str, Any] | None]:
    """(state-dict file, arch config or None) for a step_N file, a run folder or a fetched folder.

    A folder resolves to its highest step_N (or `step`), searched recursively; several
    checkpoint folders inside one (e.g. arc_v1_public and arc_v2_public) must be told apart by
    passing the subfolder.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.is_file():
        weights = path
    else:
        candidates = [
            p for p in path.rglob("step_*") if p.is_file() and _step_number(p) is not None
        ]
        candidates = [
            p for p in candidates if not any(s.startswith(".") for s in p.relative_to(path).parts)
        ]
        if not candidates:
            raise FileNotFoundError(f"no step_N checkpoint file under {path}")
        parents = sorted({p.parent for p in candidates})
        if len(parents) > 1:
            listing = ", ".join(str(p.relative_to(path)) or "." for p in parents)
            raise ValueError(
                f"{path} holds checkpoints in several folders ({listing}); pass one of them"
            )
        if step is not None:
            named = [p for p in candidates if _step_number(p) == step]
            if not named:
                have = sorted(_step_number(p) for p in candidates)
                raise FileNotFoundError(f"no step_{step} in {parents[0]} (have steps {have})")
            weights = named[0]
        else:
            weights = max(candidates, key=lambda p: _step_number(p) or -1)
    cfg_path = _find_config(weights)
    return weights, (read_arch_config(cfg_path) if cfg_path else None)


def load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """A state dict from a reference step_N file (or a training checkpoint holding one)."""
    import torch

    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(
            f"{path}: not a readable torch checkpoint ({type(e).__name__}: {e})"
        ) from e
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ValueError(
            f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}"
        )
    return obj


def puzzle_emb_rows(state_dict: dict[str, Any]) -> int | None:
    """Rows of the sparse puzzle-embedding table in a state dict (any reference prefix)."""
    for k, v in state_dict.items():
        if k.endswith("puzzle_emb.weights"):
            return int(v.shape[0])
    return None


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """`key=value` strings, values parsed as YAML scalars (3 -> int, true -> bool, 1e-5 -> float)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--arch-override {item!r}: expected key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def model_config(
    arch: dict[str, Any] | None,
    seq_len: int,
    vocab_size: int,
    num_puzzle_identifiers: int,
    batch_size: int = 1,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    forward_dtype: str | None = None,
) -> dict[str, Any]:
    """The reference model config dict: preset < saved arch config < overrides < dataset shape."""
    if arch is None and preset is None and not overrides:
        raise ValueError(
            "the checkpoint has no all_config.yaml beside it, so the model shape is unknown: pass "
            f"--arch {{{','.join(ARCH_PRESETS)}}} and/or --arch-override key=value (hidden_size, "
            "H_cycles, L_cycles, L_layers, num_heads, ...)"
        )
    cfg: dict[str, Any] = {}
    if preset is not None:
        if preset not in ARCH_PRESETS:
            raise ValueError(f"unknown --arch {preset!r}; choose from {sorted(ARCH_PRESETS)}")
        cfg.update(ARCH_PRESETS[preset])
    cfg.update(arch or {})
    cfg.update(overrides or {})
    cfg.update(
        seq_len=int(seq_len),
        vocab_size=int(vocab_size),
        num_puzzle_identifiers=int(num_puzzle_identifiers),
        batch_size=int(batch_size),
    )
    if forward_dtype is not None:
        cfg["forward_dtype"] = forward_dtype
    cfg.setdefault("halt_exploration_prob", 0.0)
    return cfg


def resolve_forward_dtype(dtype: str, device: str) -> str:
    """'auto' -> float32 on CPU (bfloat16 matmuls are slow there), else the config's dtype."""
    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise ValueError(f"--dtype {dtype!r}: choose auto, float32, bfloat16 or float16")
    if dtype == "auto":
        return "float32" if device == "cpu" else ""
    return dtype


def build_model_for_dataset(
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    split: str = "test",
    step: int | None = None,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    resize_puzzle_emb: bool = False,
    device: str = "cpu",
    dtype: str = "auto",
    batch_size: int = 1,
) -> tuple[Any, dict[str, Any]]:
    """Build the model for `data_dir`'s shape and load the checkpoint. Returns (model, info).

    info: weights (path), config (the reference config dict used), arch_source.
    """
    from trm.data.format import read_metadata

    weights, arch = resolve_checkpoint(checkpoint, step)
    meta = read_metadata(data_dir, split)
    state = load_state_dict(weights)
    rows = puzzle_emb_rows(state)
    if rows is not None and rows != meta.num_puzzle_identifiers and not resize_puzzle_emb:
        raise ValueError(
            f"checkpoint {weights} has {rows} puzzle-embedding rows but dataset {data_dir} has "
            f"{meta.num_puzzle_identifiers} puzzle identifiers: use the dataset build the checkpoint "
            "was trained on (same subsets, --num-aug and --seed), or pass --resize-puzzle-emb to "
            "load it anyway (every row then starts from the mean of the checkpoint's rows)"
        )
    fwd = resolve_forward_dtype(dtype, device) or None
    cfg = model_config(
        arch,
        meta.seq_len,
        meta.vocab_size,
        meta.num_puzzle_identifiers,
        batch_size=batch_size,
        preset=preset,
        overrides=overrides,
        forward_dtype=fwd,
    )
    from trm.model import TRM, load_weights

    model = TRM.from_reference_config(cfg)
    load_weights(model, state, strict=True, resize_puzzle_emb=resize_puzzle_emb)
    model = model.to(device).eval()
    source = (
        "all_config.yaml"
        if arch is not None
        else f"--arch {preset}"
        if preset
        else "--arch-override"
    )
    return model, {"weights": str(weights), "config": cfg, "arch_source": source}


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _cmd_fetch(args: argparse.Namespace) -> int:
    source = args.path or args.repo_id
    include = args.include or None
    record = fetch_checkpoint(
        source,
        args.out,
        revision=args.revision,
        include=include,
        expect_sha256=args.expect_sha256,
        cache_dir=args.cache_dir,
        timeout_s=args.timeout,
        deadline_s=args.deadline,
    )
    total = sum(record["sizes"].values())
    print(f"fetched {len(record['files'])} file(s), {total / 1e6:.1f} MB, into {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fetch-checkpoint",
        help="download a checkpoint from the Hugging Face Hub (or copy a local one) and checksum it",
        description="Snapshot a Hub repository (or copy a local path) into --out and write "
        "--out/checksums.json with the sha256 of every file.",
    )
    p.add_argument(
        "--repo-id",
        default=DEFAULT_REPO_ID,
        help=f"Hub repo id, or a local folder/file to copy (default {DEFAULT_REPO_ID})",
    )
    p.add_argument("--path", help="local checkpoint folder or file (same as a local --repo-id)")
    p.add_argument("--revision", help="branch, tag or commit (default main)")
    p.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help="only files matching this pattern, e.g. 'arc_v1_public/*' (repeatable)",
    )
    p.add_argument("--out", required=True, help="destination folder (replaced atomically)")
    p.add_argument(
        "--expect-sha256",
        action="append",
        metavar="REL=HEX|HEX|FILE",
        help="fail unless a file has this sha256 (REL=HEX, a bare HEX for the weights file, or a checksums.json)",
    )
    p.add_argument("--cache-dir", help="Hub cache folder (default: HF_HUB_CACHE)")
    p.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per network read (default 60)"
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="give up when the whole download takes longer than this many seconds",
    )
    p.set_defaults(func=_cmd_fetch)
