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
        title = {_words(h.text_content()) for h in tree.iter("h1")}  # a breadcrumb ends with the page's title
        lines = [_words(a.text_content()) for box in tree.xpath("//nav | //footer") for a in box.iter("a", "li")]
        lines = [t for t in lines if len(t) >= 20 and t not in title]
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



# --- region choice on real pages of ../shared/data/pages (ground truth written by people) ---------------------

def _real_page(shared_data, folder: str, key: str) -> tuple[str, str]:
    """(decoded HTML, ground-truth main text) of one page of ``pages/`` (``folder``: aeb, article, forum)."""
    import gzip
    import json

    from pipeline.extraction.extract import decode_html

    if folder == "aeb":
        base = shared_data / "pages" / "aeb"
        gold = json.loads((base / "ground-truth.json").read_text(encoding="utf-8"))[key]["articleBody"]
        path = base / "html" / f"{key}.html.gz"
    else:
        base = shared_data / "pages" / "magic-html" / folder
        gold = json.loads((base / "base.json").read_text(encoding="utf-8"))[key]["content"]
        path = base / f"{key}.html.gz"
    return decode_html(gzip.open(path).read(), "text/html")[0], gold


def _precision_recall(out: str, gold: str) -> tuple[float, float]:
    """Bag-of-words precision and recall of ``out`` against the ground truth."""
    o, g = Counter(_words(out).split()), Counter(_words(gold).split())
    common = sum((o & g).values())
    return common / max(1, sum(o.values())), common / max(1, sum(g.values()))


def _trafilatura_xfail(reason: str) -> list:
    return [pytest.param(e, marks=pytest.mark.xfail(reason=reason, strict=True)) if e == "trafilatura" else e
            for e in ENGINES]


PFT = "8e3efab59f48fd29a1e1e7aa135880c4251a9f090f94999668cdbaec59d30b5a"  # profootballtalk, 34 comments
MACRUMORS = "232a43fb15abde807427b2a7bf4f772e27b8760554370956d8291df4e8166dbf"  # div.content in article and comments
NBC = "2d5228514fd49969ab1b9dbbf0df063702fcbb50120f8b690a9049867d0f5e8f"  # OneTrust policy longer than the article
YAHOO = "2681eeacec6ab049817f3908bab3ae67a01396cedc3ede29df29ecc94ecd1265"  # one paragraph above a teaser stream
DISCOURSE = "a11ddefa8af004ec2f50799231071470d5535e24f09c560b3dc90c7367dde6b3"  # forum.uipath.com, 7 posts
NODEBB = "fbe48a1911e4d3a026a6124acfb9537debd6149dc8ec6fe8663133a67df43f48"  # a 691-word post, 4 replies
PHPBB = "5d5c1f0e282cdb389f98b0fd7b9f13de8f2f367de259dbd2f27b1a6b86dfdc09"  # "#4 Post by X » 2024-04-15 20:41"


@pytest.mark.parametrize("engine", _trafilatura_xfail("trafilatura keeps MacRumors' comments"))
def test_article_keeps_its_body_not_the_reader_comments(shared_data, engine):
    for key in (PFT, MACRUMORS):
        html, gold = _real_page(shared_data, "aeb", key)
        precision, recall = _precision_recall(_main(html, engine), gold)
        assert recall >= 0.9 and precision >= 0.85, (engine, key[:12], round(precision, 2), round(recall, 2))


@pytest.mark.parametrize("engine", _trafilatura_xfail("trafilatura keeps the consent dialog, not the article"))
def test_consent_dialog_never_replaces_a_short_article(shared_data, engine):
    html, gold = _real_page(shared_data, "article", NBC)
    out = _main(html, engine)
    precision, recall = _precision_recall(out, gold)
    assert recall >= 0.9 and precision >= 0.9, (engine, round(precision, 2), round(recall, 2))
    assert "cookie" not in out.lower()


@pytest.mark.parametrize("engine", _trafilatura_xfail("trafilatura keeps the teaser stream"))
def test_one_paragraph_article_under_a_teaser_stream(shared_data, engine):
    html, gold = _real_page(shared_data, "article", YAHOO)
    precision, recall = _precision_recall(_main(html, engine), gold)
    assert recall >= 0.95 and precision >= 0.5, (engine, round(precision, 2), round(recall, 2))


@pytest.mark.parametrize("engine", ENGINES)
def test_thread_in_a_post_stream_or_after_a_long_post_keeps_every_post(shared_data, engine):
    html = _real_page(shared_data, "forum", DISCOURSE)[0]  # Discourse: its "post-stream" is no teaser list
    _assert_every_post_kept(html, "//div[contains(@class, 'cooked')]", engine, 3)
    html = _real_page(shared_data, "forum", NODEBB)[0]  # NodeBB: short replies beside a long first post
    _assert_every_post_kept(html, "//ul[@class='posts']/li//div[@class='content']", engine, 5)


@pytest.mark.parametrize("engine", ENGINES)
def test_post_header_lines_go_and_the_posts_stay(shared_data, engine):
    html = _real_page(shared_data, "forum", PHPBB)[0]
    out = _main(html, engine)
    assert not re.search(r"Post by \w+ » \d{4}-\d\d-\d\d", out), engine
    _assert_every_post_kept(html, "//div[@class='content']", engine, 4)


