"""The LLM baseline: a causal language model fine-tuned with (Q)LoRA on ARC tasks written as
text, scored with the same per-task pass@K and bootstrap intervals as TRM.

config.py (the declared settings of every step), prompt.py (grids <-> text, chat messages,
robust answer parsing), prepare.py (ARC tasks -> chat JSONL), hf.py (loading models/tokenizers
from a Hub id or a folder, HF_TOKEN from the environment only), tiny.py (a tiny local Llama +
character tokenizer for CPU tests), train.py (LoRA training loop), predict.py (batched greedy
decoding over augmented views), score.py (voting, submission.json, pass@K with intervals); the
commands are trm/cli/llm.py (`trm llm ...`).

transformers/peft/accelerate are the optional extra `llm`; nothing here imports them at module
import time, so `trm --help` works without them.
"""
