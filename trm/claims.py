"""The claims ledger's registry: config/claims.yaml, the ONE table of the published figures this
pipeline reproduces (the paper's, the reference README's, the reproducibility fork's paper's, the
verification model card's), with their sources and the settings that reproduce them. The report's
paper columns, its "comparable with the paper" decision and the claims ledger read it through this
module only (the file's header documents every key).
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trm.errors import InputError
from trm.kinds import KINDS
from trm.presets import config_dir

CLAIMS_FILE = "claims.yaml"
ONE_OF = "one_of"  # a dataset requirement {one_of: [...]}: any of these values
LEVEL, EFFECT = "level", "effect"
TYPES = (LEVEL, EFFECT)
# what in a report measures a claim (config/claims.yaml's header)
MEASURES: dict[str, str] = {
    "score": LEVEL,
    "modes": EFFECT,
    "ids": LEVEL,
    "trajectory": LEVEL,
    "trajectory_steps": EFFECT,
    "bench_memory": LEVEL,
    "bench_throughput": LEVEL,
    "none": LEVEL,
}
SCORED = ("score", "modes", "ids", "trajectory_steps")  # metric: a `<Kind>/...` score key
UNITS = ("%", "pt", "GB", "samples/s")
OVERRIDABLE = ("model", "train", "checkpoints", "checkpoint_file")


@dataclass(frozen=True)
class Source:
    label: str  # short, for tables
    citation: str
    url: str


@dataclass(frozen=True)
class Setting:
    """A published run as this workflow's experiment configs express it."""

    name: str
    benchmark: str  # the experiments' `benchmark:` this setting is about
    dataset: dict[str, Any]  # key -> required value, or {one_of: [values]}
    model: dict[str, Any] | None = None  # {preset, overrides...} of a run trained here
    train: dict[str, Any] | None = None  # None: only a published checkpoint is in the setting
    checkpoints: tuple[str, ...] = ()
    checkpoint_file: str | None = None
    device: str | None = None  # part of the name of the device `trm bench` measured on
    bench: dict[str, Any] = field(default_factory=dict)  # {batch_size, dtype}
    note: str = ""

    @property
    def kind(self) -> str:
        return str(self.dataset["kind"])

    def with_overrides(self, overrides: Mapping[str, Any]) -> Setting:
        """This setting with a claim's changes: model and train merge key by key, the rest
        replaces."""
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key in ("model", "train"):
                changes[key] = {**(getattr(self, key) or {}), **(value or {})}
            elif key == "checkpoints":
                changes[key] = tuple(value or ())
            else:
                changes[key] = value
        return replace(self, **changes)


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    where: str
    statement: str
    value: float
    unit: str
    type: str  # level or effect
    measure: str  # a key of MEASURES
    metric: str
    setting: str
    model: str
    tolerance: float | None = None
    mode: str = "paper"
    a: str | None = None
    b: str | None = None
    step: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    headline: bool = False
    experiment: str | None = None
    quoted_by: tuple[str, ...] = ()
    note: str = ""
    not_measured: str = ""
    checked: str = ""
    unchecked: str = ""


@dataclass(frozen=True)
class Claims:
    reproduces: str  # the key of the source this pipeline reproduces
    sources: dict[str, Source]
    settings: dict[str, Setting]
    claims: tuple[Claim, ...] = field(default_factory=tuple)

    @property
    def citation(self) -> str:
        """The citation of the work this pipeline reproduces."""
        return self.sources[self.reproduces].citation

    def about(self, setting: str) -> list[Claim]:
        """The main results of the reproduced work for one setting, in file order (shown beside
        a run of that setting)."""
        return [c for c in self.claims if c.setting == setting and c.headline]

    def setting_of(self, claim: Claim) -> Setting:
        """The setting a claim holds in: its setting with the claim's overrides."""
        return self.settings[claim.setting].with_overrides(claim.overrides)


_CLAIM_REQUIRED = {
    "id",
    "source",
    "where",
    "statement",
    "value",
    "unit",
    "type",
    "measure",
    "metric",
    "setting",
    "model",
}
_CLAIM_KEYS = _CLAIM_REQUIRED | {
    "tolerance",
    "mode",
    "a",
    "b",
    "step",
    "overrides",
    "headline",
    "experiment",
    "quoted_by",
    "note",
    "not_measured",
    "checked",
    "unchecked",
}
_SETTING_KEYS = {
    "benchmark",
    "dataset",
    "model",
    "train",
    "checkpoints",
    "checkpoint_file",
    "device",
    "bench",
    "note",
}