def test_short_math_lines_are_not_post_headers():
    """A post's header line goes; short lines of a math post that hold numbers, dashes or colons stay."""
    lines = ["The 3-4-5 triangle", "ratio 3:45 here", "2, 3, 5, 7, 11, 13, 17, 19, 23, 29", "$x = 12:30$"]
    body = "".join(f"<p>{line}</p>" for line in lines)
    html = (f"<html><body><article><p>#4 Post by kikinder » 2024-04-15 20:41</p>{body}<p>A paragraph that is long "
            "enough to be read as prose, with a full sentence about primes.</p></article></body></html>")
    out = extract_main_text(lxml.html.fromstring(html).getroottree().getroot()).text
    assert "kikinder" not in out
    for line in lines:
        assert line in out, line


# --- discussion pages, copies and user cards -------------------------------------------------------------------

IMGUR = "c0caa08e1dce"  # imgur gallery: the post, then its replies in div.CommentsList-comments
ZHIHU = "a4c329f2524d"  # zhihu: the answers in a div.List
BUSINESS_INSIDER = "f81c6c05d9cb"  # the article three times over (layouts for three screens)
ANSWER_DEV = "b9b9c688999f"  # meta.answer.dev: a question with one short answer
ANSPRESS = "3c7a89566ede"  # clevious.com (AnsPress): question and answer in subtrees apart


def _real_key(shared_data, folder: str, prefix: str) -> tuple[str, str, str]:
    """(decoded HTML, ground truth, URL) of the page of ``pages/`` whose key starts with ``prefix``."""
    import json

    base = shared_data / "pages" / ("aeb" if folder == "aeb" else f"magic-html/{folder}")
    truth = json.loads((base / ("ground-truth.json" if folder == "aeb" else "base.json")).read_text("utf-8"))
    key = next(k for k in truth if k.startswith(prefix))
    html, gold = _real_page(shared_data, folder, key)
    return html, gold, truth[key]["url"]


def test_discussion_pages_are_told_by_url_schema_or_forum_software():
    from pipeline.extraction.maintext import is_thread_page

    empty = lxml.html.fromstring("<html><body><p>x</p></body></html>").getroottree().getroot()
    for url in ("https://math.stackexchange.com/questions/12/why", "https://www.reddit.com/r/math/comments/1c/x/",
                "https://forum.example.org/some-thread", "https://example.com/t/how-to/421350",
                "https://www.physicsforums.com/threads/entropy.1011/", "https://mathoverflow.net/questions/9/y"):
        assert is_thread_page(url, empty), url
    for url in ("https://www.macrumors.com/2019/11/18/keyboard/", "https://news.example.com/2024/5/questions",
                "https://example.com/blog/community", None):
        assert not is_thread_page(url, empty), url
    for head in ('<meta name="generator" content="phpBB 3.3">',
                 '<script type="application/ld+json">{"@type": "QAPage", "mainEntity": {}}</script>'):
        tree = lxml.html.fromstring(f"<html><head>{head}</head><body><p>x</p></body></html>").getroottree()
        assert is_thread_page("https://example.com/a/b", tree.getroot()), head


def test_a_page_declaring_a_discussion_keeps_the_replies_in_its_comment_boxes():
    post = "".join(f"<p>Paragraph {i} of the first post, long enough to be read as prose by anyone.</p>"
                   for i in range(5))
    replies = "".join(f"<div class='comment'><p>Reply {i} to the post, also long enough to read as prose.</p></div>"
                      for i in range(3))
    for itemtype, kept in (("", False), (' itemscope itemtype="https://schema.org/DiscussionForumPosting"', True)):
        html = (f"<html><body><main{itemtype}><div class='opening'>{post}</div>"
                f"<div class='comments'>{replies}</div></main></body></html>")
        out = extract_main_text(lxml.html.fromstring(html).getroottree().getroot()).text
        assert "Paragraph 4" in out
        assert ("Reply 2" in out) is kept, (itemtype, out)


@pytest.mark.parametrize("engine", _trafilatura_xfail("trafilatura keeps imgur's post, not its replies"))
def test_thread_whose_replies_are_named_comments_keeps_them(shared_data, engine):
    # (this metric splits Chinese at punctuation only, so zhihu's recall reads lower than it is)
    for prefix, min_recall in ((IMGUR, 0.9), (ZHIHU, 0.7)):
        html, gold, url = _real_key(shared_data, "forum", prefix)
        out = html_to_text(html, ExtractSettings(extractor=engine), url)[0] or ""
        precision, recall = _precision_recall(out, gold)
        assert recall >= min_recall and precision >= 0.8, (engine, prefix, round(precision, 2), round(recall, 2))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_short_answer_is_a_post_too(shared_data, engine):
    """Apache Answer: a 25-word question and its 19-word answer (not a sentence-long paragraph) are both kept."""
    html, gold, url = _real_key(shared_data, "forum", ANSWER_DEV)
    out = html_to_text(html, ExtractSettings(extractor=engine), url)[0] or ""
    assert "There is also a problem with the smtp mailbox" in out
    assert "You can try to change the From name" in out, engine


