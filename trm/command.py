"""A `trm` command = a name, a settings dataclass (trm.settings) and a function of it.

From the declaration this module builds the argparse parser, converts and checks the values,
and guards the outputs by construction before the command's function runs:

- an output that is, contains or lies inside one of the command's inputs (or another of its
  outputs) is refused, whatever --overwrite says;
- an existing output is replaced only when it carries the marker this same command wrote
  (trm.outputs), otherwise only with --overwrite;
- a lock beside each output keeps a second writer out (it fails at once with one line); the
  lock of a writer that died is recognised and taken over.

After a successful run every output gets its marker. A command whose inputs are only known once
it has read something (a report spec, an ARC file prefix) calls `refuse_overlap` again with them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trm import outputs
from trm.presets import preset_names
from trm.settings import REQUIRED, Spec, check, count, from_text, input_path, setting, specs
from trm.settings_export import bounds_text, default_text, to_argv

# ---- settings groups many commands share (declared once) -----------------------------------------


@dataclass(kw_only=True)
class Overwrite:
    """Every command with outputs has --overwrite (trm.command refuses it otherwise)."""

    overwrite: bool = setting(
        False,
        help="replace an existing output that this command did not write (never an input)",
        config=False,
    )


@dataclass(kw_only=True)
class Progress:
    """Every long-running command has --no-progress (one spelling; no --quiet)."""

    no_progress: bool = setting(False, help="no progress bars", config=False)


@dataclass(kw_only=True)
class Resume:
    """Commands that write a run in place over time (`trm train`, `trm llm train`)."""

    resume: bool = setting(
        False, help="continue the run in --out from its last saved state", config=False
    )


@dataclass(kw_only=True)
class CheckpointChoice:
    """The weights a command loads (trm.model.checkpoint resolves folders to a step_N)."""

    checkpoint: Path = input_path("step_N file, run folder or fetched checkpoint folder")
    step: int | None = setting(
        None, check=count(0), help="which step_N of a folder (default: the highest)", config=False
    )


@dataclass(kw_only=True)
class ModelChoice:
    """The model when the checkpoint does not say (trm.model.build)."""

    arch: str | None = setting(
        None,
        choices=preset_names(),
        help="model preset (config/model/) when the checkpoint has no all_config.yaml",
        config=False,
    )
    arch_override: dict[str, str] = setting(
        {},
        help="override a model setting, KEY=VALUE (YAML value)",
        metavar="KEY=VALUE",
        config=False,
    )


@dataclass(kw_only=True)
class Device:
    device: str = setting(
        "auto", help="where the model runs: auto (CUDA when present), cpu, cuda or cuda:N"
    )


@dataclass(kw_only=True)
class Threads:
    threads: int | None = setting(
        None,
        check=count(1, 4096),
        help="CPU threads for torch (default: torch's choice)",
        config=False,
    )


# ---- the command --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: str  # "score arc": the words after `trm`
    settings: type  # a kw_only dataclass of trm.settings fields
    run: Callable[[Any], int | None]
    help: str
    description: str | None = None

    def __post_init__(self) -> None:
        declared = specs(self.settings)
        if any(s.role == "output" for s in declared) and not issubclass(self.settings, Overwrite):
            raise TypeError(f"trm {self.name}: a command with outputs must include Overwrite")

    @property
    def words(self) -> list[str]:
        return self.name.split()

    @property
    def marker(self) -> str:
        """What the marker of this command's outputs says."""
        return f"trm {self.name}"

    def inputs(self, settings: Any) -> list[Path]:
        return _paths(settings, "input")

    def outputs(self, settings: Any) -> list[tuple[Spec, Path]]:
        out = []
        for spec in specs(self.settings):
            if spec.role == "output":
                for p in _values(getattr(settings, spec.name)):
                    out.append((spec, Path(p)))
        return out

    def argv(self, values: dict[str, Any]) -> list[str]:
        """`trm` arguments for declared names -> values (what a workflow job runs)."""
        return [*self.words, *to_argv(self.settings, values, f"trm {self.name}")]

    def command_line(self, settings: Any) -> str:
        """The shell-quoted command line that reproduces `settings` (recorded in manifests)."""
        values = {}
        for spec in specs(self.settings):
            value = getattr(settings, spec.name)
            if value is None or (not spec.required and value == spec.default):
                continue
            values[spec.name] = value
        return shlex.join(["trm", *self.argv(values)])


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _paths(settings: Any, role: str) -> list[Path]:
    return [
        Path(p)
        for spec in specs(type(settings))
        if spec.role == role
        for p in _values(getattr(settings, spec.name))
    ]


