"""MathML → LaTeX, for ``<math>`` elements that carry no TeX annotation.

Written by hand on purpose: no well-kept PyPI library converts presentation
MathML to LaTeX well (latex2mathml only goes the other way; the XSLT
stylesheets OpenWebMath uses need an XSLT 2 engine). The converter walks the
element tree once and covers the presentation elements found on real pages:
mi mn mo mtext ms mspace mrow mstyle mpadded mphantom menclose mfrac msqrt
mroot msup msub msubsup munder mover munderover mmultiscripts mtable mtr mtd
mlabeledtr mfenced semantics maction merror, and the common operator
characters (mapped to their TeX commands).

Elements are matched by local name, so namespaced (``m:mi``) and plain
(``mi``) MathML both work. Unknown elements contribute their children, so
content is never silently lost.
"""
from __future__ import annotations

import re

#: Unicode characters that have a TeX command. Letters and symbols that TeX
#: takes literally (``+``, ``=``, ``x``) are not listed.
SYMBOLS: dict[str, str] = {
    # Greek
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\epsilon", "ϵ": r"\epsilon",
    "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "ϑ": r"\vartheta", "ι": r"\iota", "κ": r"\kappa",
    "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ξ": r"\xi", "π": r"\pi", "ϖ": r"\varpi", "ρ": r"\rho",
    "ϱ": r"\varrho", "σ": r"\sigma", "ς": r"\varsigma", "τ": r"\tau", "υ": r"\upsilon", "φ": r"\phi",
    "ϕ": r"\phi", "χ": r"\chi", "ψ": r"\psi", "ω": r"\omega", "Γ": r"\Gamma", "Δ": r"\Delta",
    "Θ": r"\Theta", "Λ": r"\Lambda", "Ξ": r"\Xi", "Π": r"\Pi", "Σ": r"\Sigma", "Υ": r"\Upsilon",
    "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega", "ε": r"\varepsilon",
    # big operators
    "∑": r"\sum", "∏": r"\prod", "∐": r"\coprod", "∫": r"\int", "∬": r"\iint", "∭": r"\iiint",
    "∮": r"\oint", "⋃": r"\bigcup", "⋂": r"\bigcap", "⨁": r"\bigoplus", "⨂": r"\bigotimes",
    "⋁": r"\bigvee", "⋀": r"\bigwedge",
    # relations
    "≤": r"\leq", "≥": r"\geq", "≠": r"\neq", "≈": r"\approx", "≡": r"\equiv", "∼": r"\sim",
    "≃": r"\simeq", "≅": r"\cong", "∝": r"\propto", "≪": r"\ll", "≫": r"\gg", "⊂": r"\subset",
    "⊃": r"\supset", "⊆": r"\subseteq", "⊇": r"\supseteq", "⊊": r"\subsetneq", "∈": r"\in",
    "∉": r"\notin", "∋": r"\ni", "⊥": r"\perp", "∥": r"\parallel", "∣": r"\mid", "≺": r"\prec",
    "≻": r"\succ", "⪯": r"\preceq", "⪰": r"\succeq", "⊢": r"\vdash", "⊨": r"\models", "≔": r":=",
    "≐": r"\doteq", "⩽": r"\leqslant", "⩾": r"\geqslant", "≦": r"\leqq", "≧": r"\geqq",
    # arrows
    "→": r"\to", "←": r"\leftarrow", "↔": r"\leftrightarrow", "⇒": r"\Rightarrow", "⇐": r"\Leftarrow",
    "⇔": r"\Leftrightarrow", "↦": r"\mapsto", "⟶": r"\longrightarrow", "⟹": r"\Longrightarrow",
    "⟺": r"\iff", "↑": r"\uparrow", "↓": r"\downarrow", "⟵": r"\longleftarrow", "↪": r"\hookrightarrow",
    "⇀": r"\rightharpoonup",
    # binary operators
    "×": r"\times", "÷": r"\div", "·": r"\cdot", "⋅": r"\cdot", "∘": r"\circ", "±": r"\pm", "∓": r"\mp",
    "∪": r"\cup", "∩": r"\cap", "∧": r"\wedge", "∨": r"\vee", "⊕": r"\oplus", "⊗": r"\otimes",
    "⊖": r"\ominus", "⊙": r"\odot", "∖": r"\setminus", "⋆": r"\star", "∗": r"\ast", "†": r"\dagger",
    "‡": r"\ddagger", "−": "-", "∕": "/", "⁄": "/", "⊎": r"\uplus", "⊔": r"\sqcup", "⊓": r"\sqcap",
    # misc symbols
    "∞": r"\infty", "∂": r"\partial", "∇": r"\nabla", "∀": r"\forall", "∃": r"\exists", "∄": r"\nexists",
    "¬": r"\neg", "∅": r"\emptyset", "ℵ": r"\aleph", "ℏ": r"\hbar", "ℓ": r"\ell", "℘": r"\wp",
    "ℜ": r"\Re", "ℑ": r"\Im", "′": "'", "″": "''", "‴": "'''", "…": r"\ldots", "⋯": r"\cdots",
    "⋮": r"\vdots", "⋱": r"\ddots", "°": r"^\circ", "∠": r"\angle", "△": r"\triangle", "□": r"\square",
    "√": r"\surd", "∴": r"\therefore", "∵": r"\because", "⌊": r"\lfloor", "⌋": r"\rfloor",
    "⌈": r"\lceil", "⌉": r"\rceil", "⟨": r"\langle", "⟩": r"\rangle", "〈": r"\langle", "〉": r"\rangle",
    "‖": r"\|", "ℕ": r"\mathbb{N}", "ℤ": r"\mathbb{Z}", "ℚ": r"\mathbb{Q}", "ℝ": r"\mathbb{R}",
    "ℂ": r"\mathbb{C}", "ℙ": r"\mathbb{P}",
    # invisible operators: function application, invisible times/separator/plus
    "\u2061": "", "\u2062": "", "\u2063": ",", "\u2064": "+",
    # spaces
    "\u00a0": "~", "\u2009": r"\,", "\u2005": r"\;", "\u2003": r"\quad",
}

