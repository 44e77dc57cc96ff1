"""The recall loop: normalisation, deterministic training, bad inputs, domain discovery and seed growth with a
known answer, user annotation edits, saturation, and resume from the middle of round 2."""
from __future__ import annotations

import hashlib
import json
import logging
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classifiers import annotation as ann
from classifiers import model as ftm
from classifiers import recall as rec
from classifiers import steps
from classifiers.seed import SeedError, load_seed
from classifiers.text import count_tokens, normalize, tokenize
from pipeline.core.config import FastTextParams, load_config
from pipeline.extraction.extract import normalize_url, url_id
from pipeline.core.schema import (DEDUP_REMOVED_SCHEMA, POOL_SCHEMA, RECALLED_SCHEMA, SELECTION_SCHEMA,
                                  SEED_ADDED_SCHEMA, validate_table)

REPO = Path(__file__).resolve().parents[1]
SMALL_FT = {"dim": 64, "bucket": 20_000, "epoch": 10, "lr": 0.2, "min_count": 1}


# --- a small pool whose answer is known ---------------------------------------------

_LATEX = [r"\frac{{{a}}}{{{b}}}", r"x^{{{a}}} + {b}x = {c}", r"\sqrt{{{a}}} \le {b}", r"\int_0^{{{a}}} x\,dx",
          r"\sum_{{k=1}}^{{{a}}} k^2", r"\lim_{{n \to \infty}} {a}/n", r"\alpha + \beta = {c}"]
_MATH_WORDS = "theorem proof lemma suppose therefore hence integer prime equation solve derivative".split()
_STORY = ("has apples buys more gives away left how many does now total each bag box costs dollars spends "
          "shares equally among friends remain altogether").split()
_NEWS = ("city council meeting mayor announced budget weather traffic football season player coach team "
         "festival market prices shop opened street local residents police report election").split()
NAMES = "Tom Anna Li Maria Omar Ken Sara Ravi".split()


def latex_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(6, 10)):
        f = rng.choice(_LATEX).format(a=rng.randint(1, 99), b=rng.randint(2, 9), c=rng.randint(1, 50))
        parts.append(" ".join(rng.choices(_MATH_WORDS, k=5)) + f" ${f}$.")
    return " ".join(parts)


def word_problem_text(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(4, 7)):
        out.append(f"{rng.choice(NAMES)} has {rng.randint(2, 60)} apples and buys {rng.randint(2, 30)} more. "
                   + " ".join(rng.choices(_STORY, k=8)) + "?")
    return " ".join(out)


def news_text(rng: random.Random) -> str:
    # numbers too (dates, scores, prices): a number alone must not make a page math
    return " ".join(" ".join(rng.choices(_NEWS, k=10)) + f" {rng.randint(2, 2024)} {rng.choice(_NEWS)} "
                    f"{rng.randint(1, 99)}." for _ in range(rng.randint(5, 8)))


def pool_rows(spec: list[tuple[str, str, str, int]], seed: int = 7) -> tuple[list[dict], dict[str, str]]:
    """spec: (domain, path prefix, kind, pages) -> POOL_SCHEMA rows, and id -> kind."""
    rng = random.Random(seed)
    make = {"latex": latex_text, "word": word_problem_text, "news": news_text}
    rows, kinds = [], {}
    t = datetime(2024, 2, 20, tzinfo=timezone.utc)
    for domain, prefix, kind, n in spec:
        for k in range(n):
            url = f"https://{domain}{prefix}{kind}-{k}"
            norm = normalize_url(url)
            text = make[kind](rng)
            rows.append({"id": url_id(norm), "url": url, "url_normalized": norm, "domain": domain, "text": text,
                         "lang": "en", "lang_score": 0.99, "title": None, "http_status": 200,
                         "content_type": "text/html", "charset": "utf-8", "html_bytes": len(text),
                         "math_elements_html": 0, "math_fragments_text": 0, "warc_path": "synthetic.warc.gz",
                         "warc_record_id": f"<urn:uuid:{url_id(norm)}>", "warc_offset": 0, "warc_length": 1,
                         "fetch_time": t})
            kinds[rows[-1]["id"]] = kind
    return rows, kinds


def write_pool(folder: Path, rows: list[dict], files: int = 3) -> Path:
    pages = folder / "pages"
    pages.mkdir(parents=True)
    for f in range(files):
        part = rows[f::files]
        table = pa.Table.from_pylist(part, schema=POOL_SCHEMA)
        validate_table(table, POOL_SCHEMA, "test pool")
        pq.write_table(table, pages / f"part-{f}.parquet")
    (folder / "_SUCCESS").write_text("{}")
    return folder


def write_seed(path: Path, n: int, seed: int = 11) -> Path:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for k in range(n):
            fh.write(json.dumps({"url": f"https://seed{k % 7}.example/{k}", "text": latex_text(rng),
                                 "date": "2023-01-01", "metadata": "{}"}) + "\n")
    return path


