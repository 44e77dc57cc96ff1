"""Small benchmark files in the real formats of GSM8K, MATH, CMATH and AGIEval.

Items are generated (SymPy formulas, Faker names) in an "exam" phrasing that
pages never use, so the only long n-gram overlaps between pages and benchmarks
are the items that the mini-CC plants on purpose.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

from pipeline.synth import formulas as F
from pipeline.synth.text import word_problem_en, word_problem_zh

MATH_SUBJECTS = {
    "calculus": ("precalculus", "Precalculus"),
    "algebra": ("algebra", "Algebra"),
    "linear_algebra": ("precalculus", "Precalculus"),
    "probability": ("counting_and_probability", "Counting & Probability"),
    "number_theory": ("number_theory", "Number Theory"),
    "geometry": ("geometry", "Geometry"),
}
# Generators with many distinct outputs; limit() and geometry() have too few to be exam items.
_EXAM_GENERATORS = [F.derivative, F.integral, F.series, F.quadratic, F.matrix, F.probability, F.number_theory]
_EXAM_VERBS = ["Evaluate", "Compute", "Determine", "Calculate", "Find"]


@dataclass
class BenchItem:
    benchmark: str  # gsm8k | math | cmath | agieval/<file>
    item_id: str
    question: str
    answer: str
    lang: str
    record: dict = field(default_factory=dict)  # the row as written in the benchmark's own format


def _gsm8k_answer(solution: str, final: str) -> str:
    """GSM8K's answer format: one calculation per line, each marked <<expr=result>>, then "#### n".

    Only the calculations of the worked solution are kept, in exam wording: the page-style sentences
    around them ("... take the bus, so ...") belong to pages, and sharing them would make every page
    with the same numbers look contaminated.
    """
    num = r"\$?\d+(?:\.\d+)?(?:/\d+)?"
    steps = re.findall(rf"({num}(?: [*+/-] {num})+) = ({num})", solution)
    lines = []
    for k, (expr, result) in enumerate(steps):
        calc = f"<<{expr.replace(' ', '').replace('$', '')}={result.replace('$', '')}>>"
        lines.append(f"{'First compute' if k == 0 else 'Next'} {expr} = {calc}{result}.")
    lines.append(f"The answer is {final}.")
    return "\n".join(lines) + f"\n#### {final}"


def _split_eq(tex: str) -> tuple[str, str] | None:
    """Split "LHS = RHS" at the last "=" (P(X = 3) = ... keeps its inner "="); None if no usable LHS."""
    if " \\implies " in tex:
        lhs, rhs = tex.split(" \\implies ", 1)
        return lhs, rhs
    if " = " not in tex or "\\det(A" in tex:
        return None
    lhs, rhs = tex.rsplit(" = ", 1)
    if lhs.strip().lstrip("-").isdigit() or re.fullmatch(r"[a-z]'?\([a-z]\)", lhs.strip()):
        return None  # "54 = 2 \\cdot 3^3" or "f'(x) = ...": nothing to evaluate on the left
    return lhs, rhs


def _exam_formula(rng: random.Random) -> tuple[F.Formula, str, str]:
    while True:
        f = rng.choice(_EXAM_GENERATORS)(rng)
        if "\\equiv" in f.tex or "\\gcd" in f.tex:
            continue
        split = _split_eq(f.tex)
        if split:
            return f, split[0], split[1]


def _math_problem(rng: random.Random) -> tuple[str, str, str, str]:
    f, lhs, rhs = _exam_formula(rng)
    verb = rng.choice(_EXAM_VERBS)
    if " = 0" in lhs:
        problem = f"{verb} all real solutions of ${lhs}$."
    else:
        problem = f"{verb} ${lhs}$ and express your answer in simplest form."
    solution = f"Working it out step by step, ${f.tex}$. Hence the result is $\\boxed{{{rhs}}}$."
    return problem, solution, rhs, f.topic


def generate_benchmarks(rng: random.Random, fk_en: Faker, fk_zh: Faker, sizes) -> list[BenchItem]:
    items: list[BenchItem] = []
    for i in range(sizes.gsm8k):
        q, s, final = word_problem_en(rng, fk_en, style="exam")
        ans = _gsm8k_answer(s, final)
        items.append(BenchItem("gsm8k", f"gsm8k/test/{i}", q, ans, "en", {"question": q, "answer": ans}))
    for i in range(sizes.math):
        problem, solution, _, topic = _math_problem(rng)
        folder, typ = MATH_SUBJECTS[topic]
        rec = {"problem": problem, "level": f"Level {rng.randint(1, 5)}", "type": typ, "solution": solution}
        items.append(BenchItem("math", f"math/test/{folder}/{i}.json", problem, solution, "en", rec))
    for i in range(sizes.cmath):
        q, s, golden = word_problem_zh(rng, fk_zh, style="exam")
        rec = {"grade": rng.randint(1, 6), "question": q, "golden": golden,
               "reasoning_step": s.count("="), "num_digits": len(golden.lstrip("-").split(".")[0])}
        items.append(BenchItem("cmath", f"cmath/test/{i}", q, golden, "zh", rec))
    for i in range(sizes.agieval):
        # gaokao-mathqa: Chinese stem with LaTeX, four options.
        f, lhs, rhs = _exam_formula(rng)
        q = f"已知 ${lhs}$，则该式的值为 ($\\quad$)"
        opts_vals = [rhs, f"{rhs} + 1", f"-({rhs})", f"2({rhs})"]
        rng.shuffle(opts_vals)
        label = "ABCD"[opts_vals.index(rhs)]
        rec = {"passage": None, "question": q, "options": [f"({c})${v}$" for c, v in zip("ABCD", opts_vals)],
               "label": label, "answer": None, "other": {"source": f"{rng.randint(2015, 2023)}年模拟卷—数学"}}
        items.append(BenchItem("agieval/gaokao-mathqa", f"agieval/gaokao-mathqa/{i}", q, label, "zh", rec))
        # gaokao-mathcloze: Chinese stem, free answer.
        f, lhs, rhs = _exam_formula(rng)
        q = f"计算：${lhs}$ 的结果是 $\\underline{{\\quad}}$。"
        rec = {"passage": None, "question": q, "options": None, "label": None, "answer": rhs,
               "other": {"source": f"{rng.randint(2015, 2023)}年模拟卷—数学"}}
        items.append(BenchItem("agieval/gaokao-mathcloze", f"agieval/gaokao-mathcloze/{i}", q, rhs, "zh", rec))
        # sat-math: English, options and a worked solution.
        wq, ws, ans = word_problem_en(rng, fk_en, style="exam")
        opts_vals = [ans, str(int(float(ans)) + rng.randint(1, 9)), str(abs(int(float(ans)) - rng.randint(1, 9))),
                     str(int(float(ans)) * 2 + 1)]
        rng.shuffle(opts_vals)
        label = "ABCD"[opts_vals.index(ans)]
        rec = {"passage": "", "question": wq, "options": [f"({c}){v}" for c, v in zip("ABCD", opts_vals)],
               "label": label, "other": {"solution": f"Choice {label} is correct. Following the steps in the question gives {ans}, "
                                             f"and the other choices come from common slips in the arithmetic."}}
        items.append(BenchItem("agieval/sat-math", f"agieval/sat-math/{i}", wq, rec["other"]["solution"], "en", rec))
        # math: MATH problems in AGIEval's wrapper.
        problem, solution, ans, topic = _math_problem(rng)
        rec = {"passage": None, "question": problem, "options": None, "label": None, "answer": ans,
               "other": {"solution": solution, "level": f"Level {rng.randint(1, 5)}", "type": MATH_SUBJECTS[topic][1]}}
        items.append(BenchItem("agieval/math", f"agieval/math/{i}", problem, solution, "en", rec))
    return items


def write_benchmarks(items: list[BenchItem], out: Path) -> dict[str, int]:
    """Write the items in each benchmark's own file layout under ``out`` (= <minicc>/benchmarks)."""
    counts: dict[str, int] = {}
    jsonl: dict[Path, list[str]] = {}
    for it in items:
        counts[it.benchmark] = counts.get(it.benchmark, 0) + 1
        if it.benchmark == "math":
            p = out / it.item_id  # math/test/<subject>/<n>.json, as hendrycks/math ships it
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(it.record, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")
            continue
        if it.benchmark == "gsm8k":
            p = out / "gsm8k" / "test.jsonl"
        elif it.benchmark == "cmath":
            p = out / "cmath" / "test.jsonl"
        else:
            p = out / "agieval" / (it.benchmark.split("/", 1)[1] + ".jsonl")
        jsonl.setdefault(p, []).append(json.dumps(it.record, ensure_ascii=False))
    for p, lines in jsonl.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts
