"""Main-content extraction on a parsed lxml tree: the page's body, every post of a thread, as Markdown-like text.

Written here because no maintained library does what a math corpus needs on real layouts: trafilatura keeps
the first post of a Q&A thread and drops the answers (its fast mode) or costs 2x (its fallbacks);
resiliparse's main-content mode keeps user cards, vote counters and footers, and writes no structure.

The steps, each cheap (one walk of the tree, C-level lxml calls where possible):

1. **Prune** what is never content: scripts, styles, form controls, ``<nav>``, ``hidden``/``aria-hidden``
   elements, schema.org metadata hidden by its style, furniture named as such (cookie consent, footer, share
   bar, menu, ads ...) unless it wraps the page, and a dialog with a button mentioning cookies beside the
   page's ``<main>``/``<article>`` under ``<body>`` whatever its class names; **mark** ``<footer>``/``<aside>``
   and containers whose ``class``/``id`` words name a sidebar, related links, a carousel, a vote widget, a
   donation appeal or a user card (dropped unless they hold much of the page's prose).
2. **Segment** the rest into blocks (paragraphs, headings, list items, table rows, code blocks, quotes),
   each with its text, how much of it is link text, and its element.
3. **Locate** the content region: the deepest element holding most of the page's prose (blocks with
   sentences, few links; comment lists and recommendation streams count less, except that on a discussion
   page, told by its URL, schema.org type or forum software, "comments" are the replies and count in full and
   the region must hold more of the prose), widened to the thread when
   it is one of alike posts, moved to the headline's article when it lies apart from the page's single
   ``<h1>``, then narrowed to a container named as the body (class words, ``<article>``, schema.org
   ``articleBody``) unless that body is one post of a thread; else joined by siblings holding a real share
   (a Q&A page's question beside its answers).
4. **Filter** blocks inside the region: link lists, short lines repeated across posts ("Reply", "Quote",
   "Link to comment"), lines of dates and counters or of a timestamp beside a name, and a paragraph met a
   second time (a page printing its article once per screen size) go; headings, list items and sentences
   stay.
5. **Write** Markdown-like text: ``#`` headings, paragraphs apart by a blank line, ``-`` list items,
   fenced code, ``|`` table rows; math (already rewritten to ``$..$`` by :mod:`pipeline.extraction.htmlmath`) as is.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field

#: Subtrees that never hold main text.
SKIP_TAGS = frozenset((
    "script", "style", "noscript", "template", "svg", "iframe", "button", "select", "option", "input",
    "textarea", "nav", "head", "object", "embed", "canvas", "video", "audio", "map", "dialog", "menu",
    "label", "datalist", "fencedframe", "picture", "source",
))
#: Elements that start a new block of text.
BLOCK_TAGS = frozenset((
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4",
    "h5", "h6", "pre", "blockquote", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption",
    "header", "footer", "aside", "figure", "figcaption", "center", "address", "details", "summary", "hr",
    "body", "html", "form", "fieldset", "legend", "hgroup", "output",
))
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}

#: class/id words naming a role that is never main text. Matched as whole words of the attribute
#: (split at spaces, ``-`` and ``_``; an entry with a ``-`` matches a whole class name: ``user-info``), so
#: ``comment-body`` is content and ``share-bar`` is not.
BOILERPLATE_WORDS = frozenset((
    "nav", "navbar", "navigation", "navlinks", "menu", "menubar", "submenu", "breadcrumb", "breadcrumbs",
    "sidebar", "side", "footer", "foot", "cookie", "cookies", "consent", "gdpr", "banner", "share", "sharing",
    "sharebar", "social", "related", "recommended", "recommend", "advert", "advertisement", "ads", "ad",
    "adsense", "sponsor", "sponsored", "promo", "newsletter", "subscribe", "signup", "login", "signin",
    "register", "modal", "popup", "pagination", "pager", "toolbar", "skip", "widget", "widgets", "usercard",
    "userinfo", "user-info", "avatar", "signature", "vote", "votes", "voting", "rating", "badge", "badges",
    "reputation", "postprofile", "profile", "reactions", "likes", "copyright", "disclaimer", "masthead",
    "topbar", "header-nav", "sitemap", "dropdown", "tooltip", "hidden", "sr-only", "visually-hidden",
    "screen-reader-text", "print-only", "noprint", "lightbox", "carousel", "slider", "swiper", "jump", "backtotop",
    "support",  # a request for donations ("support our journalism")
    "navbox", "reflist",  # MediaWiki's navigation boxes and reference lists
    "alert", "alerts", "notice", "notices", "announcement", "announcements", "dismissible",  # a site's notices
))
#: Entries above matched as a whole class name (their parts, ``user`` and ``info``, say nothing alone).
_WHOLE_NAMES = frozenset(w for w in BOILERPLATE_WORDS if "-" in w)
#: Words that mark a container as content even when it also carries a boilerplate word
#: (``td-content-and-menu``, ``post-sidebar-content``): such containers are kept.
CONTENT_WORDS = frozenset((
    "content", "article", "post", "posts", "entry", "main", "body", "text", "story", "thread", "message",
    "question", "answer", "answers", "comment", "comments", "reply", "replies", "topic", "discussion", "page",
    "markdown", "prose", "blog", "news", "document", "doc", "docs", "chapter", "section", "wiki", "mw",
    "quote", "blockquote", "spoiler",
))
#: class/id words of furniture that is never content, whatever else the container is called or holds:
#: its subtree is skipped (a cookie-consent dialog holds more sentences than many articles).
NEVER_CONTENT_WORDS = frozenset((
    "cookie", "cookies", "consent", "gdpr", "onetrust", "cookiebot", "cmp", "footer", "copyright",
    "newsletter", "subscribe", "signup", "login", "signin", "modal", "popup", "breadcrumb", "breadcrumbs",
    "navbar", "menu", "share", "sharing", "social", "advert", "advertisement", "ads", "sponsored",
))
#: Words of a consent manager's dialog: injected beside the page, never around it, so skipped whatever its
#: size (a cookie policy can out-write a short article).
CONSENT_WORDS = frozenset(("cookie", "cookies", "consent", "gdpr", "onetrust", "cookiebot", "cmp"))
#: Page-level containers: never pruned by their class words (their classes describe the whole page).
_NEVER_PRUNED = frozenset(("html", "body", "main", "article"))
#: Elements whose tag alone says they are page furniture (HTML5 sectioning for sidebars and footers).
_BOILERPLATE_TAGS = frozenset(("footer", "aside"))
#: class/id words of containers whose prose is usually not the page's own: reader comments, recommendation
#: streams. Their prose counts for :data:`ASIDE_PROSE_WEIGHT` when the region is chosen; a page made only of
#: them (a thread whose posts are "comments") is unaffected, since the region is chosen by shares.
COMMENT_WORDS = frozenset(("comment", "comments", "commentlist", "respond", "disqus"))
ASIDE_WORDS = COMMENT_WORDS | frozenset((
    "related", "recommend", "recommended", "recommendation", "recommendations", "recirc", "popular",
    "trending", "teaser", "teasers", "promo", "outbrain", "taboola",
    "excerpt", "excerpts",  # a teaser of another page (WordPress's wp-block-post-excerpt)
))
#: Of those, the words of containers that stay asides on a discussion page (see :func:`is_thread_page`), where
#: the "comments" are the thread's replies.
NON_COMMENT_ASIDE_WORDS = ASIDE_WORDS - COMMENT_WORDS
#: Generic words that name a list of teasers (``more-stories``, ``latest-list``) unless the container is
#: also named as a body or as a thread's posts (``entry-content-read-more``, ``post-stream``, ``answers-list``).
LIST_WORDS = frozenset(("stream", "feed", "more", "latest", "list"))
#: On a discussion page a "list" is the list of posts or comments (``List``, ``comment-list``).
THREAD_LIST_WORDS = LIST_WORDS - {"list"}
ASIDE_PROSE_WEIGHT = 0.2
_WORD_SPLIT = re.compile(r"[\s_\-]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_WORD = re.compile(r"[^\W_]+", re.U)
_SENTENCE_END = re.compile(r"[.!?;:。！？；：…)\]]\s*$|[.!?。！？]\s")
_DIGITS = re.compile(r"\d+")
_WHITESPACE = re.compile(r"[\s\u00a0\u200b]+")
#: Stands for a ``<br>`` while a block's text is gathered (the source's newlines are only spaces).
_BR = "\x00"
#: An inline style that hides the element.
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.I)


_NO_WORDS: frozenset = frozenset()
#: Furniture words that sites run into the next word in one class name.
_COMPOUND_PREFIXES = ("subscribe", "newsletter")


@functools.lru_cache(maxsize=1 << 16)
def _words_of(value: str) -> frozenset:
    """Lower-cased words of one attribute value, each also without its digits, and its class names that are
    entries of :data:`BOILERPLATE_WORDS` written with a ``-`` (``user-info``), cached: a site repeats its
    class names on every page."""
    value = value.lower()
    if "-" not in value and "_" not in value:
        words = set(value.split())
    else:
        words = set(_WORD_SPLIT.split(value))
        words.discard("")
        words.update(_WHOLE_NAMES.intersection(value.split()))
    compound = [w for w in words if len(w) > 9 and w.startswith(_COMPOUND_PREFIXES)]
    if compound:
        # a furniture word run into the next (``SubscribeForm``, ``newsletterSignup``) is that word too
        words.update(p for w in compound for p in _COMPOUND_PREFIXES if w.startswith(p))
    if _DIGITS.search(value):
        # a word numbered by the site (id="userinfo5387", "sidebar2") is that word too
        words.update([w for w in (_DIGITS.sub("", w) for w in words) if w])
    return frozenset(words)


def _role_words(el) -> frozenset:
    cls, id_, role = el.get("class"), el.get("id"), el.get("role")
    if not (id_ or role):
        return _words_of(cls) if cls else _NO_WORDS
    return frozenset().union(*(_words_of(v) for v in (cls, id_, role) if v))


def is_boilerplate_container(el, words: set[str] | None = None) -> bool:
    """A container whose class/id/role words name a role that is not content (navigation, share bar ...).

    Only a hint: a marked container that turns out to hold much of the page's prose is kept
    (page builders call every block a ``widget``), see :func:`select_blocks`."""
    words = _role_words(el) if words is None else words
    if el.tag in _BOILERPLATE_TAGS:
        return words.isdisjoint(CONTENT_WORDS)  # Discourse quotes a post in <aside class="quote">
    return (bool(words) and not words.isdisjoint(BOILERPLATE_WORDS) and words.isdisjoint(CONTENT_WORDS)
            and el.tag not in _NEVER_PRUNED)


@dataclass
class Block:
    kind: str  # p, h, li, pre, quote, row
    el: object  # the block element the text belongs to
    parts: list = field(default_factory=list)
    link_chars: int = 0
    level: int = 0  # heading level, or list depth
    boiler: object = None  # the outermost container marked as boilerplate around this block, if any
    prior: float = 1.0  # ASIDE_PROSE_WEIGHT inside a comment/recommendation container, else 1
    in_comments: bool = False  # inside a container named by COMMENT_WORDS only (no other aside word)
    text: str = ""
    _units: float | None = None

    _cjk: int = 0

    def units(self) -> float:
        """Length in words, a CJK character counting as half a word."""
        if self._units is None:
            self._cjk = cjk = len(_CJK.findall(self.text))
            words = _WORD.findall(_CJK.sub(" ", self.text) if cjk else self.text)
            self._units = len(words) + cjk / 2
        return self._units

    def chars(self) -> int:
        """Length in characters, a CJK character counting as three (a word of a few letters, as it says as
        much): so a page's Chinese posts weigh what they say against its English interface text."""
        self.units()
        return len(self.text) + 2 * self._cjk