# Math domains: mathqa.org (LaTeX under /questions/), worksheets.org (/problems/: 2/3 LaTeX, 1/3 word problems),
# and word problems scattered on general sites; 12 news sites.
SPEC = ([("mathqa.org", "/questions/", "latex", 30), ("mathqa.org", "/users/", "news", 10),
         ("worksheets.org", "/problems/", "latex", 20), ("worksheets.org", "/problems/", "word", 10),
         ("worksheets.org", "/shop/", "news", 10)]
        + [(f"site{k}.com", "/news/", "news", 30) for k in range(12)]
        + [(f"site{k}.com", "/blog/", "word", 2) for k in range(6)])


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("recall_pool")
    rows, kinds = pool_rows(SPEC)
    write_pool(root / "pool", rows)
    write_seed(root / "seed.jsonl", 80)
    return root, kinds


def small_cfg(root: Path, workdir: Path, **recall):
    over = {"workdir": str(workdir), "recall.input": str(root / "pool"),
            "recall.seed_files": [str(root / "seed.jsonl")], "recall.seed_min_tokens": 5,
            "recall.prefix_min_pages": 5, "recall.workers": 2}
    over.update({f"recall.fasttext.{k}": v for k, v in SMALL_FT.items()})
    over.update({f"recall.{k}": v for k, v in recall.items()})
    return load_config(None, over)


# --- normalisation ------------------------------------------------------------------------

def test_normalisation_keeps_latex_numbers_and_cjk_as_tokens():
    assert tokenize(r"Let $\Frac{3}{4} = x_1$, THEN.") == ["let", "$", r"\frac", "{", "<num>", "}", "{", "<num>",
                                                            "}", "=", "x", "_", "<num>", "$", "then"]
    # full-width forms fold to ASCII, each CJK character is a token, prose punctuation goes
    assert tokenize("已知Ｘ＝３.５，求x的值。") == ["已", "知", "x", "=", "<num>", "求", "x", "的", "值"]
    assert normalize("a\n\n  b\t c") == "a b c"
    assert normalize("x" * 50 + " tail", max_chars=10) == "x" * 10
    assert count_tokens("hello 世界 x=1") == 4


def test_training_and_scoring_share_the_normalisation(tmp_path, ray_session):
    from classifiers.score import score_file

    texts = [latex_text(random.Random(i)) for i in range(40)] + [news_text(random.Random(i)) for i in range(40)]
    examples = [ftm.Example(str(i), normalize(t), int(i < 40)) for i, t in enumerate(texts)]
    ftm.write_fasttext_file(tmp_path / "train.txt", examples, shuffle_seed=1)
    lines = (tmp_path / "train.txt").read_text().splitlines()
    assert sorted(line.split(" ", 1)[1] for line in lines) == sorted(normalize(t) for t in texts)
    ftm.train_isolated(tmp_path / "train.txt", tmp_path / "m.bin", FastTextParams(**SMALL_FT), seed=3)
    model = ftm.load(tmp_path / "m.bin")
    ids = [f"{i:04d}" for i in range(len(texts))]
    pq.write_table(pa.table({"id": ids, "text": texts}), tmp_path / "pool.parquet")
    stats = score_file(model, tmp_path / "pool.parquet", tmp_path / "scores.parquet", max_chars=20_000, batch_rows=7)
    assert stats["rows"] == 80
    scores = pq.read_table(tmp_path / "scores.parquet")
    assert scores.column("id").to_pylist() == ids
    np.testing.assert_allclose(scores.column("score").to_numpy(),
                               ftm.math_probability(model, [normalize(t) for t in texts]), rtol=1e-6)
    assert scores.column("score").to_numpy()[:40].min() > 0.5 > scores.column("score").to_numpy()[40:].max()


def test_training_is_deterministic_for_a_seed_with_one_thread(tmp_path, ray_session):
    rng = random.Random(5)
    examples = ([ftm.Example(str(i), normalize(latex_text(rng)), 1) for i in range(150)]
                + [ftm.Example(str(i), normalize(news_text(rng)), 0) for i in range(150, 300)])
    ftm.write_fasttext_file(tmp_path / "train.txt", examples, shuffle_seed=2)
    params = FastTextParams(dim=32, bucket=20_000, threads=1)  # the paper's lr, ngrams, minCount, epoch
    digests = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        ftm.train_isolated(tmp_path / "train.txt", tmp_path / f"{name}.bin", params, seed=seed)
        digests.append(hashlib.sha256((tmp_path / f"{name}.bin").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]
    probe = [normalize(latex_text(random.Random(99))), normalize(news_text(random.Random(99)))]
    a, b = (ftm.math_probability(ftm.load(tmp_path / f"{n}.bin"), probe) for n in "ab")
    assert a.tolist() == b.tolist()


def test_auc_and_metrics():
    assert ftm.roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1])) == 1.0
    assert ftm.roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5
    assert ftm.roc_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.7, 0.6, 0.1])) == 0.75
    m = ftm.binary_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.3, 0.6, 0.1]), 0.5)
    assert (m["precision"], m["recall"], m["tp"], m["fp"], m["fn"]) == (0.5, 0.5, 1, 1, 1)


