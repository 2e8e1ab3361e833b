"""Time and peak memory of `trm prepare arc` on ARC-AGI-1 + ConceptARC at 1000 augmentations.

    .venv/bin/python benchmarks/bench_prepare_arc.py \
        --input-prefix ../shared/arc-kaggle-combined/arc-agi --out /tmp/arc-bench [--splits test]

Runs the build as a child process and samples the whole process tree every 0.1 s: peak RSS of
the largest single process (what `/usr/bin/time -v` reports), and peak total PSS of the tree
(forked workers share the parent's pages, so PSS does not count them twice). Prints one JSON
object; the reference builder's figures on the same 2-core machine are given for comparison
(549 s, 15.5 GB peak; it writes 6.8 GB). Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = {"seconds": 549.0, "peak_rss_gb": 15.5, "note": "reference builder, from the issue"}
EXPECTED_IDENTIFIERS = 876_406  # ARC-AGI-1 + ConceptARC at 1000 augmentations, seed 42


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def _mem_kb(pid: int, key: str) -> int:
    path = f"/proc/{pid}/smaps_rollup" if key == "Pss:" else f"/proc/{pid}/status"
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--input-prefix",
        default=str(
            Path(__file__).resolve().parents[1].parent
            / "shared"
            / "arc-kaggle-combined"
            / "arc-agi"
        ),
    )
    ap.add_argument("--out", required=True)
    ap.add_argument("--num-aug", type=int, default=1000)
    ap.add_argument("--splits", nargs="+", default=["train", "test"])
    ap.add_argument("--workers", type=int)
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()

    trm = Path(sys.executable).with_name("trm")
    cmd = [str(trm), "prepare", "arc", "--no-progress", "--input-prefix", args.input_prefix,
           "--subsets", "training", "evaluation", "concept", "--test-set", "evaluation",
           "--num-aug", str(args.num_aug), "--seed", "42", "--out", args.out, "--splits", *args.splits]  # fmt: skip
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_rss = peak_pss = 0
    while proc.poll() is None:
        pids = _tree(proc.pid)
        peak_rss = max(peak_rss, max((_mem_kb(p, "VmRSS:") for p in pids), default=0))
        peak_pss = max(peak_pss, sum(_mem_kb(p, "Pss:") for p in pids))
        time.sleep(0.1)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the build and its workers
    if proc.returncode != 0:
        print(f"build failed with status {proc.returncode}", file=sys.stderr)
        return proc.returncode
    manifest = json.loads((Path(args.out) / "manifest.json").read_text())
    written = sum(o["size"] for o in manifest["outputs"])
    result = {
        "command": " ".join(cmd),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "build_phase_seconds": manifest.get("build_phase_seconds"),
        "build_seconds_before_manifest": manifest.get("build_seconds"),
        "peak_rss_largest_process_gb": round(peak_rss / 2**20, 3),
        "peak_pss_tree_gb": round(peak_pss / 2**20, 3),
        "written_gb": round(written / 1e9, 2),
        "identifiers": manifest["counts"]["identifiers"],
        "identifiers_expected": EXPECTED_IDENTIFIERS if args.num_aug == 1000 else None,
        "counts": manifest["counts"],
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "reference": REFERENCE,
        "note": "shared machine: timings are noisy",
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.num_aug == 1000 and result["identifiers"] != EXPECTED_IDENTIFIERS:
        print(
            f"identifier count {result['identifiers']} != {EXPECTED_IDENTIFIERS}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