class _Segmenter:
    """One walk of the tree into :class:`Block` s (recursive; HTML nesting is bounded by lxml's parser)."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.current: Block | None = None
        self.list_depth = 0
        self.in_pre = 0
        self.in_quote = 0
        self.in_link = 0
        self.boiler = None
        self.aside = 0
        self.page_chars = 0  # characters of text on the page (set by extract_main_text)
        self.comments = 0  # depth of containers named by COMMENT_WORDS only
        self.declares_thread = False  # an element's schema.org itemtype says the page is a discussion
        self.list_words = LIST_WORDS

    def _open(self, kind: str, el, level: int = 0) -> None:
        self._close()
        self.current = self._block(kind, el, level)

    def _is_furniture(self, el, words: frozenset) -> bool:
        """A container named as furniture that is not a page-wide wrapper (``modal-enabled`` on the article,
        ``advertisement-off-canvas-pusher`` around everything): no content word, under half the page's text
        unless it is a consent dialog."""
        if el.tag in _NEVER_PRUNED or not words.isdisjoint(CONTENT_WORDS):
            return False
        return not words.isdisjoint(CONSENT_WORDS) or len(el.text_content()) < 0.5 * self.page_chars

    def _block(self, kind: str, el, level: int) -> Block:
        if self.aside or self.comments:
            return Block(kind, el, level=level, boiler=self.boiler, prior=ASIDE_PROSE_WEIGHT,
                         in_comments=not self.aside)
        return Block(kind, el, level=level, boiler=self.boiler)

    def _close(self) -> None:
        b = self.current
        if b is not None:
            raw = "".join(b.parts)
            if b.kind == "pre":
                text = raw.replace(_BR, "\n").strip("\n")
            elif _BR not in raw:
                # str.split() splits at what \s matches, in C; only the zero-width space needs the regex
                text = " ".join(raw.split()) if "\u200b" not in raw else _WHITESPACE.sub(" ", raw).strip()
            else:  # line breaks of <br> stay; the source's own newlines are spaces, as a browser shows them
                lines = (_WHITESPACE.sub(" ", line).strip() for line in raw.split(_BR))
                text = "\n".join(line for line in lines if line)
            if text.strip():
                b.text = text
                self.blocks.append(b)
        self.current = None

    def _add(self, text: str | None, el) -> None:
        if not text:
            return
        if self.current is None:
            if text.isspace():
                return  # layout whitespace between blocks
            self.current = self._block("quote" if self.in_quote else "p", el, 0)
        self.current.parts.append(text)
        if self.in_link:
            self.current.link_chars += len(text.strip())

    def walk(self, el) -> None:
        tag = el.tag  # lxml's HTML parser gives lower-case tags
        if not isinstance(tag, str) or tag in SKIP_TAGS:
            # comments, processing instructions and skipped subtrees: only their tail is text
            if el.tail:
                self._add(el.tail, el.getparent())
            return
        words = _NO_WORDS
        attrs = el.items()  # one call for every attribute: most elements have none or one
        if attrs:
            cls = id_ = role = None
            for key, value in attrs:
                if key == "class":
                    cls = value
                elif key == "id":
                    id_ = value
                elif key == "role":
                    role = value
                elif key == "itemtype":
                    self.declares_thread = self.declares_thread or _THREAD_SCHEMA.search(value) is not None
                elif key == "hidden" or (key == "aria-hidden" and value.lower() == "true") or (
                        key == "style" and "none" in value and _DISPLAY_NONE.search(value)
                        and el.get("itemscope") is not None):
                    # the last: schema.org metadata written for machines and hidden from readers (a hidden
                    # element without it may be a tab or a post that a script shows)
                    if el.tail:
                        self._add(el.tail, el.getparent())
                    return
            if cls or id_ or role:
                words = _words_of(cls) if cls and not (id_ or role) else \
                    frozenset().union(*(_words_of(v) for v in (cls, id_, role) if v))
                if not words.isdisjoint(NEVER_CONTENT_WORDS) and self._is_furniture(el, words):
                    if el.tail:
                        self._add(el.tail, el.getparent())
                    return
        opened_boiler = aside = comments = False
        if words:
            if self.boiler is None and is_boilerplate_container(el, words):
                opened_boiler = True
            aside = not words.isdisjoint(NON_COMMENT_ASIDE_WORDS) or (
                not words.isdisjoint(self.list_words) and words.isdisjoint(_POSTS_WORDS))
            comments = not aside and not words.isdisjoint(COMMENT_WORDS)
        elif tag in _BOILERPLATE_TAGS and self.boiler is None and is_boilerplate_container(el, words):
            opened_boiler = True
        if opened_boiler:
            if self.current is not None:
                self._close()
            self.boiler = el
        if aside:
            if self.current is not None:
                self._close()
            self.aside += 1
        elif comments:
            if self.current is not None:
                self._close()
            self.comments += 1
        if tag == "br" or tag == "img":
            if tag == "br":
                self._add(_BR, el)
            if el.tail:
                self._add(el.tail, el.getparent())
            if aside:
                self.aside -= 1
            elif comments:
                self.comments -= 1
            if opened_boiler:
                self.boiler = None
            return
        block = tag in BLOCK_TAGS
        if block:
            if tag in HEADINGS:
                self._open("h", el, HEADINGS[tag])
            elif tag == "li" or tag == "dd" or tag == "dt":
                self._open("li", el, self.list_depth)
            elif tag == "pre":
                self._open("pre", el)
            elif tag == "tr":
                self._open("row", el)
            elif tag in ("td", "th"):
                if self.current is not None and self.current.kind == "row":
                    if self.current.parts:
                        self.current.parts.append(" | ")
                else:
                    self._open("p", el)
            elif self.current is not None:
                self._close()
        if tag in ("ul", "ol", "dl"):
            self.list_depth += 1
        elif tag == "pre":
            self.in_pre += 1
        elif tag == "blockquote":
            self.in_quote += 1
        elif tag == "a":
            self.in_link += 1
        elif tag == "code" and not self.in_pre:
            self._add("`", el)
        if el.text:
            self._add(el.text, el)
        for child in el:
            self.walk(child)
        if tag in ("ul", "ol", "dl"):
            self.list_depth -= 1
        elif tag == "pre":
            self.in_pre -= 1
        elif tag == "blockquote":
            self.in_quote -= 1
        elif tag == "a":
            self.in_link -= 1
        elif tag == "code" and not self.in_pre:
            self._add("`", el)
        if self.current is not None and (block and tag != "td" and tag != "th" or opened_boiler or aside or comments):
            self._close()
        if opened_boiler:
            self.boiler = None
        if aside:
            self.aside -= 1
        elif comments:
            self.comments -= 1
        if el.tail:
            self._add(el.tail, el.getparent())


@dataclass(frozen=True)
class _Rules:
    """What counts as prose and how much of it the region holds: one set for articles, one for discussions."""
    region_share: float  # the region is the deepest element holding this share of the prose
    prose_units: int  # a block of this many words is prose
    sentence_units: int  # ... or of this many, ending like a sentence
    dedup_paragraphs: bool  # a paragraph met again is a copy (see REPEATED_PARAGRAPH_UNITS)
    join_question: bool  # the region takes a Q&A page's question and answers (see _with_question)
    title_heads: bool  # the page's single <h1> heads the text when the region lacks it (the thread's title)
    repeated_line_units: int  # a line this short met REPEAT_MIN times is a label ("Please log in to reply")


#: An article: prose is sentences, the region holds 70% of it.
ARTICLE_RULES = _Rules(region_share=0.7, prose_units=12, sentence_units=6, dedup_paragraphs=True,
                       join_question=False, title_heads=False, repeated_line_units=4)
#: A discussion: short replies ("Thanks, that fixed it.") are posts too, a thread's replies are spread over many
#: posts beside the first (so the region holds more of the prose), a reply quotes earlier posts on purpose, the
#: answers of a Q&A page go with its question, the thread's title (a question's own words) heads it, and a line
#: every post repeats (a signature, "Please log in to reply") is a label.
THREAD_RULES = _Rules(region_share=0.8, prose_units=3, sentence_units=2, dedup_paragraphs=False,
                      join_question=True, title_heads=True, repeated_line_units=12)


def _is_prose(b: Block, rules: _Rules = ARTICLE_RULES) -> bool:
    """A block that reads as written text: long enough, few links."""
    n = len(b.text)
    if n == 0 or b.link_chars > 0.3 * n or b.kind == "h":
        return False
    return b.units() >= rules.prose_units or (b.units() >= rules.sentence_units and bool(_SENTENCE_END.search(b.text)))


def _region(blocks: list[Block], rules: _Rules = ARTICLE_RULES):
    """The content region (a list of sibling elements), or None: the deepest element holding at least
    ``rules.region_share`` of the prose (by characters), widened to the thread it is one post of
    (:func:`_thread_of`), moved to the headline's article when apart from it (:func:`_headline_region`),
    then narrowed to the named body of an article, or else joined by siblings holding :data:`SIBLING_SHARE`.

    Threads keep every post (their common container holds the prose of all of them); an article's
    body wins over the page around it, which holds the same prose and more."""
    weight: Counter = Counter()
    own: Counter = Counter()  # the same, outside comment and recommendation containers
    total = own_total = 0
    for b in blocks:
        if _is_prose(b, rules):
            w = b.chars() * b.prior
            total += w
            chain = (b.el, *b.el.iterancestors())
            for el in chain:
                weight[el] += w
            if b.prior == 1:
                own_total += w
                for el in chain:
                    own[el] += w
    if not total:
        return None
    leaves = {b.el for b in blocks if b.kind != "p" or b.el.tag == "p"}
    best, best_depth = None, -1
    for el, w in weight.items():
        # a region is a container: one paragraph holding most of the prose brings its headings along
        if w >= rules.region_share * total and el not in leaves:
            d = sum(1 for _ in el.iterancestors())
            if d > best_depth:
                best, best_depth = el, d
    if best is None:
        return None
    best = _thread_of(best, own, total)
    best = _headline_region(blocks, best, own, own_total)
    region = None
    for named in _named_bodies(best, weight, total):
        if _is_schema_body(named) or not _thread_outside(named, best, weight, own, total):
            region = [named]  # the article's body: what lies beside it (comments, a footer) is not the article
        break  # one post of a thread: so is any container of it
    if region is None:
        # a sibling holding a real share of the prose belongs too: the question beside a Q&A page's answers
        parent = best.getparent()
        siblings = [c for c in parent if c is not best and weight.get(c, 0) >= SIBLING_SHARE * total] \
            if parent is not None else []
        region = [best, *siblings]
    return _with_question(region, weight, total) if rules.join_question else region


#: A container named as a question or an answer holding this share of the prose is part of a Q&A page.
QUESTION_SHARE = 0.05
_QA_WORDS = frozenset(("question", "answer", "answers"))


def _with_question(region: list, weight: Counter, total: float) -> list:
    """``region``, or, when the page's question or its answers (containers so named, holding
    :data:`QUESTION_SHARE` of the prose each) lie outside it, the lowest container holding them all: a Q&A page
    keeps its question with its answers, however far apart the markup puts them."""
    qa = [el for el, w in weight.items() if w >= QUESTION_SHARE * total and isinstance(el.tag, str)
          and not _role_words(el).isdisjoint(_QA_WORDS) and not _inside(el, region)
          and not any(_inside(r, [el]) for r in region)]
    if not qa:
        return region
    common = region[0]
    for el in qa:
        around = {id(a) for a in (common, *common.iterancestors())}
        common = next((a for a in (el, *el.iterancestors()) if id(a) in around), None)
        if common is None:
            return region
    return [common]


#: The headline's article is the lowest ancestor of the page's ``<h1>`` holding this share of the prose
#: outside comment and recommendation containers.
HEADLINE_SHARE = 0.5


def _headline_region(blocks: list[Block], region, own: Counter, own_total: float):
    """``region``, or the headline's article when ``region`` lies apart from it (``own``: prose weight per
    element outside comment and recommendation containers).

    A short article under a long stream of teasers or comments loses the share count to them (a one-paragraph
    news item); its headline, the page's single ``<h1>``, still marks where the article is. A region that
    holds the headline, or lies inside the headline's article (its body under an ``<h1>`` in a header), stays."""
    heads = [b for b in blocks if b.kind == "h" and b.level == 1 and b.boiler is None]
    if len(heads) != 1 or _inside(heads[0].el, [region]):
        return region
    article = next((a for a in heads[0].el.iterancestors() if own[a] and own[a] >= HEADLINE_SHARE * own_total),
                   None)
    if article is None or _inside(region, [article]):
        return region
    return article