# --- bad input ----------------------------------------------------------------------------

def test_seed_errors_name_the_file_and_line(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(SeedError, match=r"empty\.jsonl: the seed file is empty"):
        load_seed([str(empty)])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"url": "https://a.org/1", "text": "x " * 50}) + "\n{not json\n")
    with pytest.raises(SeedError, match=r"bad\.jsonl:2: not valid JSON"):
        load_seed([str(bad)])
    notext = tmp_path / "notext.jsonl"
    notext.write_text(json.dumps({"url": "https://a.org/1", "content": "hi"}) + "\n")
    with pytest.raises(SeedError, match=r"notext\.jsonl:1: no 'text' field"):
        load_seed([str(notext)])
    short = tmp_path / "short.jsonl"
    short.write_text("".join(json.dumps({"url": f"https://a.org/{i}", "text": "too short"}) + "\n" for i in range(3)))
    with pytest.raises(SeedError, match=r"short\.jsonl: no positives left after filtering 3 rows \(too_short=3"):
        load_seed([str(short)], min_tokens=20)
    with pytest.raises(SeedError, match="seed file not found"):
        load_seed([str(tmp_path / "missing.jsonl")])
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "seed.parquet")
    with pytest.raises(SeedError, match=r"seed\.parquet: no 'text' column"):
        load_seed([str(tmp_path / "seed.parquet")])


def test_seed_reads_openwebmath_parquet_and_drops_duplicate_urls(tmp_path):
    text = latex_text(random.Random(1))
    pq.write_table(pa.table({"url": ["https://www.A.org/x", "http://a.org/x/", "https://a.org/y"],
                             "text": [text, text, text], "date": ["d"] * 3, "metadata": ["{}"] * 3}),
                   tmp_path / "owm.parquet")
    loaded = load_seed([str(tmp_path / "owm.parquet")])
    assert [d.url for d in loaded.docs] == ["https://a.org/x", "https://a.org/y"]
    assert loaded.filtered["duplicate_url"] == 1 and loaded.docs[0].source.endswith("owm.parquet#1")


@pytest.mark.parametrize("line,message", [
    ("a.org\t/q/\t1\t2", "expected 5 tab-separated columns"),
    ("a.org /q/ 1 2 yes", "separated by tabs"),
    ("a.org\tq/\t1\t2\tyes", "prefix must be a URL path"),
    ("a.org\t/q/\tmany\t2\tyes", "recalled must be a whole number"),
    ("a.org\t/q/\t1\t2\tperhaps", "accepted must be yes or no"),
    ("\t/q/\t1\t2\tyes", "domain must be a host name"),
    ("A.org\t/p/\t1\t2\tno", "already on line 3"),
])
def test_annotation_errors_name_the_file_and_line(tmp_path, line, message):
    f = tmp_path / "ann.tsv"
    f.write_text("# a comment\ndomain\tprefix\trecalled\ttotal\taccepted\na.org\t/p/\t1\t2\tyes\n" + line + "\n")
    with pytest.raises(ann.AnnotationError, match=rf"ann\.tsv:4: .*{message}"):
        ann.read_annotation(f)


