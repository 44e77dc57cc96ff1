"""Rewrite every math element of an HTML tree as LaTeX text, before main-text extraction.

trafilatura drops ``<script>``, ``<math>`` and images, so math rendered by
MathJax, KaTeX, MathML or TeX images would vanish from the text. This module
walks the parsed tree once and replaces each math element by plain text that
survives extraction:

* inline math becomes ``$tex$`` in the running text;
* display math becomes ``$$tex$$`` on its own line (between ``<br>`` elements,
  which trafilatura turns into line breaks).

Markup handled (see :data:`MARKUP_KINDS`): MathJax ``<script type="math/tex">``
(``; mode=display`` for display), KaTeX (the TeX annotation inside
``.katex``), MathML (its TeX annotation or ``alttext``, else a MathML→LaTeX
conversion, :mod:`pipeline.extraction.mathml`), MediaWiki's ``mwe-math-element`` and
``mwe-math-fallback-image`` alt text, and TeX images (``latex.php``,
codecogs, mimetex, ``class="tex"``/``latex``) by their alt text or the TeX in
their URL. Math already written in the text (``$..$``, ``\\(..\\)``,
``$$..$$``, ``\\[..\\]``) is left as written and only counted.

Rendered copies that would duplicate the TeX (``MathJax_Preview``, MathJax v2
output spans, KaTeX's ``katex-html``) are removed.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from pipeline.extraction.mathml import clean_tex, local_name, tex_of_math

MARKUP_KINDS = ("mathjax", "katex", "mathml", "mathml_noannot", "wiki_img", "latex_img", "tex_text", "asciimath")

#: Delimited TeX in text. ``$..$`` must look like math (a TeX command, a
#: script, an operator or a single letter) so that prices ("$5 and $10") do not count.
_DISPLAY_RE = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]", re.S)
_INLINE_RE = re.compile(r"\\\((.+?)\\\)|(?<![\\$])\$([^$\n]{1,300}?)\$(?!\$)", re.S)
_MATHY = re.compile(r"[\\^_=+<>]|^\s*[A-Za-z]\s*$|\d\s*[a-zA-Z]|[a-zA-Z]\s*\d")
_PROSE_WORD = re.compile(r"(^|\s)[A-Za-z]{3,}(\s|$)")


def _looks_like_math(inner: str) -> bool:
    """``$..$`` content that is math, not the text between two prices ("$5 and $10").

    Pandoc's rule first: math starts and ends on a non-space character.
    """
    if not inner or inner[0].isspace() or inner[-1].isspace():
        return False
    if _MATHY.search(inner):
        return not (inner[:1].isdigit() and _PROSE_WORD.search(inner))
    return len(inner) <= 40 and not _PROSE_WORD.search(inner) and not inner[:1].isspace()


def count_tex_fragments(text: str) -> int:
    """Number of delimited LaTeX fragments (``$$..$$``, ``\\[..\\]``, ``\\(..\\)``, math-like ``$..$``) in text."""
    if "$" not in text and "\\" not in text:
        return 0
    n = 0
    rest_parts = []
    last = 0
    for m in _DISPLAY_RE.finditer(text):
        if (m.group(1) or m.group(2) or "").strip():
            n += 1
        rest_parts.append(text[last:m.start()])
        last = m.end()
    rest_parts.append(text[last:])
    rest = " ".join(rest_parts)
    for m in _INLINE_RE.finditer(rest):
        if m.group(1) is not None:
            n += bool(m.group(1).strip())
        elif _looks_like_math(m.group(2)):
            n += 1
    return n


@dataclass
class MathReport:
    """What the rewrite found: math elements by markup kind, and how many became LaTeX."""

    elements: Counter = field(default_factory=Counter)
    rewritten: int = 0
    empty: int = 0  # math elements with no recoverable TeX (removed)
    tex: list = field(default_factory=list)  # the LaTeX written in place of each element, in page order

    @property
    def total(self) -> int:
        return sum(self.elements.values())


_KATEX_SKIP = {"katex-html"}
_MATHJAX_RENDERED = {"MathJax", "MathJax_Display", "MathJax_Preview", "MathJax_SVG", "MathJax_SVG_Display",
                     "MathJax_CHTML", "MathJax_MathML", "MJX_Assistive_MathML"}
_TEX_IMG_SRC = re.compile(r"latex\.php|codecogs\.com|mimetex|mathtex|chart\.apis\.google\.com/chart\?cht=tx|"
                          r"chart\.googleapis\.com/chart\?cht=tx|/latex\?|wp\.com/latex|/math/render|quicklatex",
                          re.I)
_GROUPING_ONLY = re.compile(r"^\s*(\\begingroup|\\endgroup|\\let\s*\\\S+\s*\S*|\\def\\?\S*\{.*\}|\s)*\s*$", re.S)


def _classes(el) -> set[str]:
    return set((el.get("class") or "").split())


def _place(el, text: str, display: bool) -> None:
    """Replace ``el`` (with its subtree) by ``text``; display text goes between line breaks."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail or ""
    if display:
        from lxml import etree

        br1 = etree.Element("br")
        br1.tail = text
        br2 = etree.Element("br")
        br2.tail = tail
        idx = parent.index(el)
        parent.remove(el)
        parent.insert(idx, br1)
        parent.insert(idx + 1, br2)
        return
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + text + tail
    else:
        parent.text = (parent.text or "") + text + tail
    parent.remove(el)


