"""Decontamination: real benchmark loaders, the matching rule, the audit contract, the Ray stage."""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from decontam.index import BenchmarkIndex
from decontam.loaders import BenchmarkFileError, BenchmarkText, count_items, load_benchmark
from decontam.text import normalize, token_spans, tokens
from pipeline.core.config import ConfigError, load_config
from pipeline.core.schema import DECONTAM_AUDIT_SCHEMA, DROP_LOG_SCHEMA, POOL_SCHEMA, validate_table

REAL = [
    # (name, path under shared/data/benchmarks, format, items)
    ("gsm8k", "gsm8k/test.jsonl", "gsm8k", 1319),
    ("math", "math/MATH_test.tar.gz", "math", 5000),
    ("cmath", "cmath/test.jsonl", "cmath", 1098),
    ("cmath-dev", "cmath/cmath_dev.jsonl", "cmath", 600),
    ("agieval-gaokao-mathqa", "agieval/gaokao-mathqa.jsonl", "agieval", 351),
    ("agieval-gaokao-mathcloze", "agieval/gaokao-mathcloze.jsonl", "agieval", 118),
    ("agieval-sat-math", "agieval/sat-math.jsonl", "agieval", 220),
    ("agieval-math", "agieval/math.jsonl", "agieval", 1000),
]
TEST_SETS = [r for r in REAL if r[0] != "cmath-dev"]


@pytest.fixture(scope="module")
def real_texts(shared_data) -> list[BenchmarkText]:
    texts = []
    for name, rel, fmt, _ in TEST_SETS:
        texts += load_benchmark(name, shared_data / "benchmarks" / rel, format=fmt)
    return texts


@pytest.fixture(scope="module")
def real_index(real_texts) -> BenchmarkIndex:
    return BenchmarkIndex(real_texts)


def _item(texts, bench, item_id, field):
    return next(t for t in texts if t.benchmark == bench and t.item_id == item_id and t.field == field)


# --- loaders ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,rel,fmt,items", REAL, ids=[r[0] for r in REAL])
def test_real_benchmark_loads_with_right_count(shared_data, name, rel, fmt, items):
    path = shared_data / "benchmarks" / rel
    explicit = load_benchmark(name, path, format=fmt)
    assert count_items(explicit) == items
    # format detection finds the same thing
    assert load_benchmark(name, path) == explicit
    assert all(t.text.strip() and t.benchmark == name for t in explicit)


def test_real_loaders_keep_the_right_fields(real_texts):
    g = _item(real_texts, "gsm8k", "test.jsonl:1", "question")
    assert g.text.startswith("Janet\u2019s ducks lay 16 eggs per day")
    ans = _item(real_texts, "gsm8k", "test.jsonl:1", "answer").text
    raw = _item(real_texts, "gsm8k", "test.jsonl:1", "answer_raw").text
    assert "<<" not in ans and "<<16-3-4=9>>" in raw and ans.endswith("#### 18")
    m = _item(real_texts, "math", "test/algebra/1.json", "problem")
    assert "vertical asymptotes" in m.text
    assert "\\boxed{2}" in _item(real_texts, "math", "test/algebra/1.json", "solution").text
    c = _item(real_texts, "cmath", "test.jsonl:1", "question")
    assert c.text == "妈咪买了3盒茶叶，一盒茶叶有6小包，一共买了多少小包茶叶？"
    opts = _item(real_texts, "agieval-gaokao-mathqa", "gaokao-mathqa.jsonl:1", "options").text
    assert opts.startswith("(A)$\\{x \\mid x>-1\\}$ (B)")
    sol = _item(real_texts, "agieval-sat-math", "sat-math.jsonl:1", "solution").text
    assert sol.startswith("Choice D is correct.")


