"""The pool's pure core: URL normalisation, decoding, dates and the per-record decision."""
from __future__ import annotations

import gzip
from datetime import datetime, timezone

import pytest

from pipeline.extraction.extract import (DROP_REASONS, Drop, ExtractSettings, RawRecord, decode_html, extract_record,
                              normalize_url, parse_warc_date, undo_http_encoding, url_id)


@pytest.mark.parametrize("variant", [
    "http://example.com/a/b", "https://example.com/a/b", "https://www.example.com/a/b", "https://example.com/a/b/",
    "https://EXAMPLE.com:443/a/b", "http://example.com:80/a/b#section-2", "https://example.com/a/b?utm_source=x&utm_medium=y",
    "https://example.com/a//b?fbclid=123", "<https://example.com/a/b>", "https://example.com/a/%62",
])
def test_url_variants_normalise_to_one(variant):
    assert normalize_url(variant) == "https://example.com/a/b"


def test_url_normalisation_keeps_what_selects_content():
    assert normalize_url("https://example.com/q?id=2&a=1") == normalize_url("https://example.com/q?a=1&id=2")
    assert normalize_url("https://example.com/q?id=2") != normalize_url("https://example.com/q?id=3")
    assert normalize_url("https://example.com:8080/") == "https://example.com:8080/"
    assert normalize_url("https://www.com/") == "https://www.com/"  # www is the host itself
    assert normalize_url("dns:example.com") is None and normalize_url("") is None
    assert url_id("https://example.com/a/b") == url_id(normalize_url("http://www.example.com/a/b/"))
    assert len(url_id("https://example.com/")) == 16


def test_warc_dates_including_malformed_ones():
    assert parse_warc_date("2024-05-18T01:58:10Z") == datetime(2024, 5, 18, 1, 58, 10, tzinfo=timezone.utc)
    # ClueWeb09 writes the day of the year: keep year and month, never fail
    assert parse_warc_date("2008-10-294T05:21:46-0700") == datetime(2008, 10, 1, 5, 21, 46, tzinfo=timezone.utc)
    assert parse_warc_date(None).year == 1970 and parse_warc_date("garbage").year == 1970


ZH = "数学是研究数量、结构、变化以及空间等概念的一门学科。二次方程的求根公式非常重要。" * 5


def test_decode_gbk_without_declaration_and_with_a_wrong_one():
    html = f"<html><head><title>数学</title></head><body><p>{ZH}</p></body></html>"
    gbk = html.encode("gbk")
    text, codec = decode_html(gbk, "text/html")
    assert ZH in text and codec in ("gb18030", "gbk", "gb2312")
    text, codec = decode_html(gbk, "text/html; charset=utf-8")  # declared wrongly: strict decode fails
    assert ZH in text
    text, codec = decode_html(gbk, "text/html; charset=iso-8859-1")  # single-byte lie: decodes, but is wrong
    assert ZH in text
    # a short GBK page under a Latin-1 label, with bytes that cp1252 cannot even decode (0x81, 0x8f ...)
    short = "<p>个人所得稅按累进税率计算，应纳税额等于应纳税所得额乘以税率。</p>".encode("gbk")
    assert any(b in short for b in (0x81, 0x8D, 0x8F, 0x90, 0x9D))
    assert decode_html(short, "text/html; charset=ISO-8859-1") == (short.decode("gbk"), "gb18030")
    # and a short one that cp1252 does decode: few high bytes are enough when they form GBK
    tiny = "<p>矩阵的行列式等于特征值的乘积。</p>".encode("gbk")
    assert decode_html(tiny, "text/html; charset=ISO-8859-1") == ("<p>矩阵的行列式等于特征值的乘积。</p>", "gb18030")
    meta = f'<html><head><meta charset="gb2312"></head><body><p>{ZH}</p></body></html>'.encode("gbk")
    assert ZH in decode_html(meta, "text/html")[0]
    french = "<p>Café crème, déjà vu — naïve façade, élève, où, à côté, très, garçon, noël, hôtel.</p>"
    assert decode_html(french.encode("cp1252"), "text/html; charset=iso-8859-1") == (french, "cp1252")
    latin = "<p>Café crème, déjà vu — naïve façade.</p>".encode("cp1252")
    assert decode_html(latin, "text/html; charset=iso-8859-1") == ("<p>Café crème, déjà vu — naïve façade.</p>", "cp1252")