#: A region inside one of alike siblings holding this share of the prose (outside comment containers)
#: widens to their parent: one long post of a thread brings the short replies beside it.
POST_SHARE = 0.1
#: How far above the region the post may be (region: a post's text; then its body, its card, its item).
POST_LEVELS = 4
#: Siblings are alike when this share of their class names (numbers aside: ``post-17``) is common.
ALIKE_CLASSES = 0.7


def _class_set(el) -> frozenset:
    return frozenset(_DIGITS.sub("", c) for c in (el.get("class") or "").split())


def _alike(a: frozenset, b: frozenset) -> bool:
    """Most class names in common: posts (``post reply odd`` / ``post reply even``), not the cells of a
    layout grid (``cell auto article`` / ``cell small-4 sidebar``)."""
    return len(a & b) >= ALIKE_CLASSES * len(a | b)


def _thread_of(region, own: Counter, total: float):
    """The parent of the alike siblings (posts) ``region`` is one of, or ``region``."""
    node = region
    for _ in range(POST_LEVELS):
        parent = node.getparent()
        if parent is None:
            break
        mine = _class_set(node)
        alike = sum(own.get(c, 0) for c in parent
                    if c is not node and c.tag == node.tag and _alike(mine, _class_set(c)))
        if alike >= POST_SHARE * total:
            return parent
        node = parent
    return region