_BLOCKS = {"div", "p", "center", "dd", "blockquote", "figure"}


def _alone_in_block(el) -> bool:
    """A formula that is the whole content of its block (``<div class="eq"><img ...></div>``) is displayed."""
    parent = el.getparent()
    if parent is None or local_name(parent) not in _BLOCKS:
        return False
    if (parent.text or "").strip() or (el.tail or "").strip():
        return False
    return sum(1 for c in parent if isinstance(c.tag, str)) == 1


def _emit(el, tex: str, display: bool, kind: str, report: MathReport) -> None:
    display = display or _alone_in_block(el)
    report.elements[kind] += 1
    tex = tex.strip()
    if not tex:
        report.empty += 1
        _place(el, "", False)
        return
    report.rewritten += 1
    report.tex.append(tex)
    _place(el, f"$${tex}$$" if display else f"${tex}$", display)


def _tex_from_img(img) -> str | None:
    alt = (img.get("alt") or "").strip()
    if alt:
        return clean_tex(alt)
    src = img.get("src") or ""
    try:
        parts = urlsplit(src)
    except ValueError:
        return None
    query = parse_qs(parts.query)
    for key in ("latex", "chl", "tex", "formula", "eq"):
        if query.get(key):
            return clean_tex(query[key][0])
    if "codecogs" in src and "?" in src:  # codecogs puts the TeX as the raw query string
        return clean_tex(unquote(src.split("?", 1)[1]))
    return None


def _is_display_img(img) -> bool:
    cls = _classes(img)
    return any("display" in c for c in cls) or "displaymath" in cls