def test_math_folder_and_jsonl_forms(tmp_path):
    item = {"problem": "Compute the sum of the first five odd numbers please.", "level": "Level 1",
            "type": "Algebra", "solution": "It is $1+3+5+7+9=\\boxed{25}$."}
    (tmp_path / "MATH" / "test" / "algebra").mkdir(parents=True)
    (tmp_path / "MATH" / "test" / "algebra" / "7.json").write_text(json.dumps(item))
    folder = load_benchmark("m", tmp_path / "MATH")
    assert [(t.item_id, t.field) for t in folder] == [("test/algebra/7.json", "problem"), ("test/algebra/7.json", "solution")]
    (tmp_path / "m.jsonl").write_text(json.dumps(item) + "\n")
    assert [t.text for t in load_benchmark("m", tmp_path / "m.jsonl")] == [t.text for t in folder]


def test_generic_jsonl_and_parquet(tmp_path):
    rows = [{"uid": "a1", "q": "first question text here", "meta": {"sol": "a worked solution"}},
            {"uid": "a2", "q": "second question text", "meta": {"sol": None}}]
    (tmp_path / "g.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    got = load_benchmark("g", tmp_path / "g.jsonl", format="jsonl", fields=["q", "meta.sol"], id_field="uid")
    assert [(t.item_id, t.field) for t in got] == [("a1", "q"), ("a1", "meta.sol"), ("a2", "q")]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "g.parquet")
    assert load_benchmark("g", tmp_path / "g.parquet", format="parquet", fields=["q", "meta.sol"], id_field="uid") == got


# --- bad benchmark files: a clear error naming the file ------------------------------------

def test_bad_jsonl_line_names_file_and_line(tmp_path):
    bad = tmp_path / "broken_gsm8k.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n{\"question\": \"cut off\n")
    with pytest.raises(BenchmarkFileError, match=r"broken_gsm8k\.jsonl: line 2 is not valid JSON"):
        load_benchmark("gsm8k", bad, format="gsm8k")


def test_missing_field_names_file(tmp_path):
    bad = tmp_path / "cm.jsonl"
    bad.write_text(json.dumps({"question": "只有题目"}) + "\n")
    with pytest.raises(BenchmarkFileError, match=r"cm\.jsonl: line 1 has no golden field"):
        load_benchmark("cmath", bad, format="cmath")


def test_damaged_math_archive_names_file(tmp_path, shared_data):
    data = (shared_data / "benchmarks" / "math" / "MATH_test.tar.gz").read_bytes()
    bad = tmp_path / "MATH_test.tar.gz"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(BenchmarkFileError, match=r"MATH_test\.tar\.gz"):
        load_benchmark("math", bad)


def test_archive_member_with_bad_json_names_member(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        payload = b"{not json"
        info = tarfile.TarInfo("MATH/test/algebra/3.json")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    path = tmp_path / "m.tar.gz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(BenchmarkFileError, match=r"m\.tar\.gz: member MATH/test/algebra/3\.json is not valid JSON"):
        load_benchmark("math", path)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(BenchmarkFileError, match=r"nope\.jsonl .*not found"):
        load_benchmark("x", tmp_path / "nope.jsonl")
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"foo": "bar"}) + "\n")
    with pytest.raises(BenchmarkFileError, match=r"odd\.jsonl: cannot tell its format"):
        load_benchmark("x", odd)
    gz = tmp_path / "bin.jsonl"
    gz.write_bytes(gzip.compress(b"{}"))
    with pytest.raises(BenchmarkFileError, match=r"bin\.jsonl"):
        load_benchmark("x", gz, format="gsm8k")


def test_cli_reports_bad_benchmark_file(tmp_path, capsys):
    from pipeline.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json at all\n")
    pages = tmp_path / "pages"
    pages.mkdir()
    pq.write_table(_pool_table([("p1", "https://a.example/x", "some text")]), pages / "part-0.parquet")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"workdir: {tmp_path / 'w'}\ndecontam:\n  benchmarks:\n    - name: bad\n      path: {bad}\n")
    assert main(["decontam", "--config", str(cfg), "--input", str(pages)]) == 2
    assert f"benchmark file {bad}: line 1 is not valid JSON" in capsys.readouterr().err


# --- the rule ----------------------------------------------------------------------------