# ---- the output guard ---------------------------------------------------------------------------


def refuse_repeated_inputs(command: Command, settings: Any) -> None:
    """One list or mapping of inputs names each file once: the same predictions twice would
    vote twice, the same score folder under two names would compare a run with itself."""
    from trm.errors import InputError

    for spec in specs(command.settings):
        value = getattr(settings, spec.name)
        if spec.role != "input" or not isinstance(value, list | dict):
            continue
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        seen: dict[Path, Any] = {}
        for key, path in items:
            first = seen.setdefault(Path(path).resolve(), key)
            if first != key:
                what = (
                    f"{key}={path} names the same path as {first}={value[first]}"
                    if isinstance(value, dict)
                    else f"{path} is given twice"
                )
                raise InputError(f"{spec.option}: {what}: give each input once")


def refuse_overlap(
    command: Command, settings: Any, extra_inputs: Iterable[str | Path] = ()
) -> None:
    """Refuse outputs that are, contain or lie inside an input or another output."""
    ins = [*command.inputs(settings), *map(Path, extra_inputs)]
    outs = command.outputs(settings)
    for spec, out in outs:
        for inp in ins:
            outputs.refuse_if_overlapping(out, inp, option=spec.option)
    for i, (spec, out) in enumerate(outs):
        for other_spec, other in outs[i + 1 :]:
            outputs.refuse_if_overlapping(
                out, other, option=spec.option, what=f"the output {other_spec.option}"
            )


