"""Issue 11 analyses (rules/analyses.smk): one `trm` command per rule, then provenance."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, limit_threads, trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp, out, par = smk.input, smk.output, smk.params
extra = []
if smk.rule == "analyse_trajectory":
    folder = str(Path(out.trajectory).parent)
    cmd = trm("analyse", "trajectory", "--data", inp.data, "--predictions", inp.predictions)
    cmd += ["--out", folder, *to_flags("score", par.score)]
    extra = [folder]
elif smk.rule == "predict_ids":
    ckpt = checkpoint_path(inp.ckpt, par.checkpoint_file)
    cmd = trm("predict", "--checkpoint", ckpt, "--data", inp.data, "--out", out.predictions)
    cmd += to_flags("predict", par.predict) + ["--puzzle-ids", smk.wildcards.ids]
    cmd += to_flags("analyses", {"puzzle_id_seed": par.seed, "halt_max_steps": par.halt_max_steps})
    cmd += ["--threads", smk.threads]
    limit_threads(smk.threads)
    extra = [str(Path(out.predictions).with_suffix(".meta.json"))]
elif smk.rule == "compare_ids":
    folder = lambda p: str(Path(p).parent)  # noqa: E731
    cmd = trm("analyse", "compare", "--baseline", f"true={folder(inp.baseline)}")
    for name, path in zip(par.names, inp.variants, strict=True):
        cmd += ["--variant", f"{name}={folder(path)}"]
    cmd += ["--out", out.compare, *to_flags("score", par.score)]
elif smk.rule == "ensemble":
    cmd = trm("analyse", "ensemble", "--checkpoint", inp.ckpt, "--data", inp.data)
    cmd += ["--out", out.folder, "--last", par.last, "--threads", smk.threads]
    cmd += to_flags("predict", {"batch_size": par.batch_size, "device": par.device})
    cmd += to_flags("score", par.score)
    limit_threads(smk.threads)
else:
    raise SystemExit(f"analyses.py: unknown rule {smk.rule}")
run_snakemake_job(smk, list(map(str, cmd)), extra_outputs=extra)
