"""trm bench: structure and sanity of bench.json (no timing assertions: timings are noisy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from shared_data import SHARED, shared_missing

from trm.bench import percentile, run_bench, summarize, time_calls
from trm.cli.bench import BenchSettings

GOLDEN = SHARED / "golden"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def one_thread() -> object:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_percentile_and_summary() -> None:
    xs = [float(i) for i in range(1, 11)]
    assert percentile(xs, 50) == pytest.approx(5.5)
    assert percentile(xs, 90) == pytest.approx(9.1)
    assert percentile([3.0], 90) == 3.0
    s = summarize([4.0, 1.0, 3.0, 2.0])
    assert s["median"] == 2.5 and s["min"] == 1.0 and s["max"] == 4.0 and s["mean"] == 2.5
    with pytest.raises(ValueError):
        percentile([], 50)


def test_time_calls_counts_and_budget() -> None:
    calls = []
    times = time_calls(lambda: calls.append(1), "cpu", warmup=2, repeats=5)
    assert len(times) == 5 and len(calls) == 7 and all(t >= 0 for t in times)
    # a time budget stops the repeats early, after at least one timed call
    times = time_calls(lambda: sum(range(10000)), "cpu", warmup=0, repeats=1000, max_seconds=0.0)
    assert len(times) == 1


def test_bench_tiny_random_model(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    rec = run_bench(
        BenchSettings(
            arch="tiny",
            seq_len=36,
            num_puzzle_identifiers=16,
            out=out,
            batch_sizes=[1, 3],
            dtypes=["float32", "bfloat16"],
            train_step=True,
            device="cpu",
            warmup=1,
            repeats=2,
            no_progress=True,
        )
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(rec))
    dev = rec["device"]
    assert dev["type"] == "cpu" and dev["torch"] == torch.__version__ and dev["threads"] == 1
    st = rec["settings"]
    assert st["model_source"]["arch"] == "tiny" and st["model_config"]["seq_len"] == 36
    assert st["act_steps"] == 4 and st["timer"] == "time.perf_counter" and st["parameters"] > 0
    inf = [r for r in rec["results"] if r["mode"] == "inference"]
    tr = [r for r in rec["results"] if r["mode"] == "train_step"]
    assert [(r["dtype"], r["batch_size"]) for r in inf] == [
        ("float32", 1),
        ("float32", 3),
        ("bfloat16", 1),
        ("bfloat16", 3),
    ]
    assert len(tr) == 4
    for r in inf + tr:
        lat = r["latency_batch_s"]
        assert r["runs"] == 2 and 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
        assert r["latency_example_s"]["median"] == pytest.approx(lat["median"] / r["batch_size"])
        assert r["throughput_examples_per_s"] == pytest.approx(r["batch_size"] / lat["median"])
        assert r["memory"]["cpu_peak_rss_bytes"] > 10 * 2**20  # a python process with torch
    # the benchmark leaves the thread setting as it found it
    assert torch.get_num_threads() == 1


def _golden_run(tmp_path: Path) -> Path:
    for root in (FIXTURES, GOLDEN):
        if (root / "trm_rope.pt").exists():
            g = torch.load(root / "trm_rope.pt", weights_only=False)
            break
    else:
        shared_missing(f"golden model fixture trm_rope.pt not found in {FIXTURES} or {GOLDEN}")
    run = tmp_path / "run"
    run.mkdir()
    torch.save(g["state_dict"], run / "step_3")
    arch = {
        k: v
        for k, v in g["config"].items()
        if k not in ("seq_len", "vocab_size", "num_puzzle_identifiers", "batch_size")
    }
    (run / "all_config.yaml").write_text(yaml.safe_dump({"arch": arch}))
    return run


def test_bench_checkpoint_via_cli(tmp_path: Path) -> None:
    from trm.cli import main

    run = _golden_run(tmp_path)
    out = tmp_path / "b.json"
    rc = main(
        [
            "bench",
            "--checkpoint",
            str(run),
            "--seq-len",
            "36",
            "--batch-sizes",
            "2",
            "--dtypes",
            "float32",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    rec = json.loads(out.read_text())
    src = rec["settings"]["model_source"]
    assert src["checkpoint"].endswith("step_3") and src["arch_source"] == "all_config.yaml"
    cfg = rec["settings"]["model_config"]
    # vocabulary and puzzle rows come from the weights, the rest from all_config.yaml
    assert (
        cfg["vocab_size"],
        cfg["num_puzzle_identifiers"],
        cfg["hidden_size"],
        cfg["L_cycles"],
    ) == (12, 10, 64, 3)
    assert len(rec["results"]) == 1 and rec["results"][0]["runs"] == 1


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--arch", "tiny", "--batch-sizes", "1", "0"], "--batch-sizes[1]: 0 is not a valid size"),
        (["--arch", "tiny", "--batch-sizes", "10000000"], "10000000 is not a valid size"),
        (["--arch", "tiny", "--dtypes", "float8"], "--dtypes[0]: 'float8' is not one of"),
        (["--arch", "huge"], "--arch: 'huge' is not one of"),
        (["--arch", "tiny", "--repeats", "0"], "--repeats: 0 is not a valid count"),
        (["--arch", "tiny", "--max-seconds", "nan"], "--max-seconds: nan is not a finite number"),
        (["--arch", "tiny", "--seq-len", "1e9"], "--seq-len: 1000000000 is not a valid size"),
        (["--arch", "tiny", "--step", "-1"], "--step: -1 is not a valid count"),
        (["--seq-len", "36"], "pass --checkpoint PATH or --arch PRESET"),
    ],
)
def test_bench_refuses_bad_settings_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    from trm.cli import main

    out = tmp_path / "b.json"
    assert main(["bench", "--out", str(out), "--device", "cpu", *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_bench_missing_checkpoint_writes_nothing(tmp_path: Path) -> None:
    from trm.cli import main

    out = tmp_path / "b.json"
    argv = ["bench", "--checkpoint", str(tmp_path / "missing"), "--out", str(out)]
    assert main([*argv, "--device", "cpu"]) == 2
    assert not out.exists()


def test_bench_json_keeps_its_declared_keys(tmp_path: Path) -> None:
    """Readers rely on trm.bench.schema: the written file has every declared key, and a file
    without one fails naming the file and the key."""
    from trm.bench.schema import (
        DEVICE,
        PEAK_MEMORY_KEY,
        RESULTS,
        BenchFileError,
        Device,
        Latency,
        Result,
        check_bench,
    )

    out = tmp_path / "bench.json"
    run_bench(
        BenchSettings(
            arch="tiny_golden",
            seq_len=16,
            num_puzzle_identifiers=4,
            out=out,
            batch_sizes=[2],
            dtypes=["float32"],
            device="cpu",
            warmup=0,
            repeats=1,
            no_progress=True,
        )
    )
    rec = json.loads(out.read_text())
    check_bench(rec, out)
    entry = rec[RESULTS][0]
    assert entry[Result.MODE] == "inference" and entry[Result.BATCH_SIZE] == 2
    assert entry[Result.LATENCY_BATCH_S][Latency.MEDIAN] > 0
    assert entry[Result.MEMORY][PEAK_MEMORY_KEY[rec[DEVICE][Device.TYPE]]] > 0
    del entry[Result.THROUGHPUT_EXAMPLES_PER_S]
    with pytest.raises(BenchFileError, match="bench.json: missing key results\\[0\\].throughput"):
        check_bench(rec, out)
    del rec[DEVICE][Device.NAME]
    with pytest.raises(BenchFileError, match="missing key device.name"):
        check_bench(rec, out)
