"""`trm fetch-checkpoint`: download a checkpoint from the Hugging Face Hub, or copy a local one,
and checksum every file (trm.hub)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trm.command import Command, Overwrite, Progress, refuse_overlap
from trm.hub import DEFAULT_REPO_ID, DEFAULT_TIMEOUT_S
from trm.settings import input_path, output_path, positive, setting

DAY_S = 86_400.0


@dataclass(kw_only=True)
class FetchCheckpointSettings(Progress, Overwrite):
    repo_id: str = setting(DEFAULT_REPO_ID, help="Hub repo id, or a local folder/file to copy")
    path: Path | None = input_path(
        "local checkpoint folder or file (same as a local --repo-id)", None, config=True
    )
    revision: str | None = setting(None, help="branch, tag or commit (default: main)")
    include: list[str] = setting(
        [],
        help="only files matching these patterns, e.g. 'arc_v1_public/*' (default: all)",
        metavar="GLOB",
    )
    out: Path = output_path("destination folder (checksums.json lists every file)", folder=True)
    expect_sha256: list[str] = setting(
        [],
        help="fail unless a file has this sha256: REL=HEX, a bare HEX for the weights file, or "
        "a checksums.json",
        metavar="REL=HEX|HEX|FILE",
        config=False,
    )
    cache_dir: Path | None = setting(
        None, help="Hub cache folder (default: HF_HUB_CACHE)", config=False
    )
    timeout: float = setting(
        DEFAULT_TIMEOUT_S,
        check=positive(DAY_S),
        help="seconds per network read",
        config=False,
    )
    deadline: float | None = setting(
        None,
        check=positive(),
        help="give up when the whole download takes longer than this many seconds",
        config=False,
    )


def fetch_checkpoint(s: FetchCheckpointSettings) -> int:
    from trm.hub import fetch_checkpoint as fetch

    source = str(s.path) if s.path is not None else s.repo_id
    local = Path(source).expanduser()
    if local.exists():  # a local --repo-id is an input too
        refuse_overlap(FETCH_CHECKPOINT, s, [local])
    record = fetch(
        source,
        s.out,
        revision=s.revision,
        include=s.include or None,
        expect_sha256=s.expect_sha256,
        cache_dir=s.cache_dir,
        timeout_s=s.timeout,
        deadline_s=s.deadline,
        progress=not s.no_progress,
    )
    total = sum(record["sizes"].values())
    print(f"fetched {len(record['files'])} file(s), {total / 1e6:.1f} MB, into {s.out}")
    return 0


FETCH_CHECKPOINT = Command(
    "fetch-checkpoint",
    FetchCheckpointSettings,
    fetch_checkpoint,
    help="download a checkpoint from the Hugging Face Hub (or copy a local one) and checksum it",
    description="Snapshot a Hub repository (or copy a local path) into --out and write "
    "--out/checksums.json with the sha256 of every file.",
)
COMMANDS = [FETCH_CHECKPOINT]
