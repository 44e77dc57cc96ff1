"""Page layouts of the mini-CC, modelled on how real templates nest things.

Each layout wraps a :class:`~pipeline.synth.text.Doc` the way a family of real sites does, so an extractor
meets here what it meets in Common Crawl:

``qa``        a Q&A page (StackExchange-like): question and every answer in ``post-layout`` cells with vote
              counts, share/edit/follow menus, user cards with reputation, comment lists under each post,
              "Linked", "Related" and "Hot Network Questions" sidebars
``forum``     a long thread in one of three engines: phpBB (``postprofile`` + ``postbody``), Discourse's
              crawler view (``crawler-post``) and Invision (``cPost`` articles); user blocks, dates, quotes,
              signatures, Quote/Reply/"Link to comment" controls, pagination
``textbook``  a docs/textbook page (LibreTexts/MindTouch-like) whose body opens with a hidden MathJax macro
              preamble (``\\newcommand``), then objectives, sections, license box and book navigation
``wiki``      a MediaWiki (Vector) article: ``mw-parser-output``, section edit links, references, navbox,
              category links; display formulas inside ``<dl><dd>`` as Wikipedia does
``article``   a blog/news page with heavy navigation: mega-menu, breadcrumbs, share bars, author box,
              related posts, newsletter box, widget sidebar, a footer of link columns; replies, if the doc
              has any, as a WordPress comment list

Only the main content carries formulas: the count returned with the HTML is every formula element rendered
in the question, answers, posts, quotes and comments, never the macro preamble, titles or sidebars (whose
text has no math). Boilerplate text that is the same on every page of a site is drawn once per site
(:class:`Chrome`), so pages stay cheap to make and a site's boilerplate repeats as it does on the web.

Written by hand: no library renders realistic site templates around given content.
"""
from __future__ import annotations

import html
import random
from dataclasses import dataclass, replace

from faker import Faker

from pipeline.synth.formulas import Formula
from pipeline.synth.markup import head_scripts, render_formula

LAYOUTS = ("qa", "forum", "textbook", "wiki", "article")
FORUM_ENGINES = ("phpbb", "discourse", "ips")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

#: The hidden macro block LibreTexts-like pages open their body with (MathJax reads it; readers never see it).
MACROS = [
    r"\newcommand{\R}{\mathbb{R}}", r"\newcommand{\N}{\mathbb{N}}", r"\newcommand{\Z}{\mathbb{Z}}",
    r"\newcommand{\C}{\mathbb{C}}", r"\newcommand{\vecs}[1]{\overset{\scriptstyle\rightharpoonup}{\mathbf{#1}}}",
    r"\newcommand{\vecd}[1]{\overset{-\!-\!\rightharpoonup}{\vphantom{a}\smash{#1}}}",
    r"\newcommand{\id}{\mathrm{id}}", r"\newcommand{\Span}{\mathrm{span}}", r"\newcommand{\norm}[1]{\| #1 \|}",
    r"\newcommand{\inner}[2]{\langle #1, #2 \rangle}", r"\newcommand{\abs}[1]{\left| #1 \right|}",
    r"\newcommand{\RealPart}{\mathrm{Re}}", r"\newcommand{\ImaginaryPart}{\mathrm{Im}}",
    r"\newcommand{\Argument}{\mathrm{Arg}}", r"\newcommand{\kernel}{\mathrm{null}\,}",
    r"\newcommand{\range}{\mathrm{range}\,}", r"\newcommand{\vectorC}[1]{\textbf{#1}}",
]

LABELS = {
    "en": {"home": "Home", "related": "Related posts", "share": "Share this:", "reply": "Reply",
           "comments": "Comments", "leave": "Leave a Reply", "newsletter": "Subscribe to our newsletter",
           "recent": "Recent posts", "categories": "Categories", "tags": "Tags", "about": "About the author",
           "accept": "Accept all", "cookie": "We use cookies to improve your experience and to analyse traffic. "
           "By continuing you accept our", "privacy": "Privacy", "terms": "Terms", "settings": "Cookie settings",
           "says": "says:", "email": "Your email address will not be published.", "read": "Read more",
           "by": "Posted by", "on": "on"},
    "zh": {"home": "首页", "related": "相关阅读", "share": "分享到：", "reply": "回复", "comments": "评论",
           "leave": "发表评论", "newsletter": "订阅我们的邮件", "recent": "最新文章", "categories": "分类",
           "tags": "标签", "about": "关于作者", "accept": "同意", "cookie": "本网站使用cookie以改善您的浏览体验。继续浏览即表示您同意我们的",
           "privacy": "隐私政策", "terms": "服务条款", "settings": "Cookie设置", "says": "说：",
           "email": "您的电子邮箱地址不会被公开。", "read": "阅读全文", "by": "作者：", "on": "发布于"},
}


def fmt_date(d: tuple, style: str = "long") -> str:
    y, mo, day, h, mi = d
    if style == "iso":
        return f"{y:04d}-{mo:02d}-{day:02d}T{h:02d}:{mi:02d}:00"
    if style == "se":
        return f"{MONTHS[mo - 1]} {day}, {y} at {h}:{mi:02d}"
    if style == "phpbb":
        return f"{MONTHS[mo - 1]} {day:02d}, {y} {(h % 12) or 12}:{mi:02d} {'am' if h < 12 else 'pm'}"
    if style == "zh":
        return f"{y}年{mo}月{day}日 {h:02d}:{mi:02d}"
    return f"{MONTHS[mo - 1]} {day}, {y}"


def esc(s: str) -> str:
    return html.escape(s, quote=False)


def attr(s: str) -> str:
    return html.escape(s, quote=True)


def slug(s: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in s.lower()[:48]).strip("-")
    return "-".join(w for w in out.split("-") if w) or "page"


@dataclass
class Chrome:
    """A site's boilerplate that is the same on every page: menus, footer columns, sidebar lists, bios."""

    menu: str  # the header navigation (a mega-menu on most sites)
    footer: str
    sidebar: str
    link_titles: list  # titles for "related posts" and sidebars, drawn per page from this list
    categories: list
    bios: list
    engine: str  # forum engine on forum sites


def make_chrome(rng: random.Random, fk: Faker, name: str, lang: str, nav: list, footer_line: str, engine: str = "") -> Chrome:
    """Draw one site's boilerplate once (cheap per page, and repeated across the site's pages as on the web)."""
    lab = LABELS[lang]
    titles = [fk.sentence(nb_words=rng.randint(4, 8)).rstrip(".") for _ in range(24)]
    cats = [fk.word().capitalize() if lang == "en" else fk.word() for _ in range(8)]
    mega = rng.random() < 0.7
    items = []
    for k, w in enumerate(nav):
        href = f"/{slug(w) if lang == 'en' else 'c' + str(k)}"
        panel = ""
        if mega and k % 2 == 0:
            cols = "".join(
                f'<div class="mega-menu__col"><h4 class="mega-menu__heading">{esc(rng.choice(cats))}</h4><ul>'
                + "".join(f'<li><a href="{href}/{slug(t)}">{esc(t[:28])}</a></li>' for t in rng.sample(titles, 4))
                + "</ul></div>" for _ in range(rng.randint(2, 4)))
            panel = f'<div class="mega-menu__panel" aria-hidden="true">{cols}</div>'
        items.append(f'<li class="menu-item{" menu-item-has-children" if panel else ""}"><a href="{href}">{esc(w)}</a>'
                     f"{panel}</li>")
    menu = (f'<nav id="site-navigation" class="main-navigation{" mega-menu" if mega else ""}" aria-label="Primary">'
            f'<button class="menu-toggle" aria-controls="primary-menu" aria-expanded="false">Menu</button>'
            f'<ul id="primary-menu" class="menu nav-menu">{"".join(items)}</ul></nav>')
    cols = []
    for _ in range(rng.randint(3, 5)):
        links = "".join(f'<li><a href="/{slug(t)}">{esc(t[:30])}</a></li>' for t in rng.sample(titles, rng.randint(4, 7)))
        cols.append(f'<div class="footer-widget"><h4 class="widget-title">{esc(rng.choice(cats))}</h4><ul>{links}</ul></div>')
    social = "".join(f'<li><a href="https://www.{s}.com/{slug(name)}" class="social-{s}" aria-label="{s}">'
                     f'<i class="icon-{s}"></i></a></li>' for s in ("facebook", "twitter", "instagram", "youtube", "linkedin"))
    footer = (f'<footer id="colophon" class="site-footer"><div class="footer-widgets">{"".join(cols)}</div>'
              f'<div class="site-info"><p>{esc(footer_line)}</p><ul class="footer-legal">'
              f'<li><a href="/privacy">{lab["privacy"]}</a></li><li><a href="/terms">{lab["terms"]}</a></li>'
              f'<li><a href="/cookies">{lab["settings"]}</a></li><li><a href="/sitemap.xml">Sitemap</a></li></ul>'
              f'<ul class="social-links">{social}</ul></div></footer>')
    sidebar = (f'<section class="widget widget_categories"><h2 class="widget-title">{lab["categories"]}</h2><ul>'
               + "".join(f'<li class="cat-item"><a href="/category/{slug(c)}">{esc(c)}</a> ({rng.randint(2, 300)})</li>'
                         for c in cats) + "</ul></section>"
               f'<section class="widget widget_tag_cloud"><h2 class="widget-title">{lab["tags"]}</h2><div class="tagcloud">'
               + "".join(f'<a href="/tag/{slug(t)}" class="tag-cloud-link" style="font-size: {rng.randint(8, 22)}pt;">'
                         f"{esc(t.split()[0])}</a>" for t in rng.sample(titles, 10)) + "</div></section>")
    bios = [fk.paragraph(nb_sentences=2) for _ in range(3)]
    return Chrome(menu=menu, footer=footer, sidebar=sidebar, link_titles=titles, categories=cats, bios=bios,
                  engine=engine)


class MathWriter:
    """Renders segments and blocks in one markup and counts every formula element it writes."""

    def __init__(self, style: str, rng: random.Random, tex_inline: str):
        self.style, self.rng, self.tex_inline = style, rng, tex_inline
        self.count = 0
        self.posts = 1  # the opening post (article, question) plus the replies a layout writes

    def formula(self, f: Formula) -> str:
        self.count += 1
        return render_formula(f, self.style, self.rng, self.tex_inline)

    def segs(self, segs) -> str:
        return "".join(self.formula(s) if isinstance(s, Formula) else esc(s) for s in segs)

    def blocks(self, blocks, wiki: bool = False) -> str:
        parts = []
        for b in blocks:
            if b[0] == "p":
                parts.append(f"<p>{self.segs(b[1])}</p>")
            elif b[0] == "display":
                f = b[1]
                out = self.formula(Formula(f.tex, f.topic, True))
                if wiki:
                    parts.append(f"<dl><dd>{out}</dd></dl>")
                else:
                    parts.append(f'<div class="math-display">{out}</div>' if self.style != "tex" else f"<p>{out}</p>")
            elif b[0] == "h2":
                parts.append(f"<h2>{esc(b[1])}</h2>")
            elif b[0] == "code":
                parts.append(f"<pre><code>{esc(b[1])}</code></pre>")
            elif b[0] == "list":
                parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b[1]) + "</ul>")
            elif b[0] == "table":
                rows = b[1]
                head = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
                body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
                parts.append(f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
        return "\n".join(parts)


def _head(doc, site_name: str, meta_charset: str | None, style: str | None, rng: random.Random, extra: str = "") -> str:
    meta = f'<meta charset="{meta_charset}">\n' if meta_charset else ""
    return (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if doc.lang == "zh" else "en"}">\n<head>\n{meta}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(doc.title)} - {esc(site_name)}</title>\n"
            f'<link rel="stylesheet" href="/static/css/site.{rng.randint(100, 999)}.css">\n'
            f"{head_scripts(style) if style else ''}\n{extra}"
            f'<script async src="https://www.googletagmanager.com/gtag/js?id=G-{rng.randint(10**6, 10**7)}"></script>\n'
            f"</head>\n")


