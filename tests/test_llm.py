"""The LLM baseline (trm/llm, rules/llm.smk), offline on CPU with a tiny random Llama and a
character tokenizer saved in the Hugging Face layout."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip(
    "transformers", reason="the LLM baseline needs the extra: pip install '.[llm-cpu]'"
)
pytest.importorskip("peft", reason="the LLM baseline needs the extra: pip install '.[llm-cpu]'")

import torch  # noqa: E402

from trm.cli import main  # noqa: E402
from trm.cli.llm import LlmScoreSettings  # noqa: E402
from trm.errors import UserError  # noqa: E402
from trm.eval.stats import Bootstrap  # noqa: E402
from trm.llm import hf  # noqa: E402
from trm.llm.config import (  # noqa: E402
    LoraTrainConfig,
    PredictConfig,
    PrepareConfig,
    TinyModelConfig,
)
from trm.llm.predict import generate_batch, predict  # noqa: E402
from trm.llm.prepare import prepare, read_jsonl  # noqa: E402
from trm.llm.prompt import grid_to_text, parse_grid  # noqa: E402
from trm.llm.score import score as vote  # noqa: E402
from trm.llm.tiny import char_tokenizer, make_tiny_model, write_toy_tasks  # noqa: E402
from trm.llm.train import train  # noqa: E402

FAKE_TOKEN = "hf_FAKEtokenDoNotLeak0123456789"


@pytest.fixture(autouse=True)
def _one_thread():
    # A tiny model on a shared 2-core machine: more threads only contend (see rules/llm.smk).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("llm") / "tiny", TinyModelConfig(seed=0))


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> str:
    prefix = str(tmp_path_factory.mktemp("toy") / "arc")
    write_toy_tasks(prefix, n_tasks=4, size=2, n_demos=2, seed=0)
    return prefix


def _prep(model: str, prefix: str, out: Path, **kw) -> dict:
    cfg = PrepareConfig(
        model=model,
        subsets=["training", "evaluation"],
        test_set="evaluation",
        input_prefix=prefix,
        **kw,
    )
    return prepare(cfg, out)


def score(data: Path, predictions: Path, out: Path, boot: Bootstrap, cost_files=()) -> dict:
    """`trm llm score`'s library call."""
    s = LlmScoreSettings(
        data=data,
        predictions=predictions,
        out=out,
        n_boot=boot.n_boot,
        seed=boot.seed,
        cost=list(cost_files),
    )
    return vote(s)


# ---------------------------------------------------------------------------------------------
# Parsing


def test_parse_grid_accepts_answers_and_rejects_malformed_without_raising():
    assert parse_grid("[[1,2],[3,4]]") == [[1, 2], [3, 4]]
    assert parse_grid("Test Output: [[1, 2],\n [3, 4]] done") == [[1, 2], [3, 4]]
    assert parse_grid("noise [[1,2],[3]] then [[5]]") == [[5]]  # first ragged, second fine
    for bad in (
        "",
        "[[1,2],[3,4]",
        "[[1,2],[3,x]]",
        "[[10]]",
        "[[-1]]",
        "[[]]",
        "[[1.0]]",
        "[" * 5000,
        "[[true]]",
        grid_to_text([[1] * 31]),
    ):
        assert parse_grid(bad) is None, bad
    assert parse_grid(grid_to_text([[7] * 30] * 30)) == [[7] * 30] * 30


# ---------------------------------------------------------------------------------------------
# Loading: local folder, offline Hub cache, gated model without a token


