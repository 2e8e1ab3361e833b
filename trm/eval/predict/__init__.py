"""Inference over a dataset (`trm predict`): one eval-mode ACT pass over every test example.

It is the expensive step (ARC-AGI-1 at 1000 augmentations: 385,815 examples x 16 ACT steps);
everything downstream (scoring, sweeps, analyses) reuses its file. One job per module:

- batches: the core loop, rows of inputs and fed identifiers -> answers, q_halt logits and
  optional per-step fields (steps: the ARC per-step hashes of `--trajectory`);
- identifiers: what the model is fed as puzzle identifiers (true, blank, random, mean; mapped
  by name from the training dataset with `--puzzle-ids-from`);
- shards: resumable shards under `<out>.shards/` and their merge into the predictions file;
- distributed: the split of the shards among torchrun's ranks;
- run: the command's glue (settings -> all of the above -> the file and its meta record).

Analyses (trm.eval.analyses) import this package; it imports none of them.
"""

from trm.eval.predict.run import meta_path_for, run_predict
from trm.eval.predict.shards import shards_dir_for

__all__ = ["meta_path_for", "run_predict", "shards_dir_for"]