def _cookie(lang: str, rng: random.Random) -> str:
    lab = LABELS[lang]
    if rng.random() < 0.5:
        return (f'<div id="cookie-consent" class="cookie-banner" role="dialog" aria-live="polite">{lab["cookie"]} '
                f'<a href="/privacy">{lab["privacy"]}</a>. <button class="cookie-accept">{lab["accept"]}</button></div>')
    return ('<div id="onetrust-consent-sdk"><div id="onetrust-banner-sdk" class="otFlat" role="region" aria-label="Cookie banner">'
            '<div class="ot-sdk-container"><div class="ot-sdk-row"><div id="onetrust-group-container" class="ot-sdk-eight ot-sdk-columns">'
            f'<div id="onetrust-policy"><div id="onetrust-policy-text">{lab["cookie"]} <a href="/privacy">{lab["privacy"]}</a>.</div></div></div>'
            '<div id="onetrust-button-group-parent" class="ot-sdk-three ot-sdk-columns"><div id="onetrust-button-group">'
            f'<button id="onetrust-pc-btn-handler">{lab["settings"]}</button>'
            f'<button id="onetrust-accept-btn-handler">{lab["accept"]}</button></div></div></div></div></div></div>')


def _share(url: str, lang: str) -> str:
    lab = LABELS[lang]
    nets = [("facebook", "https://www.facebook.com/sharer/sharer.php?u="), ("twitter", "https://twitter.com/intent/tweet?url="),
            ("linkedin", "https://www.linkedin.com/shareArticle?url="), ("reddit", "https://reddit.com/submit?url="),
            ("email", "mailto:?body=")]
    return (f'<div class="share-bar sharedaddy"><h3 class="sd-title">{lab["share"]}</h3><ul class="share-buttons">'
            + "".join(f'<li class="share-{n}"><a rel="nofollow noopener" class="share-{n} sd-button" href="{p}{attr(url)}" '
                      f'target="_blank" title="Click to share on {n.capitalize()}"><span>{n.capitalize()}</span></a></li>'
                      for n, p in nets)
            + '<li class="share-print"><a href="#print" class="sd-button">Print</a></li></ul></div>')


def _related(chrome: Chrome, rng: random.Random, lang: str) -> str:
    items = "".join(
        f'<article class="related-post"><a href="/{slug(t)}" class="related-post__link">'
        f'<img src="/wp-content/uploads/{rng.randint(2015, 2024)}/{rng.randint(1, 12):02d}/{slug(t)[:20]}-300x200.jpg" '
        f'alt="" loading="lazy" width="300" height="200"><h4 class="related-post__title">{esc(t)}</h4></a>'
        f'<span class="related-post__date">{fmt_date((rng.randint(2019, 2024), rng.randint(1, 12), rng.randint(1, 28), 0, 0))}'
        "</span></article>" for t in rng.sample(chrome.link_titles, rng.randint(3, 6)))
    return f'<section class="related-posts" aria-label="related"><h3 class="related-posts__heading">{LABELS[lang]["related"]}</h3>' \
           f'<div class="related-posts__grid">{items}</div></section>'


def _breadcrumbs(items: list[tuple[str, str]], current: str) -> str:
    lis = "".join(f'<li class="breadcrumb-item" itemprop="itemListElement" itemscope itemtype="https://schema.org/ListItem">'
                  f'<a itemprop="item" href="{h}"><span itemprop="name">{esc(t)}</span></a>'
                  f'<meta itemprop="position" content="{k + 1}"></li>' for k, (t, h) in enumerate(items))
    return (f'<nav aria-label="breadcrumb" class="breadcrumbs"><ol class="breadcrumb" itemscope '
            f'itemtype="https://schema.org/BreadcrumbList">{lis}<li class="breadcrumb-item active" aria-current="page">'
            f"{esc(current[:60])}</li></ol></nav>")


# -- article (blogs, news, lecture notes, worksheets, general sites) ---------------------------------------------

def _wp_comments(doc, w: MathWriter, rng: random.Random, lang: str) -> str:
    lab = LABELS[lang]
    items = []
    for k, p in enumerate(doc.posts):
        cid = rng.randint(1000, 99999) * 10 + k
        items.append(
            f'<li id="comment-{cid}" class="comment {"even" if k % 2 else "odd"} thread-{"even" if k % 2 else "odd"} depth-1">'
            f'<article id="div-comment-{cid}" class="comment-body"><footer class="comment-meta">'
            f'<div class="comment-author vcard"><img alt="" src="https://secure.gravatar.com/avatar/{cid:x}?s=56&amp;d=mm" '
            f'class="avatar avatar-56 photo" height="56" width="56" loading="lazy"><b class="fn">{esc(p.author)}</b> '
            f'<span class="says">{lab["says"]}</span></div><div class="comment-metadata"><a href="#comment-{cid}">'
            f'<time datetime="{fmt_date(p.date, "iso")}">{fmt_date(p.date)}</time></a></div></footer>'
            f'<div class="comment-content">{w.blocks(p.blocks)}'
            + "".join(f"<p>{w.segs(c)}</p>" for c in p.comments)
            + f'</div><div class="reply"><a rel="nofollow" class="comment-reply-link" href="?replytocom={cid}#respond">'
            f'{lab["reply"]}</a></div></article></li>')
    return (f'<div id="comments" class="comments-area"><h2 class="comments-title">{len(doc.posts)} {lab["comments"]}</h2>'
            f'<ol class="comment-list">{"".join(items)}</ol><div id="respond" class="comment-respond">'
            f'<h3 id="reply-title" class="comment-reply-title">{lab["leave"]}</h3><form action="/wp-comments-post.php" '
            f'method="post" id="commentform" class="comment-form"><p class="comment-notes">{lab["email"]}</p>'
            f'<p class="comment-form-comment"><textarea id="comment" name="comment" cols="45" rows="8"></textarea></p>'
            f'<p class="form-submit"><input name="submit" type="submit" id="submit" class="submit" value="Post Comment"></p>'
            f"</form></div></div>")


def article(site, doc, w: MathWriter, rng: random.Random, url: str) -> str:
    ch, lab, lang = site.chrome, LABELS[doc.lang], doc.lang
    body = w.blocks(doc.blocks)
    if doc.comments:
        body += "\n" + "".join(f'<p class="note">{w.segs(c)}</p>' for c in doc.comments)
    author = doc.author or "admin"
    by = (f'<div class="entry-meta"><span class="byline">{lab["by"]} <span class="author vcard"><a class="url fn n" '
          f'href="/author/{slug(author)}">{esc(author)}</a></span></span> <span class="posted-on">{lab["on"]} '
          f'<time class="entry-date published" datetime="{fmt_date(doc.date, "iso")}">{fmt_date(doc.date, "zh" if lang == "zh" else "long")}'
          f"</time></span></div>")
    cat = rng.choice(ch.categories)
    share = _share(url, lang)
    top_share = share if rng.random() < 0.4 else ""
    tags = "".join(f'<a href="/tag/{slug(t)}" rel="tag">{esc(t.split()[0])}</a>' for t in rng.sample(ch.link_titles, 3))
    author_box = (f'<div class="author-box"><img src="/avatars/{slug(author)}.jpg" alt="" class="author-box__avatar">'
                  f'<h4 class="author-box__title">{lab["about"]}</h4><p class="author-box__bio">{esc(rng.choice(ch.bios))}</p></div>'
                  if rng.random() < 0.5 else "")
    recent = "".join(f'<li><a href="/{slug(t)}">{esc(t)}</a></li>' for t in rng.sample(ch.link_titles, 5))
    comments = _wp_comments(doc, w, rng, lang) if doc.posts else ""
    w.posts = 1 + len(doc.posts)
    newsletter = (f'<div class="newsletter-signup"><h3>{lab["newsletter"]}</h3><form class="newsletter-form" action="/subscribe">'
                  f'<input type="email" name="email" placeholder="you@example.com"><button type="submit">OK</button></form></div>'
                  if rng.random() < 0.5 else "")
    return (f'<div id="page" class="site"><a class="skip-link screen-reader-text" href="#content">Skip to content</a>\n'
            f'<header id="masthead" class="site-header"><div class="site-branding"><a class="logo" href="/" rel="home">'
            f'{esc(site.name)}</a><p class="site-description">{esc(rng.choice(ch.link_titles))}</p></div>{ch.menu}'
            f'<form role="search" class="search-form" action="/"><input type="search" class="search-field" name="s">'
            f'<button type="submit" class="search-submit">Search</button></form></header>\n'
            f'<div id="content" class="site-content">'
            f'{_breadcrumbs([(lab["home"], "/"), (cat, "/category/" + slug(cat))], doc.title)}\n'
            f'<div class="content-area"><main id="main" class="site-main"><article class="post type-post status-publish hentry">\n'
            f'<header class="entry-header"><h1 class="entry-title">{esc(doc.title)}</h1>{by}</header>{top_share}\n'
            f'<div class="entry-content">\n{body}\n</div>\n'
            f'<footer class="entry-footer"><span class="tags-links">{lab["tags"]}: {tags}</span></footer>{share}{author_box}\n'
            f"</article>\n{_related(ch, rng, lang)}\n{comments}</main></div>\n"
            f'<aside id="secondary" class="widget-area sidebar"><section class="widget widget_recent_entries">'
            f'<h2 class="widget-title">{lab["recent"]}</h2><ul>{recent}</ul></section>{ch.sidebar}{newsletter}</aside>'
            f"</div>\n{ch.footer}</div>")


# -- Q&A (StackExchange-like) --------------------------------------------------------------------------------------

