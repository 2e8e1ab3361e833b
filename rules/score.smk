# Scoring in the paper's mode (augmentation voting, pass@K) and in single mode (the original
# view only), from the same predictions.


rule score:
    input:
        data=lambda wc: eval_data_dir(wc.exp),
        data_prov=lambda wc: record_of(eval_data_dir(wc.exp)),
        predictions="runs/{exp}/predictions.npz",
        predictions_prov="runs/{exp}/predictions.provenance.json",
    output:
        # Beside metrics.json: per_example.jsonl (ARC) or per_example.csv, submission.json (ARC);
        # the provenance record covers the whole folder.
        metrics="runs/{exp}/scores/{mode}/metrics.json",
        prov="runs/{exp}/scores/{mode}.provenance.json",
    wildcard_constraints:
        mode="paper|single",
    params:
        kind=lambda wc: exp_cfg(wc.exp)["dataset"]["kind"],
        score=lambda wc: {k: v for k, v in exp_cfg(wc.exp).get("score", {}).items() if k != "modes"},
    log:
        logs("score", "{exp}-{mode}"),
    benchmark:
        bench_record("score", "{exp}-{mode}")
    threads: 1
    resources:
        mem_mb=res("score", "mem_mb", 4000),
        runtime=res("score", "runtime", 30),
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/score.py"


# Paper minus single mode (ARC), paired bootstrap over tasks: the one place this difference is
# computed; the report shows it.


rule score_compare:
    input:
        paper="runs/{exp}/scores/paper/metrics.json",
        paper_prov="runs/{exp}/scores/paper.provenance.json",
        single="runs/{exp}/scores/single/metrics.json",
        single_prov="runs/{exp}/scores/single.provenance.json",
    output:
        compare="runs/{exp}/scores/compare.json",
        prov="runs/{exp}/scores/compare.provenance.json",
    params:
        score=lambda wc: {
            k: v for k, v in exp_cfg(wc.exp).get("score", {}).items() if k in ("n_boot", "seed")
        },
    log:
        logs("score_compare", "{exp}"),
    benchmark:
        bench_record("score_compare", "{exp}")
    threads: 1
    resources:
        mem_mb=res("score_compare", "mem_mb", 1000),
        runtime=res("score_compare", "runtime", 10),
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/score_compare.py"


# One ablation grid's table: each variant's accuracy and its paired difference from the base
# variant (same test examples), computed here from the variants' scores; the report shows it.


rule score_grid:
    input:
        metrics=lambda wc: list(grid_scores(wc.grid).values()),
        records=lambda wc: [record_of(Path(p).parent) for p in grid_scores(wc.grid).values()],
    output:
        grid="runs/{grid}/grid.json",
        prov="runs/{grid}/grid.provenance.json",
    wildcard_constraints:
        grid=_grid_name_regex(),
    params:
        kind=lambda wc: exp_cfg(GRIDS[wc.grid].experiments[GRIDS[wc.grid].base])["dataset"]["kind"],
        runs=lambda wc: {v: str(Path(p).parent) for v, p in grid_scores(wc.grid).items()},
        base=lambda wc: GRIDS[wc.grid].base,
        changes=lambda wc: GRIDS[wc.grid].changes,
        paper=lambda wc: GRIDS[wc.grid].paper,
        score=lambda wc: {
            k: v
            for k, v in exp_cfg(GRIDS[wc.grid].experiments[GRIDS[wc.grid].base]).get("score", {}).items()
            if k in ("n_boot", "seed")
        },
    log:
        logs("score_grid", "{grid}"),
    benchmark:
        bench_record("score_grid", "{grid}")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/score_grid.py"


# A grid whose variants all sweep over the same test split (has_sweep_grid; e.g. training at
# num_aug 0 vs N): variants x test votes, pass@2 with intervals, paired against the base variant.


rule sweep_grid:
    input:
        data=lambda wc: eval_data_dir(GRIDS[wc.grid].experiments[GRIDS[wc.grid].base]),
        predictions=lambda wc: [f"runs/{e}/predictions.npz" for e in GRIDS[wc.grid].experiments.values()],
        records=lambda wc: [f"runs/{e}/predictions.provenance.json" for e in GRIDS[wc.grid].experiments.values()],
    output:
        table="runs/{grid}/sweep_grid.json",
        prov="runs/{grid}/sweep_grid.provenance.json",
    wildcard_constraints:
        grid=_grid_name_regex(),
    params:
        runs=lambda wc: {v: f"runs/{e}/predictions.npz" for v, e in GRIDS[wc.grid].experiments.items()},
        base=lambda wc: GRIDS[wc.grid].base,
        labels=lambda wc: sweep_grid_labels(wc.grid),
        levels=lambda wc: sweep_grid_base(wc.grid)["sweep"]["levels"],
        score=lambda wc: {k: v for k, v in sweep_grid_base(wc.grid).get("score", {}).items() if k in ("n_boot", "seed")},
    log:
        logs("sweep_grid", "{grid}"),
    benchmark:
        bench_record("sweep_grid", "{grid}")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    conda:
        "../envs/trm.yaml"
    script:
        "../workflow/scripts/sweep_grid.py"
