# trm-repro: reproduce and audit "Less is More: Recursive Reasoning with Tiny Networks".
#
#   snakemake --cores all report                      # the default CPU experiments
#   snakemake --cores all report --configfile config/experiments/arc1-verify.yaml --profile profiles/default
#
# Data flow: prepare -> (train | fetch_checkpoint) -> predict -> score, sweep; bench; report.
from snakemake.utils import min_version, validate

min_version("9.0")


def _check_yaml(path):
    """A malformed YAML config named with its file and line (Snakemake's own message names neither).

    Snakemake reads --configfile files before this Snakefile runs: for those, its message is all
    there is; `python -c "import yaml; yaml.safe_load(open('FILE'))"` shows the line.
    """
    import yaml
    from snakemake.exceptions import WorkflowError

    try:
        with open(path) as f:
            yaml.safe_load(f)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        raise WorkflowError(f"{path}: malformed YAML at {where}: {e.problem or e.context}")


_check_yaml("config/config.yaml")


configfile: "config/config.yaml"


# Stops before any job, naming the offending key, when the config does not match the schema.
validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/checkpoint.smk"
include: "rules/train.smk"
include: "rules/predict.smk"
include: "rules/score.smk"
include: "rules/sweep.smk"
include: "rules/bench.smk"
include: "rules/llm.smk"
include: "rules/report.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        "reports/report.html",
        "reports/provenance.json",
