"""Analyses over predictions (issue 11): per-step trajectories and halting, puzzle-ID ablation,
checkpoint-ensemble voting. Each reads predictions through trm.eval.predictions and votes
through trm.eval.arc; declared output keys live in `keys`."""
