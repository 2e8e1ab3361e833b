"""trm.model.build: one preset name means one network through every entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from trm.cli import build_parser
from trm.data.format import DatasetMetadata
from trm.model.build import (
    ModelConfigError,
    build_model,
    load_preset,
    model_config,
    model_settings,
    parse_overrides,
    preset_names,
    resolve_forward_dtype,
    train_model_config,
)
from trm.model.checkpoint import read_state_dict
from trm.train.config import compose_config

ROOT = Path(__file__).resolve().parents[1]
# A small dataset shape: presets are compared, not trained.
META = DatasetMetadata(0, 0, 0, 12, 16, 5, 4, 1.0, 4)
BATCH = 8


def _workflow_train_overrides() -> Any:
    """The model/train mapping the train adapter (workflow/scripts/train.py) uses."""
    from trm.workflow.hydra import hydra_overrides

    return hydra_overrides


def _via_cli_arch(command: list[str], name: str) -> dict[str, Any]:
    """`trm <command> --arch NAME` as the command line parses it, then the checkpoint path's
    layering (no saved config: the preset alone), dtype resolved for a CPU."""
    args = build_parser().parse_args([*command, "--arch", name])
    cfg = model_config(
        None,
        META.seq_len,
        META.vocab_size,
        META.num_puzzle_identifiers,
        batch_size=BATCH,
        preset=args.arch,
        overrides=parse_overrides(args.arch_override),
    )
    cfg["forward_dtype"] = resolve_forward_dtype("auto", "cpu", cfg.get("forward_dtype"))
    return cfg


def _via_hydra(overrides: list[str]) -> dict[str, Any]:
    cfg = compose_config(overrides)
    return train_model_config(cfg.model, META, BATCH, "cpu")


def test_presets_are_the_hydra_group() -> None:
    names = preset_names()
    assert {"tiny", "tiny_golden", "arc_paper", "maze_paper", "sudoku_mlp", "sudoku_tiny"} <= set(
        names
    )
    assert names == sorted(p.stem for p in (ROOT / "config" / "model").glob("*.yaml"))


@pytest.mark.parametrize("name", preset_names())
def test_every_entry_point_builds_the_same_network(name: str) -> None:
    from omegaconf import OmegaConf

    # the YAML read without Hydra is what Hydra composes (defaults lists, interpolations)
    hydra_group = OmegaConf.to_container(compose_config([f"model={name}"]).model, resolve=True)
    assert load_preset(name) == hydra_group

    workflow_overrides = _workflow_train_overrides()("model", {"preset": name})
    assert workflow_overrides == [f"model={name}"]
    configs = {
        "trm predict --arch": _via_cli_arch(
            ["predict", "--checkpoint", "c", "--data", "d", "--out", "p.npz"], name
        ),
        "trm bench --arch": _via_cli_arch(["bench", "--out", "b.json"], name),
        "Hydra model=": _via_hydra([f"model={name}"]),
        "workflow model.preset": _via_hydra(workflow_overrides),
    }
    first = configs["Hydra model="]
    for entry, cfg in configs.items():
        assert cfg == first, f"{entry} gives another {name!r} than Hydra model={name}"
    assert "loss_type" not in first and first["forward_dtype"] == (
        "float32" if hydra_group["forward_dtype"] == "auto" else hydra_group["forward_dtype"]
    )
    model = build_model(first)
    assert model.config.hidden_size == hydra_group["hidden_size"]


def test_tiny_means_the_default_workflow_model() -> None:
    """`tiny` is what config/config.yaml trains (the default run); the golden-fixture shape,
    which `--arch tiny` meant before, is `tiny_golden`."""
    for name in ("config.yaml", "test-ci.yaml"):
        workflow = yaml.safe_load((ROOT / "config" / name).read_text())
        presets = {exp["model"]["preset"] for exp in workflow["experiments"].values()}
        assert presets <= {"tiny", "sudoku_tiny"}, name
    tiny = model_settings(load_preset("tiny"))
    assert (tiny["expansion"], tiny["L_layers"], tiny["L_cycles"], tiny["puzzle_emb_len"]) == (
        2,
        1,
        2,
        2,
    )
    for fixture in (ROOT / "tests" / "fixtures", ROOT.parent / "shared" / "golden"):
        if (fixture / "trm_rope.pt").exists():
            ref = torch.load(fixture / "trm_rope.pt", weights_only=False)["config"]
            break
    else:
        pytest.skip("golden model fixture trm_rope.pt not found")
    # the fixture's config leaves rope_theta and rms_norm_eps at the reference defaults
    shape = (ref["seq_len"], ref["vocab_size"], ref["num_puzzle_identifiers"], ref["batch_size"])
    built = build_model(model_config(None, *shape, preset="tiny_golden"))
    assert built.config == build_model(ref).config
    # the former CLI name of the paper's ARC model is the arc_paper preset
    assert load_preset("paper-arc") == load_preset("arc_paper")


@pytest.mark.parametrize("config_file", ["config.yaml", "test-ci.yaml"])
def test_workflow_experiments_match_the_command_line(config_file: str) -> None:
    """An experiment's `model:` section (preset + keys) through the train adapter and Hydra is
    the network `--arch preset --arch-override key=value` builds for its checkpoint."""
    workflow = yaml.safe_load((ROOT / "config" / config_file).read_text())
    to_overrides = _workflow_train_overrides()
    for exp in workflow["experiments"].values():
        section = dict(exp["model"])
        via_workflow = _via_hydra(to_overrides("model", section))
        cli = ["bench", "--out", "b.json"]
        for key, value in section.items():
            if key != "preset":
                cli += ["--arch-override", f"{key}={value}"]
        assert _via_cli_arch(cli, section["preset"]) == via_workflow, section


def test_bad_presets_and_overrides_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="unknown --arch 'huge'; choose from .*tiny"):
        model_config(None, 16, 12, 5, preset="huge")
    with pytest.raises(ModelConfigError, match="expected key=value"):
        parse_overrides(["hidden_size"])
    with pytest.raises(ModelConfigError, match="--dtype 'float8'"):
        resolve_forward_dtype("float8", "cpu")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "a.yaml").write_text("defaults: [b, _self_]\nhidden_size: 8\n")
    (tmp_path / "model" / "b.yaml").write_text("defaults: [a]\nhidden_size: 4\n")
    with pytest.raises(ModelConfigError, match="defaults` cycle a -> b -> a"):
        load_preset("a", root=tmp_path)
    (tmp_path / "model" / "c.yaml").write_text("hidden_size: [8\n")
    with pytest.raises(ModelConfigError, match="c.yaml: malformed YAML"):
        load_preset("c", root=tmp_path)


def test_forward_dtype_rule() -> None:
    # explicit wins; auto: float32 on CPUs, the checkpoint's dtype on GPUs, else bfloat16
    assert resolve_forward_dtype("bfloat16", "cpu") == "bfloat16"
    assert resolve_forward_dtype("auto", "cpu", saved="bfloat16") == "float32"
    assert resolve_forward_dtype("auto", "cuda:1", saved="float32") == "float32"
    assert resolve_forward_dtype("auto", "cuda", saved="auto") == "bfloat16"
    assert resolve_forward_dtype(None, "cuda") == "bfloat16"


def test_read_state_dict_unwraps_and_rejects(tmp_path: Path) -> None:
    sd = {"a.weight": torch.ones(2, 3)}
    for name, obj in {
        "bare": sd,
        "nested": {"state_dict": sd, "step": 3},
        "model": {"model": sd, "optimizer": {"lr": 1.0}},
        "twice": {"state_dict": {"model": sd}},
    }.items():
        torch.save(obj, tmp_path / name)
        got = read_state_dict(tmp_path / name)
        assert list(got) == ["a.weight"] and torch.equal(got["a.weight"], sd["a.weight"])
    torch.save({"step": 3}, tmp_path / "meta")
    with pytest.raises(ValueError, match="meta: expected a state dict"):
        read_state_dict(tmp_path / "meta")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        read_state_dict(tmp_path / "nothing")