def _se_votes(pid: int, score: int, kind: str, accepted: bool) -> str:
    acc = ('<div class="js-accepted-answer-indicator flex--item fc-green-400 py6 mtn8" title="Accepted" role="note" '
           'aria-label="Accepted"><div class="ta-center"><svg aria-hidden="true" class="svg-icon iconCheckmarkLg" '
           'width="36" height="36" viewBox="0 0 36 36"><path d="m6 14 8 8L30 6v8L14 30l-8-8v-8Z"></path></svg></div></div>'
           if accepted else "")
    return (f'<div class="votecell post-layout--left"><div class="js-voting-container d-flex jc-center fd-column ai-center gs4 '
            f'fc-black-300" data-post-id="{pid}"><button class="js-vote-up-btn flex--item s-btn s-btn__muted s-btn__outlined '
            f'bar-pill" aria-pressed="false" aria-label="Up vote" data-selected-classes="fc-theme-primary">'
            f'<svg aria-hidden="true" class="svg-icon iconArrowUp" width="18" height="18" viewBox="0 0 18 18"><path d="M1 12h16L9 4l-8 8Z"></path></svg>'
            f'</button><div class="js-vote-count flex--item d-flex fd-column ai-center fc-theme-body-font fw-bold fs-subheading py4" '
            f'itemprop="upvoteCount" data-value="{score}">{score}</div><button class="js-vote-down-btn flex--item mb8 s-btn '
            f's-btn__muted s-btn__outlined bar-pill" aria-pressed="false" aria-label="Down vote">'
            f'<svg aria-hidden="true" class="svg-icon iconArrowDown" width="18" height="18" viewBox="0 0 18 18"><path d="M1 6h16l-8 8-8-8Z"></path></svg>'
            f'</button><button class="js-saves-btn s-btn s-btn__unset c-pointer py4" type="button" id="saves-btn-{pid}" '
            f'aria-pressed="false" data-post-id="{pid}" data-post-type-id="{1 if kind == "question" else 2}"></button>{acc}'
            f'<a class="js-post-issue flex--item s-btn s-btn__unset c-pointer py6 mx-auto" href="/posts/{pid}/timeline" '
            f'data-shortcut="T" aria-label="Timeline"></a></div></div>')


def _se_user(action: str, user: str, rep: int, date: tuple, uid: int, owner: bool = False) -> str:
    gold, silver, bronze = rep // 4000, rep // 400 % 40, rep // 30 % 90
    rep_txt = f"{rep / 1000:.1f}k" if rep >= 10_000 else f"{rep:,}"
    return (f'<div class="post-signature{" owner" if owner else ""} flex--item fl0"><div class="user-info user-hover">'
            f'<div class="d-flex "><div class="user-action-time fl-grow1">{action} <span title="{fmt_date(date, "iso")}Z" '
            f'class="relativetime">{fmt_date(date, "se")}</span></div></div><div class="user-gravatar32">'
            f'<a href="/users/{uid}/{slug(user)}"><div class="gravatar-wrapper-32"><img src="https://www.gravatar.com/avatar/'
            f'{uid:x}?s=64&amp;d=identicon&amp;r=PG" alt="{attr(user)}&#39;s user avatar" width="32" height="32" class="bar-sm"></div></a>'
            f'</div><div class="user-details" itemprop="author" itemscope itemtype="http://schema.org/Person">'
            f'<a href="/users/{uid}/{slug(user)}">{esc(user)}</a><span class="d-none" itemprop="name">{esc(user)}</span>'
            f'<div class="-flair"><span class="reputation-score" title="reputation score {rep:,}" dir="ltr">{rep_txt}</span>'
            + (f'<span title="{gold} gold badges" aria-hidden="true"><span class="badge1"></span><span class="badgecount">{gold}</span></span>' if gold else "")
            + (f'<span title="{silver} silver badges" aria-hidden="true"><span class="badge2"></span><span class="badgecount">{silver}</span></span>' if silver else "")
            + (f'<span title="{bronze} bronze badges" aria-hidden="true"><span class="badge3"></span><span class="badgecount">{bronze}</span></span>' if bronze else "")
            + "</div></div></div></div>")


def _se_menu(pid: int, kind: str) -> str:
    what = "question" if kind == "question" else "answer"
    short = "q" if kind == "question" else "a"
    return (f'<div class="flex--item mr16 fl1 w96"><div class="js-post-menu pt2" data-post-id="{pid}">'
            f'<div class="d-flex gs8 s-anchors s-anchors__muted fw-wrap"><div class="flex--item"><a href="/{short}/{pid}" '
            f'rel="nofollow" itemprop="url" class="js-share-link js-gps-track" title="Short permalink to this {what}">Share</a>'
            f'</div><div class="flex--item"><a href="/posts/{pid}/edit" class="js-suggest-edit-post js-gps-track" title="">'
            f'Improve this {what}</a></div><div class="flex--item"><button type="button" id="btnFollowPost-{pid}" '
            f'class="s-btn s-btn__link js-follow-post js-follow-{what} js-gps-track">Follow</button></div></div>'
            f'<div class="js-menu-popup-container"></div></div></div>')


def _se_comments(pid: int, comments, w: MathWriter, rng: random.Random, date: tuple) -> str:
    lis = []
    for c in comments:
        cid = pid * 10 + rng.randint(1, 9) + len(lis) * 100
        user = f"user{rng.randint(1000, 999999)}"
        date = (date[0], date[1], date[2], (date[3] + 1) % 24, date[4])
        score = rng.choice([0, 0, 1, 2, 5])
        lis.append(
            f'<li id="comment-{cid}" class="comment js-comment " data-comment-id="{cid}" data-comment-score="{score}">'
            f'<div class="js-comment-actions comment-actions"><div class="comment-score js-comment-score js-comment-edit-hide">'
            + (f'<span title="number of &#39;useful comment&#39; votes received" class="cool">{score}</span>' if score else "")
            + f'</div></div><div class="comment-text  js-comment-text-and-form"><div class="comment-body js-comment-edit-hide">'
            f'<span class="comment-copy">{w.segs(c)}</span><div class="d-inline-flex ai-center">&ndash;&nbsp;'
            f'<a href="/users/{rng.randint(1000, 999999)}/{user}" title="{rng.randint(1, 90000)} reputation" class="comment-user">'
            f'{user}</a></div><span class="comment-date" dir="ltr"><a class="comment-link" href="#comment{cid}_{pid}">'
            f'<span title="{fmt_date(date, "iso")}Z" class="relativetime-clean">{fmt_date(date, "se")}</span></a></span>'
            f"</div></div></li>")
    return (f'<div class="post-layout--right js-post-comments-component"><div id="comments-{pid}" class="comments '
            f'js-comments-container bt bc-black-200 mt12 {"" if comments else "dno"}" data-post-id="{pid}" data-min-length="15">'
            f'<ul class="comments-list js-comments-list" data-remaining-comments-count="0" data-canpost="false">{"".join(lis)}'
            f'</ul></div><div id="comments-link-{pid}" data-rep="50" data-anon="true"><a class="js-add-link comments-link '
            f'disabled-link" title="Use comments to ask for more information or suggest improvements." href="#" role="button">'
            f"Add a comment</a></div></div>")


