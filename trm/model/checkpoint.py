"""Checkpoints on disk: the ONLY state-dict reader and step_N resolver, and weight loading.

Reference checkpoints are plain state dicts saved with `torch.save`; a `torch.compile`d
training run prefixes keys with `_orig_mod.model.inner.`, an uncompiled one with
`model.inner.`; our own `TRM.state_dict()` has no prefix.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trm.errors import UserError
from trm.hub import CHECKSUMS_FILE  # written by `trm fetch-checkpoint`
from trm.limits import check_model_settings

log = logging.getLogger(__name__)

KNOWN_PREFIXES = ("_orig_mod.model.inner.", "model.inner.", "_orig_mod.", "")
PUZZLE_EMB_KEY = "puzzle_emb.weights"
ARCH_CONFIG_FILE = "all_config.yaml"  # the reference run's saved config, beside its step_N files
# The weights file of the published HRM checkpoints: `checkpoint` beside all_config.yaml.
HRM_WEIGHTS_FILE = "checkpoint"
_STEP_RE = re.compile(r"^step_(\d+)(\.pt|\.pth)?$")
# Keys of all_config.yaml's `arch:` section that are not model-shape settings.
_NON_MODEL_ARCH_KEYS = {"name", "loss"}
CHECKSUMS_SEARCH_DEPTH = 3  # a weights file's folder and up to two folders above it
MAX_CHECKSUMS_BYTES = 64 << 20  # one line per file of the checkpoint
MAX_CONFIG_BYTES = 16 << 20  # all_config.yaml: a few KB
_FINITE_CHUNK = 1 << 24  # elements checked at a time (the ARC puzzle table has ~450M)


@dataclass
class LoadReport:
    """What `load_weights` did: the prefix it stripped and whether the puzzle table was resized."""

    source: str
    prefix: str
    num_keys: int
    puzzle_emb_resized: bool = False
    puzzle_emb_old_rows: int | None = None
    puzzle_emb_new_rows: int | None = None
    puzzle_emb_resize_method: str | None = None
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _detect_prefix(keys: list[str]) -> str:
    for prefix in KNOWN_PREFIXES:
        if prefix and keys and all(k.startswith(prefix) for k in keys):
            return prefix
    return ""


class CheckpointError(UserError, ValueError):
    """A checkpoint file or folder that cannot be used (a ValueError for older callers)."""


class CheckpointNotFoundError(UserError, FileNotFoundError):
    """A checkpoint path, step or weights file that does not exist."""


# Keys under which training scripts nest the weights inside a larger checkpoint dict.
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


def _load_failure_reason(exc: Exception) -> str:
    """One short cause for a failed safe torch.load, without torch's advice to retry with
    weights_only=False (that would run code from the file: never suggest it)."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError):
        if "GLOBAL" in text:
            return "it names Python code to run, not only tensors; nothing in it was run"
        return "not a torch save file of tensors: corrupted, truncated or another format"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first or type(exc).__name__


# --------------------------------------------------------------------------------------------
# checksums.json (written by `trm fetch-checkpoint`) and finite weights
# --------------------------------------------------------------------------------------------


def find_checksums(path: str | os.PathLike) -> Path | None:
    """The checksums.json that covers a checkpoint file: the nearest one in the file's folder or
    up to CHECKSUMS_SEARCH_DEPTH - 1 folders above it (a fetch with `--include 'sub/*'` puts
    the weights one folder below it). None when there is none: nothing to verify."""
    folder = Path(os.path.abspath(path)).parent
    for _ in range(CHECKSUMS_SEARCH_DEPTH):
        if (folder / CHECKSUMS_FILE).is_file():
            return folder / CHECKSUMS_FILE
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def verify_checksum(path: str | os.PathLike) -> str | None:
    """Check a checkpoint file against the checksums.json that covers it (find_checksums), by
    the path it was named by and, when that is a link, by the file it leads to.

    Returns the verified sha256, or None when no checksums.json covers the file (a training
    run, a folder copied by hand: loaded as it is). A file the checksums.json does not list,
    or whose sha256 differs from the recorded one, is refused naming the file (and both
    hashes): the folder changed after `trm fetch-checkpoint` wrote it."""
    from trm.utils import sha256_file

    path = Path(path)
    got = None
    for where in dict.fromkeys([Path(os.path.abspath(path)), Path(os.path.realpath(path))]):
        record_path = find_checksums(where)
        if record_path is None:
            continue
        want = _recorded_sha256(record_path, where.relative_to(record_path.parent).as_posix())
        if want is None:
            raise CheckpointError(
                f"{path}: not listed in {record_path}, which covers this folder (a file added "
                "after the fetch?): refused; fetch the checkpoint again with `trm fetch-checkpoint`"
            )
        got = got or sha256_file(path)
        if got != want.strip().lower():
            raise CheckpointError(
                f"{path}: sha256 {got} differs from {want} recorded in {record_path} (the file "
                "changed after it was fetched: corrupted or replaced); refused"
            )
    return got