#: class/id words a site gives its article body (``article-body``, ``entry-content``, ``post-text``).
BODY_WORDS = frozenset(("content", "body", "article", "entry", "post", "story", "text", "richtext", "prose",
                        "markdown", "articlebody", "postbody", "main"))
#: A quotation of another post is never the page's body (``post-quote-container``).
_QUOTE_WORDS = frozenset(("quote", "blockquote", "quotes", "cite"))
#: Words naming a body or the posts of a thread (see :data:`LIST_WORDS`).
_POSTS_WORDS = BODY_WORDS | {"answer", "answers", "question", "thread", "topic", "message", "reply", "replies"}
#: A container named as a body that holds this share of the prose is the region, if it is not one of
#: several alike siblings (one post of a thread).
BODY_SHARE = 0.4


def _is_schema_body(el) -> bool:
    """schema.org's ``articleBody``: the site declares this element the article's text."""
    return el.get("itemprop") == "articleBody"


def _named_bodies(region, weight: Counter, total: float) -> list:
    """The elements at or below ``region``, deepest first, named as a body (class/id words, an
    ``<article>``, the schema.org ``articleBody``) holding :data:`BODY_SHARE` of the prose, unless one of
    several alike siblings with prose (one post of a thread) or a quotation."""
    found = []
    for el, w in weight.items():
        if w < BODY_SHARE * total or not isinstance(el.tag, str):
            continue
        schema = _is_schema_body(el)
        words = _role_words(el)
        if not (schema or el.tag == "article" or not words.isdisjoint(BODY_WORDS)):
            continue
        if not words.isdisjoint(_QUOTE_WORDS) or not _inside(el, [region]):
            continue
        if not schema and _in_repeated_unit(el, region, weight):
            continue
        found.append((sum(1 for _ in el.iterancestors()), el))
    found.sort(key=lambda x: -x[0])
    return [el for _, el in found]


