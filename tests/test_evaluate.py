"""`python -m pipeline evaluate`: answer extraction on the real benchmarks, lm-eval end to end on a tiny model."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from training.answers import gsm8k_correct, gsm8k_extract, last_boxed, math_correct, math_equiv, math_extract

REPO = Path(__file__).resolve().parents[1]


def test_gsm8k_answers_are_read_as_users_expect(shared_data):
    from training.evaluate import load_items

    items = load_items("gsm8k", shared_data / "benchmarks" / "gsm8k" / "test.jsonl")
    assert len(items) == 1319 and "<<" not in items[0]["answer"]
    for it in items[:300]:  # the reference solution, as a generation, is right; one more than its number is not
        assert gsm8k_correct(it["answer"], it["answer"]), it["id"]
        wrong = it["answer"].rsplit("####", 1)[0] + f"#### {float(it['answer'].rsplit('####', 1)[1].replace(',', '')) + 1}"
        assert not gsm8k_correct(wrong, it["answer"])
    assert gsm8k_extract("She pays 3 * 4 = 12 dollars.\nThe answer is 1,200.") == "1200"
    assert gsm8k_extract("so 5 + 7 = 12 and then 12 * 2 = 24") == "24"  # no marker: the last number
    assert gsm8k_correct("#### 18.00", "... #### 18") and not gsm8k_correct("no number here", "#### 3")


def test_math_answers_are_boxed_and_normalised(shared_data):
    from training.evaluate import load_items

    items = load_items("math", shared_data / "benchmarks" / "math" / "MATH_test.tar.gz")
    assert len(items) > 4900  # MATH's 5,000 test problems, less the few whose solution has no \boxed{}
    for it in random.Random(0).sample(items, 300):
        assert math_correct(it["solution"], it["solution"]), it["id"]
    assert last_boxed(r"so $\boxed{\frac{a}{\sqrt{b}}}$, not \boxed{2}: $\boxed{\dfrac{9}{7}}$") == r"\dfrac{9}{7}"
    assert last_boxed(r"Hence \boxed 5.") == "5"
    for a, b in [(r"\dfrac{9}{7}", r"\frac97"), ("x = 5", "5"), (r"10^\circ", "10"), (r"\frac{1}{2}", "0.5"),
                 ("1,000", "1000"), (r"\left( 1, 2 \right)", "(1,2)"), (r"5\text{ cm}", "5"), (r"\$3.50", "3.5"),
                 (r"\sqrt2", r"\sqrt{2}"), ("3.0", "3")]:
        assert math_equiv(a, b), (a, b)
    for a, b in [("2", "3"), (r"\frac{1}{3}", "0.3"), ("(1,2)", "(2,1)"), ("x^2", "x^3")]:
        assert not math_equiv(a, b), (a, b)
    assert math_extract("The final answer is $7$.") == "7" and math_extract("we get $x=3$ and $y = 4$") == "y = 4"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, shared_data) -> Path:
    """An untrained tiny Llama (the default model's shape) with a BPE trained on GSM8K text, saved as a local
    Hugging Face model folder."""
    from training.tokenizer import train_bpe_tokenizer
    from training.trainer import tiny_llama

    folder = tmp_path_factory.mktemp("ckpt") / "tiny"
    texts = [json.loads(line)["question"] for line in
             (shared_data / "benchmarks" / "gsm8k" / "test.jsonl").read_text().splitlines()[:400]]
    tok = train_bpe_tokenizer(texts, folder.parent / "tok", 512)
    import torch

    torch.manual_seed(0)
    model = tiny_llama(len(tok), {"hidden_size": 32, "layers": 2, "heads": 2, "kv_heads": 1, "intermediate_size": 64},
                       128, tok.eos_token_id, tok.pad_token_id)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def test_evaluate_command_on_the_real_benchmarks(tiny_checkpoint, shared_data, tmp_path, capsys):
    from pipeline.cli import main

    bench = shared_data / "benchmarks"
    rc = main(["evaluate", str(tiny_checkpoint), "--limit", "3", "--output", str(tmp_path / "ev"), "--no-progress",
               "--set", f"evaluate.gsm8k={bench / 'gsm8k' / 'test.jsonl'}",
               "--set", f"evaluate.math={bench / 'math' / 'MATH_test.tar.gz'}",
               "--set", "evaluate.gsm8k_shots=2", "--set", "evaluate.math_shots=1",
               "--set", "evaluate.max_new_tokens=8"])
    out = capsys.readouterr().out
    assert rc == 0, out
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert results["lm_eval_version"] == "0.4.13"
    for name, shots in (("gsm8k", 2), ("math", 1)):
        b = results["benchmarks"][name]
        assert b["items"] == 3 and b["shots"] == shots and 0.0 <= b["accuracy"] <= 1.0
        # an untrained model over a 512-token vocabulary: about log2(512) bits per token, a few tokens per byte
        assert 2.0 < b["bits_per_byte"] < 12.0, b
        samples = [json.loads(line) for line in (tmp_path / "ev" / f"samples_{name}.jsonl").read_text().splitlines()]
        assert len(samples) == 3 and all("generation" in s and "reference" in s for s in samples)
        assert name in out
    shots = [json.loads(line) for line in (tmp_path / "ev" / "data" / "gsm8k_shots.jsonl").read_text().splitlines()]
    tests = [json.loads(line) for line in (tmp_path / "ev" / "data" / "gsm8k_test.jsonl").read_text().splitlines()]
    assert {s["id"] for s in shots}.isdisjoint(t["id"] for t in tests)  # shots are never scored


class _Oracle:
    """An lm-eval LM that answers every item with its reference solution (and a fixed log-likelihood): the whole
    path, prompts to extraction to aggregation, must then score 1.0."""

    def __new__(cls):
        from lm_eval.api.model import LM

        class Oracle(LM):
            def generate_until(self, requests):
                out = []
                for r in requests:
                    context = r.args[0]
                    assert context.count("Question:" if "question" in r.doc else "Problem:") == 3  # 2 shots + item
                    out.append(r.doc["answer"] if "question" in r.doc else r.doc["solution"])
                return out

            def loglikelihood_rolling(self, requests):
                return [-float(len(r.args[0].encode())) for r in requests]  # 1 nat per byte

            def loglikelihood(self, requests):
                raise AssertionError("not used")

        return Oracle()


def test_scoring_path_gives_a_perfect_model_full_marks(tiny_checkpoint, tmp_path):
    """The mini-CC's own benchmark files (the default run's), read through the config's default paths."""
    import math

    from faker import Faker

    from pipeline.core.config import load_config
    from pipeline.synth.benchmarks import generate_benchmarks, write_benchmarks
    from training.evaluate import evaluate_checkpoint

    cfg = load_config(REPO / "configs" / "default.yaml", {"workdir": str(tmp_path), "evaluate.limit": 6,
                                                          "evaluate.gsm8k_shots": 2, "evaluate.math_shots": 2})
    sizes = cfg.synth.benchmarks.model_copy(update={"gsm8k": 10, "math": 10, "cmath": 1, "agieval": 1})
    write_benchmarks(generate_benchmarks(random.Random(1), Faker("en_US"), Faker("zh_CN"), sizes),
                     tmp_path / "minicc" / "benchmarks")
    res = evaluate_checkpoint(tiny_checkpoint, tmp_path / "ev", cfg.evaluate, cfg.workdir_path, lm=_Oracle(),
                              progress=False)
    for name in ("gsm8k", "math"):
        b = res["benchmarks"][name]
        assert b["items"] == 6 and b["accuracy"] == 1.0, (name, b)
        assert b["bits_per_byte"] == pytest.approx(1 / math.log(2))  # lm-eval's nats-to-bits over bytes
