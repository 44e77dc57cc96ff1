"""Small stand-ins for the non-math sources of the DeepSeekMath training mix: ``synth-mixture --out DIR``.

The paper blends the math corpus with GitHub code and Common Crawl natural-language text (and AlgebraicStack,
arXiv). These stand-ins let the default run exercise the blend end to end without downloading anything:

    DIR/code.jsonl      source files (Python, JavaScript, SQL, shell) as GitHub-style {"id", "path", "text"}
    DIR/cc_text.jsonl   English and Chinese web prose (news, finance, recipes, sports, shops), {"id", "url", "text"}
    DIR/_SUCCESS        counts; written last

Code is assembled from statement templates with Faker identifiers and docstrings; prose reuses the mini-CC's
non-math page generators (``pipeline.synth.text``). Same seed and size, same bytes.
"""
from __future__ import annotations

import json
import keyword
import random
from pathlib import Path

from faker import Faker

from pipeline.core.io import atomic_path, is_complete, mark_complete, read_marker
from pipeline.synth import text as T

_RESERVED = {"new", "function", "var", "let", "const", "this", "case", "default", "delete", "do", "switch", "throw",
             "typeof", "void", "with", "yield", "select", "from", "where", "order", "group", "table", "by", "all"}

_PY_STMTS = [
    "{a} = [{x} * {n} for {x} in {b} if {x} % {m}]",
    "{a} = sum({x} ** 2 for {x} in {b}) / max(len({b}), 1)",
    "if {a} > {n}:\n    {b} = {a} // {m}\nelse:\n    {b} = {a} * {m}",
    "for {x} in range({n}):\n    {a}.append({x} * {b})",
    "{a} = {{{x!r}: {n}, 'limit': {m}}}",
    "while {a} < {n}:\n    {a} += {m}",
    "try:\n    {a} = int({b})\nexcept ValueError:\n    {a} = {n}",
    "with open({x!r}) as fh:\n    {a} = [line.strip() for line in fh]",
    "{a} = sorted({b}, key=lambda item: item[{m}])",
    "logger.info('processed %d {x}', len({a}))",
]
_JS_STMTS = [
    "const {a} = {b}.filter(({x}) => {x} % {m} === 0);",
    "let {a} = 0;\nfor (const {x} of {b}) {{\n  {a} += {x} * {n};\n}}",
    "if ({a}.length > {n}) {{\n  {b}.push({a}.slice(0, {m}));\n}}",
    "const {a} = await fetch(`/api/{x}/${{{b}}}`).then((r) => r.json());",
    "{a}.forEach(({x}, i) => console.log(i, {x}));",
]


def _word(fk: Faker) -> str:
    w = fk.word().lower()
    # Python, JavaScript and SQL keywords ("or", "class", "new") would make the code invalid
    return w if w.isidentifier() and not keyword.iskeyword(w) and w not in _RESERVED else f"{w}_"


def _ident(fk: Faker, rng: random.Random) -> str:
    return "_".join(_word(fk) for _ in range(rng.randint(1, 3)))


def _fill(stmt: str, fk: Faker, rng: random.Random) -> str:
    return stmt.format(a=_ident(fk, rng), b=_ident(fk, rng), x=_word(fk), n=rng.randint(2, 999),
                       m=rng.randint(2, 9))


def python_file(rng: random.Random, fk: Faker) -> str:
    mods = {"logging", *rng.sample(["os", "re", "json", "math", "itertools", "collections", "pathlib", "typing"], 2)}
    out = [f'"""{fk.sentence(nb_words=10)}"""', *(f"import {m}" for m in sorted(mods)), "",
           "logger = logging.getLogger(__name__)", ""]
    if rng.random() < 0.5:
        cls = "".join(w.capitalize() for w in _ident(fk, rng).split("_"))
        out += [f"class {cls}:", f'    """{fk.sentence(nb_words=12)}"""', "",
                f"    def __init__(self, {_ident(fk, rng)}={rng.randint(0, 99)}):",
                f"        self.items = []", ""]
        for _ in range(rng.randint(1, 3)):
            body = "\n".join(_fill(rng.choice(_PY_STMTS), fk, rng) for _ in range(rng.randint(2, 4)))
            out += [f"    def {_ident(fk, rng)}(self, {_ident(fk, rng)}):",
                    f'        """{fk.sentence(nb_words=9)}"""',
                    *("        " + line for line in body.splitlines()), "        return self.items", ""]
    for _ in range(rng.randint(2, 5)):
        args = ", ".join(_ident(fk, rng) for _ in range(rng.randint(1, 3)))
        body = "\n".join(_fill(rng.choice(_PY_STMTS), fk, rng) for _ in range(rng.randint(2, 5)))
        out += [f"def {_ident(fk, rng)}({args}):", f'    """{fk.sentence(nb_words=rng.randint(6, 14))}"""',
                *("    " + line for line in body.splitlines()), f"    return {_ident(fk, rng)}", "", ""]
    return "\n".join(out).rstrip() + "\n"


