"""`trm score arc|sudoku|maze`: metrics of one predictions file against its dataset
(trm.eval.scoring). Comparisons of score folders are `trm compare`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trm.command import Command, Group, Overwrite, Progress
from trm.eval.scoring import MODES
from trm.eval.stats import Bootstrap
from trm.kinds import KINDS, PuzzleKind
from trm.settings import input_path, output_path, setting

GROUPS = [
    Group(
        "score",
        "score predictions: ARC voting and pass@K, Sudoku/Maze accuracy",
        "Score a predictions.npz against a prepared dataset; metrics.json holds every figure "
        "with its 95 % interval, the interval's method and n.",
    )
]


@dataclass(kw_only=True)
class ScoreSettings(Bootstrap, Progress, Overwrite):
    data: Path = input_path("prepared dataset folder (its test split is scored)")
    predictions: list[Path] = input_path(
        "predictions.npz of `trm predict` (ARC: several, e.g. one per checkpoint, vote pooled)"
    )
    out: Path = output_path("folder for metrics.json and the per-example files", folder=True)


@dataclass(kw_only=True)
class ScoreArcSettings(ScoreSettings):
    mode: str = setting(
        "paper",
        choices=MODES,
        help="which copies vote: paper = every augmented view, single = the un-augmented view",
        config=False,
    )


def score_arc(s: ScoreArcSettings) -> int:
    from trm.eval import schema as S
    from trm.eval.scoring import score_arc as score
    from trm.kinds import require_voted

    require_voted(s.data, "`trm score arc`")

    metrics = score(
        s.data,
        s.predictions,
        s.out,
        mode=s.mode,
        boot=s,
        progress=not s.no_progress,
    )
    print(json.dumps({S.arc_pass_key(k): metrics[S.arc_pass_key(k)] for k in S.PASS_KS}))
    return 0


def _score_grid(kind: PuzzleKind):  # noqa: ANN202
    def run(s: ScoreSettings) -> int:
        from trm.errors import InputError
        from trm.eval.scoring import score_grid
        from trm.kinds import require_kind

        require_kind(s.data, kind.name, f"`trm score {kind.name}`")
        if len(s.predictions) != 1:
            raise InputError(f"--predictions: {kind.title} scores one predictions file")
        metrics = score_grid(s.data, s.predictions[0], s.out, kind.title, boot=s)
        print(json.dumps({k: v for k, v in metrics.items() if "_ci_" not in k}))
        return 0

    return run


COMMANDS = [
    Command(
        "score arc",
        ScoreArcSettings,
        score_arc,
        help="ARC: augmentation voting, pass@K, submission.json, per_example.jsonl",
        description="Reference ARC voting. --mode paper lets every augmented copy vote; --mode "
        "single keeps only the un-augmented copy of each test input (same predictions, same "
        "learned puzzle embeddings).",
    ),
    *(
        Command(
            f"score {k.name}",
            ScoreSettings,
            _score_grid(k),
            help=f"{k.title}: exact (whole grid) and cell accuracy with 95 % intervals",
        )
        for k in KINDS.values()
        if not k.voted
    ),
]
