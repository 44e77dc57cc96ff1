"""The guarded trafilatura XPaths (pipeline/extraction/xpath_regex.py) select exactly what the originals select."""
from __future__ import annotations

import gc
import glob
import re
import sys
import types

import pytest
from lxml import etree

from pipeline.extraction.xpath_regex import _expansions, _sre_parse, guard_regex_tests, install, required_literals


def _patterns_in(path: str) -> list[tuple[str, str]]:
    return re.findall(r"re:test\([^,]+,\s*'([^']*)'(?:\s*,\s*'([^']*)')?\)", path)


@pytest.fixture(scope="module")
def report():
    return install()


def test_every_regex_xpath_of_trafilatura_is_guarded(report):
    import trafilatura  # noqa: F401

    assert report.calls_guarded >= 40 and report.xpaths_rewritten >= 15
    originals = [orig for orig, new in report.replaced.values() if new is not orig]
    seen = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("trafilatura"):
            continue
        for value in vars(module).values():
            for x in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(x, etree.XPath) and "re:test(" in x.path:
                    seen += 1
                    assert id(x) in report.made, f"{name}: an unguarded regex XPath is still in use"
    assert seen >= report.xpaths_rewritten
    # nothing else (a default argument, a closure, a dict) still holds an original
    gc.collect()
    for orig in originals:
        holders = [r for r in gc.get_referrers(orig)
                   if r is not originals and not isinstance(r, (types.CellType, types.FrameType))
                   and not (isinstance(r, tuple) and len(r) == 2 and r[0] is orig)]
        assert holders == [], orig.path[:80]


def test_guard_shape():
    path = ".//*[re:test(@id|@class, '^comment[s-]') or re:test(@class, 'x|y', 'i') or re:test(@id, 'a|')]"
    new, guarded, left = guard_regex_tests(path)
    assert (guarded, left) == (2, 1)
    assert "((contains(@id|@class, 'comment-') or contains(@id|@class, 'comments')) and re:test(@id|@class, " in new
    assert "(@class and re:test(@class, 'x|y', 'i'))" in new  # case-insensitive: presence guard only
    assert "re:test(@id, 'a|')" in new and "(@id and re:test(@id, 'a|'" not in new  # matches '': untouched


@pytest.mark.parametrize("pattern, expected", [
    ("comment-?list", ["comment-list", "commentlist"]),
    ("^(?:[Cc]omment(?!ary)|comol)", ["Comment", "comment", "comol"]),
    (r"(^|\s)bottom|bottom(\s|$)", ["bottom"]),
    ("a.*bcd|xyz", ["bcd", "xyz"]),
    ("social|viral|news|sidebar|banner", None),  # more than 4: presence guard only
    ("a|", None), ("(?i)abc", None), ("a(?i:b)c", None), ("x+", None),
])
def test_required_literals(pattern, expected):
    assert required_literals(pattern) == expected


def test_required_literals_are_in_every_match(report):
    """For every pattern trafilatura uses: each string the pattern expands to (gaps filled with
    several fillers) matches the pattern and contains one of the required literals."""
    patterns = {p for orig, _ in report.replaced.values() for p, flags in _patterns_in(orig.path) if "i" not in flags}
    checked = 0
    for pattern in patterns:
        literals = required_literals(pattern)
        if literals is None:
            continue
        for expansion in _expansions(_sre_parse.parse(pattern)):
            for filler in (" ", "\t", "z", ""):
                text = expansion.replace("\0", filler)
                if re.search(pattern, text):
                    checked += 1
                    assert any(t in text for t in literals), (pattern, text)
    assert checked > 100