def test_normalisation_and_mixed_tokenisation():
    assert normalize("  Ｘ\u00a0＋ 1\n\n =  ２ ") == "x + 1 = 2"  # NFKC folds full width and nbsp
    assert tokens(normalize("已知 $a \\in R,(1+a i) i=3+i$")) == ["已", "知", "a", "r", "1", "a", "i", "i", "3", "i"]
    # TeX control words are markup, not tokens; their spans still line up with the tokens
    assert tokens("x_1^2 + \\frac{3}{4}\\times5") == ["x", "1", "2", "3", "4", "5"]
    s = "x_1^2 + \\frac{3}{4}\\times5 已知"
    assert [s[a:b] for a, b in zip(*token_spans(s))] == tokens(s)
    assert tokens("ひらがなカナ漢字abc") == ["ひ", "ら", "が", "な", "カ", "ナ", "漢", "字", "abc"]


def test_gsm8k_question_found_with_offset_contract(real_index, real_texts):
    q = _item(real_texts, "gsm8k", "test.jsonl:1", "question").text
    page = "Homework help forum.\n\nPosted by anna: " + q.replace("  ", " ") + "\nCan someone explain?"
    res = real_index.scan(page)
    assert res.contaminated
    m = res.matches[0]
    t = real_index.texts[m.owner]
    assert (t.benchmark, t.item_id, t.field, m.kind, m.n_tokens) == ("gsm8k", "test.jsonl:1", "question", "ngram", 10)
    assert normalize(page)[m.offset:m.offset + len(m.matched)] == m.matched
    assert m.matched.startswith("janet’s ducks lay 16 eggs")


def test_chinese_matching_counts_characters(real_index, real_texts):
    q = _item(real_texts, "cmath", "test.jsonl:1", "question").text
    page = f"小学数学每日一练\n第一题：{q}\n请写出计算过程。"
    res = real_index.scan(page)
    assert res.contaminated
    t = real_index.texts[res.matches[0].owner]
    assert (t.benchmark, t.item_id) == ("cmath", "test.jsonl:1")
    # punctuation and spacing do not hide it: ASCII comma and spaces between characters
    assert real_index.scan("题目 " + " ".join(q.replace("，", ","))).contaminated


def test_ten_grams_exactly():
    eng = BenchmarkIndex([BenchmarkText("b", "1", "q", "one two three four five six seven eight nine ten eleven")])
    assert eng.scan("x One, two; three four five six seven eight nine TEN y").contaminated
    assert not eng.scan("one two three four five six seven eight nine").contaminated
    assert not eng.scan("one two three four five six seven eight nine zen").contaminated


def test_cjk_texts_count_characters_with_n_cjk():
    q = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"  # 22 characters
    idx = BenchmarkIndex([BenchmarkText("b", "1", "question", q)])  # default n_cjk = 20
    assert idx.scan("前文" + q[:20] + "后文").contaminated
    assert not idx.scan("前文" + q[:19] + "后文").contaminated
    # the literal per-character rule: n_cjk = 10
    literal = BenchmarkIndex([BenchmarkText("b", "1", "question", q)], n_cjk=10)
    assert literal.scan("前文" + q[3:13] + "后文").contaminated
    assert not literal.scan("前文" + q[3:12] + "后文").contaminated
    # a CJK text shorter than n_cjk matches exactly
    short = BenchmarkIndex([BenchmarkText("b", "2", "question", "小明有3个苹果，吃了1个，还剩几个？")])
    assert short.scan("练习：小明有3个苹果，吃了1个，还剩几个？答案是2").contaminated
    assert not short.scan("练习：小明有3个苹果，吃了1个。还剩几个？").contaminated


