"""Domain discovery and URL-path annotation (DeepSeekMath §2.1), as pure functions.

A *domain* is the host of a page's normalised URL (the pool's ``domain``
column). A domain is *math* when more than ``math_domain_share`` of its pool
pages were recalled. For each math domain we propose path prefixes (the first
``prefix_depth`` directories of the URL path, e.g. ``/questions/``) into a
tab-separated file a person can edit::

    domain<TAB>prefix<TAB>recalled<TAB>total<TAB>accepted
    mathoverflow.net<TAB>/questions/<TAB>812<TAB>830<TAB>yes

The next round reads the file as edited: ``accepted`` yes/no flips a proposal,
deleted lines are gone, added lines (``recalled``/``total`` may be empty or ``-``)
count like proposals. Pool pages under accepted prefixes that the round did not
recall join the seed positives.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.core import storage
from pipeline.core.schema import ANNOTATION_COLUMNS


class AnnotationError(ValueError):
    """The annotation file has a bad line; the message names the file and line."""


@dataclass(frozen=True)
class PrefixRow:
    domain: str
    prefix: str
    recalled: int | None
    total: int | None
    accepted: bool


_YES = {"yes", "y", "true", "1", "accept", "accepted"}
_NO = {"no", "n", "false", "0", "reject", "rejected"}


def normalize_domain(domain: str) -> str:
    d = domain.strip().lower().rstrip(".")
    return d[4:] if d.startswith("www.") and d.count(".") >= 2 else d


def url_path(url: str) -> str:
    return urlsplit(url).path or "/"


def path_prefix(path: str, depth: int) -> str | None:
    """The first ``depth`` directories of ``path`` (``/a/b/c`` at depth 1: ``/a/``); None for a page
    that sits above that depth (``/about`` has no directory at depth 1)."""
    segs = [s for s in path.split("/") if s]
    if len(segs) <= depth:
        return None
    return "/" + "/".join(segs[:depth]) + "/"


def under_prefix(path: str, prefix: str) -> bool:
    return prefix == "/" or path.startswith(prefix)


# --- domain discovery ----------------------------------------------------------

def discover_domains(domains: list[str], recalled: list[bool], share: float) -> dict[str, tuple[int, int, bool]]:
    """domain -> (pool pages, recalled pages, is_math); math when recalled/pages > ``share``."""
    pages: dict[str, int] = defaultdict(int)
    hits: dict[str, int] = defaultdict(int)
    for d, r in zip(domains, recalled):
        pages[d] += 1
        hits[d] += bool(r)
    return {d: (n, hits[d], hits[d] / n > share) for d, n in pages.items()}


# --- proposals -----------------------------------------------------------------

def propose_prefixes(urls: list[str], domains: list[str], recalled: list[bool], math_domains: set[str], *,
                     depth: int, min_pages: int, share: float) -> list[PrefixRow]:
    """Every prefix of a math domain with at least ``min_pages`` pool pages, accepted when at least
    ``share`` of its pages were recalled. Unaccepted prefixes are listed too so that a person can
    accept them by changing one word."""
    total: dict[tuple[str, str], int] = defaultdict(int)
    hits: dict[tuple[str, str], int] = defaultdict(int)
    for url, dom, rec in zip(urls, domains, recalled):
        if dom not in math_domains:
            continue
        prefix = path_prefix(url_path(url), depth)
        if prefix is None:
            continue
        total[(dom, prefix)] += 1
        hits[(dom, prefix)] += bool(rec)
    rows = [PrefixRow(d, p, hits[(d, p)], n, hits[(d, p)] / n >= share)
            for (d, p), n in total.items() if n >= min_pages]
    return sorted(rows, key=lambda r: (r.domain, r.prefix))


def human_edits(edited: list[PrefixRow], proposed: list[PrefixRow] | None) -> tuple[list[PrefixRow], set]:
    """What a person changed in a proposal: (lines added or with ``accepted`` flipped, keys deleted).

    ``proposed`` is the round's untouched proposal; None means the whole file is a person's
    (a user-provided annotation file), so every line is a decision and nothing was deleted.
    """
    if proposed is None:
        return list(edited), set()
    auto = {(r.domain, r.prefix): r.accepted for r in proposed}
    changed = [r for r in edited if auto.get((r.domain, r.prefix)) != r.accepted]
    deleted = set(auto) - {(r.domain, r.prefix) for r in edited}
    return changed, deleted


def merge_decisions(proposed: list[PrefixRow], decisions: list[PrefixRow], deleted: set) -> list[PrefixRow]:
    """The next proposal with a person's decisions applied: their ``accepted`` wins, their added
    lines stay, lines they deleted are not proposed again. Counts come from the new round."""
    out = {(r.domain, r.prefix): r for r in proposed if (r.domain, r.prefix) not in deleted}
    for r in decisions:
        k = (r.domain, r.prefix)
        base = out.get(k, r)
        out[k] = PrefixRow(r.domain, r.prefix, base.recalled, base.total, r.accepted)
    return sorted(out.values(), key=lambda r: (r.domain, r.prefix))


# --- the TSV file --------------------------------------------------------------

def write_annotation(path: str | Path, rows: list[PrefixRow], comment: str = "") -> None:
    lines = []
    if comment:
        lines += [f"# {c}" for c in comment.splitlines()]
    lines.append("\t".join(ANNOTATION_COLUMNS))
    for r in rows:
        lines.append("\t".join([r.domain, r.prefix, "-" if r.recalled is None else str(r.recalled),
                                "-" if r.total is None else str(r.total), "yes" if r.accepted else "no"]))
    storage.write_bytes(str(path), ("\n".join(lines) + "\n").encode("utf-8"))


def _count(value: str, name: str, where: str) -> int | None:
    v = value.strip()
    if v in ("", "-"):
        return None
    try:
        n = int(v)
    except ValueError:
        raise AnnotationError(f"{where}: {name} must be a whole number, '-' or empty, got {value!r}") from None
    if n < 0:
        raise AnnotationError(f"{where}: {name} must not be negative, got {n}")
    return n


def read_annotation(path: str | Path) -> list[PrefixRow]:
    """Parse an annotation TSV; any bad line raises :class:`AnnotationError` naming ``file:line``.

    Blank lines and lines starting with ``#`` are ignored; the header line is optional.
    """
    path = str(path)
    try:
        data = storage.read_bytes(path)
    except (FileNotFoundError, IsADirectoryError):
        raise AnnotationError(f"annotation file not found: {path}") from None
    rows: list[PrefixRow] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text ({exc})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        where = f"{path}:{lineno}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split("\t")
        if [c.strip().lower() for c in cols] == list(ANNOTATION_COLUMNS):
            continue
        if len(cols) != len(ANNOTATION_COLUMNS):
            hint = " (columns must be separated by tabs)" if len(cols) == 1 and " " in line.strip() else ""
            raise AnnotationError(f"{where}: expected {len(ANNOTATION_COLUMNS)} tab-separated columns "
                                  f"({', '.join(ANNOTATION_COLUMNS)}), got {len(cols)}{hint}")
        domain, prefix, recalled, total, accepted = cols
        domain = normalize_domain(domain)
        if not domain or "/" in domain or " " in domain:
            raise AnnotationError(f"{where}: domain must be a host name like example.org, got {cols[0]!r}")
        prefix = prefix.strip()
        if not prefix.startswith("/"):
            raise AnnotationError(f"{where}: prefix must be a URL path starting with '/', got {cols[1]!r}")
        acc = accepted.strip().lower()
        if acc not in _YES | _NO:
            raise AnnotationError(f"{where}: accepted must be yes or no, got {accepted!r}")
        key = (domain, prefix)
        if key in seen:
            raise AnnotationError(f"{where}: {domain} {prefix} is already on line {seen[key]}")
        seen[key] = lineno
        rows.append(PrefixRow(domain, prefix, _count(recalled, "recalled", where), _count(total, "total", where),
                              acc in _YES))
    return rows


def accepted_prefixes(rows: list[PrefixRow]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r.accepted:
            out[r.domain].append(r.prefix)
    return dict(out)


def pages_under(urls: list[str], domains: list[str], accepted: dict[str, list[str]]) -> list[str | None]:
    """For each page, the accepted prefix it falls under (the longest), or None."""
    out: list[str | None] = []
    for url, dom in zip(urls, domains):
        prefixes = accepted.get(dom)
        if not prefixes:
            out.append(None)
            continue
        path = url_path(url)
        hit = [p for p in prefixes if under_prefix(path, p)]
        out.append(max(hit, key=len) if hit else None)
    return out
