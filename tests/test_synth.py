"""The mini Common Crawl: real WARCs that match their truth file, deterministic, and hard enough."""
from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
import zlib
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline.config import load_config
from pipeline.schema import TRUTH_SCHEMA, validate_table
from pipeline.synth import generate_minicc
from pipeline.warc import WarcReadError, iter_warc


@pytest.fixture(scope="module")
def truth(minicc):
    return pq.read_table(minicc / "truth.parquet")


@pytest.fixture(scope="module")
def truth_rows(truth):
    return truth.to_pylist()


def _read_responses(path: Path):
    """(record id, offset, url, status, content-type, body) of every response record, and the error if any."""
    out, error = [], None
    with open(path, "rb") as fh:
        try:
            for e in iter_warc(fh, str(path)):
                if e.rec_type == "response":
                    body = e.record.content_stream().read()
                    out.append((e.record_id, e.offset, e.target_uri, e.http_status, e.content_type, body))
        except WarcReadError as exc:
            error = exc
    return out, error


def test_truth_follows_the_schema_contract(truth):
    validate_table(truth, TRUTH_SCHEMA, "truth.parquet")
    assert truth.num_rows >= 2500


def test_warcs_read_back_and_match_truth_record_for_record(minicc, truth_rows, truth):
    stats = json.loads((minicc / "stats.json").read_text())
    damaged = {d["file"]: d for d in stats["damaged_files"]}
    by_file: dict[str, list] = {}
    for r in truth_rows:
        by_file.setdefault(r["warc_file"], []).append(r)
    manifest = gzip.decompress((minicc / "warc.paths.gz").read_bytes()).decode().split()
    assert sorted(manifest) == sorted(p.relative_to(minicc).as_posix() for p in (minicc / "warc").glob("*.warc.gz"))
    checked = 0
    for rel in manifest:
        records, error = _read_responses(minicc / rel)
        expected = sorted(by_file.get(rel, []), key=lambda r: r["warc_offset"])
        if rel in damaged and damaged[rel]["damage"] == "garbage":
            assert error is not None and records == [] and expected == []
            continue
        if rel in damaged:  # truncated: every complete record, then a clear error; the cut one is not yielded
            n = damaged[rel]["complete_responses"]
            assert len(expected) == n == len(records)
            assert error is not None and "truncated" in error.reason and error.records_read >= 3 * n
        else:
            assert error is None, error
        assert len(records) == len(expected), rel
        for (rid, off, url, status, ctype, body), row in zip(records, expected):
            assert (rid, off, url, status, ctype) == (
                row["warc_record_id"], row["warc_offset"], row["url"], row["http_status"], row["content_type"])
            if row["is_html"] and row["http_status"] == 200 and row["actual_charset"]:
                body.decode(row["actual_charset"])  # the truth names the real encoding
            checked += 1
    assert checked == len(truth_rows)


def test_cc_record_layout_and_one_gzip_member_per_record(minicc):
    path = sorted((minicc / "warc").glob("*.warc.gz"))[0]
    with open(path, "rb") as fh:
        recs = [(r.rec_type, dict(r.rec_headers.headers)) for r in ArchiveIterator(fh)]
    assert recs[0][0] == "warcinfo"
    body = recs[1:]
    assert len(body) % 3 == 0
    for (t1, req), (t2, resp), (t3, meta) in zip(body[0::3], body[1::3], body[2::3]):
        assert (t1, t2, t3) == ("request", "response", "metadata")
        assert resp["WARC-Concurrent-To"] == req["WARC-Record-ID"]
        assert meta["WARC-Refers-To"] == resp["WARC-Record-ID"]
        assert req["WARC-Target-URI"] == resp["WARC-Target-URI"] == meta["WARC-Target-URI"]
        assert resp["WARC-Warcinfo-ID"] == recs[0][1]["WARC-Record-ID"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", resp["WARC-Date"])
    # Each record is its own gzip member, so a ranged read of one record decompresses alone.
    raw = path.read_bytes()
    members, pos = 0, 0
    while pos < len(raw):
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        d.decompress(raw[pos:])
        pos = len(raw) - len(d.unused_data)
        members += 1
    assert members == len(recs)


def test_generator_is_deterministic_and_seed_sensitive(tmp_path):
    def build(name, seed):
        cfg = load_config(None, {"synth.pages": 150, "synth.seed_docs": 20, "synth.seed": seed, "synth.domains": 60,
                                 "synth.math_domains": 6, "synth.records_per_warc": 60})
        out = tmp_path / name
        generate_minicc(cfg.synth, out)
        return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(out.rglob("*")) if p.is_file() and p.name not in ("_SUCCESS", "stats.json")}

    a, b, c = build("a", 7), build("b", 7), build("c", 8)
    assert a == b
    assert len(a) > 10
    assert a["truth.parquet"] != c["truth.parquet"]


