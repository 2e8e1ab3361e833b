"""Latency, throughput and peak memory of TRM inference and training steps (`trm bench`).

measure.py runs the measurements and writes bench.json, schema.py declares its keys, cli.py
is the command line.
"""

from trm.bench.measure import percentile, run_bench, summarize, time_calls

__all__ = ["percentile", "run_bench", "summarize", "time_calls"]