def rewrite_math(root) -> MathReport:
    """Rewrite all math in ``root`` (an lxml HTML element) in place; return what was found.

    Each element is counted once by its outermost container: a Wikipedia
    ``mwe-math-element`` holding MathML and a fallback image is one formula.
    """
    report = MathReport()
    rewrite_configured_delimiters(root, page_math_config(root), report)
    # Collect first, rewrite after: changing the tree while iterating it skips nodes.
    todo: list[tuple[str, object]] = []
    claimed: set = set()

    def _claimed(el) -> bool:
        node = el.getparent()
        while node is not None:
            if node in claimed:
                return True
            node = node.getparent()
        return False

    for el in root.iter(*_MATH_TAGS):
        name = el.tag  # one of _MATH_TAGS (the HTML parser lower-cases tags), no local_name() per element
        if name[0] == "{":
            name = "math"
        if name not in ("script", "math", "mjx-container"):
            # cheap substring tests first: most spans, divs and images are not math
            raw = el.get("class")
            if name == "img":
                if not raw and not _TEX_IMG_SRC.search(el.get("src") or ""):
                    continue
            elif not raw or not ("katex" in raw or "mwe-math" in raw or "MathJax" in raw or "MJX" in raw):
                continue
        if name == "script":
            stype = (el.get("type") or "").lower()
            if stype.startswith("math/tex") or stype.startswith("math/latex"):
                todo.append(("mathjax", el))
            elif stype.startswith("math/asciimath"):
                todo.append(("asciimath", el))
            continue
        if name == "math":
            if not _claimed(el):
                todo.append(("mathml", el))
                claimed.add(el)
            continue
        if name in ("span", "div", "img", "mjx-container", "p"):
            cls = _classes(el)
            if not cls and name != "img" and name != "mjx-container":
                continue
            if _claimed(el):
                continue
            if "katex" in cls or "katex-display" in cls:
                if "katex-display" in cls or not _inside_class(el, "katex-display"):
                    todo.append(("katex", el))
                    claimed.add(el)
            elif "mwe-math-element" in cls:
                todo.append(("wiki", el))
                claimed.add(el)
            elif name == "mjx-container":
                todo.append(("mjx", el))
                claimed.add(el)
            elif cls & _MATHJAX_RENDERED:
                todo.append(("mathjax_rendered", el))
                claimed.add(el)
            elif name == "img" and any(c.startswith("mwe-math-fallback-image") for c in cls):
                todo.append(("wiki_img", el))
            elif name == "img" and ("tex" in cls or "latex" in cls or "math" in cls or _TEX_IMG_SRC.search(el.get("src") or "")):
                todo.append(("latex_img", el))
        elif name == "img" and _TEX_IMG_SRC.search(el.get("src") or "") and not _claimed(el):
            todo.append(("latex_img", el))

    for kind, el in todo:
        if el.getparent() is None:
            continue
        if kind == "asciimath":
            display = "mode=display" in (el.get("type") or "").lower()
            _emit(el, asciimath_to_tex(el.text or "") or "", display, "asciimath", report)
            continue
        if kind == "mathjax":
            tex = el.text or ""
            if _GROUPING_ONLY.match(tex):  # StackExchange's \begingroup boilerplate is not a formula
                _place(el, "", False)
                continue
            display = "mode=display" in (el.get("type") or "").lower()
            _emit(el, clean_tex(tex), display, "mathjax", report)
        elif kind == "mathml":
            tex, source = tex_of_math(el)
            display = (el.get("display") or "").lower() == "block" or (el.get("mode") or "") == "display"
            _emit(el, tex, display, "mathml" if source == "annotation" else "mathml_noannot", report)
        elif kind == "katex":
            tex = _inner_math_tex(el)
            display = "katex-display" in _classes(el) or (el.getparent() is not None and "katex-display" in _classes(el.getparent()))
            _emit(el, tex or "", display, "katex", report)
        elif kind == "wiki":
            tex = None
            display = False
            for m in el.iter():
                n = local_name(m)
                if n == "math" and tex is None:
                    tex, _ = tex_of_math(m)
                    display = display or (m.get("display") or "").lower() == "block"
                elif n == "img":
                    display = display or _is_display_img(m)
                    if tex is None:
                        tex = _tex_from_img(m)
                elif n == "span" and any("display" in c for c in _classes(m)):
                    display = True
            _emit(el, tex or "", display, "wiki_img", report)
        elif kind == "mjx":
            tex = _inner_math_tex(el)
            display = el.get("display") == "true" or el.get("jax") is not None and el.get("display") == "block"
            if tex:
                _emit(el, tex, display, "mathjax", report)
            else:
                _place(el, "", False)
        elif kind == "mathjax_rendered":
            # a rendered copy next to its <script type="math/tex">; the script carries the TeX
            _place(el, "", False)
        elif kind in ("wiki_img", "latex_img"):
            _emit(el, _tex_from_img(el) or "", _is_display_img(el), kind, report)

    return report