def js_file(rng: random.Random, fk: Faker) -> str:
    out = [f"// {fk.sentence(nb_words=10)}", f"import {{ {_ident(fk, rng)} }} from './{fk.word()}.js';", ""]
    for _ in range(rng.randint(2, 4)):
        body = "\n".join(_fill(rng.choice(_JS_STMTS), fk, rng) for _ in range(rng.randint(2, 4)))
        out += [f"/** {fk.sentence(nb_words=8)} */",
                f"export async function {_ident(fk, rng)}({_ident(fk, rng)}, {_ident(fk, rng)}) {{",
                *("  " + line for line in body.splitlines()), f"  return {_ident(fk, rng)};", "}", ""]
    return "\n".join(out)


def sql_file(rng: random.Random, fk: Faker) -> str:
    t, u = _ident(fk, rng), _ident(fk, rng)
    return (f"-- {fk.sentence(nb_words=8)}\nCREATE TABLE {t} (\n  id BIGINT PRIMARY KEY,\n  {u} TEXT NOT NULL,\n"
            f"  amount NUMERIC({rng.randint(8, 18)}, 2),\n  created_at TIMESTAMP DEFAULT now()\n);\n\n"
            f"SELECT {u}, COUNT(*) AS n, SUM(amount) AS total\nFROM {t}\nWHERE amount > {rng.randint(1, 900)}\n"
            f"GROUP BY {u}\nORDER BY total DESC\nLIMIT {rng.randint(5, 100)};\n")


def shell_file(rng: random.Random, fk: Faker) -> str:
    d = _ident(fk, rng)
    return (f"#!/usr/bin/env bash\n# {fk.sentence(nb_words=8)}\nset -euo pipefail\n\nDATA_DIR=${{1:-/srv/{d}}}\n"
            f"for f in \"$DATA_DIR\"/*.{rng.choice(['csv', 'log', 'json'])}; do\n"
            f"  gzip -{rng.randint(1, 9)} \"$f\"\ndone\necho \"compressed $(ls \"$DATA_DIR\" | wc -l) files\"\n")


_CODE = [(python_file, "py", 0.55), (js_file, "js", 0.25), (sql_file, "sql", 0.1), (shell_file, "sh", 0.1)]


def code_doc(rng: random.Random, fk: Faker, i: int) -> dict:
    r = rng.random()
    for fn, ext, w in _CODE:
        r -= w
        if r <= 0 or fn is _CODE[-1][0]:
            repo = f"{fk.user_name()}/{_ident(fk, rng).replace('_', '-')}"
            return {"id": f"code-{i:07d}", "path": f"{repo}/{_ident(fk, rng)}.{ext}", "text": fn(rng, fk)}
    raise AssertionError("unreachable")


def cc_text_doc(rng: random.Random, fk_en: Faker, fk_zh: Faker, i: int) -> dict:
    lang = "zh" if rng.random() < 0.2 else "en"
    doc = T.negative_doc(rng, fk_zh if lang == "zh" else fk_en, lang)
    return {"id": f"cc-{i:07d}", "url": f"https://{fk_en.domain_name()}/{i}", "text": T.plain_text(doc)}


def generate_mixture_standins(out: str | Path, docs: int = 2000, seed: int = 20240205, force: bool = False) -> dict:
    """Write ``code.jsonl`` and ``cc_text.jsonl`` with ``docs`` documents each under ``out``."""
    out = Path(out)
    if is_complete(out) and not force:
        return read_marker(out)
    out.mkdir(parents=True, exist_ok=True)
    stats: dict = {"docs": docs, "seed": seed}
    for name in ("code", "cc_text"):
        rng = random.Random(f"{seed}-{name}")
        fk_en, fk_zh = Faker("en_US"), Faker("zh_CN")
        fk_en.seed_instance(rng.randrange(1 << 30))
        fk_zh.seed_instance(rng.randrange(1 << 30))
        chars = 0
        with atomic_path(out / f"{name}.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for i in range(docs):
                rec = code_doc(rng, fk_en, i) if name == "code" else cc_text_doc(rng, fk_en, fk_zh, i)
                chars += len(rec["text"])
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        stats[f"{name}_chars"] = chars
    mark_complete(out, stats)
    return stats