def test_cli_rejects_a_bad_user_annotation_file_before_any_round(small_pool, tmp_path):
    root, _ = small_pool
    bad = tmp_path / "mine.tsv"
    bad.write_text("mathqa.org\t/questions/\t-\t-\tyes\nmathqa.org\n")
    out = subprocess.run([sys.executable, "-m", "pipeline", "recall", "--set", f"workdir={tmp_path}",
                          "--pool", str(root / "pool"), "--seed-file", str(root / "seed.jsonl"),
                          "--annotation", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 2 and f"{bad}:2: expected 5 tab-separated columns" in out.stderr, out.stderr
    assert not (tmp_path / "rounds" / "r1").exists()


# --- domain discovery and seed growth: a known answer -------------------------------------------

def _executor():
    from pipeline.core.executor import current

    return current()


def _write_scores(folder: Path, parts, score_of, tokens_of=lambda i: 10) -> list:
    """A round's scores/<stem>.parquet for every part (the pages after dedup), from id -> score."""
    from classifiers.pool_pages import read_pages

    folder.mkdir(parents=True, exist_ok=True)
    scored = []
    for p in parts:
        ids = read_pages(p, ["id"]).column("id").to_pylist()
        pq.write_table(pa.table({"id": pa.array(ids, pa.string()),
                                 "score": pa.array([score_of(i) for i in ids], pa.float32()),
                                 "tokens": pa.array([tokens_of(i) for i in ids], pa.int32())}),
                       folder / f"{p.stem}.parquet")
        scored.append(p.with_scores(str(folder / f"{p.stem}.parquet")))
    return scored


def _selected(folder: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(f) for f in sorted(folder.glob("*.parquet"))])


def _run(cfg, root: Path, out: Path) -> rec.RecallRun:
    return rec.RecallRun(cfg, str(out), rec.resolve_pool_parts(cfg), load_seed([str(root / "seed.jsonl")], 5), None,
                         _executor(), False)


def test_domain_discovery_and_seed_growth_known_answer(small_pool, tmp_path, ray_session):
    root, kinds = small_pool
    cfg = small_cfg(root, tmp_path)
    out = tmp_path / "rounds"
    run = _run(cfg, root, out)
    # Round 1 "recalled" every LaTeX page and nothing else (what a LaTeX-only seed gives).
    recalled = {i for i, k in kinds.items() if k == "latex"}
    r1 = out / "r1"
    scored = _write_scores(r1 / "scores", run.parts, lambda i: 1.0 if i in recalled else 0.0)
    cut = steps.select_by_budget(scored, _executor(), budget_tokens=None, threshold=0.5)
    assert cut.selected_rows == len(recalled) and cut.score is None
    steps.write_selection(scored, cut, str(r1 / "selected"), _executor(), round_no=1)
    selected = _selected(r1 / "selected")
    validate_table(selected, SELECTION_SCHEMA, "selection")
    assert set(selected.column("id").to_pylist()) == recalled
    disc = rec.discover(run, 1)
    domains = steps.read_domains(str(r1 / "domains")).to_pydict()
    math = {d for d, m in zip(domains["domain"], domains["is_math"]) if m}
    # mathqa: 30 of 40 recalled; worksheets: 20 of 40; the general sites: none (their word problems were missed)
    assert math == {"mathqa.org", "worksheets.org"} and disc["new_domains"] == 2
    assert domains["domain"] == sorted(domains["domain"]) and sum(domains["pages"]) == len(kinds)
    rows = {(r.domain, r.prefix): r for r in ann.read_annotation(r1 / "annotation.tsv")}
    assert rows[("worksheets.org", "/problems/")] == ann.PrefixRow("worksheets.org", "/problems/", 20, 30, True)
    assert rows[("mathqa.org", "/questions/")].accepted and not rows[("mathqa.org", "/users/")].accepted
    assert not rows[("worksheets.org", "/shop/")].accepted
    # Round 2 grows the seed with the pages under accepted prefixes that round 1 missed: the 10 word problems.
    assert rec.grow(run, 2) == 10
    added = pa.concat_tables([pq.read_table(f) for f in sorted((out / "r2" / "seed_added").glob("*.parquet"))])
    validate_table(added, SEED_ADDED_SCHEMA, "seed_added")
    urls = {i: u for p in run.parts for i, u in zip(*pq.read_table(p.pages, columns=["id", "url_normalized"])
                                                    .to_pydict().values())}
    want = {i for i, u in urls.items() if "worksheets.org/problems/word" in u}
    assert set(added.column("id").to_pylist()) == want and len(want) == 10
    assert set(added.column("prefix").to_pylist()) == {"/problems/"}
    # the training set holds them as positives, and no negative shares a positive URL
    stats = rec.build_training_set(run, 2)
    assert stats["positives"] == 90 and stats["positives_added"] == 10 and stats["negatives"] == 90
    ts = pq.read_table(out / "r2" / "training_set.parquet").to_pydict()
    negatives = {k for k, lab in zip(ts["key"], ts["label"]) if lab == 0}
    assert not negatives & want and len(negatives) == 90
    assert {o for o, lab in zip(ts["origin"], ts["label"]) if lab == 0} == {"pool_negative"}
    lines = (out / "r2" / "train.txt").read_text().splitlines() + (out / "r2" / "holdout.txt").read_text().splitlines()
    assert len(lines) == 180


def test_selection_by_token_budget_and_threshold(small_pool, tmp_path, ray_session):
    root, _ = small_pool
    parts = rec.resolve_pool_parts(small_cfg(root, tmp_path))
    first = pq.read_table(parts[0].pages, columns=["id"]).column("id").to_pylist()[:5]
    given = dict(zip(first, [0.9, 0.2, 0.95, 0.7, 0.6]))
    scored = _write_scores(tmp_path / "scores", parts, lambda i: given.get(i, 0.0), lambda i: 100)
    cut = steps.select_by_budget(scored, _executor(), budget_tokens=250, threshold=None)
    assert (cut.score, cut.id, cut.selected_rows, cut.selected_tokens) == (np.float32(0.7), first[3], 2, 200)
    (tmp_path / "r1").mkdir()
    pq.write_table(pa.table({"id": [first[0]]}), tmp_path / "r1" / f"{parts[0].stem}.parquet")
    steps.write_selection(scored, cut, str(tmp_path / "sel"), _executor(), round_no=2,
                          earlier_folders=[str(tmp_path / "r1")])
    sel = _selected(tmp_path / "sel")
    assert sel.column("id").to_pylist() == [first[2], first[0]] and sel.column("first_round").to_pylist() == [2, 1]
    cut = steps.select_by_budget(scored, _executor(), budget_tokens=None, threshold=0.65)
    steps.write_selection(scored, cut, str(tmp_path / "sel2"), _executor())
    assert _selected(tmp_path / "sel2").column("id").to_pylist() == [first[2], first[0], first[3]]


def _global_sort_selection(ids, score, tokens, threshold, budget):
    """The selection as one process computes it: one lexsort, one cumulative sum."""
    score = np.asarray(score, dtype=np.float32)
    order = np.lexsort((np.array(ids, dtype=object).astype(str), -score))
    keep = np.ones(len(order), dtype=bool)
    if threshold is not None:
        keep &= score[order] >= threshold
    if budget is not None:
        keep &= np.cumsum(np.where(keep, np.asarray(tokens)[order], 0)) <= budget
    return [ids[i] for i in order[keep]]


@pytest.mark.parametrize("max_boundary_rows", [100_000, 3])
def test_distributed_selection_equals_a_global_sort_with_ties(tmp_path, ray_session, max_boundary_rows):
    from classifiers.pool_pages import PoolPart

    rng = np.random.default_rng(3)
    n = 3000
    ids = [f"{v:016x}" for v in rng.choice(2**62, size=n, replace=False)]
    # few distinct scores (ties everywhere, both zeros), tokens with zeros
    score = rng.choice(np.array([0.0, -0.0, 0.25, 0.5, 0.5000001, 0.75, 1.0], np.float32), size=n)
    tokens = rng.integers(0, 50, size=n)
    parts = []
    for f in range(4):
        sl = slice(f, n, 4)
        path = tmp_path / f"p{f}.parquet"
        pq.write_table(pa.table({"id": ids[sl], "url": [f"https://d{k % 7}.org/a/{k}" for k in range(n)][sl],
                                 "domain": [f"d{k % 7}.org" for k in range(n)][sl], "lang": ["en"] * len(ids[sl]),
                                 "score": pa.array(score[sl], pa.float32()),
                                 "tokens": pa.array(tokens[sl], pa.int32())}), path)
        parts.append(PoolPart(stem=f"p{f}", pages=str(path), scores=str(path), url_column="url"))
    total = int(tokens.sum())
    for threshold, budget in [(None, total // 3), (0.5, total // 5), (None, 7), (0.25, total), (None, 0),
                              (0.5, None), (None, int(tokens[score == 1.0].sum()))]:
        cut = steps.select_by_budget(parts, _executor(), budget_tokens=budget, threshold=threshold,
                                     max_boundary_rows=max_boundary_rows)
        out = tmp_path / f"sel-{threshold}-{budget}"
        totals = steps.write_selection(parts, cut, str(out), _executor())
        got = _selected(out)
        want = _global_sort_selection(ids, score, tokens, threshold, budget)
        assert sorted(got.column("id").to_pylist()) == sorted(want), (threshold, budget)
        assert totals["rows_out"] == cut.selected_rows == len(want)
        assert cut.selected_tokens == int(got.column("tokens").to_numpy().sum())
        if max_boundary_rows == 3 and budget and budget < total:
            assert cut.boundary_rows <= 3 or len(cut.levels) == 34


def test_domain_stats_equal_a_groupby(tmp_path, ray_session):
    from classifiers.pool_pages import PoolPart

    rng = random.Random(4)
    doms = [f"site{k}.org" for k in range(40)]
    rows = []
    for k in range(2500):
        d = doms[min(int(rng.paretovariate(1.0)) - 1, 39)]
        rows.append({"id": f"{k:016x}", "url": f"https://{d}/{rng.choice(['a', 'b', 'c'])}/{k}" if k % 5 else
                     f"https://{d}/top{k}", "domain": d, "lang": "en"})
    recalled = {r["id"] for r in rows if (int(r["domain"][4:-4]) % 3 == 0 and rng.random() < 0.6) or rng.random() < 0.05}
    parts = []
    (tmp_path / "sel").mkdir()
    for f in range(3):
        part = rows[f::3]
        pq.write_table(pa.Table.from_pylist(part), tmp_path / f"f{f}.parquet")
        pq.write_table(pa.table({"id": pa.array([r["id"] for r in part if r["id"] in recalled], pa.string())}),
                       tmp_path / "sel" / f"f{f}.parquet")
        parts.append(PoolPart(stem=f"f{f}", pages=str(tmp_path / f"f{f}.parquet"), url_column="url"))
    found = steps.domain_stats(parts, str(tmp_path / "sel"), str(tmp_path / "domains"), _executor(), share=0.1,
                               depth=1, min_pages=5, prefix_share=0.5, partitions=4)
    flags = [r["id"] in recalled for r in rows]
    want = ann.discover_domains([r["domain"] for r in rows], flags, 0.1)
    got = steps.read_domains(str(tmp_path / "domains")).to_pydict()
    assert {d: (p, h, m) for d, p, h, m in zip(got["domain"], got["pages"], got["recalled"], got["is_math"])} == want
    math = {d for d, (_, _, m) in want.items() if m}
    assert found.math_domains == len(math) and found.new_domains == len(math) and found.partitions == 4
    assert found.proposals == ann.propose_prefixes([r["url"] for r in rows], [r["domain"] for r in rows], flags, math,
                                                   depth=1, min_pages=5, share=0.5)
    assert len(list((tmp_path / "domains").glob("part-*.parquet"))) == 4
    # seed growth with accepted prefixes: the pages under them (the longest prefix), minus the excluded ids
    accepted = ann.accepted_prefixes(found.proposals)
    assert steps.grow_seed(parts, accepted, str(tmp_path / "added"), _executor(), round_no=2,
                           exclude_folders=[str(tmp_path / "sel")]) == sum(
        1 for r, u in zip(rows, ann.pages_under([r["url"] for r in rows], [r["domain"] for r in rows], accepted))
        if u is not None and r["id"] not in recalled)


def test_person_edits_carry_over_and_user_file_wins(small_pool, tmp_path, ray_session):
    proposed = [ann.PrefixRow("a.org", "/q/", 9, 10, True), ann.PrefixRow("a.org", "/u/", 0, 10, False),
                ann.PrefixRow("b.org", "/x/", 6, 10, True)]
    edited = [ann.PrefixRow("a.org", "/q/", 9, 10, True), ann.PrefixRow("a.org", "/u/", 0, 10, True),
              ann.PrefixRow("c.org", "/new/", None, None, True)]
    changed, deleted = ann.human_edits(edited, proposed)
    assert {(r.domain, r.prefix) for r in changed} == {("a.org", "/u/"), ("c.org", "/new/")}
    assert deleted == {("b.org", "/x/")}
    nxt = ann.merge_decisions([ann.PrefixRow("a.org", "/u/", 1, 12, False), ann.PrefixRow("b.org", "/x/", 7, 10, True)],
                              changed, deleted)
    assert nxt == [ann.PrefixRow("a.org", "/u/", 1, 12, True), ann.PrefixRow("c.org", "/new/", None, None, True)]
    # a user file replaces the proposal in seed growth
    root, kinds = small_pool
    user = tmp_path / "mine.tsv"
    user.write_text("domain\tprefix\trecalled\ttotal\taccepted\nsite0.com\t/blog/\t-\t-\tyes\n")
    cfg = small_cfg(root, tmp_path, annotation_file=str(user))
    run = _run(cfg, root, tmp_path / "rounds")
    r1 = tmp_path / "rounds" / "r1"
    (r1 / "selected").mkdir(parents=True)
    ann.write_annotation(r1 / "annotation.tsv", proposed)
    assert rec.grow(run, 2) == 2
    added = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "rounds" / "r2" / "seed_added").glob("*"))])
    assert set(added.column("url").to_pylist()) == {"https://site0.com/blog/word-0", "https://site0.com/blog/word-1"}


