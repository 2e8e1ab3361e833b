"""llm_predict: `trm llm predict`, greedy decoding with the trained adapter."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp = smk.input
adapter = str(Path(inp.run) / "adapter")
run(
    smk,
    model=smk.params.model,
    data=inp.data,
    adapter=adapter,
    out=smk.output.predictions,
    limit=True,
)