#: Characters that must be escaped to mean themselves in TeX.
_ESCAPE = {"{": r"\{", "}": r"\}", "%": r"\%", "#": r"\#", "&": r"\&", "_": r"\_", "$": r"\$"}

#: Multi-letter identifiers TeX writes as operator names.
FUNCTIONS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "coth",
    "log", "ln", "lg", "exp", "lim", "liminf", "limsup", "max", "min", "sup", "inf", "det", "dim", "ker",
    "deg", "gcd", "hom", "arg", "Pr",
}

#: Accents over a base (``mover accent="true"``) and their TeX command.
OVER_ACCENTS = {
    "^": r"\hat", "ˆ": r"\hat", "\u0302": r"\hat", "~": r"\tilde", "˜": r"\tilde", "\u0303": r"\tilde",
    "¯": r"\overline", "‾": r"\overline", "\u0305": r"\overline", "\u0304": r"\bar", "→": r"\vec", "⃗": r"\vec",
    "˙": r"\dot", "\u0307": r"\dot", "¨": r"\ddot", "\u0308": r"\ddot", "ˇ": r"\check", "˘": r"\breve",
    "⏞": r"\overbrace", "︷": r"\overbrace", "←": r"\overleftarrow", "↔": r"\overleftrightarrow",
}
UNDER_ACCENTS = {"_": r"\underline", "̲": r"\underline", "‾": r"\underline", "⏟": r"\underbrace", "︸": r"\underbrace"}

