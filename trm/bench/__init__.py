"""Latency, throughput and peak memory of TRM inference and training steps (`trm bench`).

measure.py builds the model and runs the measurements into bench.json, timing.py times calls
and probes memory and the device, schema.py declares bench.json's keys; the command is
trm/cli/bench.py.
"""

from trm.bench.measure import run_bench
from trm.bench.timing import percentile, summarize, time_calls

__all__ = ["percentile", "run_bench", "summarize", "time_calls"]
