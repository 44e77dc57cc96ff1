"""Web sites and HTML pages of the mini-CC.

A :class:`Site` has a host, a language, a template (navigation, cookie banner,
sidebar, footer: the boilerplate an extractor must strip), URL path patterns
and, for math sites, a math renderer and the path prefixes under which its
math lives (``/questions/`` on a Q&A site, ``/wiki/`` on a wiki ...), beside
non-math paths (``/users/``, ``/tags/``, ``/about``).
"""
from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass, field

from faker import Faker

from pipeline.synth.formulas import Formula
from pipeline.synth.markup import STYLES, head_scripts, render_formula
from pipeline.synth.text import Doc


@dataclass
class Site:
    host: str
    name: str
    lang: str
    kind: str  # math_qa | math_wiki | math_blog | math_notes | math_worksheets | zh_math | general
    scheme: str
    math_style: str | None
    math_prefixes: list[str]
    other_prefixes: list[str]
    nav: list[str]
    footer: str
    cookie_banner: bool
    weight: float
    counter: int = 0  # pages made so far: makes every path unique without remembering them
    fixed_paths_used: set = field(default_factory=set)  # /about, /robots.txt ...: a handful per site

    def unique_number(self, rng: random.Random) -> int:
        self.counter += 1
        return 1000 + self.counter * 10 + rng.randint(0, 9)

    @property
    def is_math_site(self) -> bool:
        return self.kind != "general"


def _slug(text: str, rng: random.Random) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text.lower())[:7]
    return "-".join(words) if words else f"p{rng.randint(1000, 99999)}"


_QA = ("math_qa", ["/questions/"], ["/users/", "/tags/", "/about"])
_WIKI = ("math_wiki", ["/wiki/"], ["/wiki/Special:", "/about"])
_BLOG = ("math_blog", ["/math/"], ["/travel/", "/about", "/contact"])
_NOTES = ("math_notes", ["/notes/", "/lectures/"], ["/people/", "/news/", "/about"])
_SHEETS = ("math_worksheets", ["/worksheets/", "/problems/"], ["/shop/", "/about", "/contact"])
# Math sites are assigned round-robin from this list, so even a small mini-CC has every renderer.
MATH_SITE_TEMPLATES_EN = [
    (*_QA, "mathjax"), (*_WIKI, "wiki_img"), (*_BLOG, "latex_img"), (*_NOTES, "mathml"), (*_SHEETS, "tex"),
    (*_QA, "tex"), (*_NOTES, "mathml_noannot"), (*_BLOG, "katex"), (*_NOTES, "katex"), (*_BLOG, "tex"),
]
_ZH = ("zh_math", ["/shiti/", "/timu/"], ["/user/", "/news/", "/about"])
MATH_SITE_TEMPLATES_ZH = [(*_ZH, "tex"), (*_ZH, "mathjax"), (*_ZH, "katex")]
GENERAL_PREFIXES_EN = ["/news/", "/blog/", "/article/", "/p/", "/story/", "/reviews/", "/2024/02/"]
GENERAL_PREFIXES_ZH = ["/news/", "/article/", "/html/", "/p/", "/a/"]


def make_sites(rng: random.Random, fk_en: Faker, fk_zh: Faker, n_sites: int, n_math: int, zh_fraction: float) -> list[Site]:
    sites: list[Site] = []
    hosts: set[str] = set()
    n_math_zh = max(1, round(n_math * zh_fraction * 1.2))
    for i in range(n_sites):
        is_math = i < n_math
        lang = "zh" if (i < n_math_zh if is_math else rng.random() < zh_fraction) else "en"
        fk = fk_zh if lang == "zh" else fk_en
        while True:
            word = fk_en.domain_word() if lang == "en" else fk_zh.domain_word()
            word = re.sub(r"[^a-z0-9-]", "", word.lower()) or f"site{i}"
            if is_math and rng.random() < 0.5:
                word += rng.choice(["hub", "notes", "forum", "exchange", "learn", "club", "world", "online", "lab"])
            tld = rng.choice([".cn", ".com.cn", ".com", ".net"]) if lang == "zh" else rng.choice(
                [".com", ".org", ".net", ".io", ".edu", ".co.uk", ".info"])
            host = ("www." if rng.random() < 0.6 else "") + word + tld
            if host not in hosts:
                hosts.add(host)
                break
        if is_math:
            templates = MATH_SITE_TEMPLATES_ZH if lang == "zh" else MATH_SITE_TEMPLATES_EN
            k = i if lang == "zh" else i - n_math_zh
            kind, mprefix, oprefix, style = templates[k % len(templates)]
        else:
            kind, mprefix, style = "general", [], None
            pool = GENERAL_PREFIXES_ZH if lang == "zh" else GENERAL_PREFIXES_EN
            oprefix = rng.sample(pool, rng.randint(1, 3))
        name = word.split(".")[0].capitalize()
        nav_words = (["首页", "新闻", "专题", "论坛", "下载", "联系我们"] if lang == "zh" else
                     ["Home", "News", "Topics", "Forum", "Shop", "Contact", "Login", "Sign up"])
        sites.append(Site(
            host=host, name=name, lang=lang, kind=kind, scheme=rng.choice(["https", "https", "http"]),
            math_style=style, math_prefixes=mprefix, other_prefixes=oprefix,
            nav=rng.sample(nav_words, rng.randint(3, len(nav_words))),
            footer=(f"© 2024 {name} {fk.company_suffix() if lang == 'en' else '版权所有'} · {fk.address()}"),
            cookie_banner=rng.random() < 0.5,
            # Zipf-like popularity; math sites get enough pages for domain discovery to see them.
            weight=(1.0 / (1 + rng.random() * 8)) if not is_math else rng.uniform(0.8, 1.6),
        ))
    return sites


