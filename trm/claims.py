"""The published figures and the settings they were obtained at: config/claims.yaml, the ONE
table of them (the report's paper columns and its "comparable with the paper" decision read it
through this module only).

A claim: id, source (a key of `sources`), statement, value (percent), metric (the key
`trm score` writes, e.g. "ARC/pass@2"), setting (a key of `settings`), model ("TRM", "HRM"),
optional note. A setting: the dataset values, model and train presets, and published
checkpoints of a published run.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.errors import InputError
from trm.kinds import KINDS
from trm.presets import config_dir

CLAIMS_FILE = "claims.yaml"
ONE_OF = "one_of"  # a dataset requirement {one_of: [...]}: any of these values


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    statement: str
    value: float
    metric: str
    setting: str
    model: str
    note: str = ""


@dataclass(frozen=True)
class Setting:
    """A published run as this workflow's experiment configs express it."""

    name: str
    dataset: dict[str, Any]  # key -> required value, or {one_of: [values]}
    model: str
    train: str
    checkpoints: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return str(self.dataset["kind"])


@dataclass(frozen=True)
class Claims:
    reproduces: str  # the key of the source this pipeline reproduces
    sources: dict[str, str]  # key -> citation
    settings: dict[str, Setting]
    claims: tuple[Claim, ...] = field(default_factory=tuple)

    @property
    def citation(self) -> str:
        """The citation of the work this pipeline reproduces."""
        return self.sources[self.reproduces]

    def about(self, setting: str) -> list[Claim]:
        """The claims made for one setting, in file order."""
        return [c for c in self.claims if c.setting == setting]


_CLAIM_KEYS = {"id", "source", "statement", "value", "metric", "setting", "model", "note"}
_SETTING_KEYS = {"dataset", "model", "train", "checkpoints"}


def _keys(where: str, obj: Any, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: expected a mapping")
    if unknown := sorted(set(obj) - allowed):
        raise InputError(f"{where}: unknown key(s) {unknown}; known: {sorted(allowed)}")
    if missing := sorted(required - set(obj)):
        raise InputError(f"{where}: lacks {missing}")
    return obj


def parse(doc: Any, path: str | os.PathLike) -> Claims:
    """The registry from the parsed YAML, checked: every key known, every claim's source and
    setting declared, every metric one `trm score` writes for the setting's kind."""
    top = _keys(
        str(path),
        doc,
        {"reproduces", "sources", "settings", "claims"},
        {"reproduces", "sources", "settings"},
    )
    sources = {str(k): " ".join(str(v).split()) for k, v in top["sources"].items()}
    if top["reproduces"] not in sources:
        raise InputError(f"{path}: reproduces: {top['reproduces']!r} is not one of {list(sources)}")
    settings = {}
    for name, raw in top["settings"].items():
        where = f"{path}: settings.{name}"
        s = _keys(where, raw, _SETTING_KEYS, {"dataset", "model", "train"})
        ds = _keys(f"{where}.dataset", s["dataset"], set(s["dataset"]), {"kind"})
        if ds["kind"] not in KINDS:
            raise InputError(f"{where}.dataset.kind: {ds['kind']!r} is not one of {list(KINDS)}")
        for key, want in ds.items():
            if isinstance(want, Mapping):
                _keys(f"{where}.dataset.{key}", want, {ONE_OF}, {ONE_OF})
        settings[str(name)] = Setting(
            str(name), dict(ds), str(s["model"]), str(s["train"]), tuple(s.get("checkpoints", ()))
        )
    claims = []
    for i, raw in enumerate(top.get("claims") or []):
        where = f"{path}: claims[{i}]"
        c = _keys(where, raw, _CLAIM_KEYS, _CLAIM_KEYS - {"note"})
        claim = Claim(**{k: (float(v) if k == "value" else str(v)) for k, v in c.items()})
        if claim.source not in sources:
            raise InputError(f"{where}.source: {claim.source!r} is not one of {list(sources)}")
        if claim.setting not in settings:
            raise InputError(f"{where}.setting: {claim.setting!r} is not one of {list(settings)}")
        kind = KINDS[settings[claim.setting].kind]
        if not claim.metric.startswith(f"{kind.title}/"):
            raise InputError(f"{where}.metric: {claim.metric!r} is not a {kind.title} metric")
        claims.append(claim)
    if len({c.id for c in claims}) != len(claims):
        raise InputError(f"{path}: claim ids must be distinct")
    return Claims(str(top["reproduces"]), sources, settings, tuple(claims))


def read_claims(path: str | os.PathLike) -> Claims:
    import yaml

    with open(path) as f:
        return parse(yaml.safe_load(f), path)


@functools.cache
def claims() -> Claims:
    """The checkout's registry (config/claims.yaml), read once."""
    return read_claims(Path(config_dir()) / CLAIMS_FILE)