#: The elements :func:`rewrite_math` may rewrite (lxml filters tags in C; Python looks at these alone).
_MATH_TAGS = ("script", "math", "{http://www.w3.org/1998/Math/MathML}math", "mjx-container", "span", "div", "p",
              "img")


def _inner_math_tex(container) -> str | None:
    """TeX of the first ``<math>`` inside a renderer's container (KaTeX, MathJax 3's mjx-container)."""
    for m in container.iter():
        if local_name(m) == "math":
            return tex_of_math(m)[0]
    return None


def _inside_class(el, cls: str) -> bool:
    node = el.getparent()
    while node is not None:
        if cls in _classes(node):
            return True
        node = node.getparent()
    return False


_NOT_PROSE = frozenset(("script", "style", "textarea", "code", "pre"))


@functools.cache
def _delimiter_texts():
    from lxml.etree import XPath

    # libxml2 picks the few text nodes holding '$' or a backslash; Python looks at those alone
    return XPath(".//text()[contains(., '$') or contains(., '\\')]")


def count_text_math(root) -> int:
    """Delimited TeX written directly in the page's body text (not in the head, scripts or styles)."""
    body = root.find("body")
    scope = body if body is not None else root
    n = 0
    for text in _delimiter_texts()(scope):
        owner = text.getparent()  # the element this is the text of, or the tail of
        if not isinstance(owner.tag, str):
            continue  # a comment's or PI's tail
        if text.is_tail or local_name(owner) not in _NOT_PROSE:
            n += count_tex_fragments(text)
    if scope.tail and isinstance(scope.tag, str):
        n += count_tex_fragments(scope.tail)
    return n


# --- what the page's own MathJax set-up declares -------------------------------------------------

#: Delimiters every TeX-in-text reader already knows (kept as written; counted by :func:`count_text_math`).
_KNOWN_INLINE = {("$", "$"), ("\\(", "\\)")}
_KNOWN_DISPLAY = {("$$", "$$"), ("\\[", "\\]")}
_DELIMS_RE = {key: re.compile(key + r"\s*:\s*(\[\s*\[.*?\]\s*\])", re.S) for key in ("inlineMath", "displayMath")}
_ASCIIMATH_DELIMS = re.compile(r"asciimath(?:2jax)?\s*:\s*\{[^{}]*?delimiters\s*:\s*(\[\s*\[.*?\]\s*\])", re.S | re.I)
#: At most this many AsciiMath formulas are converted on one page (the converter takes ~50 ms each).
MAX_ASCIIMATH = 200


@dataclass
class MathConfig:
    """TeX and AsciiMath delimiters a page's MathJax set-up adds to the ones every reader knows."""

    inline: list = field(default_factory=list)
    display: list = field(default_factory=list)
    asciimath: list = field(default_factory=list)  # empty: the page does not read AsciiMath in its text


def _delimiter_pairs(js_array: str) -> list[tuple[str, str]]:
    """``[['$','$'], ["\\(", "\\)"]]`` (a JavaScript array of string pairs) as Python pairs."""
    import ast

    try:
        value = ast.literal_eval(js_array)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    return [(a, b) for a, b in (v for v in value if isinstance(v, (list, tuple)) and len(v) == 2)
            if isinstance(a, str) and isinstance(b, str) and a and b and len(a) <= 12 and len(b) <= 12]


