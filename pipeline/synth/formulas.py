"""Random but true formulas, made with SymPy and printed as LaTeX.

Each generator draws its numbers from the caller's ``random.Random`` so the
mini-CC is deterministic for a seed. Formulas are computed, not copied from a
list: a classifier cannot memorise them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import sympy as sp

X, Y, Z, T, N, K = sp.symbols("x y z t n k")
_VARS = [X, Y, T, Z]
_FUNCS = ["f", "g", "h", "p", "q", "u"]


@dataclass(frozen=True)
class Formula:
    tex: str
    topic: str
    display: bool  # display math goes on its own line


def _poly(rng: random.Random, var=X, degree: int | None = None, lo: int = -9, hi: int = 9) -> sp.Expr:
    degree = degree if degree is not None else rng.randint(1, 4)
    coeffs = [rng.randint(lo, hi) for _ in range(degree + 1)]
    if coeffs[0] == 0:
        coeffs[0] = rng.choice([1, 2, 3, -1, -2])
    return sum(c * var ** (degree - i) for i, c in enumerate(coeffs))


def _latex(expr) -> str:
    return sp.latex(expr)


def derivative(rng: random.Random) -> Formula:
    v = rng.choice(_VARS)
    kind = rng.randrange(4)
    if kind == 0:
        e = _poly(rng, v)
    elif kind == 1:
        e = rng.randint(1, 5) * sp.sin(rng.randint(1, 4) * v) + _poly(rng, v, 1)
    elif kind == 2:
        e = sp.exp(rng.randint(1, 3) * v) * _poly(rng, v, 1)
    else:
        e = sp.log(v ** 2 + rng.randint(1, 9))
    f = rng.choice(_FUNCS)
    return Formula(
        f"\\frac{{d}}{{d{_latex(v)}}} \\left({_latex(e)}\\right) = {_latex(sp.diff(e, v))}",
        "calculus", rng.random() < 0.6,
    ) if rng.random() < 0.5 else Formula(
        f"{f}'({_latex(v)}) = {_latex(sp.diff(e, v))}", "calculus", rng.random() < 0.3
    )


def integral(rng: random.Random) -> Formula:
    v = rng.choice(_VARS[:3])
    e = _poly(rng, v, rng.randint(1, 3), -5, 5)
    anti = sp.Poly(e, v).integrate().as_expr()  # Poly.integrate: exact and ~50x faster than sp.integrate
    if rng.random() < 0.5:
        a, b = sorted(rng.sample(range(-3, 6), 2))
        val = anti.subs(v, b) - anti.subs(v, a)
        return Formula(f"\\int_{{{a}}}^{{{b}}} {_latex(e)} \\, d{_latex(v)} = {_latex(val)}", "calculus", True)
    return Formula(f"\\int {_latex(e)} \\, d{_latex(v)} = {_latex(anti)} + C", "calculus", True)


def limit(rng: random.Random) -> Formula:
    k = rng.randint(1, 7)
    choice = rng.randrange(3)
    # The values are known in closed form; sympy.limit would be 100x slower.
    if choice == 0:
        e, at, val = sp.sin(k * X) / X, 0, k
    elif choice == 1:
        e, at, val = (1 + sp.Rational(k, 1) / X) ** X, sp.oo, sp.exp(k)
    else:
        a = rng.randint(1, 6)
        e, at, val = (X ** 2 - a ** 2) / (X - a), a, 2 * a
    return Formula(f"\\lim_{{x \\to {_latex(at)}}} {_latex(e)} = {_latex(val)}", "calculus", rng.random() < 0.5)


def series(rng: random.Random) -> Formula:
    p = rng.randint(1, 3)
    c = rng.randint(1, 4)
    d = rng.randint(0, 5)
    e = c * K ** p + d
    # Faulhaber's closed forms for p <= 3 (sympy.summation is slow and gives the same).
    power_sums = {1: N * (N + 1) / 2, 2: N * (N + 1) * (2 * N + 1) / 6, 3: (N * (N + 1) / 2) ** 2}
    s = sp.factor(c * power_sums[p] + d * N)
    return Formula(f"\\sum_{{k=1}}^{{n}} \\left({_latex(e)}\\right) = {_latex(s)}", "algebra", True)


def quadratic(rng: random.Random) -> Formula:
    r1, r2 = rng.randint(-9, 9), rng.randint(-9, 9)
    a = rng.choice([1, 1, 2, 3, -1])
    e = sp.expand(a * (X - r1) * (X - r2))
    roots = sorted(set([r1, r2]))
    sol = ", ".join(f"x = {r}" for r in roots)
    if rng.random() < 0.5:
        return Formula(f"{_latex(e)} = 0 \\implies {sol}", "algebra", rng.random() < 0.5)
    return Formula(f"{_latex(e)} = {_latex(sp.factor(e))}", "algebra", rng.random() < 0.4)


def matrix(rng: random.Random) -> Formula:
    n = rng.choice([2, 2, 3])
    m = sp.Matrix(n, n, [rng.randint(-5, 7) for _ in range(n * n)])
    if rng.random() < 0.5:
        return Formula(f"\\det {_latex(m)} = {m.det()}", "linear_algebra", True)
    lam = sp.Symbol("lambda")
    cp = sp.expand((m - lam * sp.eye(n)).det())
    return Formula(f"\\det(A - \\lambda I) = {_latex(cp)}", "linear_algebra", True)


def probability(rng: random.Random) -> Formula:
    n = rng.randint(4, 12)
    k = rng.randint(1, n - 1)
    p = sp.Rational(rng.randint(1, 5), 6)
    choice = rng.randrange(3)
    if choice == 0:
        val = sp.binomial(n, k) * p ** k * (1 - p) ** (n - k)
        return Formula(
            f"P(X = {k}) = \\binom{{{n}}}{{{k}}} \\left({_latex(p)}\\right)^{{{k}}} \\left({_latex(1 - p)}\\right)^{{{n - k}}} = {_latex(val)}",
            "probability", True,
        )
    if choice == 1:
        return Formula(f"\\mathbb{{E}}[X] = n p = {n} \\cdot {_latex(p)} = {_latex(n * p)}", "probability", rng.random() < 0.5)
    mu, sigma = rng.randint(-3, 10), rng.randint(1, 4)
    return Formula(
        f"f(x) = \\frac{{1}}{{{sigma}\\sqrt{{2\\pi}}}} e^{{-\\frac{{(x - {mu})^2}}{{{2 * sigma ** 2}}}}}",
        "probability", True,
    )


def number_theory(rng: random.Random) -> Formula:
    m = rng.choice([5, 7, 9, 11, 13, 17])
    a = rng.randint(2, 40)
    e = rng.randint(2, 30)
    choice = rng.randrange(3)
    if choice == 0:
        return Formula(f"{a}^{{{e}}} \\equiv {pow(a, e, m)} \\pmod{{{m}}}", "number_theory", rng.random() < 0.4)
    if choice == 1:
        u, v = rng.randint(10, 400), rng.randint(10, 400)
        return Formula(f"\\gcd({u}, {v}) = {sp.gcd(u, v)}", "number_theory", False)
    nn = rng.randint(2, 24) * rng.randint(2, 24)
    fac = " \\cdot ".join(f"{p}^{{{k}}}" if k > 1 else str(p) for p, k in sorted(sp.factorint(nn).items()))
    return Formula(f"{nn} = {fac}", "number_theory", False)


def geometry(rng: random.Random) -> Formula:
    choice = rng.randrange(3)
    if choice == 0:
        a, b = rng.randint(1, 20), rng.randint(1, 20)
        return Formula(f"c = \\sqrt{{{a}^2 + {b}^2}} = {_latex(sp.sqrt(a * a + b * b))}", "geometry", rng.random() < 0.5)
    if choice == 1:
        r = rng.randint(1, 12)
        return Formula(f"A = \\pi r^2 = {_latex(sp.pi * r ** 2)}", "geometry", False)
    ang = rng.choice([30, 45, 60, 90, 120, 135, 150])
    return Formula(
        f"\\cos {ang}^\\circ = {_latex(sp.cos(sp.pi * ang / 180))}", "geometry", False
    )


def trig(rng: random.Random) -> Formula:
    k = rng.randint(2, 4)
    e = sp.sin(k * X)
    return Formula(f"{_latex(e)} = {_latex(sp.expand_trig(e))}", "calculus", True)


def inline_symbol(rng: random.Random) -> Formula:
    """Short inline math: a variable, a function value, a set, an inequality."""
    v = rng.choice(["x", "y", "n", "k", "t", "a", "b", "\\epsilon", "\\delta", "\\theta", "\\alpha", "z"])
    f = rng.choice(_FUNCS)
    options = [
        v,
        f"{f}({v})",
        f"{v} \\in \\mathbb{{{rng.choice('RNZQC')}}}",
        f"{v} > {rng.randint(0, 9)}",
        f"0 < {v} < {rng.randint(1, 9)}",
        f"{f}: \\mathbb{{R}} \\to \\mathbb{{R}}",
        f"{v}_{{{rng.choice(['n', 'k', 'i', '0', '1'])}}}",
        f"|{v}| \\le {rng.randint(1, 5)}",
        f"\\{{{v}_n\\}}_{{n \\ge 1}}",
        f"{v}^{{{rng.randint(2, 5)}}}",
        f"\\sqrt{{{v}}}",
        f"\\frac{{{rng.randint(1, 9)}}}{{{v}}}",
    ]
    return Formula(rng.choice(options), "notation", False)


GENERATORS = {
    "calculus": [derivative, integral, limit, trig],
    "algebra": [quadratic, series],
    "linear_algebra": [matrix],
    "probability": [probability],
    "number_theory": [number_theory],
    "geometry": [geometry],
}
TOPICS = list(GENERATORS)


def formula(rng: random.Random, topic: str | None = None) -> Formula:
    topic = topic or rng.choice(TOPICS)
    return rng.choice(GENERATORS[topic])(rng)