def test_formula_only_material_is_not_evidence():
    texts = [BenchmarkText("b", "1", "question", "Count down: 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, then shout loudly"),
             BenchmarkText("b", "2", "answer", "$\\frac{1}{6}$"),
             BenchmarkText("b", "3", "answer", "$x^2+2x+1 = y_3$")]
    idx = BenchmarkIndex(texts)
    assert not idx.scan("launch sequence 10 9 8 7 6 5 4 3 2 1 go").contaminated  # digits only
    assert idx.scan("count down 10 9 8 7 6 5 4 3 2 1").contaminated             # holds a word
    assert not idx.scan("the probability is $\\frac{1}{6}$.").contaminated
    assert not idx.scan("expand $x^2+2x+1 = y_3$ here").contaminated
    # a short question that is all formula still identifies its item
    q = BenchmarkIndex([BenchmarkText("b", "4", "question", "$(1+\\sqrt{3} i)^{3}=(\\qquad)$")])
    assert q.scan("第5题 $(1+\\sqrt{3} i)^{3}=(\\qquad)$ 选B").contaminated
    literal = BenchmarkIndex(texts, require_word=False)
    assert literal.scan("launch sequence 10 9 8 7 6 5 4 3 2 1 go").contaminated
    assert literal.scan("expand $x^2+2x+1 = y_3$ here").contaminated


def test_short_text_rule():
    texts = [
        BenchmarkText("b", "s1", "question", "Evaluate $\\log_2 64$."),    # 4 tokens: exact
        BenchmarkText("b", "s2", "answer", "x = 12 or y"),                 # 4 tokens: exact
        BenchmarkText("b", "s3", "answer", "the sum is $\\frac{1}{2}$"),   # 5 tokens: exact
        BenchmarkText("b", "s4", "answer", "x = 5"),                       # 2 tokens: ignored
    ]
    idx = BenchmarkIndex(texts)
    assert idx.stats["short_texts"] == 3 and idx.stats["ignored_texts"] == 1
    r = idx.scan("Problem 3. EVALUATE   $\\log_2 64$. Then go on.")
    assert [(idx.texts[m.owner].item_id, m.kind, m.matched) for m in r.matches] == [("s1", "exact", "evaluate $\\log_2 64$.")]
    assert not idx.scan("Evaluate $\\log_2 (64)$.").contaminated          # not the exact string
    assert not idx.scan("so x = 123 or y = 2").contaminated               # would cut through a word
    assert idx.scan("so x = 12 or y = 2").contaminated
    assert idx.scan("so The sum is $\\frac{1}{2}$ here").contaminated
    assert not idx.scan("we know x = 5 now").contaminated                 # shorter than 3 tokens: ignored
    # the bounds are configurable
    loose = BenchmarkIndex(texts, n=10, short_min=2, short_max=9, require_word=False)
    assert loose.scan("we know x = 5 now").contaminated


def test_real_short_texts_match_exactly(real_index):
    text, owners = next((k, v) for k, v in real_index.short.items() if "evaluate" in k)
    res = real_index.scan(f"Exercise 4: {text} Show your work.")
    assert res.contaminated and res.matches[0].kind == "exact" and res.matches[0].owner in owners


def test_paraphrase_is_not_flagged(real_index, real_texts):
    # GSM8K test item 1, rewritten in other words: same problem, no shared 10-gram.
    paraphrase = ("Every day Janet's ducks produce sixteen eggs. Janet has three of them at breakfast and uses four "
                  "more in muffins that she bakes for friends. The leftover eggs are sold at the market for two "
                  "dollars apiece. What are her daily earnings at the market?")
    assert not real_index.scan(paraphrase).contaminated
    # A CMATH item paraphrased in Chinese.
    zh = "妈妈买茶叶，买了三盒，每盒里装着六小包。请问她总共买到几小包茶叶？"
    assert not real_index.scan(zh).contaminated
    # A MATH problem restated.
    m = "For the function y = 2/(x^2 + x - 6), count its vertical asymptotes by factoring the denominator first."
    assert not real_index.scan(m).contaminated


def test_shared_ngram_names_every_benchmark(real_index, real_texts):
    # AGIEval's MATH subset is drawn from MATH test: one page quoting it is attributed to both.
    sol = _item(real_texts, "agieval-math", "math.jsonl:1", "question").text
    res = real_index.scan(sol)
    assert {"math", "agieval-math"} <= {real_index.texts[m.owner].benchmark for m in res.matches}


