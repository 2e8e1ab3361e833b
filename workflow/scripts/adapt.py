"""Test-time embedding fitting (rules/analyses.smk, analyses.adapt): one `trm` command per rule."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, limit_threads, trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp, out, par = smk.input, smk.output, smk.params
extra = []
if smk.rule == "adapt":
    ckpt = checkpoint_path(inp.ckpt, par.checkpoint_file)
    cmd = trm("adapt", "--checkpoint", ckpt, "--source-data", inp.source, "--data", inp.data)
    cmd += ["--out", out.model, *to_flags("analyses.adapt", par.adapt)]
    cmd += to_flags("predict", {"device": par.device}) + ["--threads", smk.threads]
    limit_threads(smk.threads)
elif smk.rule == "predict_adapt":
    # blank: the baseline without fitting (the blank row and every weight are the checkpoint's)
    cmd = trm("predict", "--checkpoint", inp.ckpt, "--data", inp.data, "--out", out.predictions)
    cmd += to_flags("predict", par.predict) + ["--threads", smk.threads]
    cmd += ["--puzzle-ids", "blank" if smk.wildcards.fit == "blank" else "true"]
    limit_threads(smk.threads)
    extra = [str(Path(out.predictions).with_suffix(".meta.json"))]
elif smk.rule == "compare_adapt":
    folder = lambda p: str(Path(p).parent)  # noqa: E731
    cmd = trm("analyse", "compare", "--baseline", f"blank={folder(inp.baseline)}")
    cmd += ["--variant", f"fitted={folder(inp.variant)}", "--out", out.compare]
    cmd += to_flags("score", par.score)
else:
    raise SystemExit(f"adapt.py: unknown rule {smk.rule}")
run_snakemake_job(smk, list(map(str, cmd)), extra_outputs=extra)