def _keys(where: str, obj: Any, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: expected a mapping")
    if unknown := sorted(set(obj) - allowed):
        raise InputError(f"{where}: unknown key(s) {unknown}; known: {sorted(allowed)}")
    if missing := sorted(required - set(obj)):
        raise InputError(f"{where}: lacks {missing}")
    return obj


def _preset(value: Any) -> dict[str, Any] | None:
    """A preset name or {preset, key: value} as a mapping (None stays None)."""
    if value is None:
        return None
    return dict(value) if isinstance(value, Mapping) else {"preset": str(value)}


def _setting(where: str, name: str, raw: Any) -> Setting:
    s = _keys(where, raw, _SETTING_KEYS, {"dataset"})
    ds = _keys(f"{where}.dataset", s["dataset"], set(s["dataset"]), {"kind"})
    if ds["kind"] not in KINDS:
        raise InputError(f"{where}.dataset.kind: {ds['kind']!r} is not one of {list(KINDS)}")
    for key, want in ds.items():
        if isinstance(want, Mapping):
            _keys(f"{where}.dataset.{key}", want, {ONE_OF}, {ONE_OF})
    if ("model" in s) != ("train" in s):
        raise InputError(f"{where}: a run trained here needs both model and train (or neither)")
    return Setting(
        name=name,
        benchmark=str(s.get("benchmark", name)),
        dataset=dict(ds),
        model=_preset(s.get("model")),
        train=_preset(s.get("train")),
        checkpoints=tuple(s.get("checkpoints") or ()),
        checkpoint_file=s.get("checkpoint_file"),
        device=s.get("device"),
        bench=dict(_keys(f"{where}.bench", s.get("bench") or {}, {"batch_size", "dtype"}, set())),
        note=" ".join(str(s.get("note", "")).split()),
    )


def _claim(where: str, raw: Any, sources: Mapping[str, Source], settings: Mapping) -> Claim:
    c = dict(_keys(where, raw, _CLAIM_KEYS, _CLAIM_REQUIRED))
    for key in ("value", "tolerance"):
        if c.get(key) is not None:
            c[key] = float(c[key])
    for key in ("statement", "where", "note", "not_measured", "checked", "unchecked"):
        if key in c:
            c[key] = " ".join(str(c[key]).split())
    c["quoted_by"] = tuple(c.get("quoted_by") or ())
    c["overrides"] = copy.deepcopy(dict(c.get("overrides") or {}))
    claim = Claim(**c)
    if claim.source not in sources:
        raise InputError(f"{where}.source: {claim.source!r} is not one of {list(sources)}")
    if claim.setting not in settings:
        raise InputError(f"{where}.setting: {claim.setting!r} is not one of {list(settings)}")
    if claim.measure not in MEASURES:
        raise InputError(f"{where}.measure: {claim.measure!r} is not one of {list(MEASURES)}")
    if claim.type != MEASURES[claim.measure]:
        raise InputError(f"{where}.type: measure {claim.measure!r} measures an {claim.type}")
    if claim.unit not in UNITS:
        raise InputError(f"{where}.unit: {claim.unit!r} is not one of {list(UNITS)}")
    if bool(claim.checked) == bool(claim.unchecked):
        raise InputError(f"{where}: give either checked (against what) or unchecked (why not)")
    if unknown := sorted(set(claim.overrides) - set(OVERRIDABLE)):
        raise InputError(f"{where}.overrides: {unknown} cannot be overridden; {OVERRIDABLE}")
    kind = KINDS[settings[claim.setting].kind]
    if claim.measure in SCORED and not claim.metric.startswith(f"{kind.title}/"):
        raise InputError(f"{where}.metric: {claim.metric!r} is not a {kind.title} metric")
    if claim.measure in ("modes", "ids") and not (claim.a and claim.b):
        raise InputError(f"{where}: measure {claim.measure!r} needs a and b (the two sides)")
    if claim.measure.startswith("trajectory") and claim.step is None:
        raise InputError(f"{where}: measure {claim.measure!r} needs step")
    if claim.measure == "none" and not claim.not_measured:
        raise InputError(f"{where}: measure 'none' needs not_measured (why nothing does)")
    return claim


def parse(doc: Any, path: str | os.PathLike) -> Claims:
    """The registry from the parsed YAML, checked: every key known, every claim's source and
    setting declared, every metric one the measuring file writes for the setting's kind."""
    top = _keys(
        str(path),
        doc,
        {"reproduces", "sources", "settings", "claims"},
        {"reproduces", "sources", "settings"},
    )
    sources = {}
    for key, raw in top["sources"].items():
        fields = {"label", "citation", "url"}
        s = _keys(f"{path}: sources.{key}", raw, fields, fields)
        sources[str(key)] = Source(
            str(s["label"]), " ".join(str(s["citation"]).split()), str(s["url"])
        )
    if top["reproduces"] not in sources:
        raise InputError(f"{path}: reproduces: {top['reproduces']!r} is not one of {list(sources)}")
    settings = {
        str(name): _setting(f"{path}: settings.{name}", str(name), raw)
        for name, raw in top["settings"].items()
    }
    claims = [
        _claim(f"{path}: claims[{i}]", raw, sources, settings)
        for i, raw in enumerate(top.get("claims") or [])
    ]
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
