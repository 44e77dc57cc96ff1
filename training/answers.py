"""Answer extraction and comparison for GSM8K and MATH, as their users score them.

* GSM8K: the reference answer follows ``#### ``; a model's answer is the number after its own ``####``, else
  after "the answer is", else the last number it wrote. Numbers compare as values (``1,000`` = ``1000.0``).
* MATH: the reference answer is the last ``\\boxed{...}`` (or ``\\fbox{...}``) of the solution, braces matched;
  a model's answer is its last ``\\boxed{...}``, else what follows "the (final) answer is", else the last
  ``$...$``. Both are normalised (spaces, ``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``, ``\\frac12``, units in
  ``\\text{}``, degrees, a leading ``x =``, trailing periods), then equal as strings or as numbers.

Written here because the scoring rules are a few lines of regular expressions over our own prompt format; no
maintained library exposes them without its own task definitions and data downloads.
"""
from __future__ import annotations

import re

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _to_number(text: str) -> float | None:
    text = text.strip().replace(",", "").replace("$", "").rstrip(".")
    try:
        return float(text)
    except ValueError:
        frac = re.fullmatch(r"(-?\d+)\s*/\s*(\d+)", text)
        if frac and int(frac.group(2)):
            return int(frac.group(1)) / int(frac.group(2))
        return None


def gsm8k_reference(answer: str) -> str:
    """The number after ``####`` in a GSM8K answer."""
    return answer.rsplit("####", 1)[-1].strip().replace(",", "")


def gsm8k_extract(generation: str) -> str | None:
    """The model's final number (see module doc), or None if it wrote none."""
    for pattern in (r"####\s*([^\n]*)", r"[Tt]he (?:final )?answer is[:\s]*([^\n]*)"):
        found = re.findall(pattern, generation)
        if found:
            nums = _NUMBER.findall(found[-1])
            if nums:
                return nums[0].replace(",", "")
    nums = _NUMBER.findall(generation)
    return nums[-1].replace(",", "") if nums else None


def gsm8k_correct(generation: str, answer: str) -> bool:
    pred = gsm8k_extract(generation)
    if pred is None:
        return False
    a, b = _to_number(pred), _to_number(gsm8k_reference(answer))
    return a is not None and b is not None and abs(a - b) < 1e-6 * max(1.0, abs(b))


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``/``\\fbox{...}`` (braces matched; ``\\boxed 5`` too)."""
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)\s*", text)]
    for m in reversed(starts):
        i = m.end()
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, len(text)):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1:j]
            continue  # unclosed: look at an earlier one
        tail = re.match(r"([^\s$]+)", text[i:])
        if tail:
            return tail.group(1).rstrip(".,;")
    return None


def _fix_fracs(s: str) -> str:
    # \frac12 -> \frac{1}{2}, \frac1{b} -> \frac{1}{b}, \frac{a}2 -> \frac{a}{2}
    s = re.sub(r"\\frac\s*(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    return re.sub(r"\\sqrt\s*(\w)", r"\\sqrt{\1}", s)


def normalize_math(answer: str) -> str:
    """A canonical string for a MATH answer (see module doc)."""
    s = answer.strip()
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:mbox|mathrm|textbf)\{\s*([^{}]*)\}", r"\1", s)
    s = s.replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\ ", "")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\%", "").replace("%", "").replace("\\$", "")
    s = s.replace("$", "")
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"^[a-zA-Z]\s*=", "", s)  # "x=5" -> "5"
    for unit in ("degrees", "degree", "units", "unit", "cm", "inches", "inch", "meters", "feet", "dollars"):
        if s.endswith(unit) and len(s) > len(unit):
            s = s[: -len(unit)]
    s = s.rstrip(".")
    s = _fix_fracs(s)
    if s.startswith("."):
        s = "0" + s
    s = re.sub(r"(\d),(\d\d\d)(?!\d)", r"\1\2", s)  # 1,000 -> 1000
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    return s


def _math_value(s: str) -> float | None:
    num = _to_number(s)
    if num is not None:
        return num
    frac = re.fullmatch(r"(-?)\\frac\{(-?\d+)\}\{(\d+)\}", s)
    if frac and int(frac.group(3)):
        v = int(frac.group(2)) / int(frac.group(3))
        return -v if frac.group(1) else v
    return None


def math_reference(solution: str) -> str | None:
    return last_boxed(solution)


def math_extract(generation: str) -> str | None:
    boxed = last_boxed(generation)
    if boxed is not None:
        return boxed
    said = re.findall(r"[Tt]he (?:final )?answer is[:\s]*\$?([^$\n]+?)\$?\s*(?:\.\s*|$)", generation)
    if said:
        return said[-1]
    inline = re.findall(r"\$([^$]+)\$", generation)
    return inline[-1] if inline else None


def math_equiv(a: str, b: str) -> bool:
    na, nb = normalize_math(a), normalize_math(b)
    if na == nb:
        return True
    va, vb = _math_value(na), _math_value(nb)
    return va is not None and vb is not None and abs(va - vb) < 1e-9 * max(1.0, abs(vb))


def math_correct(generation: str, solution: str) -> bool:
    pred, ref = math_extract(generation), math_reference(solution)
    return pred is not None and ref is not None and math_equiv(pred, ref)