#: Bases whose under/over scripts are limits (``\sum_{i=1}^{n}``), not stacked symbols.
_LIMIT_BASES = {r"\sum", r"\prod", r"\coprod", r"\bigcup", r"\bigcap", r"\bigoplus", r"\bigotimes",
                r"\bigvee", r"\bigwedge", r"\lim", r"\max", r"\min", r"\sup", r"\inf", r"\liminf",
                r"\limsup", r"\int", r"\oint", r"\iint", r"\iiint", r"\det", r"\gcd", r"\Pr"}

_FENCES = {"(": "(", ")": ")", "[": "[", "]": "]", "{": r"\{", "}": r"\}", "|": "|", "‖": r"\|",
           "⟨": r"\langle", "⟩": r"\rangle", "〈": r"\langle", "〉": r"\rangle", "⌊": r"\lfloor",
           "⌋": r"\rfloor", "⌈": r"\lceil", "⌉": r"\rceil", "": "."}

_VARIANTS = {"double-struck": r"\mathbb", "fraktur": r"\mathfrak", "script": r"\mathcal",
             "bold": r"\mathbf", "sans-serif": r"\mathsf", "monospace": r"\mathtt", "normal": r"\mathrm",
             "bold-italic": r"\boldsymbol"}


def local_name(el) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    if "}" in tag:
        tag = tag.rsplit("}", 1)[1]
    if ":" in tag:  # lxml's HTML parser keeps prefixes in the tag name
        tag = tag.rsplit(":", 1)[1]
    return tag.lower()


def _children(el) -> list:
    return [c for c in el if isinstance(c.tag, str)]


def _chars(text: str) -> str:
    out = []
    for ch in text:
        if ch in SYMBOLS:
            out.append(SYMBOLS[ch])
        elif ch in _ESCAPE:
            out.append(_ESCAPE[ch])
        else:
            out.append(ch)
    return _join(out)


def _join(parts: list[str]) -> str:
    """Concatenate TeX pieces, adding a space only where a command would run into a letter."""
    out = ""
    for p in parts:
        if not p:
            continue
        # a command or a one-character script must not run into the next letter: \alpha x, x^n i
        if out and re.search(r"\\[A-Za-z]+$|[_^][A-Za-z0-9]$", out) and re.match(r"[A-Za-z0-9]", p):
            out += " "
        out += p
    return out


def _group(tex: str) -> str:
    """Brace ``tex`` unless it is one token (a character, a command, or already braced)."""
    tex = tex.strip()
    if len(tex) == 1 or re.fullmatch(r"\\[A-Za-z]+|\\.", tex):
        return tex
    if tex.startswith("{") and tex.endswith("}") and _balanced_outer(tex):
        return tex
    return "{" + tex + "}"