def _secondary_rank() -> bool:
    """A process of a torchrun job other than rank 0 (which guards, locks and marks alone)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) > 0
    except ValueError:
        return False


@contextlib.contextmanager
def guarded(command: Command, settings: Any) -> Iterator[None]:
    """Check, lock and (after success) mark every output of `command`. Under torchrun only
    rank 0 does so: the ranks of one job write one output together."""
    refuse_repeated_inputs(command, settings)
    refuse_overlap(command, settings)
    if _secondary_rank():
        yield
        return
    overwrite = bool(getattr(settings, "overwrite", False))
    outs = command.outputs(settings)
    for spec, out in outs:
        outputs.check_replaceable(out, command.marker, overwrite=overwrite, option=spec.option)
    with contextlib.ExitStack() as stack:
        for _spec, out in outs:
            stack.enter_context(outputs.output_lock(out, command.marker))
        new = [out for spec, out in outs if spec.incremental and not out.exists()]
        # A file output that does not exist yet is marked before the run: if the run is killed
        # after renaming it into place but before marking it, the next run still knows it.
        pending = [
            out
            for spec, out in outs
            if not spec.folder and not spec.incremental and not (out.exists() or out.is_symlink())
        ]
        for spec, out in outs:
            if spec.incremental or out in pending:  # incremental: written in place over time
                outputs.write_marker(out, command.marker, folder=spec.folder)
        try:
            yield
        except BaseException:
            for out in new:  # a run that failed before writing anything leaves nothing
                outputs.remove_if_only_marker(out)
            _unmark_missing(pending)
            raise
        _unmark_missing(pending)  # an output the run did not write keeps no marker
        for spec, out in outs:
            if out.exists() and not spec.incremental:
                outputs.write_marker(out, command.marker, folder=spec.folder)


def _unmark_missing(files: list[Path]) -> None:
    for out in files:
        if not (out.exists() or out.is_symlink()):
            outputs.marker_path(out, folder=False).unlink(missing_ok=True)


def invoke(command: Command, settings: Any) -> int:
    """Check the settings, guard the outputs and run the command."""
    check(settings)
    with guarded(command, settings):
        rc = command.run(settings)
    return int(rc or 0)


# ---- argparse from the declaration --------------------------------------------------------------


def _help_text(spec: Spec) -> str:
    extra = [bounds_text(spec)] if bounds_text(spec) else []
    if not spec.required and spec.base is not bool and spec.default not in (None, [], {}, ""):
        extra.append(f"default: {default_text(spec)}")
    text = spec.help + (f" ({'; '.join(extra)})" if extra else "")
    return text.replace("%", "%%")  # argparse formats help with %


_SHARED_LAST = ("overwrite", "no_progress")  # Overwrite, Progress: listed after the command's own


def _help_order(spec: Spec) -> tuple[int, int]:
    return ({"input": 0, "output": 1}.get(spec.role, 2), spec.name in _SHARED_LAST)


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    for spec in sorted(specs(cls), key=_help_order):
        kwargs: dict[str, Any] = {"help": _help_text(spec), "dest": spec.name}
        if spec.metavar:
            kwargs["metavar"] = spec.metavar
        if spec.positional:
            del kwargs["dest"]
            # a positional with a default may be left out
            kwargs["nargs"] = "*" if spec.is_list else (None if spec.required else "?")
            kwargs["default"] = None
            parser.add_argument(spec.name, **kwargs)
            continue
        if spec.base is bool:
            if spec.default is not False:
                raise TypeError(f"{cls.__name__}.{spec.name}: a switch must default to False")
            parser.add_argument(spec.option, action="store_true", **kwargs)
            continue
        if spec.is_list or spec.is_mapping:
            kwargs |= {"nargs": "+", "action": "extend"}
            kwargs.setdefault("metavar", "NAME=VALUE" if spec.is_mapping else None)
            if kwargs["metavar"] is None:
                del kwargs["metavar"]
        parser.add_argument(spec.option, required=spec.required, default=None, **kwargs)


def settings_from_namespace(cls: type, ns: argparse.Namespace) -> Any:
    """The settings dataclass from parsed arguments: text converted by the declared types,
    defaults filled in (checks follow in `invoke`)."""
    values: dict[str, Any] = {}
    for spec in specs(cls):
        raw = getattr(ns, spec.name, None)
        if spec.base is bool and not spec.positional:
            values[spec.name] = bool(raw)
        elif raw is None or (spec.positional and spec.is_list and raw == []):
            if spec.required:  # a required positional left out: `check` names it
                values[spec.name] = REQUIRED
        else:
            values[spec.name] = from_text(spec, raw)
    return cls(**values)


def _escaped(text: str | None) -> str | None:
    """Help text as argparse wants it: it %-formats help strings (not descriptions), so a
    literal "95 % interval" is written "95 %% interval" there, and shown as written."""
    return None if text is None else text.replace("%", "%%")


@dataclass(frozen=True)
class Group:
    """A word that only groups subcommands (`trm score ...`), with its help."""

    name: str
    help: str
    description: str | None = None


def build_parser(
    commands: Sequence[Command], groups: Sequence[Group], prog: str = "trm", **kwargs: Any
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, **kwargs)
    helps = {g.name: g for g in groups}
    tree: dict[tuple[str, ...], argparse._SubParsersAction] = {
        (): parser.add_subparsers(dest="command", metavar="COMMAND")
    }
    for cmd in commands:
        words = cmd.words
        for depth in range(1, len(words)):
            prefix = tuple(words[:depth])
            if prefix not in tree:
                group = helps.get(" ".join(prefix))
                gp = tree[prefix[:-1]].add_parser(
                    prefix[-1],
                    help=_escaped(group.help) if group else None,
                    description=(group.description or group.help) if group else None,
                )
                tree[prefix] = gp.add_subparsers(
                    dest=f"_{'_'.join(prefix)}", metavar="COMMAND", required=True
                )
        p = tree[tuple(words[:-1])].add_parser(
            words[-1], help=_escaped(cmd.help), description=cmd.description or cmd.help
        )
        add_arguments(p, cmd.settings)
        p.set_defaults(_command=cmd)
    return parser