#: Alike siblings holding this share of the prose outside a named body make the page a thread.
THREAD_SHARE = 0.1


def _thread_outside(named, region, weight: Counter, own: Counter, total: float) -> bool:
    """Whether the region holds, outside ``named``, alike siblings (posts, answers) with
    :data:`THREAD_SHARE` of the prose, and ``named`` is one post's body among them (its tag and class
    recur with prose outside it, outside comment containers unless ``named`` is in one too): then the
    page is a thread and keeps them all. An article's body whose class stays unique, or recurs only in
    the comments, keeps the comments out (``entry-content`` above ``comment-body`` s)."""
    sig = _signature(named)
    probe = own if own.get(named) else weight
    if not any(el is not named and probe.get(el, 0) > 0 and _signature(el) == sig for el in region.iter(named.tag)):
        return False
    groups: Counter = Counter()
    counts: Counter = Counter()
    for el, w in weight.items():
        parent = el.getparent()
        if w <= 0 or parent is None or _inside(el, [named]) or not _inside(parent, [region]):
            continue
        if any(a is el for a in named.iterancestors()):
            continue
        key = (parent, _signature(el))
        groups[key] += w
        counts[key] += 1
    return any(counts[k] >= 2 and w >= THREAD_SHARE * total for k, w in groups.items())


