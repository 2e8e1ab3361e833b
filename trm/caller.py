"""Errors in the caller's words: a command-line flag for a user at the shell, the config key for
a workflow user.

A workflow job runs a `trm` command whose settings came from config keys. Its adapter
(trm.workflow.adapter) puts the job's table {flag: config key} in the environment variable
TRM_CONFIG_KEYS, e.g. {"--repo-id": "experiments.arc1-verify.checkpoint.repo_id"}. Then:

- `in_callers_words` rewrites each flag (or `trm train` override key, `train.lr`) of an error
  message that a config key set as `experiments.arc1-verify.checkpoint.repo_id (--repo-id)`
  (the `trm` command line does so before printing its one-line error; the adapter again on
  the line it shows);
- `how_to_set(option, value)` is what advice says to change: `--source generate` at the shell,
  `experiments.sudoku.dataset.source: generate` in the workflow;
- `in_workflow(option)` tells advice that names a whole command line to name the config instead.

Outside the workflow (no table) every function leaves the flags as they are.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

CONFIG_KEYS_ENV = "TRM_CONFIG_KEYS"


def config_keys() -> dict[str, str]:
    """{flag: config key} the workflow gave this process ({} at the shell or when unreadable)."""
    text = os.environ.get(CONFIG_KEYS_ENV)
    if not text:
        return {}
    try:
        table = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, str)}


def environment(keys: Mapping[str, str]) -> dict[str, str]:
    """The environment variable that hands `keys` to a command the workflow runs."""
    return {CONFIG_KEYS_ENV: json.dumps(dict(sorted(keys.items())))}


def in_workflow(option: str) -> bool:
    """True when `option` of the running command was set through a workflow config key."""
    return option in config_keys()


def key_of(option: str) -> str:
    """The config key that sets `option` in the workflow, else the option itself."""
    return config_keys().get(option, option)


def how_to_set(option: str, value: str) -> str:
    """How the caller gives `option` the value `value`: `--source generate` at the shell,
    `experiments.<exp>.dataset.source: generate` (a line of the config) in the workflow."""
    key = config_keys().get(option)
    return f"{key}: {value}" if key else f"{option} {value}"


def in_callers_words(message: str, keys: Mapping[str, str] | None = None) -> str:
    """`message` with every flag (or override key, `train.lr`) that a config key set named as
    `key (--flag)`; idempotent. Text between backticks is a command line to type (e.g. `hf
    download ... --include X`) and stays as it is."""
    table = config_keys() if keys is None else dict(keys)
    if not table:
        return message
    names = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    # a whole name, not part of a longer one nor already explained as `key (--flag)`
    pattern = re.compile(rf"(?<![\w.(-])(?:{names})(?![\w-])")
    parts = message.split("`")
    for i in range(0, len(parts), 2):  # outside backticks
        parts[i] = pattern.sub(lambda m: f"{table[m[0]]} ({m[0]})", parts[i])
    return "`".join(parts)