def test_mix_of_pages_is_realistic(truth_rows):
    html200 = [r for r in truth_rows if r["is_html"] and r["http_status"] == 200]
    math = [r for r in html200 if r["is_math"]]
    assert 0.05 <= len(math) / len(html200) <= 0.12
    assert len({r["domain"] for r in truth_rows}) >= 200  # hundreds of domains
    langs = Counter(r["language"] for r in html200)
    assert langs["en"] > 0 and 0.1 < langs["zh"] / len(html200) < 0.35
    kinds = Counter(r["kind"] for r in truth_rows)
    for k in ["math_latex", "math_word", "math_latex_zh", "math_word_zh", "math_bench_quote", "hard_finance",
              "hard_code", "hard_physics_news", "hard_sports", "news", "robots", "non_html", "http_404", "redirect"]:
        assert kinds[k] > 0, k
    assert Counter(r["dup_kind"] for r in truth_rows).keys() >= {"original", "refetch", "url_variant", "exact", "near"}
    urls = Counter(r["url"] for r in truth_rows)
    repeated = {u for u, c in urls.items() if c > 1}
    # The only URL served twice is a labelled refetch of the same page.
    assert repeated == {r["url"] for r in truth_rows if r["dup_kind"] == "refetch"}
    charsets = Counter((r["declared_charset"], r["actual_charset"]) for r in html200)
    assert charsets[("gbk", "gb18030")] and charsets[(None, "gb18030")] and charsets[("iso-8859-1", "gb18030")]
    assert charsets[(None, "utf-8")] and charsets[("iso-8859-1", "utf-8")]


def test_every_math_markup_is_present_and_counted(minicc, truth_rows):
    markers = {
        "mathjax": r'<script type="math/tex', "katex": r'<span class="katex">', "wiki_img": r"mwe-math-fallback-image",
        "mathml": r'<annotation encoding="application/x-tex">', "latex_img": r"(latex\.php\?latex=|latex\.codecogs\.com)",
    }
    seen = Counter(r["math_markup"] for r in truth_rows if r["is_math"])
    for style in ["mathjax", "tex", "katex", "mathml", "mathml_noannot", "wiki_img", "latex_img", "none"]:
        assert seen[style] > 0, style
    bodies = _bodies(minicc, [r for r in truth_rows if r["is_math"] and r["math_markup"] in markers][:60])
    for row, text in bodies:
        assert len(re.findall(markers[row["math_markup"]], text)) >= row["math_elements"] > 0
    for row, text in _bodies(minicc, [r for r in truth_rows if r["math_markup"] == "mathml_noannot"][:5]):
        assert "<math" in text and "application/x-tex" not in text
    for row, text in _bodies(minicc, [r for r in truth_rows if r["kind"] == "math_word"][:5]):
        assert "<math" not in text and "math/tex" not in text and "$$" not in text  # no LaTeX at all


def _bodies(minicc, rows):
    out = []
    for row in rows:
        with open(minicc / row["warc_file"], "rb") as fh:
            fh.seek(row["warc_offset"])
            rec = next(iter(ArchiveIterator(fh)))
            assert rec.rec_headers.get_header("WARC-Record-ID") == row["warc_record_id"]
            out.append((row, rec.content_stream().read().decode(row["actual_charset"] or "utf-8")))
    return out


def test_math_sites_have_non_math_paths(truth_rows):
    by_domain: dict[str, list] = {}
    for r in truth_rows:
        if r["is_html"] and r["http_status"] == 200:
            by_domain.setdefault(r["domain"], []).append(r)
    mixed = [d for d, rows in by_domain.items()
             if any(r["is_math"] and "/questions/" in r["url"] for r in rows)
             and any(not r["is_math"] and ("/users/" in r["url"] or "/tags/" in r["url"]) for r in rows)]
    assert mixed, "a Q&A math site must have math /questions/ and non-math /users/ or /tags/ pages"
    scattered = [r for r in truth_rows if r["is_math"] and not any(
        p in r["url"] for p in ("/questions/", "/wiki/", "/math/", "/notes/", "/lectures/", "/worksheets/",
                                "/problems/", "/shiti/", "/timu/"))]
    assert scattered, "some math pages live on non-math sites"


