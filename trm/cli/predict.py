"""`trm predict`: one eval-mode ACT pass over every test example of a dataset
(trm.eval.predict), sharded, resumable and torchrun-aware."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trm.command import CheckpointChoice, Command, Device, ModelChoice, Overwrite, Progress, Threads
from trm.eval.predict.identifiers import PUZZLE_ID_MODES
from trm.limits import MAX_ACT_STEPS
from trm.settings import SEED, count, input_path, output_path, setting, size

FORWARD_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(kw_only=True)
class BatchSize:
    """Rows per forward pass (the workflow's predict.batch_size; also `trm analyse ensemble`)."""

    batch_size: int = setting(256, check=size(1, 1 << 20), help="test examples per forward pass")


@dataclass(kw_only=True)
class ActSteps:
    """ACT steps at test time (the workflow's analyses.halt_max_steps; also `trm analyse
    checkpoints`, which predicts as the experiment's predict does)."""

    halt_max_steps: int | None = setting(
        None,
        check=count(1, MAX_ACT_STEPS),
        help="ACT steps to run instead of the checkpoint's halt_max_steps (test-time depth)",
    )


@dataclass(kw_only=True)
class PredictSettings(
    BatchSize, ActSteps, CheckpointChoice, ModelChoice, Device, Threads, Progress, Overwrite
):
    data: Path = input_path("prepared dataset folder (its test split is predicted)")
    out: Path = output_path(
        "predictions .npz to write (its meta record goes beside it: <stem>.meta.json)",
        folder=False,
    )
    dtype: str = setting(
        "auto",
        choices=FORWARD_DTYPES,
        help="forward dtype (auto: float32 on CPU, the checkpoint's config on GPU)",
    )
    max_examples: int | None = setting(
        None, check=count(1), help="only the first N test examples (quick runs)", config=False
    )
    shard_batches: int = setting(
        16, check=count(1, 1 << 20), help="batches per resumable shard", config=False
    )
    resize_puzzle_emb: bool = setting(
        False,
        help="load a checkpoint whose puzzle-embedding table has another number of rows",
        config=False,
    )
    compile: bool = setting(False, help="torch.compile the recursion (GPU runs)", config=False)
    trajectory: bool = setting(
        False,
        help="ARC: also store every ACT step's answer hash and q_halt logit "
        "(14 bytes/example/step)",
    )
    # The workflow's analyses.puzzle_ids is the LIST of ablation variants (one predict job
    # each, passed by the rule); this command takes one, so it is not a config key here.
    puzzle_ids: str = setting(
        "true",
        choices=PUZZLE_ID_MODES,
        help="puzzle identifiers fed to the model (ablation; true: the dataset's)",
        config=False,
    )
    puzzle_id_seed: int = setting(0, check=SEED, help="seed of --puzzle-ids random")
    puzzle_ids_from: Path | None = input_path(
        "the dataset the checkpoint was trained on, when --data is another one (e.g. trained "
        "at num_aug 0, evaluated on augmented views): each test puzzle is fed TRAIN_DATA's "
        "identifier of the same name, else of its un-augmented task name",
        None,
        metavar="TRAIN_DATA",
    )


def predict(s: PredictSettings) -> int:
    from trm.eval.predict import run_predict

    if s.trajectory:
        from trm.kinds import require_voted

        require_voted(s.data, "`trm predict --trajectory`")

    record = run_predict(s)
    if record:
        print(
            f"wrote {s.out}: {record['num_examples']} examples, {record['computed_examples']} "
            f"computed in {record['seconds']:.1f} s on {record['device']} "
            f"({record['examples_per_s'] or 0:.1f} examples/s)"
        )
    return 0


COMMAND = Command(
    "predict",
    PredictSettings,
    predict,
    help="run eval-mode ACT on every test example of a dataset (sharded, resumable, torchrun)",
    description="Write predictions.npz (puzzle_identifiers, inputs, preds, q_halt_logits) for "
    "every test example of --data, plus <stem>.meta.json. Rerunning after an interruption "
    "resumes from the shards in <out>.shards/. Under torchrun the ranks split the shards.",
)
COMMANDS = [COMMAND]
