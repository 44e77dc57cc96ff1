"""trafilatura's ``re:test`` XPaths, guarded so that lxml calls the regex only where it can match.

Why: trafilatura (2.1 and later) selects boilerplate and content blocks with XPaths that call the
EXSLT function ``re:test(@class, 'pattern')``. lxml runs each such call as a Python callback,
about 1.7 microseconds per element per call even when the function does nothing, and these XPaths
run over every element of every page, several times per page (a tenth of the pool stage's time).

Each call gets a guard that libxml2 evaluates in C, placed before it with ``and``, so the callback
runs only where the guard holds, and the regex still decides:

* ``re:test(@class, P)`` -> ``(@class and re:test(@class, P))``. Most elements have no ``class``
  or ``id`` (4 in 5 on the benchmark pages); for them lxml hands ``re.search`` the empty string,
  which none of trafilatura's patterns match (a pattern that matches ``''`` is left alone).
* When every match of a case-sensitive P must contain one of at most 4 literal strings (read off
  the parsed pattern: ``comment-?list`` needs ``comment-list`` or ``commentlist``), the guard is
  ``contains(@class, 'comment-list') or contains(@class, 'commentlist')`` instead. ``contains``
  reads the same string ``re:test`` does (the first node of the attribute node-set, '' if none).

A necessary condition in front of the original call cannot change a result. Rewriting the regexes
as ``contains()`` chains outright was tried and is slower: a 60-way alternation costs more as 60
XPath calls than as one regex. No library offers this (lxml has no cheaper regex hook,
trafilatura no switch), hence by hand. The tests check, element for element, that every guarded
XPath selects what the original selects, on real pages and on probes built from every pattern;
on the speed benchmark's 1,129 pages and the 16 real HTML pages the extracted text is identical.
"""
from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass, field

from lxml.etree import XPath

try:  # Python 3.11+
    from re import _constants as _sre_c
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

EXSLT_REGEXP_NS = "http://exslt.org/regular-expressions"

#: ``re:test(ARG, 'PATTERN')`` or ``re:test(ARG, 'PATTERN', 'FLAGS')`` where ARG is an attribute or
#: a union of attributes (``@class``, ``@id|@class``), the only form trafilatura writes.
_RE_TEST_CALL = re.compile(
    r"re:test\(\s*(?P<arg>@[\w-]+(?:\s*\|\s*@[\w-]+)*)\s*,\s*'(?P<pattern>[^']*)'"
    r"(?:\s*,\s*'(?P<flags>[^']*)')?\s*\)"
)


def _matches_empty(pattern: str, flags: str) -> bool:
    """Whether lxml's ``re:test('', pattern, flags)`` is true (it compiles with re.UNICODE, adding
    re.IGNORECASE when 'i' is in the flags); a pattern Python cannot compile counts as true, so it
    is left alone."""
    try:
        return re.compile(pattern, re.UNICODE | (re.IGNORECASE if "i" in flags else 0)).search("") is not None
    except re.error:
        return True


#: A pattern whose matches need more distinct literals than this gets only the attribute guard.
MAX_PREFILTER_LITERALS = 4


class _NoLiterals(Exception):
    pass


#: Stands for "some characters" inside an expansion: never compared, only split on.
_GAP = "\0"


def _expansions(items, limit: int = 512) -> list[str]:
    """Every way a parsed pattern can match, as strings in which _GAP marks characters the
    expansion does not spell out (a class like ``\\s``, ``.``, an unbounded repeat); anchors and
    lookaheads take no characters. :class:`_NoLiterals` past ``limit`` expansions."""
    out = [""]
    for op, av in items:
        if op is _sre_c.LITERAL:
            options = [chr(av)]
        elif op is _sre_c.IN:
            options = []
            for kind, value in av:
                if kind is _sre_c.LITERAL:
                    options.append(chr(value))
                elif kind is _sre_c.RANGE and value[1] - value[0] < 64:
                    options.extend(chr(c) for c in range(value[0], value[1] + 1))
                else:  # a category, a negation, a wide range
                    options = [_GAP]
                    break
        elif op is _sre_c.BRANCH:
            options = [x for branch in av[1] for x in _expansions(branch, limit)]
        elif op is _sre_c.SUBPATTERN:
            if av[1] or av[2]:  # inline flags such as (?i:...)
                raise _NoLiterals("inline flags")
            options = _expansions(av[3], limit)
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT) and av[1] is not _sre_c.MAXREPEAT and av[1] <= 8:
            once = _expansions(av[2], limit)
            options, seq = [], [""]
            for count in range(av[1] + 1):
                if count >= av[0]:
                    options.extend(seq)
                seq = [a + b for a in seq for b in once]
        elif op is _sre_c.AT or op is _sre_c.ASSERT_NOT or op is _sre_c.ASSERT:
            options = [""]
        else:  # '.', unbounded repeats, backreferences, ...
            options = [_GAP]
        out = [a + b for a in out for b in dict.fromkeys(options)]
        if len(out) > limit:
            raise _NoLiterals("too many expansions")
    return out