# --- the loop: saturation, resume ----------------------------------------------------------

def test_loop_recalls_word_problems_after_growth_and_stops_at_saturation(small_pool, tmp_path, ray_session, caplog):
    root, kinds = small_pool
    cfg = small_cfg(root, tmp_path, max_rounds=6, saturation=0.97)
    with caplog.at_level(logging.WARNING, logger="classifiers.recall"):
        summary = rec.run_recall(cfg, tmp_path / "rounds", progress=False)
    assert "one language only (en)" in caplog.text
    rounds = summary["rounds"]
    assert summary["stop_reason"] == "saturated" and len(rounds) < 6
    assert rounds[-1]["overlap_prev"] >= 0.97
    assert all(r["overlap_prev"] < 0.97 for r in rounds[1:-1])
    words = {i for i, k in kinds.items() if k == "word"}
    first = set(_selected(tmp_path / "rounds" / "r1" / "selected").column("id").to_pylist())
    last_sel = _selected(tmp_path / "rounds" / f"r{len(rounds)}" / "selected")
    last = set(last_sel.column("id").to_pylist())
    assert len(first & words) <= 4  # a LaTeX-only seed misses the word problems...
    assert len(last & words) >= 18  # ...the grown seed brings back those under /problems/ and on the blogs
    assert rounds[1]["seed_growth"] >= 8 and rounds[1]["new_pages"] > 0
    assert not last & {i for i, k in kinds.items() if k == "news"}
    first_round = dict(zip(last_sel.column("id").to_pylist(), last_sel.column("first_round").to_pylist()))
    assert all(first_round[i] == 1 for i in first & last)
    assert (tmp_path / "rounds" / "_SUCCESS").exists() and (tmp_path / "rounds" / "recall_curve.png").stat().st_size
    # the stage's decisions: the last round's selection by id, one file per pool file, no text
    recalled = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "rounds" / "recalled").glob("*.parquet"))])
    validate_table(recalled, RECALLED_SCHEMA, "recalled")
    assert sorted(recalled.column("id").to_pylist()) == sorted(last)
    assert dict(zip(recalled.column("id").to_pylist(), recalled.column("round").to_pylist())) == first_round
    marker = json.loads((tmp_path / "rounds" / "_SUCCESS").read_text())
    assert marker["rows_in"] == len(kinds) and marker["rows_out"] == len(last) and marker["balanced"]
    # saturation 1.0: nothing saturates, the round limit stops the loop
    cfg2 = small_cfg(root, tmp_path / "b", max_rounds=2, saturation=1.0)
    assert rec.run_recall(cfg2, tmp_path / "b" / "rounds", progress=False)["stop_reason"] in ("max_rounds",)


