"""Math survives extraction: each markup kind becomes LaTeX in the text, inline or on its own line."""
from __future__ import annotations

import json

import pytest

from pipeline.extraction.extract import ExtractSettings, html_to_text
from pipeline.extraction.htmlmath import count_tex_fragments

FILLER = "<p>" + "This paragraph gives the surrounding prose that a reader would see on the page. " * 4 + "</p>"


def page(body: str) -> str:
    return f"<html><head><title>T</title></head><body><article><h1>Title</h1>{FILLER}{body}{FILLER}</article></body></html>"


def run(html: str):
    text, title, report, _ = html_to_text(html, ExtractSettings())
    return text or "", report


def line_of(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


# -- real pages from ../shared/data/html -------------------------------------------

def _manifest(shared_data):
    return [json.loads(line) for line in (shared_data / "html" / "manifest.jsonl").read_text().splitlines()]


def test_wikipedia_mathml_with_fallback_images(shared_data):
    """MediaWiki: MathML (TeX in alttext/annotation) + fallback image per formula: one formula each, all kept."""
    for name in ("readability_wikipedia-3_hermitian-matrix.html", "trafilatura_en.wikipedia.org.tsne.html",
                 "dclm_wikipedia_paragraph1.html"):
        html = (shared_data / "html" / name).read_bytes().decode("utf-8")
        markers = html.count("mwe-math-element")
        text, report = run(html)
        assert report.elements["wiki_img"] == markers
        missing = [t for t in report.tex if f"${t}$" not in text]
        assert not missing, (name, missing[:3])
        assert count_tex_fragments(text) == markers
    text, _ = run((shared_data / "html" / "readability_wikipedia-3_hermitian-matrix.html").read_text())
    # display formula on its own line between $$, inline formula inside its sentence
    assert "$$\\langle w,Av\\rangle =\\langle Aw,v\\rangle ,$$" in text.splitlines()
    assert "If the conjugate transpose of a matrix $A$ is denoted by $A^{\\mathsf {H}}$, then" in text
    assert "mwe-math" not in text and "{\\displaystyle" not in text


def test_mathjax_scripts_on_a_real_page(shared_data):
    """arXiv abstract: MathJax <script type="math/tex"> letters stay inline as $R$, $E$ ..."""
    html = (shared_data / "html" / "magichtml_article_f6d0929419b4.html").read_text()
    text, report = run(html)
    assert report.elements["mathjax"] == 7
    assert "$R$" in text and "$S$" in text


@pytest.mark.parametrize("name", ["magichtml_forum_3bea25afda16.html", "magichtml_forum_d4654175c7df.html"])
def test_mathjax_boilerplate_is_not_math(shared_data, name):
    """StackExchange pages load MathJax with \\begingroup scripts: not formulas, nothing emitted."""
    text, report = run((shared_data / "html" / name).read_text())
    assert report.total == 0
    assert "begingroup" not in text and "$" not in text.replace("\\$", "")


def test_pages_without_math_stay_unchanged(shared_data):
    for m in _manifest(shared_data):
        if m["label"] != "non-math" or m["markers"]:
            continue
        html = (shared_data / "html" / m["file"]).read_bytes().decode("utf-8", "replace")
        with_math, report = run(html)
        plain = html_to_text(html, ExtractSettings(rewrite_math=False))[0]
        assert report.total == 0
        assert with_math == (plain or "")


# -- each renderer's own markup ------------------------------------------------------

KATEX_INLINE = (
    '<span class="katex"><span class="katex-mathml"><math xmlns="http://www.w3.org/1998/Math/MathML"><semantics>'
    '<mrow><msup><mi>e</mi><mrow><mi>i</mi><mi>π</mi></mrow></msup><mo>+</mo><mn>1</mn><mo>=</mo><mn>0</mn></mrow>'
    '<annotation encoding="application/x-tex">e^{i\\pi}+1=0</annotation></semantics></math></span>'
    '<span class="katex-html" aria-hidden="true"><span class="base"><span class="mord mathnormal">e</span>'
    '<span class="msupsub"><span class="mord mathnormal">i</span><span class="mord mathnormal">π</span></span>'
    '<span class="mbin">+</span><span class="mord">1</span><span class="mrel">=</span><span class="mord">0</span>'
    '</span></span></span>')
KATEX_DISPLAY = ('<span class="katex-display"><span class="katex"><span class="katex-mathml">'
                 '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"><semantics><mrow><mi>a</mi></mrow>'
                 '<annotation encoding="application/x-tex">\\int_0^1 x\\,dx=\\frac12</annotation></semantics></math>'
                 '</span><span class="katex-html" aria-hidden="true"><span class="mord">∫</span></span></span></span>')


MML_QUADRATIC = ('<math xmlns="http://www.w3.org/1998/Math/MathML"><mfrac><mrow><mo>−</mo><mi>b</mi><mo>±</mo>'
                 '<msqrt><msup><mi>b</mi><mn>2</mn></msup><mo>−</mo><mn>4</mn><mi>a</mi><mi>c</mi></msqrt></mrow>'
                 '<mrow><mn>2</mn><mi>a</mi></mrow></mfrac></math>')
MML_BLOCK = ('<math display="block"><semantics><mi>x</mi><annotation encoding="application/x-tex">'
             'x=\\frac{-b\\pm\\sqrt{b^2-4ac}}{2a}</annotation></semantics></math>')

# (body, markup kind, elements, text that must appear inline, lines that must stand alone, text that must be gone)
RENDERERS = {
    "katex": (f"<p>Euler's identity {KATEX_INLINE} is famous.</p><p>Then{KATEX_DISPLAY}follows.</p>", "katex", 2,
              ["Euler's identity $e^{i\\pi}+1=0$ is famous."], ["$$\\int_0^1 x\\,dx=\\frac12$$"],
              ["π"]),  # the rendered katex-html copy is gone
    "mathjax": ('<p>Let <span class="MathJax_Preview">x2</span><script type="math/tex">x^2</script> be given and'
                '<script type="math/tex; mode=display">\\sum_{n=1}^\\infty \\frac{1}{n^2}=\\frac{\\pi^2}{6}</script>'
                'holds.</p>', "mathjax", 2, ["Let $x^2$ be given and"],
                ["$$\\sum_{n=1}^\\infty \\frac{1}{n^2}=\\frac{\\pi^2}{6}$$"], ["x2"]),
    "mathml_noannot": (f"<p>The roots are x = {MML_QUADRATIC} for any quadratic.</p>", "mathml_noannot", 1,
                       ["The roots are x = $\\frac{-b\\pm\\sqrt{b^2-4ac}}{2a}$ for any quadratic."], [], []),
    "mathml_block": (f"<p>Hence {MML_BLOCK} as claimed.</p>", "mathml", 1, [],
                     ["$$x=\\frac{-b\\pm\\sqrt{b^2-4ac}}{2a}$$"], []),
    "latex_img": ('<p>Area <img src="https://s0.wp.com/latex.php?latex=%5Cpi+r%5E2&bg=ffffff" alt="\\pi r^2" '
                  'class="latex"/> of a disc, and <img src="https://latex.codecogs.com/gif.latex?a%5E2%2Bb%5E2%3Dc%5E2"/>'
                  ' for triangles.</p><div class="eq"><img src="https://latex.codecogs.com/gif.latex?e%5Ex"/></div>',
                  "latex_img", 3, ["Area $\\pi r^2$ of a disc, and $a^2+b^2=c^2$ for triangles."], ["$$e^x$$"], []),
}


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_each_renderer_inline_and_display(name):
    body, kind, count, inline, display, gone = RENDERERS[name]
    text, report = run(page(body))
    assert report.elements[kind] == count
    for snippet in inline:
        assert snippet in text
    for line in display:  # display math stands on its own line
        assert line in text.splitlines()
    for snippet in gone:
        assert snippet not in text


def test_delimited_tex_in_text_is_kept_as_written():
    html = page("<p>Inline \\(a^2+b^2\\) and $c_1$ and display</p><p>$$\\int f\\,d\\mu$$</p><p>\\[x=1\\]</p>"
                "<p>Prices $5 and $10 are not math.</p>")
    text, report = run(html)
    assert "Inline \\(a^2+b^2\\) and $c_1$ and display" in text
    assert "$$\\int f\\,d\\mu$$" in text and "\\[x=1\\]" in text
    assert report.elements["tex_text"] == 4
    assert count_tex_fragments(text) == 4


def test_asciimath_and_the_pages_own_delimiters_become_latex():
    """MathJax pages may read AsciiMath (script or backticks) and declare their own TeX delimiters."""
    html = """<html><head><script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {inlineMath:
    [['[m]','[/m]'], ['$','$']], displayMath: [['[dm]','[/dm]']]}, asciimath2jax: {delimiters: [['`','`']]}});
    </script><script src="/MathJax.js?config=AM_HTMLorMML"></script></head><body><article>
    <p>The sum `sum_(i=1)^n i = (n(n+1))/2` holds for every n, and we prove it by induction right here.</p>
    <p>Also [m]x^2+1[/m] is positive, and the display [dm]\\int_0^1 x\\,dx = 1/2[/dm] ends the argument.</p>
    <p>A script formula <script type="math/asciimath">sqrt(x)/2</script> sits in the middle of a sentence.</p>
    <pre>code with `backticks` stays as written</pre></article></body></html>"""
    text, _, report, _ = html_to_text(html, ExtractSettings())
    assert "$" + "{\\sum}_{i = 1}^{n} i = \\frac{n \\left(n + 1\\right)}{2}$" in text
    assert "$x^2+1$" in text and "$$\\int_0^1 x\\,dx = 1/2$$" in text
    assert "$\\frac{\\sqrt{x}}{2}$" in text
    assert "code with `backticks` stays" in text
    assert report.elements["asciimath"] == 2 and report.elements["tex_text"] == 2


def test_no_declared_asciimath_leaves_backticks_alone():
    html = ("<html><body><article><p>Run `make test` first, then `make corpus` to build everything from "
            "scratch on this machine.</p></article></body></html>")
    text, _, report, _ = html_to_text(html, ExtractSettings())
    assert "`make test`" in text and report.total == 0
