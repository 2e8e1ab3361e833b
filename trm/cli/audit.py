"""`trm audit BUNDLE`: re-hash every file a provenance bundle recorded (trm.provenance.audit)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from trm.command import Command
from trm.settings import input_path


@dataclass(kw_only=True)
class AuditSettings:
    bundle: Path = input_path(
        "provenance bundle, e.g. reports/provenance.json", positional=True, metavar="BUNDLE"
    )
    root: Path | None = input_path(
        "folder the recorded paths are relative to (default: found from the bundle's location)",
        None,
    )


def audit(s: AuditSettings) -> int:
    from trm.provenance import audit as rehash
    from trm.utils import read_json

    problems = rehash(s.bundle, s.root)
    bundle = read_json(s.bundle, "provenance bundle")  # checked by rehash()
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


COMMANDS = [
    Command(
        "audit",
        AuditSettings,
        audit,
        help="re-hash every file in a provenance bundle; non-zero exit naming changed/missing files",
    )
]
