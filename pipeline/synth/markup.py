"""Math markup as found on the web, rendered from TeX.

Each style renders one formula the way a real site would serve it:

``mathjax``         ``<script type="math/tex">`` (and ``; mode=display``), MathJax 2 style
``tex``             raw ``\\(..\\)`` / ``$..$`` inline and ``$$..$$`` display in the text (MathJax 3, KaTeX auto-render)
``katex``           KaTeX server-side HTML: MathML with a TeX annotation plus the visual span soup
``mathml``          MathML with ``<annotation encoding="application/x-tex">``
``mathml_noannot``  bare MathML (no TeX anywhere in the page)
``wiki_img``        Wikipedia: hidden MathML + ``mwe-math-fallback-image`` with the TeX in ``alt``
``latex_img``       WordPress ``latex.php`` / CodeCogs images with the TeX in ``alt``

MathML comes from ``latex2mathml`` (a maintained PyPI converter).
"""
from __future__ import annotations

import hashlib
import html
import random
from urllib.parse import quote

from latex2mathml.converter import convert as tex_to_mathml

from pipeline.synth.formulas import Formula

STYLES = ["mathjax", "tex", "katex", "mathml", "mathml_noannot", "wiki_img", "latex_img"]


def _mathml_inner(tex: str, display: bool) -> str:
    """latex2mathml's <math> element, its children wrapped in <semantics> so an annotation can follow."""
    m = tex_to_mathml(tex, display="block" if display else "inline")
    head_end = m.index(">") + 1
    return m[:head_end], m[head_end:-len("</math>")]


def _katex_visual(tex: str) -> str:
    # KaTeX's aria-hidden visual layer: one span per glyph-ish token. Extractors must not
    # pick these up as text (they would duplicate the formula); the TeX lives in the annotation.
    spans = []
    for ch in tex:
        if ch.isspace() or ch in "{}\\":
            continue
        cls = "mord mathnormal" if ch.isalpha() else ("mbin" if ch in "+-*/=<>" else "mord")
        spans.append(f'<span class="{cls}">{html.escape(ch)}</span>')
    return '<span class="katex-html" aria-hidden="true"><span class="base">' + "".join(spans) + "</span></span>"


def render_formula(f: Formula, style: str, rng: random.Random, tex_inline: str = "\\(") -> str:
    tex, disp = f.tex, f.display
    esc = html.escape(tex, quote=False)
    if style == "mathjax":
        mode = "; mode=display" if disp else ""
        return f'<script type="math/tex{mode}">{esc}</script>'
    if style == "tex":
        if disp:
            return f"$${esc}$$"
        return f"\\({esc}\\)" if tex_inline == "\\(" else f"${esc}$"
    if style == "katex":
        head, body = _mathml_inner(tex, disp)
        mathml = (f'{head}<semantics><mrow>{body}</mrow><annotation encoding="application/x-tex">{esc}'
                  f"</annotation></semantics></math>")
        inner = f'<span class="katex"><span class="katex-mathml">{mathml}</span>{_katex_visual(tex)}</span>'
        return f'<span class="katex-display">{inner}</span>' if disp else inner
    if style == "mathml":
        head, body = _mathml_inner(tex, disp)
        return (f'{head}<semantics><mrow>{body}</mrow><annotation encoding="application/x-tex">{esc}'
                f"</annotation></semantics></math>")
    if style == "mathml_noannot":
        return tex_to_mathml(tex, display="block" if disp else "inline")
    if style == "wiki_img":
        alt = "{\\displaystyle " + tex + "}"
        alt_attr = html.escape(alt, quote=True)
        digest = hashlib.sha1(tex.encode()).hexdigest()
        head, body = _mathml_inner(tex, disp)
        head = head.replace("<math ", f'<math alttext="{alt_attr}" ', 1)
        kind = "block" if disp else "inline"
        return (f'<span class="mwe-math-element"><span class="mwe-math-mathml-{kind} mwe-math-mathml-a11y" '
                f'style="display: none;">{head}<semantics><mrow>{body}</mrow><annotation encoding="application/x-tex">'
                f'{html.escape(alt, quote=False)}</annotation></semantics></math></span>'
                f'<img src="https://wikimedia.org/api/rest_v1/media/math/render/svg/{digest}" '
                f'class="mwe-math-fallback-image-{kind} mw-invert skin-invert" aria-hidden="true" '
                f'style="vertical-align: -0.838ex; width:{rng.randint(3, 40)}ex; height:2.843ex;" alt="{alt_attr}"></span>')
    if style == "latex_img":
        alt_attr = html.escape(tex, quote=True)
        if rng.random() < 0.5:
            src = f"https://s0.wp.com/latex.php?latex={quote(tex)}&amp;bg=ffffff&amp;fg=000000&amp;s=0&amp;c=20201002"
            return f'<img src="{src}" alt="{alt_attr}" title="{alt_attr}" class="latex">'
        src = "https://latex.codecogs.com/gif.latex?" + quote(tex)
        return f'<img src="{src}" alt="{alt_attr}" border="0" align="middle">'
    raise ValueError(f"unknown math style {style!r}")


def head_scripts(style: str) -> str:
    """What a site with that renderer puts in <head>."""
    if style == "mathjax":
        return ('<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {inlineMath: [["$","$"]]}});'
                '</script>\n<script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.9/MathJax.js?config=TeX-AMS_HTML"></script>')
    if style == "tex":
        return ('<script>window.MathJax = {tex: {inlineMath: [["\\\\(", "\\\\)"], ["$", "$"]]}};</script>\n'
                '<script id="MathJax-script" async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>')
    if style == "katex":
        return '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.css">'
    return ""