def qa(site, doc, w: MathWriter, rng: random.Random, url: str) -> str:
    ch = site.chrome
    qid = rng.randint(10_000, 4_999_999)
    path = url.split("://", 1)[1].partition("/")[2]
    tags = rng.sample(ch.categories, rng.randint(1, 4))
    tag_list = "".join(f'<li class="d-inline mr4 js-post-tag-list-item"><a href="/questions/tagged/{slug(t)}" '
                       f'class="s-tag post-tag js-gps-track" title="show questions tagged &#39;{slug(t)}&#39;" '
                       f'aria-label="show questions tagged &#39;{slug(t)}&#39;" rel="tag">{slug(t)}</a></li>' for t in tags)
    q_author_rep = rng.randint(1, 20_000)
    q_uid = rng.randint(1000, 999_999)
    q_score = rng.randint(-1, 90)
    question = (
        f'<div class="question js-question" data-questionid="{qid}" data-position-on-page="0" data-score="{q_score}" '
        f'id="question"><div class="js-zone-container zone-container-main"></div><div class="post-layout">'
        f'{_se_votes(qid, q_score, "question", False)}<div class="postcell post-layout--right">'
        f'<div class="s-prose js-post-body" itemprop="text">\n{w.blocks(doc.blocks)}\n</div>'
        f'<div class="mt24 mb12"><div class="post-taglist d-flex gs4 gsy fd-column"><div class="d-flex ps-relative fw-wrap">'
        f'<ul class="ml0 list-ls-none js-post-tag-list-wrapper d-inline">{tag_list}</ul></div></div></div>'
        f'<div class="mb0 "><div class="mt16 d-flex gs8 gsy fw-wrap jc-end ai-start pt4 mb16">{_se_menu(qid, "question")}'
        f'{_se_user("asked", doc.author or "anonymous", q_author_rep, doc.date, q_uid, owner=True)}</div></div></div>'
        f'<span class="d-none" itemprop="commentCount">{len(doc.comments)}</span>'
        f"{_se_comments(qid, doc.comments, w, rng, doc.date)}</div></div>")
    answers = []
    for k, p in enumerate(doc.posts):
        aid = qid + 1 + k * rng.randint(1, 40)
        prop = 'itemprop="acceptedAnswer"' if p.accepted else 'itemprop="suggestedAnswer"'
        answers.append(
            f'<a name="{aid}"></a><div id="answer-{aid}" class="answer js-answer{" accepted-answer js-accepted-answer" if p.accepted else ""}" '
            f'data-answerid="{aid}" data-parentid="{qid}" data-score="{p.votes}" data-position-on-page="{k + 1}" '
            f'{prop} itemscope itemtype="https://schema.org/Answer"><div class="post-layout">'
            f'{_se_votes(aid, p.votes, "answer", p.accepted)}<div class="answercell post-layout--right">'
            f'<div class="s-prose js-post-body" itemprop="text">\n{w.blocks(p.blocks)}\n</div>'
            f'<div class="mt24"><div class="d-flex fw-wrap ai-start jc-end gs8 gsy"><time itemprop="dateCreated" '
            f'datetime="{fmt_date(p.date, "iso")}"></time>{_se_menu(aid, "answer")}'
            f'{_se_user("answered", p.author, p.reputation, p.date, rng.randint(1000, 999_999))}</div></div></div>'
            f'<span class="d-none" itemprop="commentCount">{len(p.comments)}</span>'
            f"{_se_comments(aid, p.comments, w, rng, p.date)}</div></div>")
    n = len(doc.posts)
    w.posts = 1 + n
    answers_block = (
        f'<div id="answers"><a name="tab-top"></a><div id="answers-header"><div class="answers-subheader d-flex ai-center mb8">'
        f'<div class="flex--item fl1"><h2 class="mb0" data-answercount="{n}">{n} Answer{"" if n == 1 else "s"}'
        f'<span style="display:none;" itemprop="answerCount">{n}</span></h2></div><div class="flex--item"><div class="d-flex '
        f'g4 gsx ai-center sm:fd-column sm:ai-start"><div class="d-flex fd-column"><label class="flex--item fs-caption" '
        f'for="answer-sort-dropdown-select-menu">Sorted by:</label></div><div class="flex--item s-select"><select '
        f'id="answer-sort-dropdown-select-menu"><option value="scoredesc" selected="selected">Highest score (default)</option>'
        f'<option value="modifieddesc">Date modified (newest first)</option><option value="createdasc">Date created '
        f'(oldest first)</option></select></div></div></div></div></div>' + "".join(answers)
        + f'<h2 class="bottom-notice" data-loc="1">Not the answer you&#39;re looking for? Browse other questions tagged '
        + " ".join(f'<a href="/questions/tagged/{slug(t)}" class="s-tag post-tag" rel="tag">{slug(t)}</a>' for t in tags)
        + ' or <a href="/questions/ask">ask your own question</a>.</h2></div>')

    def spacers(k: int, css: str) -> str:
        return "".join(
            f'<div class="spacer js-gps-track"><a href="/q/{rng.randint(1000, 999999)}" title="Question score (highest is best)">'
            f'<div class="answer-votes {css} default">{rng.randint(0, 80)}</div></a><a href="/questions/{rng.randint(1000, 999999)}/'
            f'{slug(t)}" class="question-hyperlink">{esc(t)}</a></div>' for t in rng.sample(ch.link_titles, k))

    hot = "".join(f'<li><div class="favicon favicon-{slug(c)[:8]}" title="{attr(c)}"></div><a href="https://{slug(c)}.'
                  f'{site.host.split(".", 1)[-1]}/questions/{rng.randint(1000, 999999)}/{slug(t)}" class="js-gps-track '
                  f'question-hyperlink mb0">{esc(t)}</a></li>'
                  for c, t in zip(rng.choices(ch.categories, k=8), rng.sample(ch.link_titles, 8)))
    sidebar = (
        f'<div id="sidebar" class="show-votes" role="complementary" aria-label="sidebar"><div class="s-sidebarwidget '
        f's-sidebarwidget__yellow s-anchors s-anchors__grayscale mb16" data-tracker="cb=1"><ul class="d-block p0 m0">'
        f'<div class="s-sidebarwidget--header s-sidebarwidget__small-bold-text fc-black-350 d:fc-black-900 bb bbw1">'
        f'Featured on Meta</div>'
        + "".join(f'<li class="s-sidebarwidget--item d-flex px16"><div class="flex--item1 fl-shrink0"><div class="favicon '
                  f'favicon-meta"></div></div><div class="flex--item wmn0 ow-break-word"><a href="https://meta.{site.host}/'
                  f'questions/{rng.randint(100, 9999)}" class="js-gps-track">{esc(t)}</a></div></li>'
                  for t in rng.sample(ch.link_titles, 2))
        + f'</ul></div><div class="module sidebar-linked"><h4 id="h-linked">Linked</h4><div class="linked" data-tracker="lq=1">'
        f'{spacers(rng.randint(1, 4), "answered-accepted")}</div></div><div class="module sidebar-related"><h4 id="h-related">'
        f'Related</h4><div class="related js-gps-related-questions" data-tracker="rq=1">{spacers(rng.randint(5, 10), "")}</div>'
        f'</div><div id="hot-network-questions" class="module tex2jax_ignore"><h4><a href="/questions?tab=hot" '
        f'class="js-gps-track s-link s-link__inherit">Hot Network Questions</a></h4><ul>{hot}</ul><a href="#" '
        f'class="show-more js-show-more js-gps-track">more hot questions</a></div><div id="feed-link"><div id="feed-link-text">'
        f'<a href="/feeds/question/{qid}" title="subscribe to the feed for this question">Question feed</a></div></div></div>')
    left = ('<div id="left-sidebar" data-is-here-when="md lg" class="left-sidebar js-pinned-left-sidebar ps-relative">'
            '<div class="left-sidebar--sticky-container js-sticky-leftnav"><nav role="navigation"><ol class="nav-links">'
            + "".join(f'<li class="ps-relative"><a href="/{p}" class="s-block-link pl8 js-gps-track nav-links--link">'
                      f'<div class="d-flex ai-center"><div class="flex--item truncate">{label}</div></div></a></li>'
                      for p, label in (("", "Home"), ("questions", "Questions"), ("tags", "Tags"), ("users", "Users"),
                                       ("unanswered", "Unanswered"), ("?tab=hot", "Hot")))
            + "</ol></nav></div></div>")
    top = (f'<header class="s-topbar ps-fixed t0 l0 js-top-bar"><div class="s-topbar--container">'
           f'<a href="#" class="s-topbar--menu-btn js-left-sidebar-toggle" role="menuitem" aria-haspopup="true" '
           f'aria-controls="left-sidebar" aria-expanded="false"><span></span></a><a href="/" class="s-topbar--logo js-gps-track">'
           f'<span class="-img _glyph">{esc(site.name)}</span></a><ol class="s-navigation" role="presentation">'
           f'<li><a href="/about" class="s-navigation--item js-gps-track">About</a></li><li><a href="/teams" '
           f'class="s-navigation--item js-gps-track">For Teams</a></li></ol><form id="search" role="search" action="/search" '
           f'class="s-topbar--searchbar js-searchbar"><div class="s-topbar--searchbar--input-group"><input name="q" type="text" '
           f'role="combobox" placeholder="Search on {attr(site.name)}…" autocomplete="off" maxlength="240" class="s-input '
           f's-input__search js-search-field"></div></form><nav class="h100 ml-auto overflow-x-auto pr12"><ol class="s-topbar--content" '
           f'role="menubar"><li role="none"><a href="/users/login" class="s-topbar--item s-topbar--item__unset s-btn '
           f's-btn__filled ws-nowrap js-gps-track" rel="nofollow" role="menuitem">Log in</a></li><li role="none"><a '
           f'href="/users/signup" class="s-topbar--item s-topbar--item__unset ml4 s-btn s-btn__primary ws-nowrap" '
           f'rel="nofollow" role="menuitem">Sign up</a></li></ol></nav></div></header>')
    footer_cols = "".join(
        f'<div class="site-footer--col"><h5 class="-title"><a href="/{slug(c)}" class="js-gps-track">{esc(c)}</a></h5>'
        f'<ul class="-list js-primary-footer-links">'
        + "".join(f'<li><a href="/{slug(t)}" class="js-gps-track -link">{esc(t[:24])}</a></li>' for t in rng.sample(ch.link_titles, 5))
        + "</ul></div>" for c in ch.categories[:4])
    footer = (f'<footer id="footer" class="site-footer js-footer" role="contentinfo"><div class="site-footer--container">'
              f'<div class="site-footer--logo"><a href="/" aria-label="{attr(site.name)}">{esc(site.name)}</a></div>'
              f'<nav class="site-footer--nav">{footer_cols}</nav><div class="site-footer--copyright fs-fine md:mt24">'
              f'<ul class="-list -social md:mb8"><li><a href="https://twitter.com/{slug(site.name)}" class="js-gps-track -link">'
              f'Twitter</a></li><li><a href="https://www.linkedin.com/company/{slug(site.name)}" class="-link">LinkedIn</a></li>'
              f'<li><a class="js-gps-track -link" href="/legal/privacy-policy">Privacy</a></li></ul><p class="md:mb0">'
              f'Site design / logo &#169; {doc.date[0] + 1} {esc(site.name)}; user contributions licensed under '
              f'<a href="/help/licensing">CC BY-SA</a>. <span id="svnrev">rev {doc.date[0] + 1}.{rng.randint(1, 12)}.'
              f'{rng.randint(1, 28)}.{rng.randint(1000, 9999)}</span></p></div></div></footer>')
    viewed = rng.randint(30, 90_000)
    return (f"{top}\n<div class=\"container\">{left}<div id=\"content\" class=\"snippet-hidden\">"
            f'<div itemprop="mainEntity" itemscope itemtype="https://schema.org/QAPage"><link itemprop="image" href="/img/apple-touch-icon.png">'
            f'<div class="inner-content clearfix"><div id="question-header" class="d-flex sm:fd-column"><h1 itemprop="name" '
            f'class="fs-headline1 ow-break-word mb8 flex--item fl1"><a href="/{attr(path)}" class="question-hyperlink">'
            f'{esc(doc.title)}</a></h1><div class="ml12 aside-cta flex--item print:d-none"><div class=""><a href="/questions/ask" '
            f'class="ws-nowrap s-btn s-btn__primary">Ask Question</a></div></div></div><div class="d-flex fw-wrap pb8 mb16 '
            f'border-bottom"><div class="flex--item ws-nowrap mr16 mb8" title="{fmt_date(doc.date, "iso")}"><span class="fc-black-400 '
            f'mr2">Asked</span><time itemprop="dateCreated" datetime="{fmt_date(doc.date, "iso")}">{fmt_date(doc.date)}</time></div>'
            f'<div class="flex--item ws-nowrap mb8" title="Viewed {viewed:,} times"><span class="fc-black-400 mr2">Viewed</span>'
            f'{viewed:,} times</div></div><div id="mainbar" role="main" aria-label="question and answers">\n{question}\n'
            f"{answers_block}\n</div>{sidebar}</div></div></div></div>\n{footer}")


# -- forum threads ------------------------------------------------------------------------------------------------