def test_content_encoding_is_undone_only_when_real():
    body = b"<html><body>hello</body></html>"
    assert undo_http_encoding(gzip.compress(body), "gzip", None) == body
    assert undo_http_encoding(body, "gzip", None) == body  # ClueWeb09: header says gzip, body is decoded
    assert undo_http_encoding(b"5\r\nhello\r\n0\r\n\r\n", None, "chunked") == b"hello"
    assert undo_http_encoding(body, None, "chunked") == body


def _rec(**kw) -> RawRecord:
    base = dict(warc_path="x.warc.gz", rec_type="response", offset=0, length=100, record_id="<urn:uuid:1>",
                target_uri="https://example.com/p", date="2024-01-01T00:00:00Z", http_status=200,
                content_type="text/html; charset=utf-8",
                payload=f"<html><body><article><p>{'Words about the topic of math. ' * 20}</p></article></body></html>".encode())
    base.update(kw)
    return RawRecord(**base)


@pytest.mark.parametrize("changes, reason", [
    (dict(rec_type="request"), "not_response"),
    (dict(rec_type="revisit"), "revisit"),
    (dict(target_uri="dns:example.com"), "bad_url"),
    (dict(http_status=None), "no_http_headers"),
    (dict(http_status=404), "http_status"),
    (dict(http_status=301), "http_status"),
    (dict(content_type="image/png", payload=b"\x89PNG...."), "not_html"),
    (dict(payload_truncated=True), "too_large"),
    (dict(payload=b"<html><body><script>var a=1;</script></body></html>"), "empty_text"),
])
def test_each_drop_reason(changes, reason):
    out = extract_record(_rec(**changes), ExtractSettings())
    assert isinstance(out, Drop) and out.reason == reason and reason in DROP_REASONS


def test_time_cap_drops_a_slow_page():
    # 20,000 blocks take trafilatura ~2 s here (nesting would not do: libxml2 caps the depth); the default
    # engine reads them in well under the cap
    slow = "<html><body>" + "<div><p>word word word</p></div>" * 20000 + "</body></html>"
    out = extract_record(_rec(payload=slow.encode()),
                         ExtractSettings(max_seconds_per_record=0.2, extractor="trafilatura"))
    assert isinstance(out, Drop) and out.reason == "timeout"


def test_kept_row_has_the_contract_fields():
    row = extract_record(_rec(target_uri="http://www.Example.com/p/?utm_source=a"), ExtractSettings())
    assert isinstance(row, dict)
    assert row["url_normalized"] == "https://example.com/p" and row["domain"] == "example.com"
    assert row["id"] == url_id("https://example.com/p")
    assert row["lang"] == "en" and 0.5 < row["lang_score"] <= 1.0
    assert row["charset"] == "utf-8" and row["http_status"] == 200 and row["content_type"] == "text/html"
    assert row["fetch_time"] == datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_chinese_page_is_tagged_zh():
    html = f"<html><body><article><p>{ZH}</p></article></body></html>".encode("gbk")
    row = extract_record(_rec(payload=html, content_type="text/html"), ExtractSettings())
    assert row["lang"] == "zh" and row["lang_score"] > 0.9


def test_language_is_read_from_the_prose_not_the_formulas():
    # A Chinese exercise page that is mostly LaTeX: with the formulas in the sample the model said en/ja
    # for such mini-CC pages; the formulas say nothing about the language.
    from pipeline.extraction.extract import identify_language

    text = ("数学归纳法练习\n注意到$a_{1}$，因此$\\delta > 3$。由题意得$\\sum_{k=1}^{n} \\left(k^{3} + 3\\right) = "
            "\\frac{n \\left(n + 3\\right) \\left(n^{2} - n + 4\\right)}{4}$，代入得$|\\theta| \\le 2$。由题意得"
            "$\\sum_{k=1}^{n} \\left(2 k^{3} + 2\\right) = \\frac{n \\left(n^{3} + 2 n^{2} + n + 4\\right)}{2}$。")
    lang, score = identify_language(text)
    assert lang == "zh" and score > 0.5
    assert identify_language("$$\\int_0^1 x^2 \\, dx = \\frac{1}{3}$$")[0] != "und"  # math only: still a guess
    assert identify_language("12345 -- 678") == ("und", 0.0)
    assert identify_language("Die Ableitung von $f(x) = x^2$ ist $f'(x) = 2x$, wie man leicht sieht.")[0] == "de"