def _in_repeated_unit(el, region, weight: Counter) -> bool:
    """Whether ``el`` or an ancestor of it below ``region`` has an alike sibling holding prose (a post)."""
    node = el
    while node is not None and node is not region:
        parent = node.getparent()
        if parent is None:
            break
        sig = _signature(node)
        if any(c is not node and weight.get(c, 0) > 0 and _signature(c) == sig for c in parent):
            return True
        node = parent
    return False


def _signature(el) -> tuple:
    """Tag and first class name: posts of a thread share them (``answer`` / ``answer accepted-answer``)."""
    classes = (el.get("class") or "").split()
    return el.tag, classes[0] if classes else None


#: A sibling of the region holding this share of the prose joins it.
SIBLING_SHARE = 0.1


def _inside(el, region: list) -> bool:
    if any(el is r for r in region):
        return True
    for anc in el.iterancestors():
        if any(anc is r for r in region):
            return True
    return False


def _members(region: list) -> set:
    """Every element of the region's subtrees (lxml keeps one proxy per live node, so identity holds)."""
    out: set = set()
    for r in region:
        out.update(r.iter())
    return out


#: Words of a post's date line or counters ("May 13th, 2024, 04:08 am", "2 years ago", "Views 305").
_DATE_WORDS = re.compile(
    r"\b(?:\d+(?:st|nd|rd|th)?|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|"
    r"aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon|tue|wed|thu|fri|sat|sun|"
    r"am|pm|at|ago|on|posted|edited|updated|published|last|modified|years?|months?|weeks?|days?|hours?|"
    r"minutes?|seconds?|"
    r"views?|replies|reply|posts?|likes?|votes?|points?|min|hr|[ymdhs])\b|"
    r"[年月日时時分秒前]|上午|下午|凌晨|中午|晚上|[星期週周][一二三四五六日天]|\d+(?=[年月日时時分秒号號])|(?<=午)\d+",
    re.I)


#: A full timestamp: a date with its four-digit year, a clock time with seconds or am/pm, a relative time
#: (not "3-4-5" or "3:45", which a math line holds).
_TIMESTAMP = re.compile(r"\b(?:\d{4}[/.-]\d{1,2}[/.-]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{4})\b"
                        r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}\b"
                        r"|\b\d{1,2}:\d{2}(?::\d{2}|\s*[ap]\.?m\b)|\bago\b|前"
                        r"|\d{4}年\d{1,2}月\d{1,2}日|[上下]午\s*\d{1,2}:\d{2}", re.I)
#: Words beside a timestamp that a post's header line carries (the poster's name, "#3").
_STAMP_EXTRA_WORDS = 3