def test_an_answer_far_from_its_question_brings_it_along(shared_data):
    """AnsPress (clevious.com): the question and the answer sit in separate subtrees; the answer holds most of the
    prose, and the question comes with it."""
    html, gold, url = _real_key(shared_data, "forum", ANSPRESS)
    out = html_to_text(html, ExtractSettings(), url)[0] or ""
    assert "I’ve got a website currently on shared hosting" in out
    assert "Great question about switching from shared hosting" in out


@pytest.mark.parametrize("engine", ENGINES)
def test_an_article_printed_twice_is_kept_once(shared_data, engine):
    html, gold, url = _real_key(shared_data, "aeb", BUSINESS_INSIDER)
    out = html_to_text(html, ExtractSettings(extractor=engine), url)[0] or ""
    paragraphs = Counter(p for p in out.split("\n") if len(p.split()) >= 12 and not p.startswith(("#", "-")))
    assert paragraphs and max(paragraphs.values()) == 1, (engine, paragraphs.most_common(1))
    assert _precision_recall(out, gold)[1] >= 0.95


@pytest.mark.parametrize("engine", ENGINES)
def test_stackexchange_user_cards_go(shared_data, engine):
    html = _page(shared_data, "magichtml_forum_3bea25afda16.html")
    out = html_to_text(html, ExtractSettings(extractor=engine),
                       "https://puzzling.stackexchange.com/questions/126764/which-duplo-digit-is-6-or-9")[0]
    assert not re.search(r"\d+ (?:gold|silver|bronze) badges?", out), engine
    assert "duplo" in out.lower()


SPORTOWEFAKTY = "6679b81a5620"  # a consent dialog under hashed class names beside the page, longer than the article
HUFFPOST = "1f2f22aa6812"  # "Support HuffPost" donation appeals inside the article's content list
PATCH = "1427dd7f3923"  # newsletter sign-up boxes named "styles_SubscribeForm__0dj5n"


@pytest.mark.parametrize("engine", ENGINES)
def test_consent_dialog_with_nameless_classes_beside_the_page_goes(shared_data, engine):
    html, gold, url = _real_key(shared_data, "article", SPORTOWEFAKTY)
    out = html_to_text(html, ExtractSettings(extractor=engine), url)[0] or ""
    precision, recall = _precision_recall(out, gold)
    assert recall >= 0.9 and precision >= 0.9, (engine, round(precision, 2), round(recall, 2))
    assert "cookies" not in out


def _furniture_gone(shared_data, engine: str, key: str, *furniture: str, folder: str = "article") -> None:
    """The page's text keeps its article (recall >= 0.95) and none of ``furniture``."""
    html, gold, url = _real_key(shared_data, folder, key)
    out = html_to_text(html, ExtractSettings(extractor=engine), url)[0] or ""
    for line in furniture:
        assert line not in out, (engine, line)
    assert _precision_recall(out, gold)[1] >= 0.95, engine


@pytest.mark.parametrize("engine", ENGINES)
def test_donation_appeals_go(shared_data, engine):
    _furniture_gone(shared_data, engine, HUFFPOST, "Contribute as little as")


@pytest.mark.parametrize("engine", _trafilatura_xfail("trafilatura keeps Patch's sign-up boxes"))
def test_newsletter_boxes_named_in_one_run_on_word_go(shared_data, engine):
    _furniture_gone(shared_data, engine, PATCH, "with free, real-time updates from Patch")


def test_a_page_about_cookies_is_no_consent_dialog():
    """The consent rule removes a body child beside the page's <main> only when it holds no headline: a recipe
    with its own <h1> and a print button stays, as does every child of a page without <main>/<article>."""
    recipe = ("<div><h1>Chocolate chip cookies</h1><button>Print</button>"
              + "<p>Cream the butter and the sugar, then fold in the chips; these cookies keep for a week.</p>" * 6
              + "</div>")
    beside_main = f"<html><body><div><main><p>Today's picks.</p></main></div>{recipe}</body></html>"
    no_main = f"<html><body><div><p>Menu</p><button>Open</button></div>{recipe}</body></html>"
    for html in (beside_main, no_main):
        out = extract_main_text(lxml.html.document_fromstring(html)).text
        assert "fold in the chips; these cookies keep" in out


THE_SUN = "8b1945303082"  # a "Most read" rail in a swiper carousel inside the article's content


@pytest.mark.parametrize("engine", ENGINES)
def test_hidden_schema_org_metadata_is_no_text(shared_data, engine):
    # a display:none itemscope block
    _furniture_gone(shared_data, engine, BUSINESS_INSIDER, "2019-11-13T23:06:00", "PFI-XAMP", folder="aeb")


@pytest.mark.parametrize("engine", _trafilatura_xfail("trafilatura keeps The Sun's \"Most read\" rail"))
def test_a_carousel_of_other_stories_goes(shared_data, engine):
    _furniture_gone(shared_data, engine, THE_SUN, "Most read in world news", folder="aeb")
