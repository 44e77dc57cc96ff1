"""Main text on real pages (../shared/data/html): every answer, every post, no navigation, paragraphs kept.

Both engines (``pool.extractor``: ours and trafilatura) pass the same behavioural tests.
"""
import re
from collections import Counter

import lxml.html
import pytest

from pipeline.extraction.extract import EXTRACTORS, ExtractSettings, html_to_text
from pipeline.extraction.maintext import extract_main_text

ENGINES = sorted(EXTRACTORS)
#: trafilatura (even with its fallbacks) keeps one post of these threads and joins a blog's lines: measured
#: limits of that engine, held here so that a trafilatura release that fixes them shows up.
TRAFILATURA_LOSES = pytest.mark.xfail(reason="trafilatura keeps the first post(s) only", strict=True)
THREAD_ENGINES = [pytest.param(e, marks=TRAFILATURA_LOSES) if e == "trafilatura" else e for e in ENGINES]


def _page(shared_data, name: str) -> str:
    return (shared_data / "html" / name).read_bytes().decode("utf-8", "replace")


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w$]+", " ", text.lower()).split())


def _main(html: str, engine: str) -> str:
    return html_to_text(html, ExtractSettings(extractor=engine))[0] or ""


def _assert_every_post_kept(html: str, posts_xpath: str, engine: str, at_least: int) -> None:
    tree = lxml.html.fromstring(html)
    posts = [p.text_content() for p in tree.xpath(posts_xpath) if len(p.text_content().split()) >= 8]
    assert len(posts) >= at_least
    out = Counter(_words(_main(html, engine)).split())
    for post in posts:
        words = Counter(_words(post).split())
        recall = sum((words & out).values()) / sum(words.values())
        assert recall >= 0.8, (engine, round(recall, 2), post[:80])


@pytest.mark.parametrize("engine", THREAD_ENGINES)
def test_stackexchange_thread_keeps_question_and_every_answer(shared_data, engine):
    for name, posts in (("magichtml_forum_3bea25afda16.html", 5), ("magichtml_forum_d4654175c7df.html", 3)):
        _assert_every_post_kept(_page(shared_data, name), "//div[contains(@class, 's-prose')]", engine, posts)


@pytest.mark.parametrize("engine", THREAD_ENGINES)
def test_forum_thread_keeps_every_post(shared_data, engine):
    html = _page(shared_data, "magichtml_forum_44996889451f.html")  # scienceforums.net, 7 posts
    _assert_every_post_kept(html, "//div[@data-role='commentContent']", engine, 7)


@pytest.mark.parametrize("engine", ENGINES)
def test_navigation_and_footer_are_gone(shared_data, engine):
    for name in ("magichtml_forum_d4654175c7df.html", "magichtml_forum_44996889451f.html",
                 "trafilatura_caktusgroup.com.django.html", "trafilatura_phys.org.tool.html"):
        html = _page(shared_data, name)
        tree = lxml.html.fromstring(html)
        out = "\n" + _main(html, engine) + "\n"
        lines = [_words(a.text_content()) for box in tree.xpath("//nav | //footer") for a in box.iter("a", "li")]
        lines = [t for t in lines if len(t) >= 20]
        assert lines, name
        found = [t for t in lines if t in _words(out)]
        assert len(found) <= 0.1 * len(lines), (engine, name, found[:5])


@pytest.mark.parametrize("engine", [pytest.param(e, marks=pytest.mark.xfail(
    reason="trafilatura joins this blog's <br>-separated paragraphs", strict=True)) if e == "trafilatura" else e
    for e in ENGINES])
def test_paragraph_breaks_survive(shared_data, engine):
    html = _page(shared_data, "trafilatura_blog.python.org.html")
    tree = lxml.html.fromstring(html)
    body = tree.xpath("//div[contains(@class, 'post-body')]")[0]
    for br in body.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for p in body.iter("p", "li"):
        p.text = "\n" + (p.text or "")
    paragraphs = [_words(t) for t in body.text_content().split("\n")]
    paragraphs = [p for p in paragraphs if len(p.split()) >= 8]
    lines = [_words(line) for line in _main(html, engine).split("\n") if line.strip()]
    assert len(paragraphs) >= 3
    for p in paragraphs:
        assert any(line.startswith(" ".join(p.split()[:5])) for line in lines), (engine, p[:60])


@pytest.mark.parametrize("engine", ENGINES)
def test_wikipedia_formulas_survive_with_the_text(shared_data, engine):
    html = _page(shared_data, "readability_wikipedia-3_hermitian-matrix.html")
    out = _main(html, engine)
    assert out.count("$") >= 2 * 50  # 66 formulas in the page, most of them in the article body
    assert "\\overline" in out or "^{\\mathsf{H}}" in out or "^\\mathsf{H}" in out
    assert "Hermitian" in out


def test_markdown_structure_of_our_engine(shared_data):
    """Headings, blank lines between paragraphs, list items, fenced code and table rows."""
    html = ("<html><body><nav><a href='/'>Home</a> <a href='/a'>About us</a></nav><article><h1>Title here</h1>"
            "<p>First paragraph with enough words to count as prose, really.</p><p>Second paragraph, also long "
            "enough to be read as written text by anyone.</p><p>A third paragraph that says more about the subject "
            "of this page, in full sentences.</p><ul><li>one item</li><li>two item</li></ul>"
            "<pre>x = 1\ny = 2</pre><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
            "</article><footer><p>Copyright 2024 and some words about the site itself here.</p></footer></body></html>")
    main = extract_main_text(lxml.html.fromstring(html).getroottree().getroot())
    assert main.text.startswith("# Title here\n\nFirst paragraph")
    assert "\n\nSecond paragraph" in main.text
    assert "- one item\n- two item" in main.text
    assert "```\nx = 1\ny = 2\n```" in main.text
    assert "| a | b |\n| 1 | 2 |" in main.text
    assert "Home" not in main.text and "Copyright" not in main.text
    assert main.visible_chars > len(main.text)
