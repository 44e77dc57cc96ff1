"""The labelled mini Common Crawl: ``python -m pipeline synth --out DIR``.

Layout of DIR (the contract later stages and tests rely on)::

    warc/CC-MAIN-<start>-<end>-<serial>.warc.gz   CC-style WARCs (warcinfo; request, response,
                                                  metadata per capture; one gzip member per record)
    warc/...-<serial>.warc.gz (last two)          a truncated WARC and a garbage file, when damaged_files > 0
    warc.paths.gz                                 manifest of the WARCs, paths relative to DIR (CC's format)
    truth.parquet                                 one row per complete response record (schema.TRUTH_SCHEMA)
    seed/openwebmath.jsonl                        seed positives in OpenWebMath's format
    benchmarks/                                   GSM8K, MATH, CMATH and AGIEval files in their real layouts
    stats.json, _SUCCESS                          counts; the marker is written last

Everything is drawn from ``random.Random(seed)`` and seeded Faker instances,
and WARC dates and record ids come from the same generators, so the same seed
and size give the same bytes. Pages are produced one at a time and written as
they are made; only duplicates waiting to be emitted (a bounded window) are held.
"""
from __future__ import annotations

import gzip
import heapq
import io
import json
import logging
import os
import random
import shutil
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from faker import Faker
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.core.config import SynthConfig
from pipeline.core.io import is_complete, mark_complete, read_marker, write_json_atomic
from pipeline.core.progress import progress_bar
from pipeline.core.schema import TRUTH_SCHEMA
from pipeline.synth import text as T
from pipeline.synth.benchmarks import BenchItem, generate_benchmarks, write_benchmarks
from pipeline.synth.formulas import TOPICS
from pipeline.synth.layouts import render_page
from pipeline.synth.markup import STYLES
from pipeline.synth.web import Site, make_sites, page_path

log = logging.getLogger(__name__)

CRAWL_START = datetime(2024, 2, 20, 21, 10, 55, tzinfo=timezone.utc)
DUP_WINDOW = 1500  # a copy appears at most this many records after its original


@dataclass
class Page:
    """One response record to write, with its truth labels."""

    url: str
    site: Site
    status: int
    content_type: str  # full header value, charset included when declared there
    body: bytes
    fetch_time: datetime
    is_html: bool
    is_math: bool
    kind: str
    math_markup: str
    math_elements: int
    language: str
    declared_charset: str | None
    actual_charset: str | None
    extra_headers: tuple = ()
    dup_group: int | None = None
    dup_kind: str = "unique"
    benchmark: str | None = None
    benchmark_item: str | None = None
    layout: str = "none"
    posts: int = 0


