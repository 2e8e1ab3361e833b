# trm-repro: reproduce and audit "Less is More: Recursive Reasoning with Tiny Networks".
#
#   snakemake --cores all report                      # the default CPU experiments
#   snakemake --cores all report --configfile config/experiments/arc1-verify.yaml --profile profiles/default
#
# Data flow: prepare -> (train | fetch_checkpoint) -> predict -> score, sweep; bench; report.
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from trm.utils import yaml_syntax_error

min_version("9.0")


# A malformed config/config.yaml is named with its file and line. Snakemake reads --configfile
# files before this Snakefile runs: for a syntax error there, its message is all there is;
# `python -c "import yaml; yaml.safe_load(open('FILE'))"` shows the line. A key given twice in
# one mapping (Snakemake keeps the last silently) is named for every config file.
for _config_file in ["config/config.yaml", *workflow.overwrite_configfiles]:
    if (_yaml_problem := yaml_syntax_error(_config_file)) is not None:
        raise WorkflowError(_yaml_problem)


configfile: "config/config.yaml"


# Stops before any job, naming the offending key, when the config does not match the schema.
# set_default=False: the schema's defaults document the commands' own; writing them into the config
# would make the workflow state defaults of its own (and pass keys a kind does not read).
validate(config, "config/schema.yaml", set_default=False)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/checkpoint.smk"
include: "rules/train.smk"
include: "rules/predict.smk"
include: "rules/score.smk"
include: "rules/sweep.smk"
include: "rules/analyses.smk"
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
