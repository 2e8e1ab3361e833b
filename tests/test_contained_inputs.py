"""Untrusted checkpoint folders (issue 19, class 2): links out of a source are refused by
`trm fetch-checkpoint`; a checksums.json beside weights is verified when they are loaded;
weights that are not finite are refused at load, naming the tensor."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from input_helpers import one_line_error, predict_argv, write_checkpoint, write_dataset

from trm.hub import fetch_checkpoint
from trm.model.checkpoint import CheckpointError, read_state_dict, resolve_checkpoint
from trm.utils import sha256_file

# ---- links out of a source folder ----------------------------------------------------------


def _source(tmp_path: Path) -> tuple[Path, Path]:
    """SRC with a weights file and a config, and a secret file outside it."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "step_1").write_bytes(b"weights")
    (src / "all_config.yaml").write_text("arch: {hidden_size: 8}\n")
    outside = tmp_path / "private"
    (outside / "keys").mkdir(parents=True)
    (outside / "secret.txt").write_text("do not copy")
    (outside / "keys" / "id").write_text("key")
    return src, outside


def _file_link(src: Path, outside: Path) -> Path:
    (src / "notes").symlink_to(outside / "secret.txt")
    return src / "notes"


def _folder_link(src: Path, outside: Path) -> Path:
    (src / "extra").symlink_to(outside / "keys", target_is_directory=True)
    return src / "extra"


def _chain(src: Path, outside: Path) -> Path:
    (src / "b").symlink_to(outside / "secret.txt")
    (src / "a").symlink_to("b")  # a -> b (inside) -> outside
    return src / "a"


def _relative_escape(src: Path, outside: Path) -> Path:
    (src / "sub" / "up").symlink_to("../../private/secret.txt")
    return src / "sub" / "up"


def _dotdot_folder(src: Path, outside: Path) -> Path:
    (src / "sub" / "parent").symlink_to("../..", target_is_directory=True)
    return src / "sub" / "parent"


def _through_outside(src: Path, outside: Path) -> Path:
    """Ends inside SRC, but through a link outside it (which could change at any time)."""
    (outside / "hop").symlink_to(src / "step_1")
    (src / "step_2").symlink_to(outside / "hop")
    return src / "step_2"


def _dangling(src: Path, outside: Path) -> Path:
    (src / "later").symlink_to(outside / "not-yet-there")
    return src / "later"


def _hidden(src: Path, outside: Path) -> Path:
    (src / ".cache").mkdir()
    (src / ".cache" / "token").symlink_to(outside / "secret.txt")
    return src / ".cache" / "token"


def _loop(src: Path, outside: Path) -> Path:
    (src / "x").symlink_to("y")
    (src / "y").symlink_to("x")
    return src / "x"


def _absolute_system_file(src: Path, outside: Path) -> Path:
    (src / "passwd").symlink_to("/etc/passwd")
    return src / "passwd"


LINKS: dict[str, Callable[[Path, Path], Path]] = {
    "file": _file_link,
    "folder": _folder_link,
    "chain": _chain,
    "relative ../": _relative_escape,
    "folder ../..": _dotdot_folder,
    "through outside": _through_outside,
    "dangling": _dangling,
    "hidden": _hidden,
    "loop": _loop,
    "system file": _absolute_system_file,
}


@pytest.mark.parametrize("flag", ["--path", "--repo-id"])
@pytest.mark.parametrize("case", sorted(LINKS))
def test_a_link_out_of_the_source_is_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, flag: str
) -> None:
    src, outside = _source(tmp_path)
    link = LINKS[case](src, outside)
    out = tmp_path / "out"
    one_line_error(
        capsys,
        ["fetch-checkpoint", flag, str(src), "--out", str(out), "--no-progress"],
        str(link),
        "outside",
    )
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private", "src"]  # no temporaries


def test_a_link_beside_a_single_weights_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, outside = _source(tmp_path)
    (src / "all_config.yaml").unlink()
    (src / "all_config.yaml").symlink_to(outside / "secret.txt")
    out = tmp_path / "out"
    one_line_error(
        capsys,
        ["fetch-checkpoint", "--path", str(src / "step_1"), "--out", str(out)],
        str(src / "all_config.yaml"),
    )
    assert not out.exists()


