"""`trm claims [reports/claims.json]`: the claims ledger `trm report` wrote, one line per claim
(id, claimed, ours with its interval and n, verdict, reason), in a terminal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trm.command import Command
from trm.settings import input_path


@dataclass(kw_only=True)
class ClaimsSettings:
    ledger: Path = input_path(
        "claims.json written by `trm report`",
        default=Path("reports/claims.json"),
        positional=True,
        metavar="LEDGER",
    )


def show(s: ClaimsSettings) -> int:
    from trm.report.ledger import line, read_ledger

    entries = read_ledger(s.ledger)
    for e in entries:
        print(line(e))
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["verdict"]] = counts.get(e["verdict"], 0) + 1
    print(f"{len(entries)} claims: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return 0


COMMAND = Command(
    "claims",
    ClaimsSettings,
    show,
    help="print the claims ledger (reports/claims.json) one line per claim",
    description="Prints every claim of the ledger `trm report` wrote: its id, the claimed "
    "value, ours with its 95 % interval and n, the verdict (consistent, higher, lower, not run, "
    "not comparable) and why.",
)
COMMANDS = [COMMAND]