def test_index_pickles_and_fingerprint_tracks_rule(real_texts):
    import pickle

    small = [t for t in real_texts if t.benchmark == "gsm8k"][:30]
    a, b = BenchmarkIndex(small), pickle.loads(pickle.dumps(BenchmarkIndex(small)))
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != BenchmarkIndex(small, n=12).fingerprint()
    page = small[4].text
    assert b.scan(page).matches == a.scan(page).matches


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"decontam: .*short_min <= short_max < n"):
        load_config(None, {"decontam.short_max": 10})
    with pytest.raises(ConfigError, match=r"decontam.benchmarks.0: .*needs fields"):
        load_config(None, {"decontam.benchmarks": [{"name": "x", "format": "jsonl", "path": "a.jsonl"}]})
    with pytest.raises(ConfigError, match=r"decontam.nn: unknown key"):
        load_config(None, {"decontam.nn": 3})
    assert load_config("configs/default.yaml").decontam.n == 10


# --- the Ray stage -----------------------------------------------------------------------

def _pool_table(rows: list[tuple[str, str, str]]) -> pa.Table:
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    cols = {f.name: [] for f in POOL_SCHEMA}
    for i, (pid, url, text) in enumerate(rows):
        vals = {"id": pid, "url": url, "url_normalized": url, "domain": url.split("/")[2], "text": text,
                "lang": "en", "lang_score": 0.9, "title": None, "http_status": 200, "content_type": "text/html",
                "charset": "utf-8", "html_bytes": len(text), "math_elements_html": 0, "math_fragments_text": 0,
                "warc_path": "x.warc.gz", "warc_record_id": f"<urn:uuid:{i}>", "warc_offset": i * 100,
                "warc_length": 100, "fetch_time": now}
        for k, v in vals.items():
            cols[k].append(v)
    return pa.Table.from_pydict(cols, schema=POOL_SCHEMA)


def _bench_cfg(tmp_path, shared_data, **over):
    return load_config(None, {"workdir": str(tmp_path / "w"), "decontam.batch_rows": 2, **over,
                              "decontam.benchmarks": [
                                  {"name": "gsm8k", "path": str(shared_data / "benchmarks/gsm8k/test.jsonl")},
                                  {"name": "cmath", "path": str(shared_data / "benchmarks/cmath/test.jsonl")},
                                  {"name": "absent", "path": str(tmp_path / "missing.jsonl"), "required": False}]})