def page_math_config(root) -> MathConfig:
    """Delimiters declared by the page's MathJax configuration (v2 ``tex2jax``/``asciimath2jax``, v3
    ``tex``/``asciimath``), and whether it loads MathJax's AsciiMath input."""
    cfg = MathConfig()
    for script in root.iter("script"):
        text = script.text or ""
        src = (script.get("src") or "").lower()
        if "mathjax" not in src and "asciimath" not in src and "mathjax" not in text.lower():
            continue
        for key, target in (("inlineMath", cfg.inline), ("displayMath", cfg.display)):
            m = _DELIMS_RE[key].search(text)
            if m:
                known = _KNOWN_INLINE if key == "inlineMath" else _KNOWN_DISPLAY
                target.extend(p for p in _delimiter_pairs(m.group(1)) if p not in known and p not in target)
        low = text.lower()
        if "asciimath" in low or "am_htmlormml" in src or "am_chtml" in src or "am_svg" in src or \
                ("asciimath" in src and "mathjax" not in src):
            m = _ASCIIMATH_DELIMS.search(text)
            pairs = _delimiter_pairs(m.group(1)) if m else [("`", "`")]
            cfg.asciimath.extend(p for p in pairs if p not in cfg.asciimath)
    return cfg


@functools.cache
def _asciimath_translator():
    import logging
    import types

    # py-asciimath configures the root logger on import (basicConfig at DEBUG) and logs each translation
    # through the logging module's functions, which configure it again: undo the first and send the rest
    # to a logger of its own, so that a worker's logging stays as it was.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from py_asciimath.translator import translator as module

    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    own = logging.getLogger("py_asciimath")
    module.logging = types.SimpleNamespace(info=own.info, warning=own.warning, debug=own.debug, error=own.error)
    return module.ASCIIMath2Tex(log=False, inplace=True)


def asciimath_to_tex(text: str) -> str | None:
    """LaTeX of an AsciiMath formula (py-asciimath's grammar), or None when it does not parse."""
    text = text.strip()
    if not text or len(text) > 2000:
        return None
    try:
        tex = _asciimath_translator().translate(text, displaystyle=False, from_file=False, pprint=False)
    except Exception:  # the grammar rejects the input (lark raises its own exception types)
        return None
    tex = tex.strip()
    if tex.startswith("$") and tex.endswith("$"):
        tex = tex.strip("$").strip()
    return tex or None


def rewrite_configured_delimiters(root, cfg: MathConfig, report: MathReport) -> None:
    """Rewrite math written between the page's own declared delimiters as ``$..$`` / ``$$..$$``: TeX as is,
    AsciiMath converted to LaTeX. Text of ``code``, ``pre``, scripts and styles is left alone."""
    rules = []
    for a, b in cfg.display:
        rules.append((a, re.compile(re.escape(a) + r"(.+?)" + re.escape(b), re.S), "tex", True))
    for a, b in cfg.inline:
        rules.append((a, re.compile(re.escape(a) + r"(.+?)" + re.escape(b), re.S), "tex", False))
    for a, b in cfg.asciimath:
        rules.append((a, re.compile(re.escape(a) + r"([^\n]+?)" + re.escape(b)), "asciimath", False))
    if not rules:
        return
    body = root.find("body")
    scope = body if body is not None else root
    budget = [MAX_ASCIIMATH]

    def convert(text: str) -> str:
        for opener, rx, kind, display in rules:
            if opener not in text:
                continue

            def one(m, kind=kind, display=display):
                inner = m.group(1)
                if kind == "asciimath":
                    if budget[0] <= 0:
                        return m.group(0)
                    budget[0] -= 1
                    tex = asciimath_to_tex(inner)
                    if tex is None:
                        return m.group(0)
                    report.elements["asciimath"] += 1
                else:
                    tex = clean_tex(inner)
                    report.elements["tex_text"] += 1
                report.rewritten += 1
                report.tex.append(tex)
                return f"$${tex}$$" if display else f"${tex}$"

            text = rx.sub(one, text)
        return text

    for el in scope.iter():
        if not isinstance(el.tag, str):
            continue
        if el.text and local_name(el) not in _NOT_PROSE:
            el.text = convert(el.text)
        if el.tail and el is not scope:
            el.tail = convert(el.tail)