def _recorded_sha256(record_path: Path, rel: str) -> str | None:
    """The sha256 a checksums.json records for `rel` (None: not listed); a file that is not
    such a record is refused, naming it."""
    from trm.utils import read_json

    record = read_json(record_path, "checksums file", max_bytes=MAX_CHECKSUMS_BYTES)
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise CheckpointError(
            f'{record_path}: not a checksums record (expected {{"files": {{relative path: '
            "sha256}}}}, as `trm fetch-checkpoint` writes it)"
        )
    return files.get(rel)


def check_finite(state_dict: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Refuse weights holding NaN or infinity, naming the first such tensor and its count."""
    for key, value in state_dict.items():
        if not (value.is_floating_point() or value.is_complex()):
            continue
        flat = value.reshape(-1)
        bad = sum(
            int((~torch.isfinite(flat[i : i + _FINITE_CHUNK])).sum())
            for i in range(0, flat.numel(), _FINITE_CHUNK)
        )
        if bad:
            raise CheckpointError(
                f"{source}: tensor {key!r} holds {bad:,} non-finite value(s) (NaN or infinity) "
                f"of {flat.numel():,}: corrupted or diverged weights are refused"
            )


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict in a reference `step_N` file (or a checkpoint dict that nests one).

    The ONLY reader of weight files: never unpickles (weights_only=True), always on the CPU.
    The file is verified against a checksums.json that covers it (verify_checksum) before it
    is read, and weights that are not finite are refused (check_finite).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    verify_checksum(path)
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol note is noise for a user
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any unreadable file the same way
        raise CheckpointError(
            f"{path}: not a readable torch state dict ({_load_failure_reason(exc)})"
        ) from exc
    # unwrap {"state_dict": {...}}, {"model": {...}} and nestings of them
    while isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(v, torch.Tensor) for v in obj.values())
    ):
        raise CheckpointError(
            f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}"
        )
    check_finite(obj, path)
    return obj


def puzzle_emb_rows(state_dict: dict[str, Any]) -> int | None:
    """Rows of the sparse puzzle-embedding table in a state dict (any reference prefix)."""
    for key, value in state_dict.items():
        if key.endswith(PUZZLE_EMB_KEY):
            return int(value.shape[0])
    return None


# --------------------------------------------------------------------------------------------
# Finding the weights (and the run's saved model settings) inside a checkpoint path
# --------------------------------------------------------------------------------------------


def step_number(path: Path) -> int | None:
    """N for a file named step_N (also step_N.pt / step_N.pth), else None."""
    m = _STEP_RE.match(path.name)
    return int(m.group(1)) if m else None


def step_files(folder: str | os.PathLike) -> dict[int, Path]:
    """The step_N files directly inside a run folder, by step number (ascending)."""
    found = {}
    for p in Path(folder).glob("step_*"):
        if p.is_file() and (n := step_number(p)) is not None:
            found[n] = p
    return dict(sorted(found.items()))


def find_weights(path: str | os.PathLike, step: int | None = None) -> Path:
    """The state-dict file of a step_N file, a training run folder or a fetched folder.

    A folder resolves to its highest step_N (or `step`), searched recursively (hidden folders
    skipped); several checkpoint folders inside one (e.g. arc_v1_public and arc_v2_public) must
    be told apart by passing the subfolder.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    if path.is_file():
        return path
    candidates = [
        p
        for p in path.rglob("step_*")
        if p.is_file()
        and step_number(p) is not None
        and not any(s.startswith(".") for s in p.relative_to(path).parts)
    ]
    if not candidates and (path / HRM_WEIGHTS_FILE).is_file():
        return path / HRM_WEIGHTS_FILE  # a published HRM checkpoint (sapientinc/HRM-checkpoint-*)
    if not candidates:
        raise CheckpointNotFoundError(f"no step_N checkpoint file under {path}")
    parents = sorted({p.parent for p in candidates})
    if len(parents) > 1:
        listing = ", ".join(str(p.relative_to(path)) or "." for p in parents)
        raise CheckpointError(
            f"{path} holds checkpoints in several folders ({listing}); pass one of them"
        )
    if step is None:
        return max(candidates, key=lambda p: step_number(p) or -1)
    named = [p for p in candidates if step_number(p) == step]
    if not named:
        have = sorted(step_number(p) for p in candidates)
        raise CheckpointNotFoundError(f"no step_{step} in {parents[0]} (have steps {have})")
    return named[0]


def find_arch_config(weights: Path) -> Path | None:
    """all_config.yaml beside the weights file, or one folder up (a run's checkpoint subfolder)."""
    for folder in (weights.parent, weights.parent.parent):
        if (folder / ARCH_CONFIG_FILE).is_file():
            return folder / ARCH_CONFIG_FILE
    return None


def read_run_config(path: str | os.PathLike) -> dict[str, Any]:
    """A run's saved config (all_config.yaml) as a mapping: bounded in size, verified against a
    checksums.json that covers it, parsed with yaml.safe_load."""
    import yaml

    path = Path(path)
    if (n := path.stat().st_size) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path}: {n:,} bytes exceeds the limit of {MAX_CONFIG_BYTES:,}")
    verify_checksum(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: malformed YAML ({e})") from e
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a mapping at the top level")
    return raw


def read_arch_config(path: str | os.PathLike) -> dict[str, Any]:
    """The model settings of a reference-style all_config.yaml (its `arch:` section, without
    the keys that name the class and the loss)."""
    path = Path(path)
    raw = read_run_config(path)
    arch = raw.get("arch", raw)
    if not isinstance(arch, dict) or "hidden_size" not in arch:
        raise CheckpointError(
            f"{path}: no model settings (expected an `arch:` section with hidden_size, ...)"
        )
    settings = {str(k): v for k, v in arch.items() if k not in _NON_MODEL_ARCH_KEYS}
    # sizes and step counts bounded before any model is built (trm.limits.ModelShape)
    where, sep = (f"{path}: arch", ".") if arch is not raw else (f"{path}:", " ")
    settings = check_model_settings(settings, where, sep)
    if "name" in arch:  # which model code wrote it: trm, hrm, transformers_baseline, ...
        from trm.model import arch_from_reference_name

        try:
            settings["arch"] = arch_from_reference_name(arch["name"])
        except ValueError as e:
            raise CheckpointError(f"{path}: arch.name: {e}") from e
    return settings


def resolve_checkpoint(
    path: str | os.PathLike, step: int | None = None
) -> tuple[Path, dict[str, Any] | None]:
    """(state-dict file, saved model settings or None) for a checkpoint path; see find_weights."""
    weights = find_weights(path, step)
    cfg_path = find_arch_config(weights)
    return weights, (read_arch_config(cfg_path) if cfg_path else None)


def load_weights(
    model: nn.Module,
    state_dict_or_path: dict[str, torch.Tensor] | str | os.PathLike,
    strict: bool = True,
    resize_puzzle_emb: bool = False,
    source: str | os.PathLike | None = None,
) -> LoadReport:
    """Load reference or own weights into `model` (a `trm.model.TRM`).

    Key prefixes `_orig_mod.model.inner.`, `model.inner.` or none are accepted. A shape
    mismatch raises ValueError naming every mismatched key with both shapes. A puzzle
    embedding table with another number of rows is such a mismatch unless
    `resize_puzzle_emb=True`: then, as the reference does when fine-tuning on other puzzles,
    every row is replaced by the mean of the checkpoint's rows; this is logged and reported.
    `source`: the file a passed-in state dict came from, named in errors and the report.
    """
    if isinstance(state_dict_or_path, (str, os.PathLike)):
        source = str(state_dict_or_path)
        state_dict = read_state_dict(state_dict_or_path)
    else:
        source = str(source) if source is not None else "<state_dict>"
        state_dict = state_dict_or_path
    keys = list(state_dict.keys())
    prefix = _detect_prefix(keys)
    sd = {k[len(prefix) :]: v for k, v in state_dict.items()}
    report = LoadReport(source=source, prefix=prefix, num_keys=len(sd))

    own = model.state_dict()
    mismatched: list[str] = []
    for key, value in sd.items():
        if key not in own or own[key].shape == value.shape:
            continue
        if (
            key == PUZZLE_EMB_KEY
            and resize_puzzle_emb
            and value.ndim == 2
            and value.shape[1] == own[key].shape[1]
        ):
            mean_row = value.float().mean(dim=0, keepdim=True)
            sd[key] = mean_row.expand(own[key].shape[0], -1).to(own[key].dtype).contiguous()
            report.puzzle_emb_resized = True
            report.puzzle_emb_old_rows = int(value.shape[0])
            report.puzzle_emb_new_rows = int(own[key].shape[0])
            report.puzzle_emb_resize_method = "mean_row"
            log.warning(
                "%s: puzzle embedding resized from %d to %d rows (every row = mean of the old rows)",
                source,
                value.shape[0],
                own[key].shape[0],
            )
            continue
        mismatched.append(
            f"{prefix}{key}: checkpoint {tuple(value.shape)} vs model {tuple(own[key].shape)}"
        )
    if mismatched:
        hint = (
            " (pass resize_puzzle_emb=True to resize the puzzle embedding)"
            if any(m.startswith(prefix + PUZZLE_EMB_KEY) for m in mismatched)
            else ""
        )
        raise CheckpointError(
            f"{source}: shape mismatch for {len(mismatched)} key(s){hint}:\n  "
            + "\n  ".join(mismatched)
        )

    result = model.load_state_dict(sd, strict=False)
    report.missing_keys = list(result.missing_keys)
    report.unexpected_keys = list(result.unexpected_keys)
    if strict and (report.missing_keys or report.unexpected_keys):
        raise CheckpointError(
            f"{source}: state dict does not match the model (prefix {prefix!r} stripped); "
            f"missing keys: {report.missing_keys}; unexpected keys: {report.unexpected_keys}"
        )
    return report