def _is_dateline(b: Block) -> bool:
    """A short block made only of dates, times and counters, or a timestamp beside a name (a post's header:
    "Posted by zephyrgirl — 5/27/2024 8:57:51 AM")."""
    if b.units() >= 26 or _DIGITS.search(b.text) is None:
        return False  # (a timestamp with seconds and a name is 10 to 15 units; "Posted .. | Updated .." 25)
    rest = _DATE_WORDS.sub(" ", b.text)
    words, cjk = len(_WORD.findall(_CJK.sub(" ", rest))), len(_CJK.findall(rest))
    if words + cjk == 0:
        return b.units() < 10  # a longer line of numbers is a sequence, not a date
    # a CJK character counts half a word, as in Block.units (a Chinese name is two to four of them)
    return (words + cjk / 2 <= _STAMP_EXTRA_WORDS and b.kind != "quote" and "$" not in b.text
            and _TIMESTAMP.search(b.text) is not None)


#: A form's legal line: it asks the reader's consent ("By signing up you agree to our Terms of Use").
_CONSENT_LINE = re.compile(
    r"\b(?:by (?:clicking|signing|subscribing|continuing|submitting)|you (?:agree|consent) to)\b", re.I)
CONSENT_LINE_UNITS = 40

#: A line this short (in words) that the page repeats this often is a label, not a post.
REPEAT_UNITS = 4
REPEAT_MIN = 3


def _keep(b: Block, repeats: Counter, rules: _Rules = ARTICLE_RULES) -> bool:
    n = len(b.text)
    if b.kind == "pre":
        return True
    if b.link_chars >= 0.6 * n and b.units() < 40:
        return False  # a link list or a link line
    if b.kind != "h" and repeats[b.text] >= REPEAT_MIN and (
            b.units() <= REPEAT_UNITS or (b.kind != "quote" and b.units() <= rules.repeated_line_units)):
        return False  # "Reply", "Member" under every post; on a thread also "Please log in to reply", a signature
    if b.kind not in ("h", "row") and _is_dateline(b):
        return False
    if b.units() < CONSENT_LINE_UNITS and _CONSENT_LINE.search(b.text):
        return False  # "By clicking “Post Your Answer”, you agree to our terms of service ..."
    return True


#: A container marked as furniture stays only when it holds this share of the prose: then it wraps the page's
#: content (page builders call every box a ``widget``); a banner or a notice beside a short post holds less.
BOILERPLATE_KEEP_SHARE = 0.5


def _drop_boilerplate(blocks: list[Block], rules: _Rules = ARTICLE_RULES,
                      share: float = BOILERPLATE_KEEP_SHARE) -> list[Block]:
    """Blocks outside boilerplate-marked containers, and inside those that hold over ``share`` of the prose."""
    prose: Counter = Counter()
    total = 0
    for b in blocks:
        if _is_prose(b, rules):
            total += len(b.text)
            prose[b.boiler] += len(b.text)
    return [b for b in blocks if b.boiler is None or prose[b.boiler] > share * total]


#: A paragraph this long (in words) met again is a copy: kept once, except on a discussion page, where a
#: reply quoting an earlier post repeats it on purpose.
REPEATED_PARAGRAPH_UNITS = 12


def select_blocks(blocks: list[Block], thread: bool = False) -> list[Block]:
    """The blocks of the page's main text (``thread``: the page is a discussion, see :func:`is_thread_page`)."""
    rules = THREAD_RULES if thread else ARTICLE_RULES
    blocks = _drop_boilerplate(blocks, rules)
    region = _region(blocks, rules)
    repeats = Counter(b.text for b in blocks)
    members = _members(region) if region is not None else None
    kept = []
    seen: set[str] = set()
    for b in blocks:
        if members is not None and b.el not in members:
            continue
        if not _keep(b, repeats, rules):
            continue
        if rules.dedup_paragraphs and b.kind == "p" and b.units() >= REPEATED_PARAGRAPH_UNITS:
            if b.text in seen:
                continue  # the page's second copy of its article (a mobile and a desktop layout)
            seen.add(b.text)
        kept.append(b)
    if rules.title_heads and kept:
        titles = [b for b in blocks if b.kind == "h" and b.level == 1 and b.boiler is None]
        if len(titles) == 1 and not any(b is titles[0] for b in kept):
            kept.insert(0, titles[0])
    return kept


def render(blocks: list[Block]) -> str:
    """Markdown-like text of the blocks: headings, paragraphs, list items, code, quotes, table rows."""
    out: list[str] = []
    prev = None
    for b in blocks:
        if b.kind == "h":
            s = "#" * b.level + " " + b.text.replace("\n", " ")
        elif b.kind == "li":
            s = "  " * max(0, b.level - 1) + "- " + b.text
        elif b.kind == "pre":
            s = "```\n" + b.text + "\n```"
        elif b.kind == "quote":
            s = "\n".join("> " + line for line in b.text.split("\n"))
        elif b.kind == "row":
            s = "| " + b.text.replace("\n", " ") + " |"
        else:
            s = b.text
        if out:
            # list items and table rows of one list/table stay together; other blocks get a blank line
            tight = prev is not None and prev.kind == b.kind and b.kind in ("li", "row", "quote")
            out.append("\n" if tight else "\n\n")
        out.append(s)
        prev = b
    return "".join(out).strip()