def test_resume_from_the_middle_of_round_2(small_pool, tmp_path, ray_session, monkeypatch):
    root, _ = small_pool
    cfg = small_cfg(root, tmp_path, max_rounds=3, saturation=1.0)
    out = tmp_path / "rounds"
    real = rec.score_pool
    calls = {"n": 0}

    def dies_in_round_2(parts, model_path, out_dir, **kw):
        calls["n"] += 1
        if Path(out_dir).parent.name == "r2":
            real(parts[:1], model_path, out_dir, **kw)  # one file scored...
            (Path(out_dir) / "_SUCCESS").unlink()
            raise RuntimeError("killed while scoring round 2")  # ...then the run dies
        return real(parts, model_path, out_dir, **kw)

    monkeypatch.setattr(rec, "score_pool", dies_in_round_2)
    with pytest.raises(RuntimeError, match="killed"):
        rec.run_recall(cfg, out, progress=False)
    assert (out / "r1" / "_SUCCESS").exists() and not (out / "r2" / "_SUCCESS").exists()
    done = sorted((out / "r2" / "scores").glob("*.parquet"))
    assert len(done) == 1
    stamp = {p: p.stat().st_mtime_ns for p in [*(out / "r1").rglob("*"), out / "r2" / "model.bin",
                                               *(out / "r2" / "seed_added").glob("*.parquet"), done[0]] if p.is_file()}
    monkeypatch.setattr(rec, "score_pool", real)
    summary = rec.run_recall(cfg, out, progress=False)
    assert [r["round"] for r in summary["rounds"]] == [1, 2, 3]
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # round 1, the model, the scored file: not redone
    # the same result as a run that was never interrupted
    clean = rec.run_recall(small_cfg(root, tmp_path / "c", max_rounds=3, saturation=1.0), tmp_path / "c" / "rounds",
                           progress=False)
    for n in (1, 2, 3):
        for f in sorted((out / f"r{n}" / "selected").glob("*.parquet")):
            assert pq.read_table(f).equals(pq.read_table(tmp_path / "c" / "rounds" / f"r{n}" / "selected" / f.name))
    assert [r["pages_recalled"] for r in clean["rounds"]] == [r["pages_recalled"] for r in summary["rounds"]]


