"""The benchmark index and the one-pass page scan (the pure core of the stage).

Index
    Every benchmark text is normalised and tokenised (:mod:`decontam.text`).

    * Texts of at least ``n`` tokens contribute all their ``n``-grams. Each distinct
      token of the benchmarks gets a fixed pseudo-random 64-bit value (blake2b of the
      token), and an ``n``-gram's hash is ``sum(value[t_j] * MULT[j]) mod 2**64`` with
      fixed odd multipliers. The hashes, sorted, are one numpy ``uint64`` array;
      ``owners`` (same order) says which benchmark text each came from, so one
      n-gram shared by two benchmarks (AGIEval's MATH subset) names both.
    * Texts of ``short_min``..``short_max`` tokens are matched as exact substrings of
      the normalised page with an Aho-Corasick automaton (pyahocorasick). A match may
      not start or end inside a (non-CJK) word: ``x = 12`` does not match in ``x = 123``.
    * Shorter texts are ignored (a bare answer ``18`` says nothing).

Scan
    One regex pass tokenises the normalised page; tokens are mapped to their values
    through the benchmark vocabulary (a token the benchmarks never use gets 0 and no
    window holding it can match, so unseen words cost one dict lookup). The window
    hashes of the whole page are computed with ``n`` vectorised numpy operations and
    looked up with one ``searchsorted`` in the sorted array. Hash collisions are
    possible in principle (2**-64 per pair); the audit log shows the matched text.

The index is a plain picklable object: the Ray stage ``ray.put``s it once and each
worker actor receives it at start-up.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from itertools import repeat
from typing import Iterable, Sequence

import numpy as np

from decontam.loaders import BenchmarkText
from decontam.text import is_word_char, normalize, token_spans, tokens


def _token_value(tok: str) -> int:
    # Never 0: 0 marks "not a benchmark token".
    return int.from_bytes(hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest(), "little") | 1


def _multipliers(n: int) -> np.ndarray:
    vals = [int.from_bytes(hashlib.blake2b(f"decontam-mult-{j}".encode(), digest_size=8).digest(), "little") | 1
            for j in range(n)]
    return np.array(vals, dtype=np.uint64)


def _window_hashes(vals: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Hash of every n-window of ``vals`` (uint64 arithmetic wraps mod 2**64)."""
    n = len(mult)
    length = len(vals) - n + 1
    h = vals[:length] * mult[0]
    for j in range(1, n):
        h += vals[j:j + length] * mult[j]
    return h


@dataclass(frozen=True)
class Match:
    """One benchmark text found in a page."""

    owner: int          # index into BenchmarkIndex.texts
    kind: str           # "ngram" or "exact"
    offset: int         # character offset in the normalised page
    matched: str        # the matched span of the normalised page
    n_tokens: int


@dataclass
class ScanResult:
    tokens: int
    matches: list[Match] = field(default_factory=list)  # first match per benchmark item, by offset
    hits: int = 0                                        # matching windows + exact matches, all items

    @property
    def contaminated(self) -> bool:
        return bool(self.matches)