def _probe_document(report) -> etree._Element:
    """Elements whose class/id/style values are built from every pattern's expansions plus near
    misses: case, position, Unicode case folds, attribute order, empty and missing attributes."""
    values = {"", " ", "x", "Commentary", "commentary-list", "comment", "x ad-y", "ad-x", " ad ", "bottom",
              "xbottom", "bottom x", "link", "hidden", "COOKIE-BANNER", "cooKie_consent", "notice__cookie",
              "co\u017fent-banner", "noti\u0130ce-cookie", "\u212aookie", "cmplz", "Comments", "comments-x"}
    for orig, _ in report.replaced.values():
        for pattern, _flags in _patterns_in(orig.path):
            for exp in _expansions(_sre_parse.parse(pattern))[:200]:
                for filler in (" ", "q"):
                    base = exp.replace("\0", filler)
                    values.update({base, base.upper(), base.title(), f"pre-{base}", f"{base} post", base[1:], base[:-1]})
    root = etree.Element("html")
    body = etree.SubElement(root, "body")
    tags = ["div", "section", "article", "main", "aside", "p", "span", "list", "item", "ul", "li", "a", "table",
            "header", "nav", "footer", "h1", "head", "quote", "ref"]
    for i, value in enumerate(sorted(values)):
        tag = tags[i % len(tags)]
        etree.SubElement(body, tag, {"class": value})
        etree.SubElement(body, tag, {"id": value})
        etree.SubElement(body, tag, {"id": value, "class": "x"})   # id first
        el = etree.SubElement(body, tag, {"class": "x"})
        el.set("id", value)                                        # class first
        etree.SubElement(body, tag, {"style": value})
        holder = etree.SubElement(body, tag, {"class": value})
        etree.SubElement(holder, "h1").text = value
        etree.SubElement(body, tag)                                # no attributes
    return root


def _same_selection(report, trees) -> int:
    compared = 0
    for orig, new in report.replaced.values():
        if new is orig:
            continue
        for tree in trees:
            assert new(tree) == orig(tree), orig.path[:120]
            compared += 1
    return compared


def test_guarded_xpaths_select_the_same_elements_on_probes(report):
    assert _same_selection(report, [_probe_document(report)]) >= report.xpaths_rewritten


def test_guarded_xpaths_select_the_same_elements_on_real_pages(report, shared_data):
    from pipeline.extraction.extract import _html_parser, decode_html
    from pipeline.commoncrawl.warc import iter_raw_records

    trees = []
    for path in sorted(glob.glob(str(shared_data / "html" / "*.html"))):
        trees.append(etree.fromstring(open(path, "rb").read(), _html_parser()))
    for name in ("resiliparse_CC-MAIN-2020-34_sample.warc.gz", "dolma_sample-0000.warc.gz",
                 "resiliparse_clueweb09-quirk.warc.gz"):
        path = str(shared_data / "warc" / name)
        with open(path, "rb") as fh:
            for rec in iter_raw_records(fh, path, 1 << 24):
                if rec.http_status == 200 and "html" in (rec.content_type or ""):
                    html, _ = decode_html(rec.payload, rec.content_type)
                    trees.append(etree.fromstring(html.encode(), _html_parser()))
    assert len(trees) > 60
    attributed = sum(len(t.xpath(".//*[@class or @id]")) for t in trees)
    assert attributed > 5000  # real pages: plenty of class/id values for the patterns to see
    assert _same_selection(report, trees) >= 60 * report.xpaths_rewritten


def test_guarded_xpath_still_finds_what_the_regex_finds(report):
    import trafilatura.xpaths as xp

    tree = etree.fromstring("<html><body><div class='comment-list'>x</div><div class='commentary'>y</div>"
                            "<div id='comments-3'>z</div></body></html>")
    found = [el.get("class") or el.get("id") for x in xp.COMMENTS_XPATH[:2] for el in x(tree)]
    assert "comment-list" in found and "comments-3" in found and "commentary" not in found


def test_extracted_text_is_the_same_with_and_without_the_guards(shared_data):
    from pipeline.extraction.extract import ExtractSettings, decode_html, html_to_text
    from pipeline.commoncrawl.warc import iter_raw_records
    from pipeline.extraction.xpath_regex import uninstall

    pages = [open(p, "rb").read().decode("utf-8", "replace") for p in sorted(glob.glob(str(shared_data / "html" / "*.html")))]
    path = str(shared_data / "warc" / "dolma_sample-0001.warc.gz")
    with open(path, "rb") as fh:
        for rec in iter_raw_records(fh, path, 1 << 24):
            if rec.http_status == 200 and "html" in (rec.content_type or ""):
                pages.append(decode_html(rec.payload, rec.content_type)[0])
    assert len(pages) > 25
    report = install()
    guarded = [html_to_text(p, ExtractSettings(extractor="trafilatura"))[0] for p in pages]
    uninstall()
    try:
        import trafilatura.xpaths as xp

        assert not any(id(x) in report.made for x in xp.COMMENTS_XPATH)  # the originals are back
        plain = [html_to_text(p, ExtractSettings(extractor="trafilatura"))[0] for p in pages]
    finally:
        install()
    assert guarded == plain
    assert sum(len(t or "") for t in plain) > 50_000
