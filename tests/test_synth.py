"""The mini Common Crawl: real WARCs that match their truth file, deterministic, and hard enough."""
from __future__ import annotations

import copy
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

from pipeline.core.config import load_config
from pipeline.core.schema import TRUTH_SCHEMA, validate_table
from pipeline.synth import generate_minicc
from pipeline.commoncrawl.warc import WarcReadError, iter_warc


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
                                "/problems/", "/shiti/", "/timu/", "/viewtopic.php", "/t/", "/topic/",
                                "/Bookshelves/", "/Courses/"))]
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


# -- real layouts ---------------------------------------------------------------------------------------------------

_TEX_IN_TEXT = re.compile(r"\$\$.+?\$\$|\\\(.+?\\\)|\$[^$]+?\$", re.S)

#: Where each layout (and forum engine) keeps its main content: every post, answer, quote and comment.
_CONTENT = {
    "qa": ["//div[contains(@class,'js-post-body')]", "//span[@class='comment-copy']"],
    "phpbb": ["//div[contains(@class,'postbody')]//div[@class='content']"],
    "discourse": ["//div[@class='post' and @itemprop='text']"],
    "ips": ["//div[@data-role='commentContent']"],
    "textbook": ["//section[@class='mt-content-container']"],
    "wiki": ["//div[contains(@class,'mw-parser-output')]"],
    "article": ["//div[@class='entry-content']", "//div[@class='comment-content']"],
}


def _count_math(el, markup: str) -> int:
    """Formula elements under ``el`` in ``markup``, counted from the HTML alone."""
    if markup == "tex":
        return len(_TEX_IN_TEXT.findall(el.text_content()))
    xpath = {
        "mathjax": ".//script[starts-with(@type,'math/tex')]", "katex": ".//span[@class='katex']",
        "mathml": ".//math", "mathml_noannot": ".//math", "wiki_img": ".//span[@class='mwe-math-element']",
        "latex_img": ".//img[contains(@src,'latex.php') or contains(@src,'latex.codecogs.com')]",
    }[markup]
    return len(el.xpath(xpath))


def _engine(tree) -> str:
    if tree.xpath("//dl[@class='postprofile']"):
        return "phpbb"
    if tree.xpath("//div[contains(@class,'crawler-post')]"):
        return "discourse"
    return "ips"


@pytest.fixture(scope="module")
def layout_pages(minicc, truth_rows):
    """(truth row, parsed page, content key) of every math page with formulas, by layout."""
    import lxml.html

    rows = [r for r in truth_rows if r["is_math"] and r["math_elements"] and r["dup_kind"] in ("unique", "original")]
    out: dict[str, list] = {}
    for row, text in _bodies(minicc, rows):
        tree = lxml.html.document_fromstring(text)
        key = _engine(tree) if row["layout"] == "forum" else row["layout"]
        out.setdefault(row["layout"], []).append((row, tree, key, text))
    return out


def _content_math(tree, key: str, markup: str) -> int:
    total = 0
    for xp in _CONTENT[key]:
        for el in map(copy.deepcopy, tree.xpath(xp)):  # the parsed pages are shared between tests
            # the macro preamble and the license box (which repeats the title) are not content
            for box in el.xpath(".//div[contains(@class,'mt-macros') or contains(@class,'mt-contentreuse-widget')]"):
                box.drop_tree()
            total += _count_math(el, markup)
    return total


def test_every_layout_is_in_the_minicc_with_its_truth(truth_rows, layout_pages):
    math_layouts = Counter(r["layout"] for r in truth_rows if r["is_math"])
    assert {"qa", "forum", "textbook", "wiki", "article"} <= set(math_layouts)
    assert {r["layout"] for r in truth_rows if not r["is_html"] or r["http_status"] != 200} == {"none"}
    assert all(r["posts"] == 0 for r in truth_rows if r["layout"] == "none")
    assert all(r["posts"] >= 1 for r in truth_rows if r["layout"] != "none")
    assert {_engine(tree) for _, tree, _, _ in layout_pages["forum"]} >= {"phpbb", "discourse"}


def test_math_count_is_every_formula_of_the_main_content_and_nothing_else(layout_pages):
    """math_elements = the formulas of the question and every answer, every post, quote and comment; the
    navigation, sidebars and the textbook's macro preamble hold none that count."""
    checked = Counter()
    for layout, pages in layout_pages.items():
        for row, tree, key, _ in pages:
            assert _content_math(tree, key, row["math_markup"]) == row["math_elements"], (row["url"], layout)
            if row["math_markup"] not in ("tex", "mathjax"):  # titles repeat TeX as text; preambles are scripts
                body = tree.find("body")
                assert _count_math(body, row["math_markup"]) == row["math_elements"], row["url"]
            checked[layout] += 1
    assert min(checked.values()) >= 3, checked