def test_duplicates_share_text_and_url_variants_normalise(minicc, truth_rows):
    groups: dict[int, list] = {}
    for r in truth_rows:
        if r["dup_group"] is not None:
            groups.setdefault(r["dup_group"], []).append(r)
    exact = [g for g in groups.values() if any(r["dup_kind"] == "exact" for r in g)]
    near = [g for g in groups.values() if any(r["dup_kind"] == "near" for r in g)]
    assert exact and near
    for g in exact[:5]:
        bodies = [b for _, b in _bodies(minicc, g)]
        assert len(set(bodies)) == 1 and len({r["url"] for r in g}) == 2
    for g in near[:5]:
        (o, ob), (c, cb) = _bodies(minicc, sorted(g, key=lambda r: r["dup_kind"] != "original"))
        assert ob != cb and o["domain"] != c["domain"]
    earlier = [g for g in groups.values() if any(r["dup_kind"] in ("refetch", "url_variant") for r in g)
               and min(g, key=lambda r: r["fetch_time"])["dup_kind"] != "original"]
    assert earlier, "some copies were fetched before the original although they come later in the crawl"


def test_seed_is_openwebmath_format_and_skewed_to_latex(minicc):
    rows = [json.loads(line) for line in (minicc / "seed" / "openwebmath.jsonl").read_text().splitlines()]
    assert len(rows) == 300
    for r in rows:
        assert set(r) == {"url", "text", "date", "metadata"}
        assert "extraction_info" in json.loads(r["metadata"])
    latex = sum("$" in r["text"] for r in rows)
    zh = sum(bool(re.search(r"[\u4e00-\u9fff]{4}", r["text"])) for r in rows)
    assert latex / len(rows) > 0.9 and zh / len(rows) < 0.05  # word problems and Chinese are under-covered


def test_benchmarks_in_real_formats_and_planted_verbatim(minicc, truth_rows):
    b = minicc / "benchmarks"
    gsm = [json.loads(x) for x in (b / "gsm8k" / "test.jsonl").read_text().splitlines()]
    assert len(gsm) == 120 and all(set(x) == {"question", "answer"} and "\n#### " in x["answer"] for x in gsm)
    math_files = sorted((b / "math" / "test").glob("*/*.json"))
    assert len(math_files) == 120
    assert set(json.loads(math_files[0].read_text())) == {"problem", "level", "type", "solution"}
    cm = [json.loads(x) for x in (b / "cmath" / "test.jsonl").read_text().splitlines()]
    assert len(cm) == 80 and set(cm[0]) == {"grade", "question", "golden", "reasoning_step", "num_digits"}
    for name in ["gaokao-mathqa", "gaokao-mathcloze", "sat-math", "math"]:
        rows = [json.loads(x) for x in (b / "agieval" / f"{name}.jsonl").read_text().splitlines()]
        assert len(rows) == 30 and {"passage", "question", "options", "label"} <= set(rows[0])
    planted = [r for r in truth_rows if r["benchmark"]]
    assert 20 <= len(planted) <= 25
    index = {}
    for x, i in zip(gsm, range(len(gsm))):
        index[f"gsm8k/test/{i}"] = x["question"]
    for i, x in enumerate(cm):
        index[f"cmath/test/{i}"] = x["question"]
    for row, text in _bodies(minicc, planted):
        if row["benchmark_item"] in index:
            assert html.escape(index[row["benchmark_item"]], quote=False) in text


def test_generated_text_does_not_depend_on_the_clock(tmp_path, monkeypatch):
    """Faker's date helpers draw dates up to "now": the generators must not call them, or the same seed
    would give a different mini-CC (and corpus) from one day to the next."""
    from faker.providers.date_time import Provider

    from pipeline.synth.mixture import generate_mixture_standins
    from pipeline.synth.text import news_doc_en

    def clock(*args, **kwargs):
        raise AssertionError("a Faker date helper read the clock")

    monkeypatch.setattr(Provider, "_parse_end_datetime", clock)
    monkeypatch.setattr(Provider, "_parse_start_datetime", clock)
    cfg = load_config(None, {"synth.pages": 150, "synth.seed_docs": 20, "synth.domains": 60,
                             "synth.math_domains": 6, "synth.records_per_warc": 60})
    generate_minicc(cfg.synth, tmp_path / "minicc")
    generate_mixture_standins(tmp_path / "standins", docs=300, seed=3)
    import random

    from faker import Faker

    fk = Faker("en_US")
    fk.seed_instance(1)
    rng = random.Random(1)
    assert any(" people on " in " ".join(t for _, ts in news_doc_en(rng, fk).blocks for t in ts) for _ in range(50))