def test_reads_the_pool_minus_dedup_decisions(small_pool, tmp_path):
    from classifiers.pool_pages import read_pages

    root, _ = small_pool
    cfg = load_config(None, {"workdir": str(tmp_path)})
    with pytest.raises(rec.RecallError, match=r"pool/_SUCCESS is missing"):
        rec.resolve_pool_parts(cfg)
    (tmp_path / "pool").symlink_to(root / "pool", target_is_directory=True)
    parts = rec.resolve_pool_parts(cfg)  # dedup has not run: the pool as it is
    assert [p.stem for p in parts] == ["part-0", "part-1", "part-2"] and {p.removed for p in parts} == {None}
    removed = tmp_path / "dedup" / "removed"
    removed.mkdir(parents=True)
    (tmp_path / "dedup" / "_SUCCESS").write_text("{}")
    with pytest.raises(rec.RecallError, match=r"no decisions for pool file part-0"):
        rec.resolve_pool_parts(cfg)
    gone = {}
    for p in parts:
        ids = pq.read_table(p.pages, columns=["id"]).column("id").to_pylist()
        gone[p.stem] = ids[::4]
        pq.write_table(pa.table({"id": gone[p.stem], "cluster_id": pa.array([0] * len(gone[p.stem]), pa.int64()),
                                 "kept_id": ids[1:2] * len(gone[p.stem]), "reason": ["exact"] * len(gone[p.stem])},
                                schema=DEDUP_REMOVED_SCHEMA), removed / f"{p.stem}.parquet")
    for p in rec.resolve_pool_parts(cfg):
        assert p.removed == str(removed / f"{p.stem}.parquet")
        ids = pq.read_table(p.pages, columns=["id"]).column("id").to_pylist()
        assert read_pages(p, ["id"]).column("id").to_pylist() == [i for i in ids if i not in set(gone[p.stem])]


