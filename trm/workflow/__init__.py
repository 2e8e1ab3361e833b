"""The Snakemake workflow's logic, importable and testable without Snakemake.

- paths: every output path of the workflow, declared once
- jobs: which `trm` command each job runs and which config sections it reads (its params)
- experiments: the expanded config and the questions rules ask of it (getters)
- config_check: the cross-field checks the JSON schema cannot express
- report_spec: the spec rule `report` hands to `trm report --spec`
- adapter: what workflow/scripts/ call: run one `trm` command and write its provenance record
- schema: config/schema.yaml and config/README.md, generated from the command declarations
"""
