"""`trm fetch-checkpoint`: the command line of trm.hub."""

from __future__ import annotations

import argparse
from pathlib import Path

from trm.hub import CHECKSUMS_FILE, DEFAULT_REPO_ID, fetch_checkpoint
from trm.outputs import check_output_path


def is_fetched_checkpoint(folder: Path) -> bool:
    """recognise(): a folder an earlier `trm fetch-checkpoint` wrote (it holds checksums.json)."""
    return folder.is_dir() and (folder / CHECKSUMS_FILE).is_file()


def _cmd_fetch(args: argparse.Namespace) -> int:
    source = args.path or args.repo_id
    include = args.include or None
    local = Path(source).expanduser()
    check_output_path(
        args.out,
        kind="checkpoint folder",
        recognise=is_fetched_checkpoint,
        inputs=[local] if local.exists() else [],
        overwrite=args.overwrite,
    )
    record = fetch_checkpoint(
        source,
        args.out,
        revision=args.revision,
        include=include,
        expect_sha256=args.expect_sha256,
        cache_dir=args.cache_dir,
        timeout_s=args.timeout,
        deadline_s=args.deadline,
    )
    total = sum(record["sizes"].values())
    print(f"fetched {len(record['files'])} file(s), {total / 1e6:.1f} MB, into {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fetch-checkpoint",
        help="download a checkpoint from the Hugging Face Hub (or copy a local one) and checksum it",
        description="Snapshot a Hub repository (or copy a local path) into --out and write "
        "--out/checksums.json with the sha256 of every file.",
    )
    p.add_argument(
        "--repo-id",
        default=DEFAULT_REPO_ID,
        help=f"Hub repo id, or a local folder/file to copy (default {DEFAULT_REPO_ID})",
    )
    p.add_argument("--path", help="local checkpoint folder or file (same as a local --repo-id)")
    p.add_argument("--revision", help="branch, tag or commit (default main)")
    p.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help="only files matching this pattern, e.g. 'arc_v1_public/*' (repeatable)",
    )
    p.add_argument("--out", required=True, help="destination folder (replaced atomically)")
    p.add_argument(
        "--expect-sha256",
        action="append",
        metavar="REL=HEX|HEX|FILE",
        help="fail unless a file has this sha256 (REL=HEX, a bare HEX for the weights file, or a checksums.json)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if it is not a folder written by `trm fetch-checkpoint`",
    )
    p.add_argument("--cache-dir", help="Hub cache folder (default: HF_HUB_CACHE)")
    p.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per network read (default 60)"
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="give up when the whole download takes longer than this many seconds",
    )
    p.set_defaults(func=_cmd_fetch)