@pytest.fixture()
def s3_bucket():
    """An S3-compatible endpoint on 127.0.0.1 (moto's server) with a ``recall`` bucket; its storage options."""
    pytest.importorskip("moto.server")
    from pipeline_runs import moto_s3

    server, _, opts = moto_s3("recall")
    yield opts
    server.stop()

def test_the_stage_folder_on_an_object_store_gives_the_local_decisions(small_pool, tmp_path, ray_session, s3_bucket):
    from pipeline.core import storage

    root, _ = small_pool
    local = rec.run_recall(small_cfg(root, tmp_path, max_rounds=2, saturation=1.0), tmp_path / "rounds",
                           progress=False)
    storage.set_default_options(s3_bucket)  # the driver's markers and annotation files; units carry them
    try:
        remote = rec.run_recall(small_cfg(root, tmp_path / "s3", max_rounds=2, saturation=1.0), "s3://recall/rounds",
                                progress=False, storage_options=s3_bucket)
        assert [r["pages_recalled"] for r in remote["rounds"]] == [r["pages_recalled"] for r in local["rounds"]]
        for f in sorted((tmp_path / "rounds" / "recalled").glob("*.parquet")):
            got = storage.read_parquet_table(f"s3://recall/rounds/recalled/{f.name}", None, s3_bucket)
            assert got.equals(pq.read_table(f))
        assert storage.read_bytes("s3://recall/rounds/r2/model.bin", s3_bucket) == \
            (tmp_path / "rounds" / "r2" / "model.bin").read_bytes()
        from pipeline.core.io import is_complete

        assert is_complete("s3://recall/rounds")
        assert not storage.list_files("s3://recall/rounds", "", s3_bucket, recursive=True) == []
        assert not [k for k in storage.filesystem("s3://recall", s3_bucket)[0].find("recall") if "/.tmp/" in k]
    finally:
        storage.set_default_options(None)


def test_the_stage_reads_the_pool_minus_dedup_and_reports_stage_stats(small_pool, tmp_path, ray_session):
    from pipeline.core.executor import current
    from pipeline.core.stage import StageContext

    root, kinds = small_pool
    dedup = tmp_path / "dedup"
    (dedup / "removed").mkdir(parents=True)
    gone = set()
    for f in sorted((root / "pool" / "pages").glob("*.parquet")):
        ids = pq.read_table(f, columns=["id"]).column("id").to_pylist()[::5]  # every kind loses some pages
        gone.update(ids)
        pq.write_table(pa.table({"id": ids, "cluster_id": pa.array([1] * len(ids), pa.int64()),
                                 "kept_id": ["x"] * len(ids), "reason": ["near"] * len(ids)},
                                schema=DEDUP_REMOVED_SCHEMA), dedup / "removed" / f.name)
    cfg = small_cfg(root, tmp_path, max_rounds=1, input=None)
    ctx = StageContext(cfg=cfg, workdir=str(tmp_path), folder=str(tmp_path / "rounds"),
                       inputs={"pool": str(root / "pool"), "dedup": str(dedup)}, executor=current(), progress=False)
    stats = rec.run_recall_stage(ctx)
    assert stats.stage == "rounds" and stats.rows_in == len(kinds) - len(gone) and stats.balanced
    recalled = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "rounds" / "recalled").glob("*"))])
    assert stats.rows_out == recalled.num_rows > 0 and stats.dropped == {"not_recalled": stats.rows_in - stats.rows_out}
    scored = {i for f in (tmp_path / "rounds" / "r1" / "scores").glob("*.parquet")
              for i in pq.read_table(f).column("id").to_pylist()}
    assert len(scored) == stats.rows_in and not scored & gone and not set(recalled.column("id").to_pylist()) & gone
    assert stats.extra["per_round"][0]["pages_recalled"] == stats.rows_out and stats.extra["last_round"] == 1
    marker = json.loads((tmp_path / "rounds" / "_SUCCESS").read_text())
    assert marker["rows_in"] == stats.rows_in and marker["extra"]["pool_removed_by_dedup"] == len(gone)