class BenchmarkIndex:
    """All benchmark n-gram hashes in one sorted array, plus the short-text automaton."""

    def __init__(self, texts: Sequence[BenchmarkText], n: int = 10, short_min: int = 3, short_max: int = 9):
        if n < 2:
            raise ValueError("n must be at least 2")
        if not 1 <= short_min <= short_max < n:
            raise ValueError(f"need 1 <= short_min <= short_max < n, got {short_min}, {short_max}, n={n}")
        self.n, self.short_min, self.short_max = n, short_min, short_max
        self.texts = list(texts)
        self.mult = _multipliers(n)
        self.vocab: dict[str, int] = {}
        hashes: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        self.short: dict[str, list[int]] = {}
        self.stats = {"texts": len(self.texts), "ngram_texts": 0, "short_texts": 0, "ignored_texts": 0}
        for i, t in enumerate(self.texts):
            norm = normalize(t.text)
            toks = tokens(norm)
            if len(toks) >= n:
                for tok in toks:
                    if tok not in self.vocab:
                        self.vocab[tok] = _token_value(tok)
                vals = np.fromiter((self.vocab[tok] for tok in toks), dtype=np.uint64, count=len(toks))
                h = np.unique(_window_hashes(vals, self.mult))
                hashes.append(h)
                owners.append(np.full(len(h), i, dtype=np.int32))
                self.stats["ngram_texts"] += 1
            elif len(toks) >= short_min:
                self.short.setdefault(norm, []).append(i)
                self.stats["short_texts"] += 1
            else:
                self.stats["ignored_texts"] += 1
        h = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
        o = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int32)
        order = np.lexsort((o, h))
        self.hashes, self.owners = h[order], o[order]
        self.stats.update(ngrams=int(len(np.unique(self.hashes))), vocab=len(self.vocab),
                          items=len({(t.benchmark, t.item_id) for t in self.texts}))
        self._automaton = None

    # -- pickling: the automaton is rebuilt where it is used (cheap, and keeps the pickle small)
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_automaton"] = None
        return state

    def fingerprint(self) -> str:
        """Changes whenever the benchmark texts or the rule's parameters change (resume safety)."""
        h = hashlib.sha256(json.dumps([self.n, self.short_min, self.short_max]).encode())
        for t in self.texts:
            h.update(json.dumps([t.benchmark, t.item_id, t.field, t.text], ensure_ascii=False).encode())
        return h.hexdigest()[:16]

    def _get_automaton(self):
        if self._automaton is None and self.short:
            # pyahocorasick: a C Aho-Corasick automaton; all short texts found in one pass.
            import ahocorasick

            a = ahocorasick.Automaton()
            for text, owners in self.short.items():
                a.add_word(text, (text, tuple(owners)))
            a.make_automaton()
            self._automaton = a
        return self._automaton

    # -- scanning -------------------------------------------------------------------
    def scan(self, text: str, all_items: bool = True) -> ScanResult:
        """Scan one page. ``all_items=False`` stops at the first hit (enough to drop a page)."""
        norm = normalize(text)
        toks = tokens(norm)
        res = ScanResult(tokens=len(toks))
        found: dict[tuple[str, str], Match] = {}
        self._scan_ngrams(norm, toks, res, found, all_items)
        if all_items or not found:
            self._scan_short(norm, res, found, all_items)
        res.matches = sorted(found.values(), key=lambda m: (m.offset, m.owner))
        return res

    def _record(self, found: dict, owner: int, match: Match) -> None:
        t = self.texts[owner]
        key = (t.benchmark, t.item_id)
        old = found.get(key)
        if old is None or match.offset < old.offset:
            found[key] = match

    def _scan_ngrams(self, norm: str, toks: list[str], res: ScanResult, found: dict, all_items: bool) -> None:
        n = self.n
        if len(toks) < n or not len(self.hashes):
            return
        vals = np.fromiter(map(self.vocab.get, toks, repeat(0)), dtype=np.uint64, count=len(toks))
        oov = vals == 0
        if oov.all():
            return
        wh = _window_hashes(vals, self.mult)
        pos = np.searchsorted(self.hashes, wh)
        np.minimum(pos, len(self.hashes) - 1, out=pos)
        hit = self.hashes[pos] == wh
        if not hit.any():
            return
        # A window holding an out-of-vocabulary token cannot be a benchmark n-gram.
        c = np.concatenate(([0], np.cumsum(oov)))
        hit &= (c[n:] - c[:-n]) == 0
        idx = np.flatnonzero(hit)
        if not len(idx):
            return
        res.hits += len(idx)
        spans = token_spans(norm)
        for i in (idx if all_items else idx[:1]):
            hv = wh[i]
            lo = int(pos[i])
            hi = int(np.searchsorted(self.hashes, hv, side="right"))
            start, end = spans[i][0], spans[i + n - 1][1]
            for owner in self.owners[lo:hi]:
                self._record(found, int(owner), Match(int(owner), "ngram", start, norm[start:end], n))

    def _scan_short(self, norm: str, res: ScanResult, found: dict, all_items: bool) -> None:
        auto = self._get_automaton()
        if auto is None:
            return
        for end, (pattern, owners) in auto.iter(norm):
            start = end - len(pattern) + 1
            # Do not cut through a word: "x = 12" is not in "x = 123".
            if start > 0 and is_word_char(pattern[0]) and is_word_char(norm[start - 1]):
                continue
            if end + 1 < len(norm) and is_word_char(pattern[-1]) and is_word_char(norm[end + 1]):
                continue
            res.hits += 1
            for owner in owners:
                self._record(found, owner, Match(owner, "exact", start, pattern, len(tokens(pattern))))
            if not all_items:
                return


def build_index(texts: Iterable[BenchmarkText], n: int = 10, short_min: int = 3, short_max: int = 9) -> BenchmarkIndex:
    return BenchmarkIndex(list(texts), n=n, short_min=short_min, short_max=short_max)