def test_stage_removes_audits_and_resumes(tmp_path, ray_session, real_texts, shared_data, caplog):
    """``decontam.input``: every page file under a folder is scanned; decisions by id, no page copied."""
    from decontam.stage import run_decontam
    from pipeline.core.schema import DECONTAM_REMOVED_SCHEMA

    gsm = _item(real_texts, "gsm8k", "test.jsonl:7", "question").text
    cm = _item(real_texts, "cmath", "test.jsonl:20", "question").text
    clean = "Linear algebra notes: a matrix is invertible iff its determinant is nonzero. " * 5
    files = {
        "a/part-0.parquet": [("p1", "https://a.example/1", clean), ("p2", "https://a.example/2", "Q: " + gsm)],
        "a/part-1.parquet": [("p3", "https://b.example/3", "练习：" + cm), ("p4", "https://b.example/4", clean)],
        "b/part-0.parquet": [(f"q{i}", f"https://c.example/{i}", clean + str(i)) for i in range(5)],
    }
    inp = tmp_path / "pages"
    for rel, rows in files.items():
        (inp / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_pool_table(rows), inp / rel)
    # a drop log beside the pages is not a page file
    pq.write_table(pa.Table.from_pylist([], schema=DROP_LOG_SCHEMA), inp / "a" / "drops.parquet")
    cfg = _bench_cfg(tmp_path, shared_data, **{"decontam.input": str(inp)})
    out = tmp_path / "w" / "decontam"
    stats = run_decontam(cfg, out)
    assert (stats["rows_in"], stats["rows_out"], stats["dropped"]) == (9, 7, {"benchmark_contamination": 2})
    assert stats["extra"]["removed_by_benchmark"] == {"cmath": 1, "gsm8k": 1} and stats["units"] == 3
    assert stats["extra"]["benchmarks"]["absent"]["skipped"] == "not found" and stats["balanced"]
    assert not (out / "kept").exists()
    keys = ["a__part-0.parquet", "a__part-1.parquet", "b__part-0.parquet"]
    assert sorted(p.name for p in (out / "removed").iterdir()) == keys  # an empty file where none is removed
    removed = pq.read_table(out / "removed")
    validate_table(removed, DECONTAM_REMOVED_SCHEMA, "removed")
    assert [(r["id"], r["benchmark"], r["item_id"]) for r in removed.sort_by("id").to_pylist()] == \
        [("p2", "gsm8k", "test.jsonl:7"), ("p3", "cmath", "test.jsonl:20")]
    audit = pq.read_table(out / "audit", schema=DECONTAM_AUDIT_SCHEMA)
    validate_table(audit, DECONTAM_AUDIT_SCHEMA, "audit")
    rows = sorted(audit.to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r["benchmark"], r["item_id"]) for r in rows] == [("p2", "gsm8k", "test.jsonl:7"),
                                                                     ("p3", "cmath", "test.jsonl:20")]
    page_text = {"p2": "Q: " + gsm, "p3": "练习：" + cm}
    for r in rows:
        assert normalize(page_text[r["id"]])[r["offset"]:r["offset"] + len(r["matched"])] == r["matched"]
    drops = pq.read_table(out / "drops")
    assert sorted(drops.column("id").to_pylist()) == ["p2", "p3"]
    assert set(drops.column("reason").to_pylist()) == {"benchmark_contamination"}
    assert (out / "_SUCCESS").exists()

    # resume: a lost unit is redone, finished units are not rescanned
    before = {p.name: p.stat().st_mtime_ns for p in (out / "removed").iterdir()}
    (out / "units" / "a__part-1.json").unlink()
    (out / "removed" / "a__part-1.parquet").unlink()
    again = run_decontam(cfg, out)
    assert again["units_cached"] == 2 and (again["rows_in"], again["dropped"]) == (9, stats["dropped"])
    after = {p.name: p.stat().st_mtime_ns for p in (out / "removed").iterdir()}
    assert after["a__part-0.parquet"] == before["a__part-0.parquet"]
    assert pq.read_table(out / "removed").sort_by("id").equals(removed.sort_by("id"))

    # other benchmarks (another fingerprint): every unit is rescanned
    cfg.decontam.n = 12
    third = run_decontam(cfg, out)
    assert third["units_cached"] == 0 and third["dropped"] == stats["dropped"]