def test_hub_id_loads_from_a_prepopulated_cache_offline(tiny, tmp_path):
    import subprocess
    import sys

    cache = tmp_path / "hub"
    repo = cache / "models--trm-test--tiny-llama"
    shutil.copytree(tiny, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    # huggingface_hub reads HF_HUB_OFFLINE when imported: a fresh interpreter, as a user runs it
    env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).parents[1]), env.get("PYTHONPATH")])
    )
    code = (
        "from trm.llm import hf\n"
        "tok = hf.load_tokenizer('trm-test/tiny-llama')\n"
        "m = hf.load_model('trm-test/tiny-llama', device='cpu')\n"
        "print('loaded', m.config.model_type, bool(tok.chat_template))\n"
        "try:\n"
        "    hf.load_tokenizer('trm-test/not-cached')\n"
        "except hf.ModelAccessError as e:\n"
        "    print('error:', e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "loaded llama True" in proc.stdout
    assert "error: cannot load model 'trm-test/not-cached' (HF_HUB_OFFLINE is set" in proc.stdout


def test_gated_model_without_token_is_a_clear_error_and_the_token_never_leaks(
    toy, tmp_path, monkeypatch, capsys
):
    import transformers

    def gated(*a, **k):
        raise OSError(
            "You are trying to access a gated repo.\nMake sure to have access to it at "
            "https://huggingface.co/meta-llama/Meta-Llama-3-8B-Instruct.\n401 Client Error."
        )

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", gated)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    out = tmp_path / "data"
    argv = [
        "llm",
        "prepare",
        "--model",
        "meta-llama/Meta-Llama-3-8B-Instruct",
        "--input-prefix",
        toy,
        "--out",
        str(out),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "gated" in err and "HF_TOKEN is not set" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "HF_TOKEN is set" in err and FAKE_TOKEN not in err


# ---------------------------------------------------------------------------------------------
# Prepare: chat template, augmentation, over-long prompts


def test_prepare_uses_the_chat_template_and_counts_augmented_copies(tiny, toy, tmp_path):
    man = _prep(str(tiny), toy, tmp_path / "d", num_aug=2, test_views=1, seed=3)
    train_recs = read_jsonl(tmp_path / "d" / "train.jsonl", "t")
    test_recs = read_jsonl(tmp_path / "d" / "test.jsonl", "t")
    assert len(train_recs) == 4 * 3 and len(test_recs) == 4 * 2
    tok = char_tokenizer()
    tok.chat_template = tok.chat_template  # the saved template is the one rendered
    r = train_recs[0]
    assert r["prompt"].startswith("<s><|user|>\n") and r["prompt"].endswith("<|assistant|>\n")
    assert r["completion"] == r["answer"] + "<|end|>\n"
    assert {x["name"].count("|||") for x in train_recs} == {0, 2}
    # same seed, same bytes; another seed, other augmentations
    _prep(str(tiny), toy, tmp_path / "d2", num_aug=2, test_views=1, seed=3)
    _prep(str(tiny), toy, tmp_path / "d3", num_aug=2, test_views=1, seed=4)
    same = json.loads((tmp_path / "d2" / "manifest.json").read_text())["files"]
    other = json.loads((tmp_path / "d3" / "manifest.json").read_text())["files"]
    assert same == man["files"] and other["train.jsonl"] != man["files"]["train.jsonl"]
    assert man["max_new_tokens"] >= max(x["answer_tokens"] for x in train_recs + test_recs)


@pytest.mark.parametrize("policy", ["drop_demos", "skip"])
def test_overlong_prompts_drop_whole_demonstrations_or_are_skipped(tiny, tmp_path, policy):
    prefix = str(tmp_path / "arc")
    write_toy_tasks(prefix, n_tasks=3, size=3, n_demos=3, seed=1)
    full = _prep(str(tiny), prefix, tmp_path / "full")
    n_full = full["max_prompt_tokens"] + full["max_answer_tokens"]
    man = _prep(str(tiny), prefix, tmp_path / "d", max_len=n_full - 60, overlong=policy)
    c = man["splits"]["test"]
    assert c["overlong"] == 3  # every toy prompt has the same length
    recs = read_jsonl(tmp_path / "d" / "test.jsonl", "t")
    if policy == "skip":
        assert c["skipped"] == 3 and recs == [] and len(c["skipped_ids"]) == 3
        # a skipped test input has no answer: scored wrong, counted, not a crash
        (tmp_path / "p.jsonl").write_text("")
        m = score(tmp_path / "d", tmp_path / "p.jsonl", tmp_path / "s", boot=Bootstrap(n_boot=100))
        assert m["ARC/pass@2"] == 0 and m["n_prompts_skipped_overlong"] == 3
        return
    assert c["truncated"] == 3 and c["demos_dropped"] >= 3 and c["skipped"] == 0
    for rec in recs:
        assert rec["prompt_tokens"] + rec["answer_tokens"] <= n_full - 60
        assert rec["n_demos"] + rec["n_demos_dropped"] == 3
        # only whole grids: every grid written in the prompt parses
        body = rec["prompt"].split("\n")
        grids = [ln.split(": ", 1)[1] for ln in body if ln.startswith(("Example", "Test Input"))]
        grids = [g.split("<|end|>")[0] for g in grids]
        assert len(grids) == 2 * rec["n_demos"] + 1
        assert all(parse_grid(g) is not None for g in grids)


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--overlong", "cut", "--overlong: 'cut' is not one of drop_demos, skip"),
        ("--seed", "-1", "--seed: -1 is not a valid seed"),
        ("--max-len", "1e12", "--max-len: 1000000000000 is not a valid size"),
        ("--num-aug", "nan", "--num-aug: expected a whole number"),
    ],
)
def test_prepare_refuses_bad_settings_in_one_line_and_leaves_no_output(
    tiny, toy, tmp_path, capsys, flag, value, named
):
    out = tmp_path / "d"
    argv = ["llm", "prepare", "--model", str(tiny), "--input-prefix", toy, "--out", str(out)]
    assert main([*argv, flag, value]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["train", "--seed", "-3"], "--seed: -3 is not a valid seed"),
        (["train", "--lr", "nan"], "--lr: nan is not a finite number"),
        (["train", "--lr", "0"], "--lr: 0.0 is not a valid positive number"),
        (["train", "--batch-size", "100000000"], "--batch-size: 100000000 is not a valid size"),
        (["train", "--dropout", "1.5"], "--dropout: 1.5 is not a valid probability"),
        (["predict", "--batch-size", "0"], "--batch-size: 0 is not a valid size"),
        (["predict", "--max-new-tokens", "1e9"], "--max-new-tokens: 1000000000 is not a valid"),
        (["make-tiny-model", "--hidden-size", "1e9"], "--hidden-size: 1000000000 is not a valid"),
    ],
)
def test_llm_commands_refuse_bad_settings_before_loading_anything(tmp_path, capsys, argv, named):
    out = tmp_path / "out"
    cmd, *flags = argv
    needs = {
        "train": ["--model", "m", "--data", str(tmp_path)],
        "predict": ["--model", "m", "--data", str(tmp_path)],
        "make-tiny-model": [],
    }[cmd]
    assert main(["llm", cmd, *needs, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Decoding limits: a 30x30 answer comes out whole


class _Scripted(torch.nn.Module):
    """Wraps a tiny Llama so that greedy decoding emits `script` whatever the prompt."""

    def __init__(self, base, script: list[int], prompt_len: int):
        super().__init__()
        self.base, self.script, self.prompt_len = base, script, prompt_len

    def generate(self, **kw):
        kw["logits_processor"] = [self._force, *kw.get("logits_processor", [])]
        return self.base.generate(**kw)

    def _force(self, input_ids, scores):
        i = input_ids.shape[1] - self.prompt_len
        forced = torch.full_like(scores, -1e9)
        forced[:, self.script[min(i, len(self.script) - 1)]] = 0
        return forced


def test_a_30x30_answer_is_generated_in_full_within_the_data_derived_limit(tiny, tmp_path):
    import numpy as np

    big = np.arange(900).reshape(30, 30) % 10
    prefix = tmp_path / "arc"
    task = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}]}
    for subset in ("training", "evaluation"):
        name = "big" if subset == "evaluation" else "big-training"  # one id, one puzzle
        Path(f"{prefix}_{subset}_challenges.json").write_text(json.dumps({name: task}))
        Path(f"{prefix}_{subset}_solutions.json").write_text(json.dumps({name: [big.tolist()]}))
    man = _prep(str(tiny), str(prefix), tmp_path / "d")
    tok = hf.load_tokenizer(str(tiny))
    answer = grid_to_text(big)
    assert man["max_new_tokens"] > len(answer) > 1800  # one token per character here
    rec = read_jsonl(tmp_path / "d" / "test.jsonl", "t")[0]
    prompt = tok(rec["prompt"], add_special_tokens=False)["input_ids"]
    script = tok(rec["completion"], add_special_tokens=False)["input_ids"]
    model = _Scripted(hf.load_model(str(tiny), device="cpu"), script, len(prompt))
    stop = man["tokenizer"]["stop_token_ids"]
    ids, _, stopped = generate_batch(model, tok, [prompt], man["max_new_tokens"], stop, "cpu")[0]
    assert stopped and parse_grid(tok.decode(ids, skip_special_tokens=True)) == big.tolist()
    # the fork's constant cap of 128 tokens cuts it: unparseable, and flagged as such
    ids, _, stopped = generate_batch(model, tok, [prompt], 128, stop, "cpu")[0]
    assert not stopped and parse_grid(tok.decode(ids, skip_special_tokens=True)) is None


