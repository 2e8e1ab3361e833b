"""trm-repro: reproduce and audit the Tiny Recursive Model paper.

The library is importable without Snakemake; the workflow's scripts are thin adapters over it.
"""

__version__ = "0.1.0"
