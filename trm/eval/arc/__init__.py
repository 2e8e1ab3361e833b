"""ARC augmentation voting and pass@K with the reference evaluator's exact semantics, vectorised.

By concern: `testset` (identifiers.json and test_puzzles.json), `hashing` (crop, inverse
augmentation, grid hashes), `processed` (prediction rows un-augmented and hashed once),
`voting` (pooling, ranking, pass@K, row selections), `outputs` (submission.json, per-example
records, per-input table, metrics), `reference` (the per-prediction oracle). The names below
are the package's public API.
"""

from trm.eval.arc.hashing import crop_tokens, grid_hash, grid_keys, sigmoid64
from trm.eval.arc.outputs import (
    effective_votes_summary,
    example_record,
    metrics_with_intervals,
    per_example_records,
    per_input_table,
    submission,
)
from trm.eval.arc.processed import (
    ProcessedPredictions,
    answer_grid,
    process_arrays,
    process_pooled,
    process_predictions,
)
from trm.eval.arc.reference import reference_vote_loop
from trm.eval.arc.testset import ArcTestSet, load_arc_test_set
from trm.eval.arc.voting import (
    SUBMISSION_K,
    VoteResult,
    level_rows,
    mode_rows,
    random_aug_ranks,
    vote,
)
from trm.eval.schema import PASS_KS

__all__ = [
    "PASS_KS",
    "SUBMISSION_K",
    "ArcTestSet",
    "ProcessedPredictions",
    "VoteResult",
    "answer_grid",
    "crop_tokens",
    "effective_votes_summary",
    "example_record",
    "grid_hash",
    "grid_keys",
    "level_rows",
    "load_arc_test_set",
    "metrics_with_intervals",
    "mode_rows",
    "per_example_records",
    "per_input_table",
    "process_arrays",
    "process_pooled",
    "process_predictions",
    "random_aug_ranks",
    "reference_vote_loop",
    "sigmoid64",
    "submission",
    "vote",
]