def required_literals(pattern: str) -> list[str] | None:
    """A few strings of which every match of ``pattern`` (case-sensitive) contains one, or None.

    Each expansion contributes its longest literal stretch; a string holding another one is
    dropped (finding the shorter one is already necessary). None when that leaves an empty string
    or more than MAX_PREFILTER_LITERALS strings."""
    try:
        parsed = _sre_parse.parse(pattern)
        if parsed.state.flags & re.IGNORECASE:  # a leading (?i)
            return None
        texts = {max(t.split(_GAP), key=len) for t in _expansions(parsed)}
    except (_NoLiterals, re.error, RecursionError):
        return None
    if "" in texts:
        return None
    kept = sorted(t for t in texts if not any(o != t and o in t for o in texts))
    if len(kept) > MAX_PREFILTER_LITERALS or any("'" in t for t in kept):
        return None
    return kept


def guard_regex_tests(path: str) -> tuple[str, int, int]:
    """(``path`` with each ``re:test(@a|@b, P)`` that cannot match '' preceded by ``(@a or @b) and``,
    calls guarded, calls left as they were)."""
    guarded = 0

    def swap(match: re.Match) -> str:
        nonlocal guarded
        if _matches_empty(match["pattern"], match["flags"] or ""):
            return match.group(0)
        guarded += 1
        arg = match["arg"]
        attrs = [a.strip() for a in arg.split("|")]
        guard = attrs[0] if len(attrs) == 1 else "(" + " or ".join(attrs) + ")"
        literals = None if "i" in (match["flags"] or "") else required_literals(match["pattern"])
        if literals:
            # contains() reads the same string as re:test: the first node of ARG, '' if none
            guard = " or ".join(f"contains({arg}, '{t}')" for t in literals)
            guard = f"({guard})" if len(literals) > 1 else guard
        return f"({guard} and {match.group(0)})"

    new_path = _RE_TEST_CALL.sub(swap, path)
    return new_path, guarded, path.count("re:test(") - guarded


@dataclass
class GuardReport:
    xpaths_rewritten: int = 0
    calls_guarded: int = 0
    calls_left: int = 0
    #: id(original XPath) -> (original, guarded); the originals stay referenced for the tests
    replaced: dict = field(default_factory=dict)
    made: set = field(default_factory=set)


def _guarded(xpath, report: GuardReport):
    if id(xpath) in report.replaced:
        return report.replaced[id(xpath)][1]
    if id(xpath) in report.made:  # already a guarded twin (met again through another module)
        return xpath
    new_path, guarded, left = guard_regex_tests(xpath.path)
    report.calls_guarded += guarded
    report.calls_left += left
    new = XPath(new_path, namespaces={"re": EXSLT_REGEXP_NS}) if guarded else xpath
    report.xpaths_rewritten += bool(guarded)
    report.replaced[id(xpath)] = (xpath, new)
    report.made.add(id(new))
    return new


def _has_regex(value) -> bool:
    return isinstance(value, XPath) and "re:test(" in value.path


def _rebind(swap) -> None:
    """Replace, in every loaded trafilatura module, each XPath for which ``swap(x)`` returns another
    object: module globals, and items of module-level lists (in place: other modules share them)
    and tuples. ``swap`` returns its argument to leave it."""
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "trafilatura" or name.startswith("trafilatura.")):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, list) and value:
                if any(swap(x) is not x for x in value):
                    value[:] = [swap(x) for x in value]
            elif isinstance(value, tuple) and value:
                if any(swap(x) is not x for x in value):
                    setattr(module, attr, tuple(swap(x) for x in value))
            elif swap(value) is not value:
                setattr(module, attr, swap(value))


@functools.cache
def install() -> GuardReport:
    """Swap every ``re:test`` XPath held by trafilatura's modules for its guarded twin. Once per
    process; returns what it did."""
    import trafilatura  # noqa: F401  (imports the submodules that compile the XPaths)

    report = GuardReport()
    _rebind(lambda x: _guarded(x, report) if _has_regex(x) else x)
    return report


def uninstall() -> None:
    """Put trafilatura's original XPaths back (to compare against them); :func:`install` redoes it."""
    if not install.cache_info().currsize:
        return
    originals = {id(new): orig for orig, new in install().replaced.values()}
    _rebind(lambda x: originals.get(id(x), x))
    install.cache_clear()