def _parsed_and_cleaned(html: str):
    """``html`` parsed as html_to_text parses it, then cleaned as it is before trafilatura sees it."""
    from pipeline.extraction.extract import _html_parser, drop_inert_elements
    import lxml.html

    tree = lxml.html.document_fromstring(html, parser=_html_parser())
    drop_inert_elements(tree)
    return tree


def test_html_parser_drops_scripts_and_styles_but_keeps_json_ld_and_tails():
    import lxml.html

    tree = _parsed_and_cleaned(
        "<html><body><p>before<script>var x = 1;</script> after</p><style>p{}</style><!-- note -->"
        "<script type='application/ld+json'>{\"articleBody\": \"b\"}</script><svg><text>s</text></svg>tail</body></html>")
    assert tree.find(".//p").text_content() == "before after"
    assert [s.get("type") for s in tree.iter("script")] == ["application/ld+json"]
    assert tree.find(".//style") is None and tree.find(".//svg") is None and "tail" in tree.text_content()
    assert "note" not in lxml.html.tostring(tree, encoding="unicode")  # comments removed at parse time


def test_asides_and_footers_go_unless_they_hold_json_ld():
    tree = _parsed_and_cleaned(
        "<html><body><main><p>body text</p></main><aside>related</aside>"
        "<footer>(c) 2024<script type='application/ld+json'>{\"articleBody\": \"b\"}</script></footer></body></html>")
    assert tree.find(".//aside") is None and tree.find(".//footer") is not None
    assert "related" not in tree.text_content() and "body text" in tree.text_content()


def test_decompression_bombs_are_cut_off_under_a_memory_bound(tmp_path):
    """gzip, deflate and br bodies inflating to 128 MiB each (a 2 KB WARC): read by the pool's pure core in a
    fresh process, they are dropped as too_large while the process grows by far less than one bomb."""
    from bench.bench_bomb import measure, write_bomb_warc

    total = 128 << 20
    warc = tmp_path / "bomb.warc.gz"
    write_bomb_warc(warc, total)
    control = tmp_path / "control.warc.gz"
    write_bomb_warc(control, with_bombs=False)
    c, r = measure(control, tmp_path / "pool-control", warc, tmp_path / "pool")
    assert r["stats"]["kept"] == 1 and r["stats"]["dropped_by_reason"] == {"too_large": 3}
    grew = (r["rss_peak_mb"] - r["rss_before_mb"]) - (c["rss_peak_mb"] - c["rss_before_mb"])
    assert grew < 48, grew  # the cap is pool.max_record_bytes (5 MiB); one unbounded bomb alone is 128 MiB


def test_undo_http_encoding_matches_the_codecs_and_stops_at_the_cap():
    import gzip as gz
    import zlib

    import brotli

    from pipeline.extraction.extract import undo_http_encoding as undo

    html = b"<html><body>" + b"<p>hello world</p>" * 500 + b"</body></html>"
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    cases = [(gz.compress(html), "gzip"), (gz.compress(html[:100]) + gz.compress(html[100:]), "x-gzip"),
             (zlib.compress(html), "deflate"), (raw.compress(html) + raw.flush(), "deflate"),
             (brotli.compress(html), "br"), (gz.compress(brotli.compress(html)), "br, gzip"), (html, "gzip"),
             (html, "br"), (html, "deflate"), (html, None)]
    for body, enc in cases:
        assert undo(body, enc, None) == html, enc
    cut = undo(gz.compress(html)[:-40], "gzip", None)  # a truncated capture keeps what inflated
    assert cut and html.startswith(cut)
    assert undo(b"5\r\nhello\r\n0\r\n\r\n", None, "chunked") == b"hello"
    for body, enc in cases[:6]:
        assert undo(body, enc, None, max_bytes=1000) == html[:1001], enc  # cap + 1: the caller sees too_large