def test_stage_scans_the_recalled_pages_of_each_pool_file(tmp_path, ray_session, real_texts, shared_data):
    """Pool mode: the pages of each pool file that dedup kept and recall selected, nothing else; decisions per
    pool file under its stem; a rerun of an upstream stage (a new marker) rescans."""
    from decontam.stage import run_decontam
    from pipeline.core.io import mark_complete
    from pipeline.core.schema import DEDUP_REMOVED_SCHEMA, RECALLED_SCHEMA

    gsm = _item(real_texts, "gsm8k", "test.jsonl:7", "question").text
    clean = "Linear algebra notes: a matrix is invertible iff its determinant is nonzero. " * 5
    w = tmp_path / "w"
    pool = {"f1": [("a1", "https://a.example/1", "Q: " + gsm), ("a2", "https://a.example/2", clean),
                   ("a3", "https://a.example/3", "Again: " + gsm)],
            "f2": [("b1", "https://b.example/1", gsm + " solved"), ("b2", "https://b.example/2", clean)]}
    (w / "pool" / "pages").mkdir(parents=True)
    for stem, rows in pool.items():
        pq.write_table(_pool_table(rows), w / "pool" / "pages" / f"{stem}.parquet")
    mark_complete(w / "pool")
    (w / "dedup" / "removed").mkdir(parents=True)
    dd = {"f1": [("a3", 1, "a1", "near")], "f2": []}
    for stem, rows in dd.items():
        pq.write_table(pa.table({"id": [r[0] for r in rows], "cluster_id": [r[1] for r in rows],
                                 "kept_id": [r[2] for r in rows], "reason": [r[3] for r in rows]},
                                schema=DEDUP_REMOVED_SCHEMA), w / "dedup" / "removed" / f"{stem}.parquet")
    mark_complete(w / "dedup")
    (w / "rounds" / "recalled").mkdir(parents=True)
    rec = {"f1": ["a1", "a2", "a3"], "f2": ["b2"]}  # b1 (contaminated) was not recalled: never scanned
    for stem, ids in rec.items():
        pq.write_table(pa.table({"id": ids, "score": [0.9] * len(ids), "tokens": [50] * len(ids),
                                 "round": [1] * len(ids)}, schema=RECALLED_SCHEMA),
                       w / "rounds" / "recalled" / f"{stem}.parquet")
    mark_complete(w / "rounds")
    inputs = {name: str(w / name) for name in ("pool", "dedup", "rounds")}
    cfg = _bench_cfg(tmp_path, shared_data)
    out = w / "decontam"
    stats = run_decontam(cfg, out, inputs)
    assert (stats["rows_in"], stats["rows_out"], stats["dropped"]) == (3, 2, {"benchmark_contamination": 1})
    assert sorted(p.name for p in (out / "removed").iterdir()) == ["f1.parquet", "f2.parquet"]
    assert pq.read_table(out / "removed" / "f1.parquet").column("id").to_pylist() == ["a1"]
    assert pq.read_table(out / "removed" / "f2.parquet").num_rows == 0
    drops = pq.read_table(out / "drops").to_pylist()
    assert [(d["id"], d["warc_offset"]) for d in drops] == [("a1", 0)]
    assert run_decontam(cfg, out, inputs)["units_cached"] == 2
    mark_complete(w / "rounds", {"rerun": True})
    assert run_decontam(cfg, out, inputs)["units_cached"] == 0
    with pytest.raises(ConfigError, match="rounds"):
        run_decontam(cfg, out, {"pool": inputs["pool"]})


def test_default_yaml_matches_code_defaults():
    from pipeline.core.config import Config

    assert load_config("configs/default.yaml").decontam == Config().decontam


def test_minicc_generated_benchmarks_load_and_match(minicc):
    """The mini-CC's generated files in the real layouts load through the default config entries."""
    from decontam.stage import load_benchmarks
    from pipeline.core.config import Config

    cfg = load_config("configs/default.yaml")
    sizes = cfg.synth.benchmarks
    dcfg = cfg.decontam.model_copy(update={"benchmarks": [b for b in Config().decontam.benchmarks
                                                          if b.name.startswith("minicc-")]})
    texts, loaded = load_benchmarks(dcfg, minicc.parent)  # {workdir}/minicc/benchmarks/...
    want = {"minicc-gsm8k": sizes.gsm8k, "minicc-math": sizes.math, "minicc-cmath": sizes.cmath,
            "minicc-agieval-gaokao-mathqa": sizes.agieval, "minicc-agieval-gaokao-mathcloze": sizes.agieval,
            "minicc-agieval-sat-math": sizes.agieval, "minicc-agieval-math": sizes.agieval}
    assert {k: v["items"] for k, v in loaded.items()} == want
    idx = BenchmarkIndex(texts)
    for bench in want:
        t = next(t for t in texts if t.benchmark == bench and t.field in ("question", "problem"))
        res = idx.scan(f"Homework thread.\n{t.text}\nThanks in advance.")
        assert (bench, t.item_id) in {(idx.texts[m.owner].benchmark, idx.texts[m.owner].item_id) for m in res.matches}
