"""`trm audit`: argument parsing only; the audit itself is trm.provenance.audit."""

from __future__ import annotations

import argparse
import sys

from trm.provenance import audit
from trm.utils import read_json


def _cmd_audit(args: argparse.Namespace) -> int:
    problems = audit(args.bundle, args.root)
    bundle = read_json(args.bundle, "provenance bundle")  # checked by audit()
    n_files = len(
        {e["path"] for r in bundle["records"] for e in r.get("inputs", []) + r.get("outputs", [])}
    )
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(
            f"trm audit: {len(problems)} problem(s) in {n_files} recorded files "
            f"({len(bundle['records'])} records)",
            file=sys.stderr,
        )
        return 1
    print(f"trm audit: OK, {n_files} files in {len(bundle['records'])} records match their sha256")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="re-hash every file in a provenance bundle; non-zero exit naming changed/missing files",
    )
    p.add_argument("bundle", help="provenance bundle, e.g. reports/provenance.json")
    p.add_argument(
        "--root",
        default=None,
        help="folder the recorded paths are relative to (default: found from the bundle's location)",
    )
    p.set_defaults(func=_cmd_audit)