def _balanced_outer(tex: str) -> bool:
    depth = 0
    for i, ch in enumerate(tex):
        if ch == "{" and (i == 0 or tex[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or tex[i - 1] != "\\"):
            depth -= 1
            if depth == 0 and i != len(tex) - 1:
                return False
    return depth == 0


def _text(el) -> str:
    return "".join(el.itertext()).strip()


def _mi(el) -> str:
    text = _text(el)
    variant = el.get("mathvariant")
    if not text:
        return ""
    if len(text) > 1 and text in FUNCTIONS:
        return "\\" + text
    body = _chars(text)
    if variant in _VARIANTS and variant != "italic":
        # upright Greek or a symbol needs no \mathrm; TeX sets capitals upright already
        if variant == "normal" and (body.startswith("\\") or not text.isascii()):
            return body
        return f"{_VARIANTS[variant]}{{{body}}}"
    if len(text) > 1 and text.isalpha() and text.isascii():
        return rf"\mathrm{{{body}}}"
    return body


def _mo(el) -> str:
    text = _text(el)
    if text in FUNCTIONS:
        return "\\" + text
    if text in ("{", "}"):
        return _ESCAPE[text]
    return _chars(text)


def _mtext(el) -> str:
    text = "".join(el.itertext())
    if not text.strip():
        return r"\ " if text else ""
    escaped = "".join(_ESCAPE.get(ch, ch) for ch in text)
    return rf"\text{{{escaped}}}"


def _mspace(el) -> str:
    width = (el.get("width") or "").strip()
    m = re.match(r"([\d.]+)\s*(em|ex|px|pt|mu)?", width)
    if not m:
        return r"\ "
    value = float(m.group(1))
    unit = m.group(2) or "em"
    em = value / 2 if unit == "ex" else value / 16 if unit == "px" else value / 10 if unit == "pt" else value / 18 if unit == "mu" else value
    if em >= 1.8:
        return r"\qquad "
    if em >= 0.9:
        return r"\quad "
    if em >= 0.25:
        return r"\ "
    return r"\,"


def _is_fence(tex: str) -> bool:
    return tex in ("(", ")", "[", "]", r"\{", r"\}", "|", r"\|", r"\langle", r"\rangle")


def _fenced(el) -> str:
    open_ = el.get("open", "(")
    close = el.get("close", ")")
    seps = re.sub(r"\s+", "", el.get("separators", ","))
    kids = [convert(c) for c in _children(el)]
    parts: list[str] = []
    for i, k in enumerate(kids):
        if i:
            parts.append(seps[min(i - 1, len(seps) - 1)] if seps else "")
        parts.append(k)
    return rf"\left{_FENCES.get(open_, open_)}" + _join(parts) + rf"\right{_FENCES.get(close, close)}"


def _table(el) -> str:
    rows = []
    for tr in _children(el):
        name = local_name(tr)
        if name not in ("mtr", "mlabeledtr"):
            rows.append(convert(tr))
            continue
        cells = _children(tr)
        if name == "mlabeledtr":  # the first cell is the equation label
            cells = cells[1:]
        rows.append(" & ".join(convert(c) for c in cells))
    return r"\begin{matrix}" + r" \\ ".join(rows) + r"\end{matrix}"


def _single_token(tex: str) -> bool:
    """One character, one command, or one command applied to one braced group (``\\mathbf{x}``)."""
    tex = tex.strip()
    if len(tex) == 1 or re.fullmatch(r"\\[A-Za-z]+", tex):
        return True
    m = re.fullmatch(r"\\[A-Za-z]+\s*(\{.*\})", tex, flags=re.S)
    return bool(m and _balanced_outer(m.group(1)))


def _script_base(base_el) -> str:
    base = convert(base_el)
    # a compound base (x+y)^2 must stay one group; a single token or a fenced group need no braces
    if _single_token(base) or base.strip().endswith(r"\right)"):
        return base
    return _group(base)


def _under_over(el, name: str) -> str:
    kids = _children(el)
    if not kids:
        return ""
    base_el = kids[0]
    base = convert(base_el)
    under = convert(kids[1]) if name in ("munder", "munderover") and len(kids) > 1 else None
    over = None
    if name == "mover" and len(kids) > 1:
        over = convert(kids[1])
    elif name == "munderover" and len(kids) > 2:
        over = convert(kids[2])
    over_raw = _text(kids[-1]) if name == "mover" and len(kids) > 1 else ""
    under_raw = _text(kids[1]) if name == "munder" and len(kids) > 1 else ""
    if name == "mover" and over_raw in OVER_ACCENTS:
        cmd = OVER_ACCENTS[over_raw]
        if cmd == r"\bar" and not _single_token(base):
            cmd = r"\overline"
        return f"{cmd}{{{base}}}"
    if name == "munder" and under_raw in UNDER_ACCENTS:
        return f"{UNDER_ACCENTS[under_raw]}{{{base}}}"
    if base.strip() in _LIMIT_BASES or local_name(base_el) == "mo" and el.get("movablelimits") != "false":
        out = base
        if under is not None:
            out += "_" + _group(under)
        if over is not None:
            out += "^" + _group(over)
        return out
    out = base
    if over is not None:
        out = rf"\overset{{{over}}}{{{out}}}"
    if under is not None:
        out = rf"\underset{{{under}}}{{{out}}}"
    return out


def _multiscripts(el) -> str:
    kids = _children(el)
    if not kids:
        return ""
    base = _script_base(kids[0])
    post: list[tuple[str, str]] = []
    pre: list[tuple[str, str]] = []
    target = post
    rest = kids[1:]
    i = 0
    while i < len(rest):
        if local_name(rest[i]) == "mprescripts":
            target = pre
            i += 1
            continue
        sub = convert(rest[i]) if local_name(rest[i]) != "none" else ""
        sup = convert(rest[i + 1]) if i + 1 < len(rest) and local_name(rest[i + 1]) != "none" else ""
        target.append((sub, sup))
        i += 2

    def scripts(pairs):
        s = ""
        for sub, sup in pairs:
            if sub:
                s += "_" + _group(sub)
            if sup:
                s += "^" + _group(sup)
        return s

    prefix = "{}" + scripts(pre) if pre else ""
    return _join([prefix, base + scripts(post)])


def convert(el) -> str:
    """LaTeX for one MathML element (and its subtree)."""
    name = local_name(el)
    kids = _children(el)
    if name == "mi":
        return _mi(el)
    if name == "mn":
        return _chars(_text(el))
    if name == "mo":
        return _mo(el)
    if name == "mtext":
        return _mtext(el)
    if name == "ms":
        return rf"\text{{``{_text(el)}''}}"
    if name == "mspace":
        return _mspace(el)
    if name == "mfrac":
        if len(kids) < 2:
            return _join([convert(k) for k in kids])
        num, den = convert(kids[0]), convert(kids[1])
        thickness = (el.get("linethickness") or "").strip()
        if thickness in ("0", "0px", "0em", "0pt"):
            return rf"\genfrac{{}}{{}}{{0pt}}{{}}{{{num}}}{{{den}}}"
        return rf"\frac{{{num}}}{{{den}}}"
    if name == "msqrt":
        return rf"\sqrt{{{_join([convert(k) for k in kids])}}}"
    if name == "mroot":
        if len(kids) < 2:
            return rf"\sqrt{{{_join([convert(k) for k in kids])}}}"
        return rf"\sqrt[{convert(kids[1])}]{{{convert(kids[0])}}}"
    if name in ("msup", "msub", "msubsup"):
        if not kids:
            return ""
        base = _script_base(kids[0])
        if name == "msup":
            return base + "^" + _group(convert(kids[1])) if len(kids) > 1 else base
        if name == "msub":
            return base + "_" + _group(convert(kids[1])) if len(kids) > 1 else base
        out = base
        if len(kids) > 1:
            out += "_" + _group(convert(kids[1]))
        if len(kids) > 2:
            out += "^" + _group(convert(kids[2]))
        return out
    if name in ("munder", "mover", "munderover"):
        return _under_over(el, name)
    if name == "mmultiscripts":
        return _multiscripts(el)
    if name == "mtable":
        return _table(el)
    if name in ("mtr", "mlabeledtr"):
        return " & ".join(convert(k) for k in kids)
    if name == "mfenced":
        return _fenced(el)
    if name == "mphantom":
        return rf"\phantom{{{_join([convert(k) for k in kids])}}}"
    if name == "menclose":
        body = _join([convert(k) for k in kids])
        notation = el.get("notation", "longdiv")
        if "box" in notation or "roundedbox" in notation:
            return rf"\boxed{{{body}}}"
        if "strike" in notation:
            return rf"\cancel{{{body}}}"
        return body
    if name == "semantics":
        # the first child is the presentation; annotations are for other tools
        return convert(kids[0]) if kids else ""
    if name in ("annotation", "annotation-xml", "none", "mprescripts", "malignmark", "maligngroup"):
        return ""
    if name == "maction":
        return convert(kids[0]) if kids else ""
    if name == "mstyle":
        body = _join([convert(k) for k in kids])
        variant = el.get("mathvariant")
        if variant in _VARIANTS and variant != "normal":
            return f"{_VARIANTS[variant]}{{{body}}}"
        return body
    # math, mrow, mpadded, merror, mtd and anything unknown: the children in order
    parts = [convert(k) for k in kids]
    if not kids and el.text and el.text.strip():
        parts = [_chars(el.text.strip())]
    return _join(parts)


_RUN_OF_LETTERS = re.compile(r"(?:\\(mathrm|mathbf|mathsf|mathtt|mathit)\{[A-Za-z0-9]\}){2,}")
_MATRIX_FENCES = ((r"(", r")", "pmatrix"), (r"[", r"]", "bmatrix"), (r"\{", r"\}", "Bmatrix"),
                  (r"|", r"|", "vmatrix"), (r"\left(", r"\right)", "pmatrix"), (r"\left[", r"\right]", "bmatrix"))


def _merge_letters(m: re.Match) -> str:
    letters = re.findall(r"\{([A-Za-z0-9])\}", m.group(0))
    return f"\\{m.group(1)}{{{''.join(letters)}}}"


def _tidy(tex: str) -> str:
    tex = re.sub(r"[ \t\r\n]+", " ", tex).strip()
    # MathML spells a word as one <mi mathvariant="normal"> per letter: \mathrm{k}\mathrm{i} -> \mathrm{ki}
    tex = _RUN_OF_LETTERS.sub(_merge_letters, tex)
    # a matrix between fences is an environment of its own: (\begin{matrix}..\end{matrix}) -> pmatrix
    for left, right, env in _MATRIX_FENCES:
        tex = tex.replace(left + r"\begin{matrix}", r"\begin{" + env + "}\x00")
        tex = re.sub(r"\\begin\{" + env + r"\}\x00(.*?)\\end\{matrix\}" + re.escape(right),
                     lambda m: r"\begin{" + env + "}" + m.group(1) + r"\end{" + env + "}", tex, flags=re.S)
        tex = tex.replace(r"\begin{" + env + "}\x00", left + r"\begin{matrix}")
    return tex


def mathml_to_latex(math_el) -> str:
    """LaTeX for a ``<math>`` element, ignoring any annotation (see :func:`tex_of_math`)."""
    return _tidy(convert(math_el))


_TEX_ENCODINGS = ("application/x-tex", "text/x-tex", "application/x-latex", "tex", "latex", "text/latex")


def tex_annotation(math_el) -> str | None:
    """The TeX a ``<math>`` element carries itself: an x-tex annotation, else its ``alttext``."""
    for node in math_el.iter():
        if local_name(node) == "annotation" and (node.get("encoding") or "").strip().lower() in _TEX_ENCODINGS:
            tex = "".join(node.itertext()).strip()
            if tex:
                return clean_tex(tex)
    alt = (math_el.get("alttext") or "").strip()
    if alt and (re.search(r"[\\^_{}]", alt) or len(alt) < 40):
        return clean_tex(alt)
    return None


def clean_tex(tex: str) -> str:
    """Strip MediaWiki's ``{\\displaystyle ...}`` wrapper and surrounding delimiters; collapse whitespace."""
    tex = tex.strip()
    m = re.fullmatch(r"\{\\(?:displaystyle|textstyle)\s*(.*)\}", tex, flags=re.S)
    if m and _balanced_outer(tex):
        tex = m.group(1).strip()
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if len(tex) > len(left) + len(right) and tex.startswith(left) and tex.endswith(right):
            tex = tex[len(left):-len(right)].strip()
            break
    return re.sub(r"\s+", " ", tex)


def tex_of_math(math_el) -> tuple[str, str]:
    """(LaTeX, source) for a ``<math>`` element; source is ``annotation`` or ``converted``."""
    tex = tex_annotation(math_el)
    if tex:
        return tex, "annotation"
    return mathml_to_latex(math_el), "converted"
