"""Web sites and HTML pages of the mini-CC.

A :class:`Site` has a host, a language, a layout (``layouts.py``: Q&A, forum thread,
textbook, wiki, article) with its boilerplate drawn once per site (menus, footer,
sidebars: what an extractor must strip), URL path patterns and, for math sites, a
math renderer and the path prefixes under which its math lives (``/questions/`` on a
Q&A site, ``/wiki/`` on a wiki ...), beside non-math paths (``/users/``, ``/tags/``,
``/about``).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from faker import Faker

from pipeline.synth.layouts import Chrome, make_chrome

#: The layout each kind of site serves its pages in (``layouts.RENDERERS``).
LAYOUT_OF_KIND = {"math_qa": "qa", "math_forum": "forum", "math_textbook": "textbook", "math_wiki": "wiki"}


@dataclass
class Site:
    host: str
    name: str
    lang: str
    kind: str  # math_qa | math_forum | math_textbook | math_wiki | math_blog | math_notes | math_worksheets | zh_math | general
    scheme: str
    math_style: str | None
    math_prefixes: list[str]
    other_prefixes: list[str]
    nav: list[str]
    footer: str
    cookie_banner: bool
    weight: float
    chrome: Chrome | None = None
    counter: int = 0  # pages made so far: makes every path unique without remembering them
    fixed_paths_used: set = field(default_factory=set)  # /about, /robots.txt ...: a handful per site

    def unique_number(self, rng: random.Random) -> int:
        self.counter += 1
        return 1000 + self.counter * 10 + rng.randint(0, 9)

    @property
    def is_math_site(self) -> bool:
        return self.kind != "general"

    @property
    def layout(self) -> str:
        return LAYOUT_OF_KIND.get(self.kind, "article")


def _slug(text: str, rng: random.Random) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text.lower())[:7]
    return "-".join(words) if words else f"p{rng.randint(1000, 99999)}"


_QA = ("math_qa", ["/questions/"], ["/users/", "/tags/", "/about"])
_WIKI = ("math_wiki", ["/wiki/"], ["/wiki/Special:", "/about"])
_BLOG = ("math_blog", ["/math/"], ["/travel/", "/about", "/contact"])
_NOTES = ("math_notes", ["/notes/", "/lectures/"], ["/people/", "/news/", "/about"])
_SHEETS = ("math_worksheets", ["/worksheets/", "/problems/"], ["/shop/", "/about", "/contact"])
_TEXTBOOK = ("math_textbook", ["/Bookshelves/", "/Courses/"], ["/people/", "/about"])
# Forum sites: the thread and member paths of their engine (phpBB, Discourse, Invision).
_FORUM = {"phpbb": ("math_forum", ["/viewtopic.php"], ["/memberlist.php", "/about"]),
          "discourse": ("math_forum", ["/t/"], ["/u/", "/about"]),
          "ips": ("math_forum", ["/topic/"], ["/profile/", "/about"])}
# Math sites are assigned round-robin from this list, so even a small mini-CC (12 English math sites) has every
# renderer and layout; the fourth entry is the forum engine, where there is one.
MATH_SITE_TEMPLATES_EN = [
    (*_QA, "mathjax"), (*_WIKI, "wiki_img"), (*_BLOG, "latex_img"), (*_NOTES, "mathml"), (*_SHEETS, "tex"),
    (*_QA, "tex"), (*_NOTES, "mathml_noannot"), (*_BLOG, "katex"), (*_FORUM["phpbb"], "tex", "phpbb"),
    (*_TEXTBOOK, "tex"), (*_FORUM["discourse"], "mathjax", "discourse"), (*_TEXTBOOK, "katex"),
    (*_FORUM["ips"], "tex", "ips"), (*_BLOG, "tex"),
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
            kind, mprefix, oprefix, style, *engine = templates[k % len(templates)]
        else:
            kind, mprefix, style, engine = "general", [], None, []
            pool = GENERAL_PREFIXES_ZH if lang == "zh" else GENERAL_PREFIXES_EN
            oprefix = rng.sample(pool, rng.randint(1, 3))
        name = word.split(".")[0].capitalize()
        nav_words = (["首页", "新闻", "专题", "论坛", "下载", "联系我们"] if lang == "zh" else
                     ["Home", "News", "Topics", "Forum", "Shop", "Contact", "Login", "Sign up"])
        site = Site(
            host=host, name=name, lang=lang, kind=kind, scheme=rng.choice(["https", "https", "http"]),
            math_style=style, math_prefixes=mprefix, other_prefixes=oprefix,
            nav=rng.sample(nav_words, rng.randint(3, len(nav_words))),
            footer=(f"© 2024 {name} {fk.company_suffix() if lang == 'en' else '版权所有'} · {fk.address()}"),
            cookie_banner=rng.random() < 0.6,
            # Zipf-like popularity; math sites get enough pages for domain discovery to see them.
            weight=(1.0 / (1 + rng.random() * 8)) if not is_math else rng.uniform(0.8, 1.6),
        )
        site.chrome = make_chrome(rng, fk, name, lang, site.nav, site.footer, engine[0] if engine else "")
        sites.append(site)
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
    if prefix == "/viewtopic.php":
        return f"/viewtopic.php?t={n}"
    if prefix == "/memberlist.php":
        return f"/memberlist.php?mode=viewprofile&u={n}"
    if prefix == "/t/":
        return f"/t/{_slug(title, rng)}/{n}"
    if prefix == "/u/":
        return f"/u/{_slug(title, rng).split('-')[-1]}{n}/summary"
    if prefix == "/topic/":
        return f"/topic/{n}-{_slug(title, rng)}/"
    if prefix == "/profile/":
        return f"/profile/{n}-{_slug(title, rng).split('-')[-1]}/"
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