@dataclass
class MainText:
    text: str
    visible_chars: int  # characters of every text block of the page, before boilerplate went


#: A child of ``<body>`` beside the site's page, longer than this (characters), that mentions cookies and holds a
#: button is a consent dialog.
CONSENT_OVERLAY_CHARS = 200


def _overlays_beside_the_page(body) -> list:
    """The children of ``<body>`` beside the site's page (the one child holding its ``<main>`` or
    ``<article>``) that hold a button and no headline: what a consent manager injects there (looked for
    before the buttons are pruned)."""
    kids = [c for c in body if isinstance(c.tag, str)]
    if len(kids) < 2:
        return []
    page = None
    for c in kids:
        if c.tag in ("main", "article") or next(c.iter("main", "article"), None) is not None:
            if page is not None:
                return []  # the page's content is split across children: nothing is plainly beside it
            page = c
    if page is None:
        return []
    return [c for c in kids if c is not page and next(c.iter("button"), None) is not None
            and next(c.iter("h1"), None) is None]


def _drop_consent_overlays(overlays: list) -> None:
    """Remove those of ``overlays`` (:func:`_overlays_beside_the_page`) that mention cookies, whatever their
    class names (often hashed): a consent dialog can out-write the article beside it."""
    for c in overlays:
        text = c.text_content()
        if len(text) > CONSENT_OVERLAY_CHARS and "ookie" in text:
            c.drop_tree()


def extract_main_text(tree, url: str | None = None) -> MainText:
    """The main text of a parsed page (an lxml HTML document, math already rewritten as LaTeX) fetched
    from ``url`` (used only to tell a discussion page, see :func:`is_thread_page`).

    Changes the tree: the subtrees that are never text are removed first (in C, their tails kept)."""
    from lxml import etree

    body = tree.find("body")
    root = body if body is not None else tree
    thread = is_thread_page(url, tree)  # before the scripts (JSON-LD) go
    overlays = _overlays_beside_the_page(root)
    etree.strip_elements(root, *SKIP_TAGS, with_tail=False)
    _drop_consent_overlays(overlays)
    seg = _Segmenter()
    seg.page_chars = len(root.text_content())
    if thread:
        seg.list_words = THREAD_LIST_WORDS
    seg.walk(root)
    seg._close()
    if thread or seg.declares_thread:
        for b in seg.blocks:
            if b.in_comments:
                b.prior = 1.0  # a discussion's "comments" are its replies
    return MainText(render(select_blocks(seg.blocks, thread or seg.declares_thread)),
                    sum(len(b.text) for b in seg.blocks))


#: URL path folders of discussion software (``/questions/123/slug``, ``/t/slug/42``, ``/forum/...``): the
#: last segment is not looked at, since an article's slug may say "questions" or "community".
THREAD_PATH_SEGMENTS = frozenset((
    "forum", "forums", "thread", "threads", "topic", "topics", "questions", "question", "discussion",
    "discussions", "t", "d", "bbs", "comments", "viewthread", "showthread", "viewtopic", "board", "boards",
    "community", "answers", "answer", "q", "qa", "faq", "gallery",
))
#: Host name labels of discussion sites (``forum.example.org``, ``math.stackexchange.com``).
THREAD_HOST_LABELS = frozenset((
    "forum", "forums", "bbs", "community", "discuss", "discussion", "answers", "ask", "stackexchange",
    "stackoverflow", "mathoverflow", "zhidao", "tieba", "quora", "reddit",
))
#: schema.org types a site declares for a discussion (microdata ``itemtype`` or JSON-LD ``@type``).
_THREAD_SCHEMA = re.compile(r"\b(?:QAPage|DiscussionForumPosting)\b")
#: ``<meta name="generator">`` of forum software.
_FORUM_GENERATOR = re.compile(
    r"vbulletin|phpbb|discourse|xenforo|invision|discuz|flarum|bbpress|mybb|nodebb|kunena|misago|fluxbb|"
    r"punbb|simple machines", re.I)


def is_thread_page(url: str | None, tree) -> bool:
    """Whether the page is a discussion (a forum thread, a Q&A page): its URL's folders or host say so, or
    its JSON-LD declares a schema.org ``QAPage``/``DiscussionForumPosting``, or forum software made it
    (``<meta name="generator">``). A microdata ``itemtype`` saying so is seen during the walk of the tree.

    On such a page the site's "comments" are the replies the page exists for (reddit, imgur, Discourse),
    where on an article they are readers' remarks below it."""
    if url:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        folders = [s for s in parts.path.lower().split("/") if s][:-1]
        if not THREAD_PATH_SEGMENTS.isdisjoint(folders):
            return True
        host = (parts.hostname or "").split(".")
        if not THREAD_HOST_LABELS.isdisjoint(host):
            return True
    generators, json_ld = _declarations()
    if any(_FORUM_GENERATOR.search(v) for v in generators(tree)):
        return True
    return any(_THREAD_SCHEMA.search(v) for v in json_ld(tree))


@functools.cache
def _declarations():
    """Compiled XPaths (C-level, no element proxies) for a page's generator and its JSON-LD texts."""
    from lxml import etree

    return (etree.XPath("/html/head/meta[@name='generator']/@content", smart_strings=False),
            etree.XPath("//script[@type='application/ld+json']/text()", smart_strings=False))
