"""``python -m pipeline evaluate CHECKPOINT``: few-shot GSM8K and MATH, and bits-per-byte on their solutions.

DeepSeekMath validated its corpus this way (§2.1.2): train small models on it and score GSM8K and MATH few-shot.
The scoring runs on EleutherAI's lm-evaluation-harness (``lm-eval``), the tool users know, with task configs built
here over the local benchmark files (the mini-CC's, or the real test sets), so nothing is downloaded:

* ``gsm8k``, ``math``: ``generate_until`` (greedy), ``k`` shots taken from the first items of the file (these
  items are then not scored), answers extracted and compared by :mod:`training.answers`; metric ``exact_match``.
* ``gsm8k_bpb``, ``math_bpb``: ``loglikelihood_rolling`` over each scored item's reference solution alone
  (GSM8K's answer without its ``<<...>>`` calculator marks, MATH's solution); metric ``bits_per_byte``
  (lm-eval's: the summed negative log-likelihood in bits over the UTF-8 bytes), which, unlike accuracy, moves
  for a model too small to solve anything.

Output folder: ``results.json`` (per benchmark: items, shots, accuracy, bits per byte; the lm-eval version),
``samples_<task>.jsonl`` (each item's prompt-free record: generation, extracted answer, reference, correct) and
``data/`` (the shot and test items as the tasks read them).
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

GSM8K_PROMPT = "Question: {{question}}\nAnswer:"
MATH_PROMPT = "Problem: {{problem}}\nSolution:"


def load_items(name: str, path: Path) -> list[dict]:
    """GSM8K items as ``{"id", "question", "answer"}`` (answer without calculator marks), MATH items as
    ``{"id", "problem", "solution", "answer"}`` (``answer``: the solution's last ``\\boxed{}``; items without one
    are left out, as they cannot be scored), in file order."""
    from decontam.loaders import load_gsm8k, load_math
    from training.answers import math_reference

    items: dict[str, dict] = {}
    loader = load_gsm8k if name == "gsm8k" else load_math
    for t in loader(path, name):
        if t.field == "answer_raw":
            continue
        items.setdefault(t.item_id, {"id": t.item_id})[t.field] = t.text
    out = list(items.values())
    if name == "math":
        for it in out:
            it["answer"] = math_reference(it.get("solution", ""))
        out = [it for it in out if it["answer"] is not None and it.get("problem")]
    return out


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def task_configs(name: str, shots_file: Path, test_file: Path, shots: int, max_new_tokens: int) -> list[dict]:
    """lm-eval task configs (dicts, as ``simple_evaluate(tasks=...)`` takes them) for one benchmark."""
    from training.answers import gsm8k_correct, gsm8k_extract, math_correct, math_extract

    data = {"dataset_path": "json", "dataset_kwargs": {"data_files": {"train": str(shots_file), "test": str(test_file)}},
            "test_split": "test", "fewshot_split": "train"}
    if name == "gsm8k":
        prompt, target, stop = GSM8K_PROMPT, "{{answer}}", ["\n\nQuestion:", "Question:"]
        extract, correct, ref_field = gsm8k_extract, gsm8k_correct, "answer"
    else:
        prompt, target, stop = MATH_PROMPT, "{{solution}}", ["\n\nProblem:", "Problem:"]
        extract, correct, ref_field = math_extract, math_correct, "solution"

    def process(doc: dict, results: list[str]) -> dict:
        return {"exact_match": float(correct(results[0], doc[ref_field]))}

    accuracy = {
        "task": f"mathcorpus_{name}", **data, "output_type": "generate_until",
        "doc_to_text": prompt, "doc_to_target": target, "target_delimiter": " ", "fewshot_delimiter": "\n\n",
        "num_fewshot": shots, "fewshot_config": {"sampler": "first_n"},
        "generation_kwargs": {"until": stop, "do_sample": False, "max_gen_toks": max_new_tokens},
        "process_results": process,
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1, "extract": extract.__name__},
    }
    bpb = {
        "task": f"mathcorpus_{name}_bpb", **data, "output_type": "loglikelihood_rolling",
        "doc_to_text": "", "doc_to_target": target, "num_fewshot": 0,
        "metric_list": [{"metric": "bits_per_byte", "aggregation": "bits_per_byte", "higher_is_better": False},
                        {"metric": "byte_perplexity", "aggregation": "weighted_perplexity", "higher_is_better": False},
                        {"metric": "word_perplexity", "aggregation": "weighted_perplexity", "higher_is_better": False}],
        "metadata": {"version": 1},
    }
    return [accuracy, bpb]


def evaluate_checkpoint(checkpoint: str | Path, out: str | Path, ecfg, workdir: Path,
                        benchmarks: dict[str, Path] | None = None, progress: bool = True, lm=None) -> dict:
    """Score ``checkpoint`` (a local Hugging Face causal-LM folder) and write ``out``; returns results.json's dict.

    ``benchmarks`` maps gsm8k/math to files (default: ``ecfg``'s paths under ``workdir``); ``lm``: an lm-eval
    ``LM`` to score instead of lm-eval's ``HFLM`` over ``checkpoint``."""
    # Local files only: lm-eval reads the tasks' data through `datasets`, and the model through transformers.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    checkpoint, out = Path(checkpoint), Path(out)
    if not (checkpoint / "config.json").exists():
        raise FileNotFoundError(f"{checkpoint}: not a Hugging Face model folder (no config.json)")
    if benchmarks is None:
        benchmarks = {n: ecfg.path(n, workdir) for n in ("gsm8k", "math") if ecfg.path(n, workdir) is not None}
    if not benchmarks:
        raise ValueError("evaluate: no benchmark files configured (evaluate.gsm8k, evaluate.math)")
    for name, path in benchmarks.items():
        if not path.exists():
            raise FileNotFoundError(f"evaluate.{name}: {path} not found (run `make corpus` for the mini-CC's "
                                    f"benchmarks, or --set evaluate.{name}=PATH)")
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    if not progress:
        logging.getLogger("lm_eval").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    model_args = {"pretrained": str(checkpoint), "device": ecfg.device, "batch_size": ecfg.batch_size,
                  "dtype": "float32" if ecfg.device == "cpu" else "auto"}
    if ecfg.max_length:
        model_args["max_length"] = ecfg.max_length
    if lm is None:
        lm = HFLM(**model_args)
    # lm-eval keeps the last (context window - new tokens) prompt tokens: leave the prompt at least 3/4 of it
    window = getattr(lm, "max_length", None)
    new_tokens = ecfg.max_new_tokens if not window else min(ecfg.max_new_tokens, max(1, window // 4))
    if new_tokens < ecfg.max_new_tokens:
        log.warning("evaluate: the model's context is %d tokens: generating %d new tokens, not "
                    "evaluate.max_new_tokens=%d", window, new_tokens, ecfg.max_new_tokens)
    tasks, plan = [], {}
    for name, path in benchmarks.items():
        items = load_items(name, path)
        shots = ecfg.gsm8k_shots if name == "gsm8k" else ecfg.math_shots
        if len(items) <= shots:
            raise ValueError(f"evaluate.{name}: {path} has {len(items)} scorable items, not more than {shots} shots")
        test = items[shots:][: ecfg.limit] if ecfg.limit else items[shots:]
        shots_file, test_file = out / "data" / f"{name}_shots.jsonl", out / "data" / f"{name}_test.jsonl"
        _write_jsonl(shots_file, items[:shots])
        _write_jsonl(test_file, test)
        plan[name] = {"file": str(path), "items": len(test), "shots": shots, "available": len(items)}
        tasks += task_configs(name, shots_file, test_file, shots, new_tokens)

    res = lm_eval.simple_evaluate(model=lm, tasks=tasks, log_samples=True, bootstrap_iters=0,
                                  verbosity="WARNING" if not progress else "INFO")
    seconds = time.perf_counter() - t0
    results = {"checkpoint": str(checkpoint.resolve()), "lm_eval_version": lm_eval.__version__,
               "max_new_tokens": new_tokens, "context": window,
               "seconds": round(seconds, 1), "benchmarks": {}}
    for name, info in plan.items():
        acc = res["results"][f"mathcorpus_{name}"]["exact_match,none"]
        bpb = res["results"][f"mathcorpus_{name}_bpb"]
        results["benchmarks"][name] = {**info, "accuracy": acc, "bits_per_byte": bpb["bits_per_byte,none"],
                                       "byte_perplexity": bpb["byte_perplexity,none"]}
        _write_samples(out / f"samples_{name}.jsonl", name, res["samples"][f"mathcorpus_{name}"])
    from pipeline.core.io import write_json_atomic

    write_json_atomic(out / "results.json", results)
    return results


def _write_samples(path: Path, name: str, samples: list[dict]) -> None:
    from training.answers import gsm8k_extract, math_extract

    extract = gsm8k_extract if name == "gsm8k" else math_extract
    rows = []
    for s in sorted(samples, key=lambda s: s["doc_id"]):
        gen = s["filtered_resps"][0] if s.get("filtered_resps") else s["resps"][0][0]
        doc = s["doc"]
        rows.append({"id": doc["id"], "generation": gen, "extracted": extract(gen), "reference": doc["answer"] if
                     name == "math" else doc["answer"].rsplit("####", 1)[-1].strip(), "correct": s["exact_match"]})
    _write_jsonl(path, rows)


def format_results(results: dict) -> str:
    lines = [f"{'benchmark':<10} {'items':>6} {'shots':>6} {'accuracy':>9} {'bits/byte':>10}"]
    for name, b in results["benchmarks"].items():
        lines.append(f"{name:<10} {b['items']:>6} {b['shots']:>6} {b['accuracy']:>9.3f} {b['bits_per_byte']:>10.4f}")
    return "\n".join(lines)