class MiniCC:
    """Draws the sites, benchmark items and pages; ``pages()`` yields them in crawl order."""

    def __init__(self, cfg: SynthConfig):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.fk_en = Faker("en_US")
        self.fk_en.seed_instance(cfg.seed)
        self.fk_zh = Faker("zh_CN")
        self.fk_zh.seed_instance(cfg.seed + 1)
        self.sites = make_sites(self.rng, self.fk_en, self.fk_zh, cfg.domains, cfg.math_domains, cfg.zh_fraction)
        self.math_sites = [s for s in self.sites if s.is_math_site]
        self.general = {lang: [s for s in self.sites if not s.is_math_site and s.lang == lang] for lang in ("en", "zh")}
        self.bench_items = generate_benchmarks(random.Random(cfg.seed + 2), self.fk_en, self.fk_zh, cfg.benchmarks)
        self.id_rng = random.Random(cfg.seed + 3)

    # -- helpers ---------------------------------------------------------------

    def fk(self, lang: str) -> Faker:
        return self.fk_zh if lang == "zh" else self.fk_en

    def pick(self, sites: list[Site]) -> Site:
        return self.rng.choices(sites, weights=[s.weight for s in sites], k=1)[0]

    def url(self, site: Site, path: str) -> str:
        return f"{site.scheme}://{site.host}{path}"

    def charset_case(self, lang: str) -> tuple[str | None, str | None, str, str | None]:
        """(header charset, meta charset, actual encoding, declared label for the truth)."""
        r = self.rng.random()
        if lang == "zh":
            if r < 0.55:
                return "UTF-8", "utf-8", "utf-8", "utf-8"
            if r < 0.75:
                return None, "gbk", "gb18030", "gbk"
            if r < 0.85:
                return "GBK", None, "gb18030", "gbk"
            if r < 0.93:
                return None, None, "gb18030", None  # no charset anywhere: must be detected
            return "ISO-8859-1", None, "gb18030", "iso-8859-1"  # wrong declaration
        if r < 0.80:
            return "UTF-8", "utf-8", "utf-8", "utf-8"
        if r < 0.88:
            return None, "utf-8", "utf-8", "utf-8"
        if r < 0.94:
            return None, None, "utf-8", None
        return "ISO-8859-1", None, "utf-8", "iso-8859-1"  # wrong: body is UTF-8 (© and quotes garble)

    def html_page(self, site: Site, doc: T.Doc, path: str, t: datetime, is_math: bool, style: str | None,
                  kind: str) -> Page:
        """The page in its site's layout (math pages) or the site's article template (everything else)."""
        header_cs, meta_cs, actual, declared = self.charset_case(doc.lang)
        layout = site.layout if is_math else "article"
        url = self.url(site, path)
        html_text, n_math, n_posts = render_page(site, doc, layout, style if is_math else (style or "tex"), self.rng,
                                                 url, meta_cs)
        ctype = "text/html" + (f"; charset={header_cs}" if header_cs else "")
        return Page(
            url=url, site=site, status=200, content_type=ctype,
            body=html_text.encode(actual), fetch_time=t, is_html=True, is_math=is_math, kind=kind,
            math_markup=(style if n_math else "none"), math_elements=n_math, language=doc.lang,
            declared_charset=declared, actual_charset=actual, layout=layout, posts=n_posts,
        )

    # -- page kinds --------------------------------------------------------------

    def math_page(self, t: datetime) -> tuple[Page, T.Doc, str | None]:
        rng = self.rng
        if rng.random() < 0.8:
            site = self.pick(self.math_sites)
            prefix = rng.choice(site.math_prefixes)
            style = site.math_style
            if site.kind == "zh_math":
                doc = T.math_doc_zh(rng, self.fk_zh) if rng.random() < 0.5 else T.word_problem_doc(rng, self.fk_zh, "zh")
            elif site.kind == "math_worksheets":
                doc = T.word_problem_doc(rng, self.fk_en, "en")
            elif site.kind in ("math_qa", "math_forum") and rng.random() < 0.3:
                doc = T.word_problem_thread(rng, self.fk_en, "en", replies=rng.randint(0, 4))
            elif site.kind == "math_blog" and rng.random() < 0.3:
                doc = T.word_problem_doc(rng, self.fk_en, "en")
            elif site.kind == "math_qa":
                doc = T.math_doc_en(rng, self.fk_en, answers=rng.choice([1, 2, 2, 3, 3, 4, 5]))
            elif site.kind == "math_forum":  # long threads: most of them run past the first page
                doc = T.math_thread_en(rng, self.fk_en, replies=rng.choice([2, 4, 7, 11, 16, 22, 30]))
            else:
                doc = T.math_doc_en(rng, self.fk_en)
                if site.kind in ("math_textbook", "math_wiki", "math_notes"):
                    T.add_sections(doc, rng)
        else:  # math scattered on a general site (a teacher's blog post, a news site's puzzle column)
            lang = "zh" if rng.random() < self.cfg.zh_fraction else "en"
            site = self.pick(self.general[lang] or self.general["en"])
            lang = site.lang
            prefix = rng.choice(site.other_prefixes)
            style = rng.choice(STYLES)
            r = rng.random()
            if lang == "zh":
                doc = T.math_doc_zh(rng, self.fk_zh) if r < 0.5 else T.word_problem_doc(rng, self.fk_zh, "zh")
            else:
                doc = T.math_doc_en(rng, self.fk_en) if r < 0.6 else T.word_problem_doc(rng, self.fk_en, "en")
        kind = ("math_word" if doc.kind == "math_word" else "math_latex") + ("_zh" if doc.lang == "zh" else "")
        page = self.html_page(site, doc, page_path(site, rng, prefix, doc.title), t, True, style, kind)
        return page, doc, style

    def nonmath_page(self, t: datetime) -> tuple[Page, T.Doc, str | None]:
        rng = self.rng
        if rng.random() < 0.035:  # the non-math corners of math sites: profiles, tag lists, about pages
            site = self.pick(self.math_sites)
            prefix = rng.choice(site.other_prefixes)
            fk = self.fk(site.lang)
            if prefix in ("/users/", "/memberlist.php", "/u/", "/profile/"):
                doc = T.user_profile_doc(rng, fk, site.name)
            elif prefix in ("/tags/", "/wiki/Special:"):
                doc = T.tags_doc(rng, fk, site.name)
            elif prefix in ("/about", "/contact", "/people/"):
                doc = T.site_about_doc(rng, fk, site.name, site.lang)
            else:
                doc = T.negative_doc(rng, fk, site.lang)
            if site.lang == "zh" and doc.lang != "zh":
                doc = T.site_about_doc(rng, fk, site.name, "zh")
        else:
            lang = "zh" if rng.random() < self.cfg.zh_fraction else "en"
            site = self.pick(self.general[lang] or self.general["en"])
            prefix = rng.choice(site.other_prefixes)
            doc = T.negative_doc(rng, self.fk(site.lang), site.lang)
        page = self.html_page(site, doc, page_path(site, rng, prefix, doc.title), t, False, None, doc.kind)
        return page, doc, None

    def bench_page(self, t: datetime, item: BenchItem) -> Page:
        """A page that quotes a benchmark problem (and its answer) verbatim."""
        rng = self.rng
        lang = item.lang
        candidates = [s for s in self.math_sites if s.lang == lang] or self.math_sites
        site = self.pick(candidates)
        fk = self.fk(lang)
        if lang == "zh":
            doc = T.Doc(title=rng.choice(["求助：这道题怎么做", "一道考试题", "题目讨论"]) + f"（{rng.randint(1, 999)}）", lang="zh")
            doc.blocks += [("p", [f"{fk.sentence()}原题如下："]), ("p", [item.question]),
                           ("p", [f"参考答案：{item.answer}"]), ("p", [fk.sentence()])]
        else:
            doc = T.Doc(title=rng.choice(["Help with a test problem", "Exam question discussion", "Is my answer right?"])
                        + f" #{rng.randint(1, 999)}", lang="en")
            doc.blocks += [("p", [f"{fk.sentence()} Here is the problem:"]), ("p", [item.question]),
                           ("p", [f"The official answer: {item.answer}"]), ("p", [fk.sentence(nb_words=12)])]
        prefix = rng.choice(site.math_prefixes)
        page = self.html_page(site, doc, page_path(site, rng, prefix, doc.title), t, True, "tex", "math_bench_quote")
        return replace(page, math_markup="tex" if "$" in item.question + item.answer else "none",
                       benchmark=item.benchmark.split("/")[0], benchmark_item=item.item_id)

    def non_html_page(self, t: datetime) -> Page:
        rng = self.rng
        site = self.pick(self.sites)
        r = rng.random()
        n = site.unique_number(rng)
        if r < 0.25 and "/robots.txt" not in site.fixed_paths_used:
            site.fixed_paths_used.add("/robots.txt")
            path, ctype = "/robots.txt", "text/plain"
            body = ("User-agent: *\nDisallow: /admin/\nDisallow: /search\n"
                    f"Crawl-delay: {rng.randint(1, 10)}\nSitemap: {site.scheme}://{site.host}/sitemap.xml\n").encode()
        elif r < 0.5:
            path, ctype = f"/static/img/{n}-{rng.getrandbits(32):08x}.png", "image/png"
            body = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(200, 3000))
        elif r < 0.65:
            path, ctype = f"/uploads/{n}.jpg", "image/jpeg"
            body = b"\xff\xd8\xff\xe0\x00\x10JFIF" + rng.randbytes(rng.randint(200, 3000))
        elif r < 0.8:
            path, ctype = f"/files/report-{n}.pdf", "application/pdf"
            body = (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + rng.randbytes(rng.randint(100, 2000))
                    + b"\n%%EOF\n")
        elif r < 0.9:
            path, ctype = f"/api/v1/items/{n}", "application/json"
            body = json.dumps({"id": rng.randint(1, 10**6), "name": self.fk_en.word(), "price": rng.randint(1, 999)}).encode()
        else:
            path, ctype = f"/static/js/app.{n}.js", "application/javascript"
            body = b"(function(){var x=" + str(rng.randint(1, 999)).encode() + b";window.app=x*2;})();"
        kind = "robots" if path == "/robots.txt" else "non_html"
        return Page(url=self.url(site, path), site=site, status=200, content_type=ctype, body=body, fetch_time=t,
                    is_html=False, is_math=False, kind=kind, math_markup="none", math_elements=0, language="none",
                    declared_charset=None, actual_charset=None)

    def non_200_page(self, t: datetime) -> Page:
        rng = self.rng
        site = self.pick(self.sites)
        path = page_path(site, rng, rng.choice(site.other_prefixes + site.math_prefixes), self.fk_en.sentence())
        r = rng.random()
        extra: tuple = ()
        if r < 0.45:
            status, kind = 404, "http_404"
            body = f"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>The requested URL {path} was not found on this server.</p></body></html>"
        elif r < 0.6:
            status, kind = 500, "http_500"
            body = "<html><body><h1>Internal Server Error</h1><p>Please try again later.</p></body></html>"
        elif r < 0.7:
            status, kind = 403, "http_403"
            body = "<html><body><h1>403 Forbidden</h1></body></html>"
        else:
            status, kind = rng.choice([301, 302]), "redirect"
            target = f"https://{site.host}{path}" if site.scheme == "http" else f"{site.scheme}://{site.host}{path}/"
            extra = (("Location", target),)
            body = f'<html><body>Moved <a href="{target}">here</a>.</body></html>'
        return Page(url=self.url(site, path), site=site, status=status, content_type="text/html; charset=UTF-8",
                    body=body.encode(), fetch_time=t, is_html=True, is_math=False, kind=kind, math_markup="none",
                    math_elements=0, language="none", declared_charset="utf-8", actual_charset="utf-8",
                    extra_headers=extra)

    # -- duplicates ----------------------------------------------------------------

    def url_variant(self, url: str) -> str:
        """Another spelling of the same URL: scheme, www., trailing slash, tracking params, fragment."""
        rng = self.rng
        scheme, rest = url.split("://", 1)
        host, _, path = rest.partition("/")
        path = "/" + path
        r = rng.random()
        if r < 0.2:
            scheme = "http" if scheme == "https" else "https"
        elif r < 0.4:
            host = host[4:] if host.startswith("www.") else "www." + host
        elif r < 0.55:
            path = path[:-1] if path.endswith("/") and len(path) > 1 else path + "/"
        elif r < 0.75:
            path += ("&" if "?" in path else "?") + f"utm_source={rng.choice(['twitter', 'newsletter', 'facebook'])}&utm_medium=social"
        elif r < 0.9:
            path += "#" + rng.choice(["comments", "answer-1", "top", "section-2"])
        else:
            host = host.upper()
        return f"{scheme}://{host}{path}"

    def perturb(self, doc: T.Doc) -> T.Doc:
        """The same text with ~1.5% of its words (or CJK characters) replaced: a near duplicate.
        Every post and comment is edited the same way, so the copy is near the original as a whole."""
        rng, fk = self.rng, self.fk(doc.lang)

        def edit(s):
            if not isinstance(s, str):
                return s
            if doc.lang == "zh":
                return "".join(fk.word()[0] if (ch.strip() and rng.random() < 0.015) else ch for ch in s)
            return " ".join(fk.word() if (w and rng.random() < 0.015) else w for w in s.split(" "))

        def blocks(bs):
            return [("p", [edit(s) for s in b[1]]) if b[0] == "p" else b for b in bs]

        posts = [replace(p, blocks=blocks(p.blocks), comments=[[edit(s) for s in c] for c in p.comments])
                 for p in doc.posts]
        return replace(doc, blocks=blocks(doc.blocks), posts=posts,
                       comments=[[edit(s) for s in c] for c in doc.comments])

    def duplicate(self, spec: dict, t: datetime) -> Page:
        rng = self.rng
        orig: Page = spec["page"]
        kind = spec["kind"]
        base = dict(dup_group=spec["group"], dup_kind=kind)
        if kind in ("refetch", "url_variant"):
            url = orig.url if kind == "refetch" else self.url_variant(orig.url)
            # Half the copies were fetched *before* the original although they sit later in the crawl:
            # URL dedup must keep the earliest fetch, not the first record it happens to read.
            ft = orig.fetch_time - timedelta(minutes=rng.randint(5, 600)) if rng.random() < 0.5 else t
            return replace(orig, url=url, fetch_time=ft, **base)
        if kind == "exact":
            site = self.pick(self.general[orig.site.lang] or self.general["en"])
            path = page_path(site, rng, rng.choice(site.other_prefixes), spec["doc"].title)
            return replace(orig, url=self.url(site, path), site=site, fetch_time=t, **base)
        # near: the same main text, lightly edited, inside another site's boilerplate
        doc = self.perturb(spec["doc"])
        site = self.pick(self.general[doc.lang] or self.general["en"])
        page = self.html_page(site, doc, page_path(site, rng, rng.choice(site.other_prefixes), doc.title), t,
                              orig.is_math, spec["style"], orig.kind)
        return replace(page, math_markup=orig.math_markup if page.math_elements else "none", **base)

    # -- the stream ------------------------------------------------------------------

    def pages(self, n: int):
        cfg, rng = self.cfg, self.rng
        planted: dict[int, BenchItem] = {}
        if cfg.planted_items and self.bench_items:
            slots = rng.sample(range(n), min(cfg.planted_items, max(1, n // 40)))
            for k, idx in enumerate(sorted(slots)):
                planted[idx] = self.bench_items[(k * 7919) % len(self.bench_items)]
        pending: list[tuple[int, int, dict]] = []
        seq = 0
        dup_p = cfg.duplicate_fraction / max(1e-9, 1 - cfg.duplicate_fraction)
        span = 6 * 3600 / max(n, 1)  # the mini crawl spans about six hours
        i = 0
        while i < n or pending:
            t = CRAWL_START + timedelta(seconds=i * span + rng.random() * span)
            if pending and (pending[0][0] <= i or i >= n):
                _, _, spec = heapq.heappop(pending)
                yield self.duplicate(spec, t)
                i += 1
                continue
            if i in planted:
                yield self.bench_page(t, planted[i])
                i += 1
                continue
            r = rng.random()
            if r < cfg.non_html_fraction:
                yield self.non_html_page(t)
            elif r < cfg.non_html_fraction + cfg.non_200_fraction:
                yield self.non_200_page(t)
            else:
                page, doc, style = (self.math_page(t) if rng.random() < cfg.math_fraction else self.nonmath_page(t))
                if rng.random() < dup_p and i + 2 < n * 0.97:
                    kind = rng.choices(["refetch", "url_variant", "exact", "near"], weights=[2, 2.5, 2.5, 3])[0]
                    page = replace(page, dup_group=i, dup_kind="original")
                    due = i + rng.randint(1, min(DUP_WINDOW, max(1, int(n * 0.97) - i - 1)))
                    heapq.heappush(pending, (due, seq, {"page": page, "doc": doc, "style": style, "kind": kind, "group": i}))
                    seq += 1
                yield page
            i += 1

    def seed_docs(self) -> list[dict]:
        """OpenWebMath-format positives: LaTeX-heavy English, few word problems, almost no Chinese."""
        rng = random.Random(self.cfg.seed + 4)
        fk = Faker("en_US")
        fk.seed_instance(self.cfg.seed + 5)
        fz = Faker("zh_CN")
        fz.seed_instance(self.cfg.seed + 6)
        pool_hosts = {s.host.removeprefix("www.") for s in self.sites}
        out = []
        for k in range(self.cfg.seed_docs):
            r = rng.random()
            if r < 0.94:
                doc = T.math_doc_en(rng, fk, topic=rng.choice(TOPICS), answers=rng.choice([0, 0, 1, 2]))
            elif r < 0.98:
                doc = T.word_problem_doc(rng, fk, "en")
            else:
                doc = T.math_doc_zh(rng, fz)
            host = f"{fk.domain_word()}-{rng.choice(['math', 'proofs', 'calc', 'mathforum'])}.{rng.choice(['org', 'com', 'net'])}"
            while host in pool_hosts:
                host = "seed-" + host
            text = T.plain_text(doc)
            n_inline = sum(1 for f in doc.formulas() if not f.display)
            n_display = sum(1 for f in doc.formulas() if f.display)
            meta = {"extraction_info": {"found_math": bool(n_inline + n_display), "script_math_tex": n_inline,
                                        "script_math_asciimath": 0, "math_annotations": 0, "math_alttext": 0,
                                        "mathml": 0, "mathjax_tag": 0, "mathjax_inline_tex": 0,
                                        "mathjax_display_tex": n_display, "mathjax_asciimath": 0, "img_math": 0,
                                        "codecogs_latex": 0, "wp_latex": 0, "katex": 0},
                    "math_score": round(rng.uniform(0.6, 1.0), 4), "perplexity": round(rng.uniform(2.0, 40.0), 2)}
            date = (datetime(2023, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randint(0, 300 * 86400)))
            out.append({"url": f"https://{host}/{'questions' if doc.blocks else 'p'}/{rng.randint(1, 10**6)}",
                        "text": text, "date": date.strftime("%Y-%m-%dT%H:%M:%SZ"), "metadata": json.dumps(meta)})
        return out


# -- WARC writing -------------------------------------------------------------------------

def _warc_id(rng: random.Random) -> str:
    return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"


def _warc_date(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class CCWarcFile:
    """Writes one WARC the way Common Crawl does: warcinfo first, then request/response/metadata per capture."""

    def __init__(self, path: Path, id_rng: random.Random, start: datetime):
        self.path = path
        self.fh = open(path, "wb")
        self.writer = WARCWriter(self.fh, gzip=True, warc_version="WARC/1.0")
        self.id_rng = id_rng
        self.warcinfo_id = _warc_id(id_rng)
        info = (f"isPartOf: CC-MAIN-2024-10\r\npublisher: mathcorpus synth (mini Common Crawl)\r\n"
                f"description: Generated, labelled mini crawl for testing\r\nformat: WARC File Format 1.0\r\n"
                f"software: mathcorpus/synth (warcio)\r\nrobots: checked via crawler-commons\r\n").encode()
        rec = self.writer.create_warc_record(
            None, "warcinfo", payload=io.BytesIO(info), length=len(info), warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": _warc_date(start), "WARC-Record-ID": self.warcinfo_id,
                               "WARC-Filename": path.name})
        self.writer.write_record(rec)

    def write(self, page: Page) -> tuple[str, int, int]:
        """Write request, response and metadata; return (response record id, offset, end offset)."""
        date = _warc_date(page.fetch_time)
        ip = ".".join(str(self.id_rng.randint(1, 254)) for _ in range(4))
        req_id, resp_id, meta_id = _warc_id(self.id_rng), _warc_id(self.id_rng), _warc_id(self.id_rng)
        host = page.url.split("://", 1)[1].split("/", 1)[0]
        path = "/" + page.url.split("://", 1)[1].split("/", 1)[1] if "/" in page.url.split("://", 1)[1] else "/"
        req_headers = StatusAndHeaders(f"GET {path.split('#')[0]} HTTP/1.1", [
            ("User-Agent", "CCBot/2.0 (https://commoncrawl.org/faq/)"),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", "en-US,en;q=0.5"), ("If-Modified-Since", "Tue, 06 Feb 2024 10:00:00 GMT"),
            ("Accept-Encoding", "br,gzip"), ("Host", host), ("Connection", "Keep-Alive")], is_http_request=True)
        common = {"WARC-Date": date, "WARC-Warcinfo-ID": self.warcinfo_id, "WARC-IP-Address": ip}
        req = self.writer.create_warc_record(page.url, "request", payload=io.BytesIO(b""), length=0,
                                             http_headers=req_headers,
                                             warc_headers_dict={**common, "WARC-Record-ID": req_id})
        self.writer.write_record(req)
        reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 403: "Forbidden", 404: "Not Found",
                  500: "Internal Server Error"}[page.status]
        http_date = page.fetch_time.strftime("%a, %d %b %Y %H:%M:%S GMT")
        resp_headers = StatusAndHeaders(f"{page.status} {reason}", [
            ("Date", http_date), ("Server", "nginx" if len(host) % 2 else "Apache/2.4.41 (Ubuntu)"),
            ("Content-Type", page.content_type), ("Content-Length", str(len(page.body))),
            *page.extra_headers, ("Connection", "close")], protocol="HTTP/1.1")
        ptype = page.content_type.split(";")[0]
        offset = self.fh.tell()
        resp = self.writer.create_warc_record(
            page.url, "response", payload=io.BytesIO(page.body), length=len(page.body), http_headers=resp_headers,
            warc_headers_dict={**common, "WARC-Record-ID": resp_id, "WARC-Concurrent-To": req_id,
                               "WARC-Identified-Payload-Type": ptype})
        self.writer.write_record(resp)
        end = self.fh.tell()
        cs = (page.actual_charset or "").upper().replace("GB18030", "GB18030")
        meta = (f"fetchTimeMs: {self.id_rng.randint(20, 2500)}\r\n"
                + (f"charset-detected: {cs}\r\n" if cs else "")
                + (f'languages-cld2: {{"reliable":true,"languages":[{{"code":"{page.language}","code-iso-639-3":'
                   f'"{"zho" if page.language == "zh" else "eng"}","text-bytes":{len(page.body)},"percent":99}}]}}\r\n'
                   if page.is_html and page.language != "none" else "")).encode()
        mrec = self.writer.create_warc_record(
            page.url, "metadata", payload=io.BytesIO(meta), length=len(meta), warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": meta_id, "WARC-Refers-To": resp_id,
                               "WARC-Warcinfo-ID": self.warcinfo_id})
        self.writer.write_record(mrec)
        return resp_id, offset, end

    def close(self) -> None:
        self.fh.close()


def _warc_name(start: datetime, end: datetime, serial: int) -> str:
    return f"CC-MAIN-{start:%Y%m%d%H%M%S}-{end:%Y%m%d%H%M%S}-{serial:05d}.warc.gz"


def _truth_row(page: Page, warc_rel: str, rec_id: str, offset: int) -> dict:
    return {
        "warc_file": warc_rel, "warc_record_id": rec_id, "warc_offset": offset, "url": page.url,
        "domain": page.url.split("://", 1)[1].split("/", 1)[0].lower(), "fetch_time": page.fetch_time,
        "http_status": page.status, "content_type": page.content_type, "is_html": page.is_html,
        "is_math": page.is_math, "kind": page.kind, "math_markup": page.math_markup,
        "math_elements": page.math_elements, "language": page.language, "declared_charset": page.declared_charset,
        "actual_charset": page.actual_charset, "dup_group": page.dup_group, "dup_kind": page.dup_kind,
        "benchmark": page.benchmark, "benchmark_item": page.benchmark_item, "layout": page.layout,
        "posts": page.posts,
    }


def generate_minicc(cfg: SynthConfig, out: Path, force: bool = False, progress: bool = False) -> dict:
    """Write the mini-CC to ``out`` (atomically: built beside it, then renamed). Returns its stats."""
    out = Path(out)
    if is_complete(out) and not force:
        return read_marker(out)
    t0 = time.perf_counter()
    tmp = out.with_name(f".{out.name}.building-{os.getpid()}")
    for stale in out.parent.glob(f".{out.name}.building-*"):  # this one's, or a killed generator's
        shutil.rmtree(stale, ignore_errors=True)
    (tmp / "warc").mkdir(parents=True)
    cc = MiniCC(cfg)
    bench_counts = write_benchmarks(cc.bench_items, tmp / "benchmarks")

    seed = cc.seed_docs()
    (tmp / "seed").mkdir()
    with open(tmp / "seed" / "openwebmath.jsonl", "w", encoding="utf-8") as fh:
        for row in seed:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    truth_writer = pq.ParquetWriter(tmp / "truth.parquet", TRUTH_SCHEMA, compression="zstd")
    rows: list[dict] = []
    warc_names: list[str] = []
    counts: dict[str, int] = {}

    def flush():
        if rows:
            truth_writer.write_table(pa.Table.from_pylist(rows, schema=TRUTH_SCHEMA))
            rows.clear()

    n_files = -(-cfg.pages // cfg.records_per_warc)
    span = timedelta(hours=6) / max(n_files, 1)
    stream = cc.pages(cfg.pages)
    bar = progress_bar(cfg.pages, "synth pages", "page", progress)
    serial = 0
    written = 0
    exhausted = False
    while not exhausted:
        start = CRAWL_START + serial * span
        name = _warc_name(start, start + span, serial)
        wf = CCWarcFile(tmp / "warc" / name, cc.id_rng, start)
        n_in_file = 0
        for page in stream:
            rec_id, offset, _ = wf.write(page)
            rows.append(_truth_row(page, f"warc/{name}", rec_id, offset))
            counts[page.kind] = counts.get(page.kind, 0) + 1
            n_in_file += 1
            written += 1
            bar.update(1)
            if len(rows) >= 2000:
                flush()
            if n_in_file >= cfg.records_per_warc:
                break
        else:
            exhausted = True
        wf.close()
        if n_in_file == 0:
            os.unlink(wf.path)
        else:
            warc_names.append(f"warc/{name}")
            serial += 1
    bar.close()

    damaged = []
    if cfg.damaged_files >= 1:
        # A WARC cut off in the middle of a record, as a failed upload or a full disk leaves it.
        start = CRAWL_START + serial * span
        name = _warc_name(start, start + span, serial)
        wf = CCWarcFile(tmp / "warc" / name, cc.id_rng, start)
        extra = []
        for k in range(30):
            t = start + timedelta(seconds=k * 7)
            page = cc.nonmath_page(t)[0] if k % 4 else cc.math_page(t)[0]
            extra.append((page, *wf.write(page)))
        wf.close()
        cut_at = len(extra) * 2 // 3
        page, _, off, end = extra[cut_at]
        cut = off + (end - off) // 2
        with open(wf.path, "r+b") as fh:
            fh.truncate(cut)
        for page, rec_id, off, end in extra[:cut_at]:
            rows.append(_truth_row(page, f"warc/{name}", rec_id, off))
            counts[page.kind] = counts.get(page.kind, 0) + 1
            written += 1
        warc_names.append(f"warc/{name}")
        damaged.append({"file": f"warc/{name}", "damage": "truncated", "complete_responses": cut_at, "cut_at": cut})
        serial += 1
    if cfg.damaged_files >= 2:
        name = _warc_name(CRAWL_START + serial * span, CRAWL_START + (serial + 1) * span, serial)
        (tmp / "warc" / name).write_bytes(random.Random(cfg.seed + 7).randbytes(4096))
        warc_names.append(f"warc/{name}")
        damaged.append({"file": f"warc/{name}", "damage": "garbage", "complete_responses": 0})
    flush()
    truth_writer.close()

    with gzip.GzipFile(tmp / "warc.paths.gz", "wb", mtime=0) as gz:
        gz.write(("\n".join(warc_names) + "\n").encode())

    truth = pq.read_table(tmp / "truth.parquet",
                          columns=["is_html", "is_math", "http_status", "language", "domain", "layout"])
    html200 = pa.compute.and_(truth["is_html"], pa.compute.equal(truth["http_status"], 200))
    stats = {
        "seed": cfg.seed,
        "response_records": written,
        "warc_files": len(warc_names),
        "damaged_files": damaged,
        "html_200_pages": int(pa.compute.sum(html200).as_py() or 0),
        "math_pages": int(pa.compute.sum(truth["is_math"]).as_py() or 0),
        "domains": len(set(truth["domain"].to_pylist())),
        "by_kind": dict(sorted(counts.items())),
        "by_language": {k: v for k, v in zip(*_value_counts(truth["language"]))},
        "by_layout": dict(sorted(zip(*_value_counts(truth["layout"])))),
        "seed_docs": len(seed),
        "benchmark_items": bench_counts,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json_atomic(tmp / "stats.json", stats)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    mark_complete(out, stats)
    log.info("mini-CC: %d response records in %d WARCs (%d math pages) in %.1fs -> %s", written,
             len(warc_names), stats["math_pages"], stats["seconds"], out)
    return read_marker(out)


def _value_counts(arr) -> tuple[list, list]:
    vc = pa.compute.value_counts(arr)
    return vc.field("values").to_pylist(), vc.field("counts").to_pylist()