def _pages(n_posts: int, per: int) -> int:
    return max(1, -(-n_posts // per))


def _phpbb(site, doc, w: MathWriter, rng: random.Random, url: str) -> str:
    t = rng.randint(1000, 999_999)
    forum = rng.choice(site.chrome.categories)
    sid = "%032x" % rng.getrandbits(128)
    posts = [(doc.author, rng.randint(1, 9000), doc.date, doc.blocks, None, None)] + \
            [(p.author, p.reputation, p.date, p.blocks, p.quote, p.signature) for p in doc.posts]
    total, per = len(posts), 15
    pages = _pages(total, per)
    posts = posts[:per]  # the first page of the thread
    w.posts = len(posts)

    def pagination() -> str:
        links = "".join(f'<li><a class="button" href="./viewtopic.php?t={t}&amp;start={15 * k}" role="button">{k + 1}</a></li>'
                        for k in range(1, min(pages, 4)))
        nxt = (f'<li class="arrow next"><a class="button button-icon-only" href="./viewtopic.php?t={t}&amp;start=15" rel="next" '
               f'role="button"><i class="icon fa-chevron-right fa-fw" aria-hidden="true"></i><span class="sr-only">Next</span></a></li>'
               if pages > 1 else "")
        return (f'<div class="pagination">{total} posts &bull; <ul><li class="active"><span>1</span></li>'
                f"{links}{nxt}</ul></div>" if pages > 1 else f'<div class="pagination">{total} posts &bull; Page <strong>1</strong> of <strong>1</strong></div>')

    out = []
    for k, (user, nposts, date, blocks, quote, sig) in enumerate(posts):
        pid = t * 10 + k
        first = ' class="first"'
        uid = rng.randint(2, 300_000)
        prof = f"./memberlist.php?mode=viewprofile&amp;u={uid}&amp;sid={sid}"
        q = ""
        if quote:
            q = (f'<blockquote><div><cite><a href="./memberlist.php?mode=viewprofile&amp;u={rng.randint(2, 300_000)}">{esc(quote[0])}</a> wrote: '
                 f'<a href="./viewtopic.php?p={pid - 1}#p{pid - 1}" data-post-id="{pid - 1}" onclick="if(document.getElementById(hash.substr(1)))href=hash">↑</a>'
                 f"</cite>{w.segs(quote[1])}</div></blockquote>")
        body = q + w.blocks(blocks).replace("<p>", "").replace("</p>", "<br>\n")
        out.append(
            f'<div id="p{pid}" class="post has-profile bg{2 - k % 2}"><div class="inner"><dl class="postprofile" id="profile{pid}">'
            f'<dt class="has-profile-rank has-avatar"><div class="avatar-container"><a href="{prof}" class="avatar"><img class="avatar" '
            f'src="./download/file.php?avatar={uid}_{rng.randint(10**9, 2 * 10**9)}.png" width="90" height="90" alt="User avatar"></a></div>'
            f'<a href="{prof}" class="username">{esc(user)}</a></dt><dd class="profile-rank">{rng.choice(["Posts: newbie", "Member", "Senior member", "Moderator"])}</dd>'
            f'<dd class="profile-posts"><strong>Posts:</strong> <a href="./search.php?author_id={uid}&amp;sr=posts&amp;sid={sid}">{nposts}</a></dd>'
            f'<dd class="profile-joined"><strong>Joined:</strong> {fmt_date((date[0] - rng.randint(0, 6), date[1], date[2], 9, 0), "phpbb")}</dd></dl>'
            f'<div class="postbody"><div id="post_content{pid}"><h3{first if k == 0 else ""}><a href="./viewtopic.php?p={pid}&amp;sid={sid}#p{pid}">'
            f'{"" if k == 0 else "Re: "}{esc(doc.title)}</a></h3><ul class="post-buttons"><li><a href="./posting.php?mode=quote&amp;p={pid}&amp;sid={sid}" '
            f'title="Reply with quote" class="button button-icon-only"><i class="icon fa-quote-left fa-fw" aria-hidden="true"></i>'
            f'<span class="sr-only">Quote</span></a></li></ul><p class="author"><a class="unread" href="./viewtopic.php?p={pid}#p{pid}" title="Post">'
            f'<i class="icon fa-file fa-fw icon-lightgray icon-md" aria-hidden="true"></i><span class="sr-only">Post</span></a>'
            f'<span class="responsive-hide">by <strong><a href="{prof}" class="username">{esc(user)}</a></strong> &raquo; </span>'
            f'<time datetime="{fmt_date(date, "iso")}+00:00">{fmt_date(date, "phpbb")}</time></p><div class="content">{body}</div>'
            + (f'<div id="sig{pid}" class="signature">{esc(sig)}</div>' if sig else "")
            + f'</div></div><div class="back2top"><a href="#top" class="top" title="Top"><i class="icon fa-chevron-circle-up fa-fw icon-gray" '
            f'aria-hidden="true"></i><span class="sr-only">Top</span></a></div></div></div><hr class="divider">')
    crumbs = (f'<ul id="nav-breadcrumbs" class="nav-breadcrumbs linklist navlinks" role="menubar"><li class="breadcrumbs" itemscope '
              f'itemtype="https://schema.org/BreadcrumbList"><span class="crumb" itemtype="https://schema.org/ListItem" itemprop="itemListElement" '
              f'itemscope><a href="./index.php?sid={sid}" itemprop="item" accesskey="h" data-navbar-reference="index"><i class="icon fa-home fa-fw"></i>'
              f'<span itemprop="name">Board index</span></a><meta itemprop="position" content="1"></span><span class="crumb" itemtype="https://schema.org/ListItem" '
              f'itemprop="itemListElement" itemscope><a href="./viewforum.php?f={rng.randint(1, 40)}&amp;sid={sid}" itemprop="item"><span itemprop="name">'
              f'{esc(forum)}</span></a><meta itemprop="position" content="2"></span></li></ul>')
    return (f'<div id="wrap" class="wrap"><a id="top" class="top-anchor" accesskey="t"></a><div id="page-header"><div class="headerbar" role="banner">'
            f'<div class="inner"><div id="site-description" class="site-description"><a id="logo" class="logo" href="./index.php?sid={sid}" title="Board index">'
            f'<span class="site_logo"></span></a><h1>{esc(site.name)}</h1><p>{esc(site.chrome.link_titles[0])}</p></div>'
            f'<div id="search-box" class="search-box search-header" role="search"><form action="./search.php?sid={sid}" method="get" id="search">'
            f'<fieldset><input name="keywords" id="keywords" type="search" maxlength="128" title="Search for keywords" class="inputbox search tiny" '
            f'size="20" value="" placeholder="Search…"><button class="button button-search" type="submit" title="Search">Search</button></fieldset></form></div>'
            f'</div></div><div class="navbar" role="navigation"><div class="inner"><ul id="nav-main" class="nav-main linklist" role="menubar">'
            f'<li id="quick-links" class="quick-links dropdown-container responsive-menu"><a href="#" class="dropdown-trigger"><i class="icon fa-bars fa-fw"></i>'
            f'<span>Quick links</span></a><div class="dropdown"><ul class="dropdown-contents" role="menu"><li><a href="./search.php?search_id=unanswered&amp;sid={sid}" role="menuitem">Unanswered topics</a></li>'
            f'<li><a href="./search.php?search_id=active_topics&amp;sid={sid}" role="menuitem">Active topics</a></li><li><a href="./memberlist.php?sid={sid}" role="menuitem">Members</a></li></ul></div></li>'
            f'<li><a href="/app.php/help/faq?sid={sid}" rel="help" title="Frequently Asked Questions" role="menuitem"><i class="icon fa-question-circle fa-fw"></i><span>FAQ</span></a></li>'
            f'<li class="rightside"><a href="./ucp.php?mode=login&amp;sid={sid}" title="Login" accesskey="x" role="menuitem"><span>Login</span></a></li>'
            f'<li class="rightside"><a href="./ucp.php?mode=register&amp;sid={sid}" role="menuitem"><span>Register</span></a></li></ul>{crumbs}</div></div></div>'
            f'<div id="page-body" class="page-body" role="main"><h2 class="topic-title"><a href="./viewtopic.php?t={t}&amp;sid={sid}">{esc(doc.title)}</a></h2>'
            f'<div class="action-bar bar-top"><a href="./posting.php?mode=reply&amp;t={t}&amp;sid={sid}" class="button" title="Post a reply"><span>Post Reply</span> '
            f'<i class="icon fa-reply fa-fw" aria-hidden="true"></i></a>{pagination()}</div>\n' + "\n".join(out)
            + f'\n<div class="action-bar bar-bottom"><a href="./posting.php?mode=reply&amp;t={t}" class="button"><span>Post Reply</span></a>{pagination()}</div>'
            f'<div class="action-bar actions-jump"><p class="jumpbox-return"><a href="./viewforum.php?f=1&amp;sid={sid}" class="left-box arrow-left" accesskey="r">'
            f'<i class="icon fa-angle-left fa-fw icon-black"></i><span>Return to &ldquo;{esc(forum)}&rdquo;</span></a></p></div>'
            f'<div class="stat-block online-list"><h3>Who is online</h3><p>Users browsing this forum: No registered users and {rng.randint(1, 40)} guests</p></div></div>'
            f'<div id="page-footer" class="page-footer" role="contentinfo"><div class="navbar" role="navigation"><div class="inner"><ul id="nav-footer" class="nav-footer linklist" role="menubar">'
            f'<li class="breadcrumbs"><span class="crumb"><a href="./index.php?sid={sid}" data-navbar-reference="index"><i class="icon fa-home fa-fw"></i><span>Board index</span></a></span></li>'
            f'<li class="rightside">All times are <span title="UTC">UTC</span></li><li class="rightside"><a href="./ucp.php?mode=delete_cookies&amp;sid={sid}" role="menuitem">'
            f'<span>Delete cookies</span></a></li><li class="rightside"><a href="./memberlist.php?mode=team&amp;sid={sid}" role="menuitem"><span>The team</span></a></li>'
            f'<li class="rightside"><a href="./memberlist.php?mode=contactadmin&amp;sid={sid}" role="menuitem"><span>Contact us</span></a></li></ul></div></div>'
            f'<div class="copyright"><p class="footer-row"><span class="footer-copyright">Powered by <a href="https://www.phpbb.com/">phpBB</a>&reg; Forum Software</span></p>'
            f'<p class="footer-row" role="menu"><a class="footer-link" href="./ucp.php?mode=privacy&amp;sid={sid}" role="menuitem"><span class="footer-link-text">Privacy</span></a> | '
            f'<a class="footer-link" href="./ucp.php?mode=terms&amp;sid={sid}" role="menuitem"><span class="footer-link-text">Terms</span></a></p></div></div></div>')


def _discourse(site, doc, w: MathWriter, rng: random.Random, url: str) -> str:
    t = rng.randint(1000, 999_999)
    s = slug(doc.title)
    cat = rng.choice(site.chrome.categories)
    posts = [(doc.author, doc.date, doc.blocks, None, 0)] + [(p.author, p.date, p.blocks, p.quote, p.votes) for p in doc.posts]
    per = 20
    w.posts = min(per, len(posts))
    out = []
    for k, (user, date, blocks, quote, likes) in enumerate(posts[:per]):
        q = ""
        if quote:
            q = (f'<aside class="quote no-group" data-username="{attr(quote[0])}" data-post="{max(1, k - 1)}" data-topic="{t}">'
                 f'<div class="title"><div class="quote-controls"></div><img loading="lazy" alt="" width="24" height="24" '
                 f'src="/user_avatar/{site.host}/{slug(quote[0])}/48/{rng.randint(1, 9999)}_2.png" class="avatar"> {esc(quote[0])}:</div>'
                 f"<blockquote><p>{w.segs(quote[1])}</p></blockquote></aside>")
        out.append(
            f'<div id="post_{k + 1}" itemprop="{"articleBody" if k == 0 else "comment"}" itemscope '
            f'itemtype="http://schema.org/{"DiscussionForumPosting" if k == 0 else "Comment"}" class="topic-body crawler-post">'
            f'<div class="crawler-post-meta"><span class="creator" itemprop="author" itemscope itemtype="http://schema.org/Person">'
            f'<a itemprop="url" href="/u/{slug(user)}"><span itemprop="name">{esc(user)}</span></a></span>'
            f'<link itemprop="mainEntityOfPage" href="{attr(url)}"><span class="crawler-post-infos"><time itemprop="datePublished" '
            f'datetime="{fmt_date(date, "iso")}Z" class="post-time">{fmt_date(date)}</time><meta itemprop="dateModified" '
            f'content="{fmt_date(date, "iso")}Z"><span itemprop="position">{k + 1}</span></span></div>'
            f'<div class="post" itemprop="text">\n{q}{w.blocks(blocks)}\n</div>'
            + (f'<div itemprop="interactionStatistic" itemscope itemtype="http://schema.org/InteractionCounter"><meta '
               f'itemprop="interactionType" content="http://schema.org/LikeAction"><meta itemprop="userInteractionCount" '
               f'content="{likes}"><span class="post-likes">{likes} Like{"" if likes == 1 else "s"}</span></div>' if likes else "")
            + "</div>")
    related = "".join(
        f'<tr class="topic-list-item"><td class="main-link" itemprop="itemListElement" itemscope itemtype="http://schema.org/ListItem">'
        f'<meta itemprop="position" content="{k + 1}"><span class="link-top-line"><a itemprop="url" href="/t/{slug(ti)}/{rng.randint(1000, 999999)}" '
        f'class="title raw-link raw-topic-link">{esc(ti)}</a></span><div class="link-bottom-line"><a href="/c/{slug(cat)}/{k + 3}" '
        f'class="badge-wrapper bullet"><span class="badge-category-bg" style="background-color: #{rng.randint(0, 0xffffff):06X}"></span>'
        f'<span class="badge-category clear-badge"><span class="category-name">{esc(cat)}</span></span></a></div></td>'
        f'<td class="replies"><span class="posts" title="posts">{rng.randint(1, 60)}</span></td><td class="views"><span class="views" '
        f'title="views">{rng.randint(20, 9000)}</span></td><td>{MONTHS[rng.randrange(12)]} {rng.randint(2016, 2024)}</td></tr>'
        for k, ti in enumerate(rng.sample(site.chrome.link_titles, 5)))
    nav_next = (f'<div role="navigation" itemscope itemtype="http://schema.org/SiteNavigationElement" class="topic-body crawler-post">'
                f'<span itemprop="name"><a href="/t/{s}/{t}?page=2" rel="next" itemprop="url">next page &rarr;</a></span></div>'
                if len(posts) > per else "")
    return (f'<header class="d-header"><div class="wrap"><div class="contents"><div class="header-title"><a href="/">'
            f'<img src="/uploads/default/original/1X/{rng.getrandbits(64):016x}.png" alt="{attr(site.name)}" id="site-logo"></a></div></div></div></header>'
            f'<div id="main-outlet" class="wrap" role="main"><div id="topic-title"><h1><a href="/t/{s}/{t}">{esc(doc.title)}</a></h1>'
            f'<div class="topic-category" itemscope itemtype="http://schema.org/BreadcrumbList"><span itemprop="itemListElement" itemscope '
            f'itemtype="http://schema.org/ListItem"><a href="/c/{slug(cat)}/5" class="badge-wrapper bullet" itemprop="item">'
            f'<span class="badge-category-bg" style="background-color: #0088CC"></span><span class="badge-category clear-badge">'
            f'<span class="category-name" itemprop="name">{esc(cat)}</span></span></a><meta itemprop="position" content="1"></span></div>'
            f'<div class="topic-tags">' + "".join(f'<a href="/tag/{slug(x)}" class="discourse-tag">{slug(x)}</a>'
                                                   for x in rng.sample(site.chrome.categories, 2)) + '</div></div>'
            f'<div itemscope itemtype="http://schema.org/DiscussionForumPosting"><meta itemprop="headline" content="{attr(doc.title)}">'
            f'<meta itemprop="datePublished" content="{fmt_date(doc.date, "iso")}Z">\n' + "\n".join(out) + f"\n</div>{nav_next}"
            f'<div id="related-topics" class="more-topics__list " role="complementary" aria-labelledby="related-topics-title">'
            f'<h3 id="related-topics-title" class="more-topics__list-title">Related topics</h3><div class="topic-list-container" itemscope '
            f'itemtype="http://schema.org/ItemList"><meta itemprop="itemListOrder" content="http://schema.org/ItemListOrderDescending">'
            f'<table class="topic-list"><thead><tr><th>Topic</th><th></th><th class="replies">Replies</th><th class="views">Views</th>'
            f'<th>Activity</th></tr></thead><tbody>{related}</tbody></table></div></div></div>'
            f'<footer class="container wrap"><nav class="crawler-nav"><ul>'
            + "".join(f'<li itemscope itemtype="http://schema.org/SiteNavigationElement"><span itemprop="name"><a href="{h}" '
                      f'itemprop="url">{lab} </a></span></li>' for h, lab in (("/", "Home"), ("/categories", "Categories"),
                                                                               ("/guidelines", "Guidelines"), ("/tos", "Terms of Service"),
                                                                               ("/privacy", "Privacy Policy")))
            + f'</ul></nav><p class="powered-by-link">Powered by <a href="https://www.discourse.org">Discourse</a>, best viewed with JavaScript enabled</p></footer>')


def _ips(site, doc, w: MathWriter, rng: random.Random, url: str) -> str:
    t = rng.randint(1000, 999_999)
    s = slug(doc.title)
    cat = rng.choice(site.chrome.categories)
    base = f"/topic/{t}-{s}/"
    posts = [(doc.author, rng.randint(1, 900), doc.date, doc.blocks, None, None, 0)] + \
            [(p.author, p.reputation, p.date, p.blocks, p.quote, p.signature, p.votes) for p in doc.posts]
    pages = _pages(len(posts), 25)
    posts = posts[:25]
    w.posts = len(posts)
    pager = (f'<ul class="ipsPagination" id="elPagination_{t}" data-ipspagination data-pages="{pages}">'
             f'<li class="ipsPagination_first ipsPagination_inactive"><a href="{base}#comments" rel="first" data-page="1" '
             f'title="First page"><i class="fa fa-angle-double-left"></i></a></li><li class="ipsPagination_prev ipsPagination_inactive">'
             f'<a href="{base}#comments" rel="prev" data-page="0" title="Previous page">Prev</a></li><li class="ipsPagination_page '
             f'ipsPagination_active"><a href="{base}#comments" data-page="1">1</a></li>'
             + "".join(f'<li class="ipsPagination_page"><a href="{base}page/{k}/#comments" data-page="{k}">{k}</a></li>'
                       for k in range(2, pages + 1))
             + f'<li class="ipsPagination_next"><a href="{base}page/2/#comments" rel="next" data-page="2" title="Next page">Next</a></li>'
             f'<li class="ipsPagination_pageJump"><a href="#" data-ipsmenu data-ipsmenu-closeonclick="false" id="elPagination_{t}_jump">'
             f'Page 1 of {pages} &nbsp;<i class="fa fa-caret-down"></i></a></li></ul>' if pages > 1 else "")
    out = []
    for k, (user, rep, date, blocks, quote, sig, likes) in enumerate(posts):
        cid = t * 100 + k
        prof = f"/profile/{rng.randint(2, 200_000)}-{slug(user)}/"
        q = ""
        if quote:
            q = (f'<blockquote class="ipsQuote" data-ipsquote="" data-ipsquote-contentapp="forums" data-ipsquote-contenttype="forums" '
                 f'data-ipsquote-contentid="{t}" data-ipsquote-username="{attr(quote[0])}" data-cite="{attr(quote[0])}">'
                 f'<div class="ipsQuote_citation">{esc(quote[0])} said:</div><div class="ipsQuote_contents ipsClearfix" data-gramm="false">'
                 f"<p>{w.segs(quote[1])}</p></div></blockquote>")
        react = (f'<div class="ipsReact_blurb" data-role="reactionBlurb"><ul class="ipsReact_reactions"><li class="ipsReact_reactCount">'
                 f'<span data-ipstooltip title="Like"><span><img src="/reactions/react_up.png" alt="Like" loading="lazy"></span>'
                 f"<span>{likes}</span></span></li></ul></div>" if likes else "")
        out.append(
            f'<a id="comment-{cid}"></a><article id="elComment_{cid}" class="cPost ipsBox ipsResponsive_pull  ipsComment  ipsComment_parent '
            f'ipsClearfix ipsClear ipsColumns ipsColumns_noSpacing ipsColumns_collapsePhone    ">'
            f'<aside class="ipsComment_author cAuthorPane ipsColumn ipsColumn_medium ipsResponsive_hidePhone"><h3 class="ipsType_sectionHead '
            f'cAuthorPane_author ipsType_blendLinks ipsType_break"><strong><a href="{prof}" rel="nofollow" data-ipshover class="ipsType_break">'
            f'{esc(user)}</a></strong></h3><ul class="cAuthorPane_info ipsList_reset"><li data-role="photo" class="cAuthorPane_photo">'
            f'<div class="cAuthorPane_photoWrap"><a href="{prof}" rel="nofollow" class="ipsUserPhoto ipsUserPhoto_large"><img '
            f'src="/uploads/profile/photo-thumb-{cid % 99991}.png" alt="{attr(user)}" loading="lazy"></a></div></li>'
            f'<li data-role="group">{rng.choice(["Members", "Senior Members", "Moderators", "Advanced Member"])}</li>'
            f'<li data-role="stats" class="ipsMargin_top"><ul class="ipsList_reset ipsType_light ipsFlex ipsFlex-ai:center '
            f'ipsFlex-jc:center ipsGap_row:2 cAuthorPane_stats"><li data-role="reputation-badge"><span title="Member&#39;s total reputation" '
            f'data-ipstooltip class="ipsRepBadge ipsRepBadge_positive"><i class="fa fa-plus-circle"></i> {rep}</span></li>'
            f'<li><a href="{prof}content/" title="{rep * 3} posts" data-ipstooltip class="ipsType_blendLinks"><i class="fa fa-comment"></i> '
            f'{rep * 3}</a></li></ul></li></ul></aside><div class="ipsColumn ipsColumn_fluid ipsMargin:none"><div id="comment-{cid}_wrap" '
            f'data-controller="core.front.core.comment" data-commentapp="forums" data-commenttype="forums" data-commentid="{cid}" '
            f'class="ipsComment_content ipsType_medium"><div class="ipsComment_meta ipsType_light ipsFlex ipsFlex-ai:center '
            f'ipsFlex-jc:between ipsFlex-fd:row-reverse"><div class="ipsType_light ipsType_reset ipsType_blendLinks ipsComment_toolWrap">'
            f'<ul class="ipsList_reset ipsComment_tools"><li><a href="#elControls_{cid}_menu" class="ipsComment_ellipsis" '
            f'id="elControls_{cid}" title="More options..." data-ipsmenu><i class="fa fa-ellipsis-h"></i></a></li><li><a '
            f'href="{base}?do=findComment&amp;comment={cid}" data-ipstooltip title="Share this post" id="elSharePost_{cid}" '
            f'data-role="shareComment"><i class="fa fa-share-alt"></i></a></li></ul></div><div class="ipsType_reset ipsResponsive_hidePhone">'
            f'<a href="{base}?do=findComment&amp;comment={cid}" rel="nofollow" class="ipsType_blendLinks">Posted <time '
            f'datetime="{fmt_date(date, "iso")}Z" title="{fmt_date(date, "se")}" data-short="{rng.randint(1, 9)} yr">{fmt_date(date)}</time></a>'
            f'</div></div><div class="cPost_contentWrap"><div data-role="commentContent" class="ipsType_normal ipsType_richText '
            f'ipsPadding_bottom ipsContained" data-controller="core.front.core.lightboxedImages">\n{q}{w.blocks(blocks)}\n</div>'
            f'<div class="ipsItemControls"><div data-controller="core.front.core.reaction" class="ipsItemControls_right ipsClearfix ">'
            f'<div class="ipsReact ipsPos_right">{react}</div></div><ul class="ipsComment_controls ipsClearfix ipsItemControls_left" '
            f'data-role="commentControls"><li data-ipsquote-editor="topic_comment" data-ipsquote-target="#comment-{cid}" class="ipsJS_show">'
            f'<a href="#" data-action="quoteComment" data-ipsquote-singlequote>Quote</a></li></ul></div>'
            + (f'<div class="ipsSignature ipsSpacer_top" data-role="memberSignature"><div data-ipssignature-content '
               f'class="ipsType_richText ipsType_normal ipsType_light"><p>{esc(sig)}</p></div></div>' if sig else "")
            + f'</div></div><div class="ipsMenu ipsMenu_wide ipsHide cPostShareMenu" id="elSharePost_{cid}_menu"><div class="ipsPadding">'
            f'<h5 class="ipsType_normal ipsType_reset">Link to comment</h5><input type="text" value="{attr(url)}?do=findComment&amp;comment={cid}" '
            f'class="ipsField_fullWidth"></div><div class="ipsPadding ipsBorder:top"><h5 class="ipsType_normal ipsType_reset ipsSpacer_bottom">'
            f'Share on other sites</h5><ul class="ipsList_inline ipsList_noSpacing ipsClearfix" data-controller="core.front.core.sharelink">'
            f'<li><a href="https://www.facebook.com/sharer/sharer.php?u={attr(url)}" class="cShareLink cShareLink_facebook" target="_blank" '
            f'data-role="shareLink" title="Share on Facebook" rel="noopener nofollow"><i class="fa fa-facebook"></i></a></li>'
            f'<li><a href="https://twitter.com/share?url={attr(url)}" class="cShareLink cShareLink_twitter" target="_blank" '
            f'data-role="shareLink" title="Share on Twitter" rel="nofollow noopener"><i class="fa fa-twitter"></i></a></li></ul></div></div>'
            f"</div></article>")
    menu = "".join(f'<li data-role="navBarItem" data-navapp="core"><a href="/{slug(c)}/" data-navitem-id="{k}">{esc(c)}</a>'
                   f'<ul class="ipsNavBar_secondary ipsHide" data-role="secondaryNavBar">'
                   + "".join(f'<li data-role="navBarItem"><a href="/{slug(x)}/">{esc(x[:24])}</a></li>'
                             for x in rng.sample(site.chrome.link_titles, 4)) + "</ul></li>"
                   for k, c in enumerate(site.chrome.categories[:5]))
    return (f'<div id="ipsLayout_header" class="ipsClearfix"><header><div class="ipsLayout_container ipsFlex ipsFlex-jc:between ipsFlex-ai:center">'
            f'<a href="/" id="elLogo" accesskey="1"><img src="/uploads/monthly_2021_01/logo.png" alt="{attr(site.name)}"></a>'
            f'<ul id="elUserNav" class="ipsList_inline cSignedOut ipsResponsive_showDesktop"><li id="elSignInLink"><a href="/login/" '
            f'data-ipsmenu-closeonclick="false" data-ipsmenu id="elUserSignIn">Existing user? Sign In &nbsp;<i class="fa fa-caret-down"></i></a></li>'
            f'<li><a href="/register/" data-ipsdialog data-ipsdialog-size="narrow" data-ipsdialog-title="Sign Up" id="elRegisterButton" '
            f'class="ipsButton ipsButton_normal ipsButton_primary">Sign Up</a></li></ul></div></header><nav data-controller="core.front.core.navBar" '
            f'class="ipsNavBar_noSubBars ipsResponsive_showDesktop"><div class="ipsNavBar_primary ipsLayout_container ipsNavBar_noSubBars">'
            f'<ul data-role="primaryNavBar" class="ipsClearfix">{menu}</ul></div></nav></div>'
            f'<main id="ipsLayout_body" class="ipsLayout_container"><div id="ipsLayout_contentArea"><div id="ipsLayout_contentWrapper">'
            f'<nav class="ipsBreadcrumb ipsBreadcrumb_top ipsFaded_withHover"><ul data-role="breadcrumbList"><li><a title="Home" href="/">'
            f'<span>Home <i class="fa fa-angle-right"></i></span></a></li><li><a href="/forum/{rng.randint(1, 90)}-{slug(cat)}/"><span>{esc(cat)} '
            f'<i class="fa fa-angle-right"></i></span></a></li><li>{esc(doc.title[:50])}</li></ul></nav><div id="ipsLayout_mainArea">'
            f'<div class="ipsPageHeader ipsResponsive_pull ipsBox ipsPadding sm:ipsPadding:half ipsMargin_bottom"><div class="ipsFlex '
            f'ipsFlex-ai:center ipsFlex-fw:wrap ipsGap:4"><div class="ipsFlex-flex:11"><h1 class="ipsType_pageTitle ipsContained_container">'
            f'<span class="ipsType_break ipsContained"><span>{esc(doc.title)}</span></span></h1></div></div><div class="ipsPageHeader__meta '
            f'ipsFlex ipsFlex-jc:between ipsFlex-ai:center ipsFlex-fw:wrap ipsGap:3"><div class="ipsFlex-flex:11"><div class="ipsPhotoPanel '
            f'ipsPhotoPanel_mini ipsPhotoPanel_notPhone ipsClearfix"><div><p class="ipsType_reset ipsType_blendLinks"><span class="ipsType_normal">'
            f'By <a href="/profile/1-{slug(doc.author)}/" rel="nofollow">{esc(doc.author)}</a></span>, <span class="ipsType_light"><time '
            f'datetime="{fmt_date(doc.date, "iso")}Z">{fmt_date(doc.date)}</time> in <a href="/forum/1-{slug(cat)}/">{esc(cat)}</a></span></p></div></div></div></div></div>'
            f'<div class="ipsClearfix"><ul class="ipsToolList ipsToolList_horizontal ipsClearfix ipsSpacer_both ipsResponsive_hidePhone">'
            f'<li class="ipsToolList_primaryAction"><span data-controller="forums.front.topic.reply"><a href="#replyForm" rel="nofollow" '
            f'class="ipsButton ipsButton_important ipsButton_medium ipsButton_fullWidth" data-action="replyToTopic">Reply to this topic</a>'
            f'</span></li></ul></div><div class="ipsButtonBar ipsPad_half ipsClearfix ipsClear">{pager}</div>'
            f'<div data-role="commentFeed" data-controller="core.front.core.moderation">\n' + "\n".join(out)
            + f'\n</div><div class="ipsButtonBar ipsPad_half ipsClearfix ipsClear">{pager}</div><div class="ipsBox ipsPadding ipsResponsive_pull '
            f'ipsResponsive_showPhone ipsMargin_top"><div class="ipsShareLinks"><a href="{attr(url)}" class="ipsButton ipsButton_light">Share</a>'
            f'</div></div><div class="ipsWidget ipsWidget_horizontal"><h3 class="ipsWidget_title ipsType_reset">Recently Browsing</h3><div '
            f'class="ipsWidget_inner ipsPad"><p class="ipsType_reset ipsType_medium ipsType_light">No registered users viewing this page.</p>'
            f'</div></div></div></div></div><nav class="ipsBreadcrumb ipsBreadcrumb_bottom ipsFaded_withHover"><ul data-role="breadcrumbList">'
            f'<li><a title="Home" href="/"><span>Home</span></a></li><li><a href="/forums/">Forums</a></li><li><a href="/forum/1-{slug(cat)}/">'
            f'{esc(cat)}</a></li></ul><ul class="ipsList_inline ipsPos_right"><li><a data-action="defaultStream" class="ipsType_light" '
            f'href="/discover/"><i class="fa fa-newspaper-o"></i> <span>All Activity</span></a></li></ul></nav></main>'
            f'<footer id="ipsLayout_footer" class="ipsClearfix"><div class="ipsLayout_container"><ul class="ipsList_inline ipsType_center '
            f'ipsSpacer_top" id="elFooterLinks"><li><a href="/privacy/">Privacy Policy</a></li><li><a href="/contact/" data-ipsdialog '
            f'data-ipsdialog-remoteverify="false" data-ipsdialog-flashmessage="Thanks, your message has been submitted." '
            f'data-ipsdialog-title="Contact Us">Contact Us</a></li><li><a rel="nofollow" href="/cookies/">Cookies</a></li></ul>'
            f'<p id="elCopyright"><span id="elCopyright_userLine">{esc(site.footer)}</span> <a rel="nofollow" title="Invision Community" '
            f'href="https://www.invisioncommunity.com/">Powered by Invision Community</a></p></div></footer>')


def forum(site, doc, w: MathWriter, rng: random.Random, url: str) -> str:
    return {"phpbb": _phpbb, "discourse": _discourse, "ips": _ips}[site.chrome.engine or "phpbb"](site, doc, w, rng, url)


# -- textbook / docs (LibreTexts-like) ------------------------------------------------------------------------------

def _preamble(style: str, rng: random.Random) -> str:
    macros = rng.sample(MACROS, rng.randint(6, len(MACROS)))
    if style == "mathjax":
        inner = "".join(f'<script type="math/tex">{esc(m)}</script>' for m in macros)
    elif style == "tex":
        inner = " ".join(f"\\( {esc(m)} \\)" for m in macros)
    else:  # sites that render with KaTeX or MathML still ship MathJax's macro config
        inner = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({TeX: {Macros: {'
                 + ", ".join(f'{m.split("{")[1][1:-1]}: "{m.split("}{", 1)[1][:-1].replace(chr(92), chr(92) * 2)}"'
                             for m in macros if "[" not in m) + "}}});</script>")
    return f'<div style="display:none;" class="mt-macros">{inner}</div>'


def textbook(site, doc, w: MathWriter, rng: random.Random, url: str) -> str:
    ch = site.chrome
    chapter = rng.randint(1, 14)
    sec = f"{chapter}.{rng.randint(1, 9)}"
    book = rng.choice(ch.link_titles)
    cat = rng.choice(ch.categories)
    body = w.blocks(doc.blocks).replace("<h2>", '<h2 class="editable"><span class="mt-section-title">').replace(
        "</h2>", "</span></h2>")
    objectives = "".join(f"<li>{esc(t)}</li>" for t in rng.sample(ch.link_titles, rng.randint(2, 4)))
    toc = "".join(f'<li class="mt-sortable-listing"><a href="/Bookshelves/{slug(cat)}/{slug(book)}/{chapter:02d}%3A_'
                  f'{k}" class="mt-sortable-listing-link" title="{chapter}.{k}: {attr(t)}"><span class="mt-sortable-listing-title">'
                  f"{chapter}.{k}: {esc(t)}</span></a></li>" for k, t in enumerate(rng.sample(ch.link_titles, 6), start=1))
    author = doc.author or "OpenStax"
    return (f'<header id="mt-header" class="elm-header"><div class="elm-header-logo-container"><a href="/" title="{attr(site.name)}">'
            f'<img src="/@api/deki/files/logo.png" alt="{attr(site.name)}"></a></div><div class="elm-header-global-nav">'
            f'<nav class="elm-global-nav-container"><ul class="elm-global-nav">'
            + "".join(f'<li class="elm-nav-item"><a href="/{slug(c)}">{esc(c)}</a></li>' for c in ch.categories[:6])
            + f'</ul></nav></div><div class="elm-header-search"><form class="mt-search-form" action="/Special:Search">'
            f'<input type="search" name="q" placeholder="Search"></form></div></header>'
            f'<div id="elm-main-content" class="elm-content-container" tabindex="-1"><nav class="mt-breadcrumbs" aria-label="Breadcrumb">'
            f'<ol><li><a href="/" title="Home">Home</a></li><li><a href="/Bookshelves">Bookshelves</a></li><li><a href="/Bookshelves/{slug(cat)}">'
            f'{esc(cat)}</a></li><li><a href="/Bookshelves/{slug(cat)}/{slug(book)}">{esc(book)}</a></li><li>{sec}: {esc(doc.title[:40])}</li>'
            f'</ol></nav><div class="elm-page-title"><h1 id="title" class="mt-title-edit">{sec}: {esc(doc.title)}</h1></div>'
            f'<div class="elm-pagination-container"><a class="mt-icon-previous-article" href="/Bookshelves/{slug(cat)}/{slug(book)}/prev">'
            f'Previous</a> <a class="mt-icon-next-article" href="/Bookshelves/{slug(cat)}/{slug(book)}/next">Next</a></div>'
            f'<section class="mt-content-container">\n{_preamble(w.style, rng)}\n'
            f'<div class="box-objectives"><h3 class="box-title">Learning Objectives</h3><ul>{objectives}</ul></div>\n'
            f"{body}\n"
            f'<div class="mt-contentreuse-widget"><p>This page titled {sec}: {esc(doc.title)} is shared under a CC BY-NC-SA 4.0 license '
            f'and was authored, remixed, and/or curated by {esc(author)}.</p></div></section>'
            f'<div class="mt-tags"><ul class="mt-tags-list">'
            + "".join(f'<li class="mt-tag"><a href="/Special:Search?tags={slug(c)}">{slug(c)}</a></li>' for c in rng.sample(ch.categories, 3))
            + f'</ul></div><div class="elm-related-articles-container"><h2>{esc(book)}</h2><ul class="mt-sortable-listings-container">{toc}'
            f'</ul></div></div>{ch.footer}')


# -- wiki (MediaWiki Vector) ------------------------------------------------------------------------------------------

def wiki(site, doc, w: MathWriter, rng: random.Random, url: str) -> str:
    ch = site.chrome
    parts, n_ref = [], 0
    for b in doc.blocks:
        if b[0] == "h2":
            hid = slug(b[1]).replace("-", "_")
            parts.append(f'<div class="mw-heading mw-heading2"><h2 id="{attr(hid)}">{esc(b[1])}</h2><span class="mw-editsection">'
                         f'<span class="mw-editsection-bracket">[</span><a href="/w/index.php?action=edit&amp;section={len(parts)}" '
                         f'title="Edit section: {attr(b[1])}"><span>edit</span></a><span class="mw-editsection-bracket">]</span></span></div>')
        elif b[0] == "p":
            ref = ""
            if rng.random() < 0.4:
                n_ref += 1
                ref = (f'<sup id="cite_ref-{n_ref}" class="reference"><a href="#cite_note-{n_ref}">'
                       f'<span class="cite-bracket">&#91;</span>{n_ref}<span class="cite-bracket">&#93;</span></a></sup>')
            parts.append(f"<p>{w.segs(b[1])}{ref}\n</p>")
        else:
            parts.append(w.blocks([b], wiki=True))
    if len(parts) > 2:  # the table of contents marker sits after the lead section
        parts.insert(1, '<meta property="mw:PageProp/toc">')
    refs = "".join(f'<li id="cite_note-{k}"><span class="mw-cite-backlink"><b><a href="#cite_ref-{k}">^</a></b></span> '
                   f'<span class="reference-text"><cite class="citation book cs1">{esc(rng.choice(ch.link_titles))} ({rng.randint(1950, 2023)}). '
                   f'<i>{esc(rng.choice(ch.link_titles))}</i>.</cite></span></li>' for k in range(1, n_ref + 1))
    title = doc.title
    navbox = ('<div role="navigation" class="navbox" aria-labelledby="nav-{0}"><table class="nowraplinks navbox-inner"><tbody><tr>'
              '<th scope="col" class="navbox-title" colspan="2"><div id="nav-{0}">{1}</div></th></tr>'.format(
                  slug(ch.categories[0]), esc(ch.categories[0]))
              + "".join(f'<tr><th scope="row" class="navbox-group">{esc(c)}</th><td class="navbox-list-with-group navbox-list navbox-odd">'
                        f'<div><ul>' + "".join(f'<li><a href="/wiki/{slug(t)}" title="{attr(t)}">{esc(t)}</a></li>'
                                               for t in rng.sample(ch.link_titles, 5)) + "</ul></div></td></tr>"
                        for c in ch.categories[1:4])
              + "</tbody></table></div>")
    portlet = "".join(f'<li id="n-{slug(x)}" class="mw-list-item"><a href="/wiki/{slug(x)}"><span>{esc(x)}</span></a></li>'
                      for x in ("Main page", "Contents", "Current events", "Random article", "About", "Contact us", "Help"))
    cats = "".join(f'<li><a href="/wiki/Category:{slug(c)}" title="Category:{attr(c)}">{esc(c)}</a></li>'
                   for c in rng.sample(ch.categories, 3))
    y, mo, d, h, mi = doc.date
    return (f'<a class="mw-jump-link" href="#bodyContent">Jump to content</a><div class="vector-header-container"><header '
            f'class="vector-header mw-header"><div class="vector-header-start"><nav class="vector-main-menu-landmark" aria-label="Site">'
            f'<div id="vector-main-menu-dropdown" class="vector-dropdown vector-main-menu-dropdown"><div class="vector-dropdown-content">'
            f'<div id="vector-main-menu" class="vector-main-menu vector-pinnable-element"><div id="p-navigation" class="vector-menu mw-portlet '
            f'mw-portlet-navigation"><div class="vector-menu-heading">Navigation</div><div class="vector-menu-content"><ul class="vector-menu-content-list">'
            f'{portlet}</ul></div></div></div></div></div></nav><a href="/wiki/Main_Page" class="mw-logo"><span class="mw-logo-container">'
            f'{esc(site.name)}</span></a></div><div class="vector-header-end"><div id="p-search" role="search" class="vector-search-box-vue">'
            f'<form action="/w/index.php" id="searchform" class="cdx-search-input"><input class="cdx-text-input__input" type="search" name="search" '
            f'placeholder="Search {attr(site.name)}" aria-label="Search {attr(site.name)}" accesskey="f" id="searchInput"></form></div>'
            f'<nav class="vector-user-links" aria-label="Personal tools"><ul><li id="pt-createaccount" class="mw-list-item"><a '
            f'href="/w/index.php?title=Special:CreateAccount" title="You are encouraged to create an account and log in"><span>Create account</span>'
            f'</a></li><li id="pt-login" class="mw-list-item"><a href="/w/index.php?title=Special:UserLogin" accesskey="o"><span>Log in</span></a>'
            f'</li></ul></nav></div></header></div><div class="mw-page-container"><div class="mw-page-container-inner">'
            f'<div class="vector-main-menu-container"></div><div class="mw-content-container"><main id="content" class="mw-body">'
            f'<header class="mw-body-header vector-page-titlebar"><h1 id="firstHeading" class="firstHeading mw-first-heading">'
            f'<span class="mw-page-title-main">{esc(title)}</span></h1><div id="p-lang-btn" class="vector-dropdown mw-portlet mw-portlet-lang">'
            f'<span class="vector-dropdown-label-text">{rng.randint(2, 60)} languages</span></div></header><div class="vector-page-toolbar">'
            f'<nav aria-label="Namespaces"><ul><li id="ca-nstab-main" class="selected vector-tab-noicon mw-list-item"><a href="/wiki/{slug(title)}" '
            f'title="View the content page" accesskey="c"><span>Article</span></a></li><li id="ca-talk" class="vector-tab-noicon mw-list-item">'
            f'<a href="/wiki/Talk:{slug(title)}" rel="discussion" accesskey="t"><span>Talk</span></a></li></ul></nav></div>'
            f'<div id="bodyContent" class="vector-body" aria-labelledby="firstHeading" data-mw-ve-target-container><div id="siteSub" '
            f'class="noprint">From {esc(site.name)}, the free encyclopedia</div><div id="contentSub"><div id="mw-content-subtitle"></div></div>'
            f'<div id="mw-content-text" class="mw-body-content"><div class="mw-content-ltr mw-parser-output" lang="en" dir="ltr">'
            f'<div class="shortdescription nomobile noexcerpt noprint searchaux" style="display:none">{esc(rng.choice(ch.link_titles))}</div>\n'
            + "\n".join(parts)
            + (f'\n<div class="mw-heading mw-heading2"><h2 id="References">References</h2></div><div class="reflist"><div '
               f'class="mw-references-wrap"><ol class="references">{refs}</ol></div></div>' if refs else "")
            + f"\n{navbox}\n</div></div><div class=\"printfooter\" data-nosnippet>Retrieved from \"<a dir=\"ltr\" "
            f'href="{attr(url)}">{esc(url)}</a>"</div><div id="catlinks" class="catlinks" data-mw="interface"><div id="mw-normal-catlinks" '
            f'class="mw-normal-catlinks"><a href="/wiki/Help:Category" title="Help:Category">Categories</a>: <ul>{cats}</ul></div></div>'
            f'</div></main></div><div class="mw-footer-container"><footer id="footer" class="mw-footer" role="contentinfo"><ul id="footer-info">'
            f'<li id="footer-info-lastmod"> This page was last edited on {d} {MONTHS[mo - 1]} {y}, at {h:02d}:{mi:02d}<span class="anonymous-show">'
            f'&#160;(UTC)</span>.</li><li id="footer-info-copyright">Text is available under the <a rel="license" '
            f'href="https://creativecommons.org/licenses/by-sa/4.0/deed.en">Creative Commons Attribution-ShareAlike 4.0 License</a>; '
            f'additional terms may apply.</li></ul><ul id="footer-places"><li id="footer-places-privacy"><a href="/wiki/Privacy_policy">'
            f'Privacy policy</a></li><li id="footer-places-about"><a href="/wiki/About">About {esc(site.name)}</a></li>'
            f'<li id="footer-places-disclaimers"><a href="/wiki/General_disclaimer">Disclaimers</a></li></ul></footer></div></div></div>')


RENDERERS = {"qa": qa, "forum": forum, "textbook": textbook, "wiki": wiki, "article": article}


def render_page(site, doc, layout: str, style: str | None, rng: random.Random, url: str,
                meta_charset: str | None) -> tuple[str, int, int]:
    """The whole HTML document for ``doc`` in ``layout``. Returns it, the number of formula elements in its main
    content (every answer, post, quote and comment written; not the macro preamble) and the number of posts on
    the page (the opening one and every reply written; 1 for a plain article)."""
    if not doc.author:
        doc = replace(doc, author="admin" if doc.lang == "en" else "管理员")
    w = MathWriter(style or "tex", rng, rng.choice(["\\(", "$"]))
    body = RENDERERS[layout](site, doc, w, rng, url)
    cookie = _cookie(doc.lang, rng) if site.cookie_banner else ""
    cookie_first = rng.random() < 0.5
    head = _head(doc, site.name, meta_charset, style if (w.count or layout == "textbook") and style else None, rng)
    return (f"{head}<body class=\"{layout}-page\">\n{cookie if cookie_first else ''}\n{body}\n"
            f"{'' if cookie_first else cookie}\n"
            f'<script src="/static/js/app.{rng.randint(1000, 9999)}.js" defer></script>\n</body>\n</html>\n'), w.count, w.posts