def page_path(site: Site, rng: random.Random, prefix: str, title: str) -> str:
    """A path under ``prefix`` that this site has not served before."""
    n = site.unique_number(rng)
    if prefix == "/questions/":
        return f"/questions/{n}/{_slug(title, rng)}"
    if prefix == "/users/":
        return f"/users/{n}/{_slug(title, rng)}"
    if prefix == "/user/":
        return f"/user/{n}.html"
    if prefix == "/tags/":
        return f"/tags/{_slug(title, rng).split('-')[0]}?page={n}"
    if prefix == "/wiki/":
        return "/wiki/" + "_".join(w.capitalize() for w in _slug(title, rng).split("-")[:4]) + f"_({n})"
    if prefix == "/wiki/Special:":
        return f"/wiki/Special:{rng.choice(['RecentChanges', 'Random', 'Contributions', 'Statistics'])}/{n}"
    if prefix in ("/about", "/contact"):
        if prefix not in site.fixed_paths_used:
            site.fixed_paths_used.add(prefix)
            return prefix
        return f"{prefix}/{_slug(title, rng)}-{n}"
    if site.lang == "zh" and prefix in ("/shiti/", "/timu/", "/html/", "/news/", "/a/"):
        return f"{prefix}{n}.html"
    return f"{prefix}{_slug(title, rng)}-{n}" + ("/" if rng.random() < 0.3 else "")


def _render_segments(segs, style: str, rng: random.Random, tex_inline: str) -> tuple[str, int]:
    out, n = [], 0
    for s in segs:
        if isinstance(s, Formula):
            out.append(render_formula(s, style, rng, tex_inline))
            n += 1
        else:
            out.append(html.escape(s, quote=False))
    return "".join(out), n


def render_body(doc: Doc, style: str | None, rng: random.Random) -> tuple[str, int]:
    """The article's HTML and the number of math elements in it."""
    style = style or rng.choice(STYLES)
    tex_inline = rng.choice(["\\(", "$"])
    parts, n_math = [], 0
    for b in doc.blocks:
        if b[0] == "p":
            body, n = _render_segments(b[1], style, rng, tex_inline)
            parts.append(f"<p>{body}</p>")
            n_math += n
        elif b[0] == "display":
            f = b[1]
            rendered = render_formula(Formula(f.tex, f.topic, True), style, rng, tex_inline)
            parts.append(f'<div class="math-display">{rendered}</div>' if style != "tex" else f"<p>{rendered}</p>")
            n_math += 1
        elif b[0] == "h2":
            parts.append(f"<h2>{html.escape(b[1])}</h2>")
        elif b[0] == "code":
            parts.append(f"<pre><code>{html.escape(b[1])}</code></pre>")
        elif b[0] == "list":
            parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in b[1]) + "</ul>")
        elif b[0] == "table":
            rows = b[1]
            head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
            parts.append(f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    return "\n".join(parts), n_math


def render_page(site: Site, doc: Doc, article_html: str, rng: random.Random, fk: Faker, meta_charset: str | None,
                style: str | None) -> str:
    """A whole HTML document around the article: head, boilerplate, sidebar, footer."""
    lang = doc.lang
    nav = "".join(f'<li><a href="/{w.lower().replace(" ", "-") if lang == "en" else "c" + str(k)}">{html.escape(w)}</a></li>'
                  for k, w in enumerate(site.nav))
    cookie = ""
    if site.cookie_banner:
        cookie = ('<div id="cookie-consent" class="cookie-banner">' + (
            "本网站使用cookie以改善您的浏览体验。继续浏览即表示您同意我们的隐私政策。<button>同意</button>" if lang == "zh" else
            "We use cookies to improve your experience and to analyse traffic. By continuing you accept our "
            '<a href="/privacy">privacy policy</a>. <button>Accept all</button>') + "</div>")
    related = "".join(f'<li><a href="/p/{rng.randint(100, 99999)}">{html.escape(fk.sentence(nb_words=5))}</a></li>'
                      for _ in range(rng.randint(3, 7)))
    author = fk.name()
    date = f"2024-0{rng.randint(1, 2)}-{rng.randint(10, 28)}"
    meta = f'<meta charset="{meta_charset}">\n' if meta_charset else ""
    title = html.escape(doc.title)
    by = f"作者：{html.escape(author)} · {date}" if lang == "zh" else f"Posted by {html.escape(author)} on {date}"
    side_h = "相关阅读" if lang == "zh" else "Related posts"
    return (
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n{meta}'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title} - {html.escape(site.name)}</title>\n"
        f'<link rel="stylesheet" href="/static/css/site.{rng.randint(100, 999)}.css">\n'
        f"{head_scripts(style) if style else ''}\n"
        f'<script async src="https://www.googletagmanager.com/gtag/js?id=G-{rng.randint(10**6, 10**7)}"></script>\n'
        f"</head>\n<body>\n{cookie}\n"
        f'<header class="site-header"><a class="logo" href="/">{html.escape(site.name)}</a><nav><ul>{nav}</ul></nav></header>\n'
        f'<div class="container"><main id="content"><article>\n<h1>{title}</h1>\n<div class="meta">{by}</div>\n'
        f"{article_html}\n</article></main>\n"
        f'<aside class="sidebar"><h3>{side_h}</h3><ul>{related}</ul></aside></div>\n'
        f'<footer class="site-footer"><p>{html.escape(site.footer)}</p>'
        f'<p><a href="/privacy">{"隐私政策" if lang == "zh" else "Privacy"}</a> · '
        f'<a href="/terms">{"服务条款" if lang == "zh" else "Terms"}</a></p></footer>\n</body>\n</html>\n'
    )