def test_qa_pages_hold_a_question_and_several_answers_each_counted(layout_pages):
    qa = layout_pages["qa"]
    multi = 0
    for row, tree, _, text in qa:
        answers = tree.xpath("//div[contains(@class,'js-answer')]")
        assert len(tree.xpath("//div[contains(@class,'js-question')]")) == 1
        assert len(answers) == row["posts"] - 1
        per_answer = [sum(_count_math(b, row["math_markup"]) for b in
                          a.xpath(".//div[contains(@class,'js-post-body')] | .//span[@class='comment-copy']"))
                      for a in answers]
        question = tree.xpath("//div[contains(@class,'js-question')]")[0]
        in_question = sum(_count_math(b, row["math_markup"]) for b in question.xpath(
            ".//div[contains(@class,'js-post-body')] | .//span[@class='comment-copy']"))
        assert in_question + sum(per_answer) == row["math_elements"]
        if sum(1 for n in per_answer if n) >= 2:
            multi += 1
        for a in answers:  # each answer: votes, user card with reputation, share/edit/follow, a comment list
            assert a.xpath(".//div[contains(@class,'js-vote-count')]") and a.xpath(".//span[@class='reputation-score']")
            menu = " ".join(a.xpath(".//div[contains(@class,'js-post-menu')]//text()"))
            assert "Share" in menu and "Improve this answer" in menu and "Follow" in menu
            assert a.xpath(".//ul[contains(@class,'comments-list')]")
        assert "Hot Network Questions" in text and 'id="h-related"' in text
        sidebar = tree.xpath("//div[@id='sidebar']")[0]
        assert _count_math(sidebar, row["math_markup"]) == 0
    assert multi >= 3, "Q&A pages with formulas in two or more answers"
    assert any(tree.xpath("//span[@class='comment-copy']") for _, tree, _, _ in qa)


def test_forum_threads_are_long_with_user_blocks_quotes_signatures_and_pages(layout_pages):
    threads = layout_pages["forum"]
    post_xpath = {"phpbb": "//div[contains(@class,'post has-profile')]", "discourse": "//div[starts-with(@id,'post_')]",
                  "ips": "//article[contains(@class,'cPost')]"}
    for row, tree, engine, text in threads:
        assert len(tree.xpath(post_xpath[engine])) == row["posts"]
    assert max(r["posts"] for r, _, _, _ in threads) >= 12
    texts = "".join(t for _, _, _, t in threads)
    assert 'class="postprofile"' in texts and 'class="signature"' in texts and "Reply with quote" in texts
    assert "<blockquote>" in texts and 'class="pagination"' in texts
    assert 'class="crawler-post-meta"' in texts and 'rel="next"' in texts and 'aside class="quote' in texts


def test_textbook_pages_open_with_a_hidden_macro_preamble(layout_pages):
    for row, tree, _, _ in layout_pages["textbook"]:
        section = tree.xpath("//section[@class='mt-content-container']")[0]
        first = section[0]
        assert "mt-macros" in first.get("class") and "display:none" in first.get("style")
        assert "newcommand" in first.text_content() or "Macros" in first.text_content()
        assert tree.xpath("//nav[@class='mt-breadcrumbs']") and tree.xpath("//div[@class='mt-contentreuse-widget']")


def test_wiki_pages_carry_mathml_with_tex_and_fallback_images(layout_pages):
    for row, tree, _, text in layout_pages["wiki"]:
        els = tree.xpath("//span[@class='mwe-math-element']")
        assert len(els) == row["math_elements"]
        for el in els[:5]:
            inner = lxml_tostring(el)
            assert re.search(r'class="mwe-math-mathml-(inline|block) mwe-math-mathml-a11y"', inner)
            assert "<semantics>" in inner and 'encoding="application/x-tex"' in inner and "alttext=" in inner
            assert "mwe-math-fallback-image-" in inner
        assert 'class="mw-editsection"' in text and 'id="catlinks"' in text and 'class="navbox"' in text


def lxml_tostring(el) -> str:
    import lxml.html

    return lxml.html.tostring(el, encoding="unicode")


def test_most_pages_carry_heavy_navigation(minicc, truth_rows):
    import lxml.html

    rows = [r for r in truth_rows if r["layout"] == "article" and r["dup_kind"] == "unique"][:80]
    heavy = 0
    for row, text in _bodies(minicc, rows):
        tree = lxml.html.document_fromstring(text)
        links = tree.xpath("//footer[@id='colophon']//a")
        if (tree.xpath("//nav[@class='breadcrumbs']") and tree.xpath("//div[contains(@class,'share-bar')]")
                and tree.xpath("//section[@class='related-posts']") and len(links) >= 12
                and tree.xpath("//nav[@id='site-navigation']//li")):
            heavy += 1
    assert heavy == len(rows)
    cookie = sum(("cookie-banner" in t or "onetrust-banner-sdk" in t) for _, t in _bodies(minicc, rows))
    assert 0.3 * len(rows) < cookie < 0.9 * len(rows)
    mega = sum("mega-menu__panel" in t for _, t in _bodies(minicc, rows))
    assert mega > 0.3 * len(rows)


def test_plain_text_and_formulas_cover_every_answer():
    import random

    from faker import Faker

    from pipeline.synth import text as T

    fk = Faker("en_US")
    fk.seed_instance(3)
    doc = T.math_doc_en(random.Random(3), fk, answers=4)
    assert len(doc.posts) == 4 and all(p.blocks for p in doc.posts)
    text = T.plain_text(doc)
    for p in doc.posts:
        for f in T._block_formulas(p.blocks):
            assert f.tex in text
    n = len(T._block_formulas(doc.blocks)) + sum(len(T._block_formulas(p.blocks)) for p in doc.posts)
    n += sum(1 for c in doc.comments + [c for p in doc.posts for c in p.comments] for s in c if not isinstance(s, str))
    assert len(doc.formulas()) == n