def test_a_hub_cache_snapshot_may_link_into_its_own_blobs_only(tmp_path: Path) -> None:
    repo = tmp_path / "hf" / "models--org--name"
    snap = repo / "snapshots" / ("0" * 40)
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    (repo / "blobs" / "abc").write_bytes(b"weights")
    (snap / "step_1").symlink_to("../../blobs/abc")
    record = fetch_checkpoint(str(snap), tmp_path / "ok", progress=False)
    assert record["files"] == {"step_1": sha256_file(repo / "blobs" / "abc")}
    assert not (tmp_path / "ok" / "step_1").is_symlink()
    (tmp_path / "secret").write_text("x")
    (snap / "other").symlink_to(tmp_path / "secret")  # out of the cache repo: refused
    with pytest.raises(ValueError, match="outside the checkpoint source"):
        fetch_checkpoint(str(snap), tmp_path / "bad", progress=False)
    (snap / "other").unlink()
    (repo / "refs").mkdir()
    (snap / "other").symlink_to("../../refs")  # the repo, but not its blobs: refused
    with pytest.raises(ValueError, match="outside the checkpoint source"):
        fetch_checkpoint(str(snap), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_links_that_stay_inside_the_source_are_copied_as_files(tmp_path: Path) -> None:
    src, _ = _source(tmp_path)
    (src / "sub" / "w").write_bytes(b"w")
    (src / "latest").symlink_to("step_1")
    (src / "sub" / "again").symlink_to("../sub/w")
    (src / "view").symlink_to("sub", target_is_directory=True)
    record = fetch_checkpoint(str(src), tmp_path / "out", progress=False)
    assert {"latest", "sub/again", "step_1"} <= set(record["files"])
    assert (tmp_path / "out" / "latest").read_bytes() == b"weights"
    assert not (tmp_path / "out" / "latest").is_symlink()


# ---- checksums.json verified at load ------------------------------------------------------------


@pytest.fixture
def fetched(tmp_path: Path) -> Path:
    """A checkpoint fetched (trm fetch-checkpoint of a local folder) into tmp/ckpt/run."""
    write_checkpoint(tmp_path / "src" / "run")
    fetch_checkpoint(str(tmp_path / "src"), tmp_path / "ckpt", progress=False)
    return tmp_path / "ckpt" / "run"


def test_a_fetched_checkpoint_loads(fetched: Path, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    from trm.cli import main

    assert main(predict_argv(fetched, data, tmp_path / "p.npz")) == 0
    assert read_state_dict(fetched / "step_1")


def test_a_changed_weights_file_is_refused_naming_both_hashes(
    fetched: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    want = json.loads((fetched.parent / "checksums.json").read_text())["files"]["run/step_1"]
    state = torch.load(fetched / "step_1", weights_only=True)
    state = {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}
    torch.save(state, fetched / "step_1")
    got = sha256_file(fetched / "step_1")
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "p.npz"
    one_line_error(capsys, predict_argv(fetched, data, out), str(fetched / "step_1"), want, got)
    assert not out.exists()
    with pytest.raises(CheckpointError, match=f"sha256 {got} differs from {want}"):
        read_state_dict(fetched / "step_1")


def test_a_changed_config_is_refused(fetched: Path) -> None:
    cfg = fetched / "all_config.yaml"
    cfg.write_text(cfg.read_text().replace("halt_max_steps: 2", "halt_max_steps: 3"))
    with pytest.raises(CheckpointError, match=f"{cfg}: sha256 .* differs"):
        resolve_checkpoint(fetched)


def test_a_file_added_after_the_fetch_is_refused(fetched: Path) -> None:
    (fetched / "step_9").write_bytes((fetched / "step_1").read_bytes())
    weights, _ = resolve_checkpoint(fetched)  # the highest step: step_9
    with pytest.raises(CheckpointError, match=r"step_9: not listed in .*checksums.json"):
        read_state_dict(weights)


def test_a_link_added_to_a_fetched_folder_is_refused(fetched: Path, tmp_path: Path) -> None:
    elsewhere = write_checkpoint(tmp_path / "elsewhere", step=7)
    (fetched / "step_9").symlink_to(elsewhere / "step_7")
    weights, _ = resolve_checkpoint(fetched)
    with pytest.raises(CheckpointError, match=r"step_9: not listed"):
        read_state_dict(weights)


def test_a_link_to_a_changed_fetched_file_is_refused(fetched: Path, tmp_path: Path) -> None:
    torch.save({"x": torch.zeros(1)}, fetched / "step_1")
    (tmp_path / "mine").symlink_to(fetched / "step_1")
    with pytest.raises(CheckpointError, match="differs"):
        read_state_dict(tmp_path / "mine")


def test_a_refetch_of_a_changed_folder_is_refused(fetched: Path, tmp_path: Path) -> None:
    """A fetched folder copied on with `--path`: its record is checked, so a changed or added
    file does not come out with a fresh checksums.json."""
    fetch_checkpoint(str(fetched.parent), tmp_path / "copy", progress=False)  # intact: fine
    (fetched / "step_9").write_bytes((fetched / "step_1").read_bytes())
    with pytest.raises(CheckpointError, match="step_9: not listed"):
        fetch_checkpoint(str(fetched.parent), tmp_path / "again", progress=False)
    (fetched / "step_9").unlink()
    (fetched / "all_config.yaml").write_text("arch: {hidden_size: 8}\n")
    with pytest.raises(CheckpointError, match="all_config.yaml: sha256 .* differs"):
        fetch_checkpoint(str(fetched), tmp_path / "again", progress=False)
    assert not (tmp_path / "again").exists()


@pytest.mark.parametrize(
    "content", ["not json", "[1, 2]", '{"files": [1]}', '{"files": {"run/step_1": 5}}']
)
def test_a_malformed_checksums_file_is_refused(fetched: Path, content: str) -> None:
    (fetched.parent / "checksums.json").write_text(content)
    with pytest.raises(ValueError, match="checksums"):
        read_state_dict(fetched / "step_1")


def test_every_loader_verifies(fetched: Path, tmp_path: Path) -> None:
    """load_weights(path) (training's init_from) and the bench's model for a checkpoint read
    through the one reader (as predict and adapt do), so all of them refuse a changed file."""
    from trm.model import from_reference_config, load_weights
    from trm.model.build import build_model_for_checkpoint

    torch.save({"x": torch.zeros(1)}, fetched / "step_1")
    with pytest.raises(CheckpointError, match="differs"):
        load_weights(
            from_reference_config({"hidden_size": 16, "puzzle_emb_ndim": 16}), fetched / "step_1"
        )
    with pytest.raises(CheckpointError, match="differs"):
        build_model_for_checkpoint(fetched, seq_len=4, vocab_size=6, num_puzzle_identifiers=3)


def test_a_folder_without_checksums_loads_as_it_is(tmp_path: Path) -> None:
    run = write_checkpoint(tmp_path / "runs" / "exp" / "train")
    assert read_state_dict(run / "step_1")
    weights, saved = resolve_checkpoint(run)
    assert weights == run / "step_1" and saved is not None


# ---- non-finite weights ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "dtype"),
    [(float("nan"), torch.float32), (float("inf"), torch.float32), (-float("inf"), torch.bfloat16)],
)
def test_non_finite_weights_are_refused_naming_the_tensor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: float, dtype: torch.dtype
) -> None:
    run = write_checkpoint(tmp_path / "run")
    state = torch.load(run / "step_1", weights_only=True)
    key = next(k for k in state if k.endswith("lm_head.weight"))
    bad = state[key].to(dtype)
    bad.view(-1)[[0, 3]] = value
    state[key] = bad
    torch.save(state, run / "step_1")
    with pytest.raises(CheckpointError, match=rf"tensor '{key}' holds 2 non-finite"):
        read_state_dict(run / "step_1")
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "p.npz"
    one_line_error(capsys, predict_argv(run, data, out), key, "non-finite")
    assert not out.exists()


def test_integer_tensors_and_finite_weights_load(tmp_path: Path) -> None:
    path = tmp_path / "step_1"
    torch.save({"a": torch.ones(3), "steps": torch.tensor([2**40])}, path)
    assert set(read_state_dict(path)) == {"a", "steps"}


def test_a_training_run_starting_from_non_finite_weights_is_refused(tmp_path: Path) -> None:
    from trm.model.checkpoint import load_weights

    path = tmp_path / "step_1"
    torch.save({"w": torch.tensor([1.0, float("nan")])}, path)
    with pytest.raises(CheckpointError, match="tensor 'w' holds 1 non-finite"):
        load_weights(torch.nn.Linear(1, 1), os.fspath(path))