# ---------------------------------------------------------------------------------------------
# Scoring


def _write_preds(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_votes_views_counts_unparseable_and_writes_an_arc_prize_submission(
    tiny, toy, tmp_path
):
    from trm.eval import schema as S

    _prep(str(tiny), toy, tmp_path / "d", test_views=2)
    truth = json.loads((tmp_path / "d" / "test_tasks.json").read_text())
    tasks = list(truth)
    views = [r["name"] for r in read_jsonl(tmp_path / "d" / "test.jsonl", "t")]
    v0 = [v for v in views if v.split("|||")[0] == tasks[0]]  # task 0's three views
    right = truth[tasks[0]]["test"][0]["output"]
    wrong = [[9, 9], [9, 9]] if right != [[9, 9], [9, 9]] else [[8]]
    rows = [
        # task 0: two views say `wrong`, one says `right`: wrong wins pass@1, right is attempt_2
        {"task": tasks[0], "test_index": 0, "name": v0[0], "grid": wrong, "mean_logprob": -1.0},
        {"task": tasks[0], "test_index": 0, "name": v0[1], "grid": right, "mean_logprob": -0.1},
        {"task": tasks[0], "test_index": 0, "name": v0[2], "grid": wrong, "mean_logprob": -2.0},
        # task 1: garbage only
        {"task": tasks[1], "test_index": 0, "name": tasks[1], "grid": None, "text": "[[1,"}
        | {"stopped": False},
        # task 2: right on its single view
        {"task": tasks[2], "test_index": 0, "name": tasks[2]}
        | {"grid": truth[tasks[2]]["test"][0]["output"]},
    ]  # task 3: no prediction at all
    m = score(
        tmp_path / "d",
        _write_preds(tmp_path / "p.jsonl", rows),
        tmp_path / "s",
        boot=Bootstrap(n_boot=200),
    )
    assert m["ARC/pass@1"] == pytest.approx(1 / 4) and m["ARC/pass@2"] == pytest.approx(2 / 4)
    lo, hi = (m[k] for k in S.ci_keys("ARC/pass@2"))  # the project's one interval layout
    assert 0 <= lo <= 0.5 <= hi <= 1
    assert not any(k.endswith("_ci95") for k in m)
    assert m["n_tasks"] == 4 and m["n_test_inputs"] == 4
    assert m["n_unparseable"] == 1 and m["n_hit_token_limit"] == 1
    assert m["n_test_inputs_without_answer"] == 2
    sub = json.loads((tmp_path / "s" / "submission.json").read_text())
    assert list(sub) == tasks and all(len(sub[t]) == len(truth[t]["test"]) for t in tasks)
    assert sub[tasks[0]][0] == {"attempt_1": wrong, "attempt_2": right}
    assert sub[tasks[1]][0] == {"attempt_1": [[0]], "attempt_2": [[0]]}
    lines = (tmp_path / "s" / "per_input.csv").read_text().splitlines()
    # TRM's per-input columns (trm.eval.schema), so `trm compare runs` reads both scorers alike
    assert lines[0].split(",") == [*S.PER_INPUT, "pass@1", "pass@2"]
    assert lines[1].split(",") == [tasks[0], "0", "3", "2", "2", "1", "0", "1"]


def test_score_names_the_file_and_line_of_a_bad_prediction(tiny, toy, tmp_path, capsys):
    _prep(str(tiny), toy, tmp_path / "d")
    p = tmp_path / "p.jsonl"
    p.write_text('{"task": "toy0000", "test_index": 0, "grid": null}\n{"grid": [[1]]}\n')
    rc = main(
        [
            "llm",
            "score",
            "--data",
            str(tmp_path / "d"),
            "--predictions",
            str(p),
            "--out",
            str(tmp_path / "s"),
            "--n-boot",
            "100",
        ]
    )
    assert rc == 2 and f"{p}: line 2" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------------------------------------
# Learning, not just running


def test_lora_fine_tune_memorises_small_tasks_and_the_untrained_model_does_not(tiny, toy, tmp_path):
    _prep(str(tiny), toy, tmp_path / "d")
    kw = dict(batch_size=4, device="cpu")
    predict(PredictConfig(model=str(tiny), **kw), tmp_path / "d", tmp_path / "p0.jsonl")
    before = score(
        tmp_path / "d", tmp_path / "p0.jsonl", tmp_path / "s0", boot=Bootstrap(n_boot=100)
    )
    cfg = LoraTrainConfig(
        model=str(tiny),
        r=16,
        alpha=16,
        lr=3e-3,
        epochs=1000,
        max_steps=60,
        batch_size=4,
        grad_accum=1,
        warmup_steps=2,
        seed=0,
        device="cpu",
        checkpoint_every=30,
    )
    summary = train(cfg, tmp_path / "d", tmp_path / "run")
    losses = [json.loads(x)["loss"] for x in (tmp_path / "run" / "metrics.jsonl").open()]
    assert len(losses) == 60 and losses[-1] < 0.1 * losses[0]
    assert summary["trainable_parameters"] < summary["parameters"] / 2
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").exists()
    predict(
        PredictConfig(model=str(tiny), adapter=str(tmp_path / "run" / "adapter"), **kw),
        tmp_path / "d",
        tmp_path / "p1.jsonl",
    )
    after = score(
        tmp_path / "d",
        tmp_path / "p1.jsonl",
        tmp_path / "s1",
        boot=Bootstrap(n_boot=100),
        cost_files=[tmp_path / "run" / "train_summary.json", tmp_path / "p1.summary.json"],
    )
    assert before["ARC/pass@2"] == 0.0 and after["ARC/pass@1"] >= 0.75
    assert after["cost"]["tokens_generated"] > 0 and after["cost"]["cpu_seconds"] > 0
    # resuming a finished run from its last checkpoint does no more steps
    again = train(cfg, tmp_path / "d", tmp_path / "run", resume=True)
    assert again["steps"] == 60
    with pytest.raises(UserError, match="--resume"):
        train(cfg, tmp_path / "d", tmp_path / "run")


def test_training_stops_at_the_first_non_finite_loss_before_updating(tiny, toy, tmp_path):
    from trm.train.finite import NonFiniteError

    _prep(str(tiny), toy, tmp_path / "d")
    steps = dict(epochs=1000, max_steps=20, batch_size=4, grad_accum=1, warmup_steps=0)
    # lr 1e30: finite, so accepted; the adapters diverge at once
    cfg = LoraTrainConfig(model=str(tiny), lr=1e30, device="cpu", checkpoint_every=1, **steps)
    with pytest.raises(NonFiniteError, match=r"step (\d+): (loss|gradient norm) is (nan|inf)"):
        train(cfg, tmp_path / "d", tmp_path / "run")
    steps = sorted(int(p.name[5:]) for p in (tmp_path / "run").glob("step_*"))
    logged = [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").open()]
    losses = [json.loads(x)["loss"] for x in (tmp_path / "run" / "metrics.jsonl").open()]
    assert logged == steps and all(torch.isfinite(torch.tensor(losses)))
    assert not (tmp_path / "run" / "train_summary.json").exists()


def test_score_refuses_a_repeated_view_a_foreign_view_and_an_unnamed_record(
    tiny, toy, tmp_path, capsys
):
    _prep(str(tiny), toy, tmp_path / "d", test_views=1)
    recs = read_jsonl(tmp_path / "d" / "test.jsonl", "t")
    truth = json.loads((tmp_path / "d" / "test_tasks.json").read_text())
    first = recs[0]
    right = truth[first["task"]]["test"][0]["output"]
    row = {k: first[k] for k in ("id", "task", "test_index", "name")} | {"grid": right}
    other_view = next(r["name"] for r in recs if r["task"] == first["task"] and r is not first)
    cases = {
        # the same view three times: three "votes" one view gave
        "repeated": ([row, row, row], "line 2: view", "repeats line 1: each view votes once"),
        "foreign": ([row | {"name": "nope|||t1|||0123456789"}], "line 1", "not a test record"),
        "unnamed": (
            [{"task": row["task"], "test_index": 0, "grid": right}],
            "line 1",
            "field name (the view that answered) missing",
        ),
    }
    for name, (rows, *needles) in cases.items():
        p = _write_preds(tmp_path / f"{name}.jsonl", rows)
        argv = ["llm", "score", "--data", str(tmp_path / "d"), "--predictions", str(p)]
        assert main([*argv, "--out", str(tmp_path / name), "--n-boot", "100"]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and all(n in err for n in needles), (name, err)
        assert not (tmp_path / name).exists()
    # two different views of the input vote twice, as they should
    two = [row, row | {"name": other_view, "id": f"{other_view}#0"}]
    m = score(
        tmp_path / "d",
        _write_preds(tmp_path / "ok.jsonl", two),
        tmp_path / "s",
        Bootstrap(n_boot=100),
    )
    assert m["n_predictions"] == 2


# ---------------------------------------------------------------------------------------------
# The workflow: prepare -> train -> predict -> score for an experiment with an `llm:` section


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_llm_smoke_workflow_end_to_end_without_leaking_the_token(tmp_path, monkeypatch):
    from workflow_helpers import copy_workflow, snakemake, tail

    run_dir = copy_workflow(tmp_path / "wf")
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = "config/experiments/llm-smoke.yaml"
    # the report target: the LLM experiment beside a tiny TRM on the same tasks (trm-llm-smoke)
    proc = snakemake(run_dir, "--cores", "2", "report", "--configfile", cfg, timeout=900)
    assert proc.returncode == 0, tail(proc)
    out = run_dir / "runs" / "llm-smoke" / "llm"
    m = json.loads((out / "score" / "metrics.json").read_text())
    for key in ("ARC/pass@1", "ARC/pass@2", "ARC/pass@2_ci_low", "ARC/pass@2_ci_high", "cost"):
        assert key in m
    assert m["n_tasks"] == 3 and m["cost"]["tokens_generated"] > 0
    assert m["n_prompts_truncated_overlong"] > 0  # max_len 400 drops demonstrations, counted
    sub = json.loads((out / "score" / "submission.json").read_text())
    assert sorted(sub) == ["00576224", "66e6c45b", "be03b35f"]
    for attempts in sub.values():
        for a in attempts:
            assert set(a) == {"attempt_1", "attempt_2"}
            assert all(parse_grid(json.dumps(a[k])) is not None for k in a)
    for stage in ("tiny-model", "data", "train", "predictions", "score", "compare/trm-llm-smoke"):
        rec = json.loads((out / f"{stage}.provenance.json").read_text())
        assert rec["outputs"], stage
    from trm.eval.paired import read_comparisons

    cmp = read_comparisons(out / "compare" / "trm-llm-smoke.json")["comparisons"]
    assert {(r["metric"], r["a"], r["b"], r["n"]) for r in cmp} == {
        ("ARC/pass@1", "trm", "llm", 3),
        ("ARC/pass@2", "trm", "llm", 3),
    }
    html = (run_dir / "reports" / "report.html").read_text()
    assert 'id="trm-vs-llm"' in html and "LLM experiment llm-smoke" in html
    assert "TRM trm-llm-smoke − LLM" in html and "over the same 3 tasks" in html
    assert "tokens generated" in html and "unparseable answers" in html
    assert 'id="exp-trm-llm-smoke"' in html  # the TRM experiment keeps its own section
    # the token is in the environment of every job, and in no file the workflow wrote
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and FAKE_TOKEN.encode() in p.read_bytes()]
    assert leaks == []
    dry = snakemake(run_dir, "-n", "--cores", "2", "report", "--configfile", cfg)
    assert "Nothing to be done" in dry.stdout + dry.stderr, tail(dry)


def test_resume_from_a_checkpoint_replays_the_same_steps(tiny, toy, tmp_path):
    _prep(str(tiny), toy, tmp_path / "d", num_aug=1)
    cfg = LoraTrainConfig(
        model=str(tiny),
        lr=3e-3,
        epochs=10,
        max_steps=4,
        batch_size=2,
        grad_accum=2,
        warmup_steps=1,
        seed=1,
        device="cpu",
        checkpoint_every=2,
    )
    train(cfg, tmp_path / "d", tmp_path / "full")
    full = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").open()]
    # an interrupted run: killed after step 3, its last checkpoint is step_2
    cut = tmp_path / "cut"
    shutil.copytree(tmp_path / "full", cut)
    shutil.rmtree(cut / "step_4")
    (cut / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in full[:3]))
    train(cfg, tmp_path / "d", cut, resume=True)
    resumed = [json.loads(x) for x in (cut / "metrics.jsonl").open()]
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    for a, b in zip(full, resumed, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Outputs: an llm command replaces only its own earlier output


def test_llm_commands_refuse_to_replace_what_they_did_not_write(tiny, toy, tmp_path, capsys):
    trm_main = main
    prep = ["llm", "prepare", "--model", str(tiny), "--input-prefix", toy]
    prep += ["--subsets", "training", "evaluation", "--out"]
    mine = tmp_path / "data"
    assert trm_main([*prep, str(mine)]) == 0
    before = (mine / "manifest.json").read_bytes()
    assert trm_main([*prep, str(mine)]) == 0  # its own earlier output: rebuilt
    assert (mine / "manifest.json").read_bytes() == before

    users = tmp_path / "notes"
    users.mkdir()
    (users / "draft.txt").write_text("mine")
    assert trm_main([*prep, str(users)]) == 2
    assert "not written by trm, not by `trm llm prepare`" in capsys.readouterr().err
    assert (users / "draft.txt").read_text() == "mine"

    # an output inside an input (the tiny model's folder) is refused even with --overwrite
    assert trm_main([*prep, str(tiny / "data"), "--overwrite"]) == 2
    assert "is inside the input" in capsys.readouterr().err

    # a file the user wrote where predictions would go, and a summary trm did not write
    preds = tmp_path / "preds.jsonl"
    preds.write_text("keep\n")
    pred = ["llm", "predict", "--model", str(tiny), "--data", str(mine), "--out", str(preds)]
    assert trm_main(pred) == 2
    assert "not written by trm, not by `trm llm predict`" in capsys.readouterr().err
    assert preds.read_text() == "keep\n"
    other = tmp_path / "other.jsonl"
    (tmp_path / "other.summary.json").write_text("{}")
    pred[-1] = str(other)
    assert trm_main(pred) == 2
    err = capsys.readouterr().err
    assert "--summary" in err and "other.summary.json" in err and not other.exists()

    # a Hugging Face model folder that make-tiny-model did not write is never replaced; its
    # own earlier output is
    users_model = tmp_path / "llama"
    users_model.mkdir()
    (users_model / "config.json").write_text('{"model_type": "llama"}')
    assert trm_main(["llm", "make-tiny-model", "--out", str(users_model)]) == 2
    assert (users_model / "config.json").exists() and len(list(users_model.iterdir())) == 1
    made = ["llm", "make-tiny-model", "--out", str(tmp_path / "made"), "--hidden-size", "16"]
    assert trm_main(made) == 0 and trm_main(made) == 0
    capsys.readouterr()


def test_llm_train_resume_continues_its_own_run_through_the_command(tiny, toy, tmp_path):
    _prep(str(tiny), toy, tmp_path / "d")
    run = tmp_path / "run"
    argv = ["llm", "train", "--model", str(tiny), "--data", str(tmp_path / "d"), "--out", str(run)]
    argv += ["--device", "cpu", "--max-steps", "2", "--batch-size", "4", "--grad-accum", "1"]
    argv += ["--checkpoint-every", "1", "--no-progress"]
    assert main([*argv, "--max-steps", "1"]) == 0
    assert main(argv) == 2  # a second run into its folder without --resume
    assert main([*argv, "--resume"]) == 0  # continues: its own folder, marked at the start
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").open()]
    assert steps == [1, 2] and json.loads((run / "train_summary.json").read_text())["steps"] == 2
    # the adapter decodes through the command, its summary lands beside the predictions
    preds = tmp_path / "preds.jsonl"
    decode = ["llm", "predict", "--model", str(tiny), "--adapter", str(run / "adapter")]
    decode += ["--data", str(tmp_path / "d"), "--out", str(preds), "--device", "cpu"]
    assert main([*decode, "--no-progress"]) == 0
    summary = json.loads((tmp_path / "preds.summary.json").read_text())
    assert summary["records"] == len(read_jsonl(preds, "p"))
    assert summary["config"]["adapter"] == str(run / "adapter")
    cost = [str(run / "train_summary.json"), str(tmp_path / "preds.summary.json")]
    scored = ["llm", "score", "--data", str(tmp_path / "d"), "--predictions", str(preds)]
    assert main([*scored, "--out", str(tmp_path / "s"), "--n-boot", "100", "--cost", *cost]) == 0
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["cost"]["trainable_parameters"]


def test_a_second_test_set_among_the_subsets_is_tested_not_trained_on(tiny, toy, tmp_path, capsys):
    # an "evaluation2" subset of other tasks beside the toy ones, as in the reference's layout
    prefix = str(tmp_path / "arc")
    for subset in ("training", "evaluation"):
        for part in ("challenges", "solutions"):
            shutil.copy(f"{toy}_{subset}_{part}.json", f"{prefix}_{subset}_{part}.json")
    for part in ("challenges", "solutions"):
        tasks = json.loads(Path(f"{toy}_evaluation_{part}.json").read_text())
        renamed = {k.replace("toy", "two"): v for k, v in list(tasks.items())[:3]}
        Path(f"{prefix}_evaluation2_{part}.json").write_text(json.dumps(renamed))
    base = ["llm", "prepare", "--model", str(tiny), "--input-prefix", prefix]
    three = [*base, "--subsets", "training", "evaluation", "evaluation2"]

    assert main([*three, "--out", str(tmp_path / "a")]) == 0  # default --test-set2 evaluation2
    test_tasks = json.loads((tmp_path / "a" / "test_tasks.json").read_text())
    assert sorted(test_tasks) == [f"toy{i:04d}" for i in range(4)] + [
        f"two{i:04d}" for i in range(3)
    ]
    trained = {r["name"] for r in read_jsonl(tmp_path / "a" / "train.jsonl", "t")}
    assert not any(name.startswith("two") for name in trained) and len(trained) == 4

    # not among the subsets: no effect, and its files are not needed
    two = [*base, "--subsets", "training", "evaluation"]
    assert main([*two, "--test-set2", "concept", "--out", str(tmp_path / "b")]) == 0
    assert len(json.loads((tmp_path / "b" / "test_tasks.json").read_text())) == 4

    # evaluation2 read as a training subset when another second test set is named
    assert main([*three, "--test-set2", "none", "--out", str(tmp_path / "c")]) == 0
    trained = {r["name"] for r in read_jsonl(tmp_path / "c" / "train.jsonl", "t")}
    assert len(json.loads((tmp_path / "c" / "test_tasks.json").read_text())) == 4
    assert {n for n in trained if n.startswith("two")} == {f"two{i:04d}" for i in range(3)}

    # the same task in both test sets would be scored twice: refused, nothing written
    capsys.readouterr()
    for part in ("challenges", "solutions"):  # a second test set holding evaluation's tasks
        shutil.copy(f"{toy}_evaluation_{part}.json", f"{prefix}_evaluation3_{part}.json")
    dup = [*base, "--subsets", "training", "evaluation", "evaluation3"]
    assert main([*dup, "--test-set2", "evaluation3", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "task toy0000 is in subset evaluation" in err and "in both test sets" in err, err
    assert not (tmp_path / "d").exists()
