"""The benchmark index and the one-pass page scan (the pure core of the stage).

Index
    Every benchmark text is normalised and tokenised (:mod:`decontam.text`).

    * A text whose tokens are mostly CJK characters uses ``n_cjk`` (default 20: ten
      Chinese words are about twenty characters; with 10 characters, template phrases
      such as "小时一共行驶了多少千" removed clean Chinese pages), other texts ``n``.
    * Texts of at least their ``n`` tokens contribute all their ``n``-grams. Each distinct
      token of the benchmarks gets a fixed pseudo-random 64-bit value (blake2b of the
      token), and an ``n``-gram's hash is ``sum(value[t_j] * MULT[j]) mod 2**64`` with
      fixed odd multipliers. The hashes, sorted, are one numpy ``uint64`` array;
      ``owners`` (same order) says which benchmark text each came from, so one
      n-gram shared by two benchmarks (AGIEval's MATH subset) names both.
    * Texts of ``short_min``..``short_max`` tokens (``short_min``..``n_cjk - 1`` for
      CJK texts) are matched as exact substrings of the normalised page with an
      Aho-Corasick automaton (pyahocorasick). A match may not start or end inside a
      (non-CJK) word: ``x = 12`` does not match in ``x = 123``.
    * Shorter texts are ignored (a bare answer ``18`` says nothing).
    * With ``require_word`` (default), formula-only material is not evidence: an
      n-gram window, or a short answer/option text, counts only if it holds a word of
      two or more letters or a CJK character (a short *question* always counts). ``\\frac{1}{6}`` or ``1 2 3 4 5 6 7 8 9 10`` occur on
      countless clean pages; a quoted question or solution always has words.

Scan
    One regex pass tokenises the normalised page; tokens are mapped to their values
    through the benchmark vocabulary (a token the benchmarks never use gets 0 and no
    window holding it can match, so unseen words cost one dict lookup). The window
    hashes of the whole page are computed with ``n`` vectorised numpy operations and
    looked up with one ``searchsorted`` in the sorted array. Hash collisions are
    possible in principle (2**-64 per pair); the audit log shows the matched text.

The index is a plain picklable object: the stage places it in the object store once
(``Executor.put``) and each worker receives it at set-up.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from itertools import repeat
from typing import Iterable, Sequence

import numpy as np

from decontam.loaders import BenchmarkText
from decontam.text import is_cjk, is_word_char, is_wordy, normalize, token_spans, tokens

#: A short text in one of these fields is a whole question: it identifies its item even
#: when it is all formula (``$(1+\\sqrt{3} i)^{3}=(\\qquad)$``), unlike a bare final
#: answer or option list, so ``require_word`` does not apply to it.
QUESTION_FIELDS = frozenset({"question", "problem", "passage"})

#: Bumped whenever tokenisation changes, so resumed runs rescan.
TOKENISER_VERSION = 3


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


def _filter_shift(n_hashes: int) -> int:
    # about 32 bits per stored hash: a clean window passes with probability ~3%
    bits = max(16, min(30, int(np.ceil(np.log2(max(n_hashes, 1) * 32)))))
    return 64 - bits


def _bit_filter(hashes: np.ndarray) -> np.ndarray:
    """A one-hash Bloom filter over the top bits of each hash (little-endian bit order)."""
    shift = _filter_shift(len(hashes))
    top = (hashes >> np.uint64(shift)).astype(np.int64)
    flags = np.zeros(1 << (64 - shift), dtype=bool)
    flags[top] = True
    return np.packbits(flags, bitorder="little")


def _bit_test(bits: np.ndarray, wh: np.ndarray) -> np.ndarray:
    shift = 64 - int(np.log2(len(bits) * 8))
    top = (wh >> np.uint64(shift)).astype(np.int64)
    return (bits[top >> 3] >> (top & 7).astype(np.uint8)) & 1


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
    """All benchmark n-gram hashes in sorted arrays (one per window size), plus the short-text automaton."""

    def __init__(self, texts: Sequence[BenchmarkText], n: int = 10, short_min: int = 3, short_max: int = 9,
                 n_cjk: int = 20, require_word: bool = True):
        if n < 2 or n_cjk < 2:
            raise ValueError("n and n_cjk must be at least 2")
        if not 1 <= short_min <= short_max < n or short_min >= n_cjk:
            raise ValueError(f"need 1 <= short_min <= short_max < n and short_min < n_cjk, got "
                             f"{short_min}, {short_max}, n={n}, n_cjk={n_cjk}")
        self.n, self.short_min, self.short_max, self.n_cjk = n, short_min, short_max, n_cjk
        self.require_word = require_word
        self.texts = list(texts)
        self.mult = _multipliers(max(n, n_cjk))
        self.vocab: dict[str, int] = {}
        parts: dict[int, tuple[list, list]] = {}
        self.short: dict[str, list[int]] = {}
        self.stats = {"texts": len(self.texts), "ngram_texts": 0, "short_texts": 0, "ignored_texts": 0,
                      "cjk_texts": 0, "formula_windows_skipped": 0}
        for i, t in enumerate(self.texts):
            norm = normalize(t.text)
            toks = tokens(norm)
            cjk = sum(1 for tok in toks if is_cjk(tok)) * 2 >= len(toks) > 0
            self.stats["cjk_texts"] += cjk
            tn = n_cjk if cjk else n
            wordy = [is_wordy(tok) for tok in toks]
            if len(toks) >= tn:
                for tok in toks:
                    if tok not in self.vocab:
                        self.vocab[tok] = _token_value(tok)
                vals = np.fromiter((self.vocab[tok] for tok in toks), dtype=np.uint64, count=len(toks))
                h = _window_hashes(vals, self.mult[:tn])
                if require_word:
                    c = np.concatenate(([0], np.cumsum(wordy)))
                    ok = (c[tn:] - c[:-tn]) > 0
                    self.stats["formula_windows_skipped"] += int((~ok).sum())
                    h = h[ok]
                h = np.unique(h)
                hs, os_ = parts.setdefault(tn, ([], []))
                hs.append(h)
                os_.append(np.full(len(h), i, dtype=np.int32))
                self.stats["ngram_texts"] += 1
            elif len(toks) >= short_min and (not require_word or t.field in QUESTION_FIELDS or any(wordy)):
                self.short.setdefault(norm, []).append(i)
                self.stats["short_texts"] += 1
            else:
                self.stats["ignored_texts"] += 1
        # window size -> (sorted hashes, owners in the same order, bit filter)
        self.tables: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for tn, (hs, os_) in sorted(parts.items()):
            h, o = np.concatenate(hs), np.concatenate(os_)
            order = np.lexsort((o, h))
            self.tables[tn] = (h[order], o[order], _bit_filter(h))
        self.stats.update(ngrams=int(sum(len(np.unique(h)) for h, _o, _b in self.tables.values())),
                          vocab=len(self.vocab), items=len({(t.benchmark, t.item_id) for t in self.texts}))
        self._automaton = None

    # -- pickling: the automaton is rebuilt where it is used (cheap, and keeps the pickle small)
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_automaton"] = None
        return state

    def fingerprint(self) -> str:
        """Changes whenever the benchmark texts or the rule's parameters change (resume safety)."""
        h = hashlib.sha256(json.dumps([TOKENISER_VERSION, self.n, self.short_min, self.short_max, self.n_cjk,
                                       self.require_word]).encode())
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
        if self.tables and len(toks) >= min(self.tables):
            vals = np.fromiter(map(self.vocab.get, toks, repeat(0)), dtype=np.uint64, count=len(toks))
            spans: list | None = None
            for tn, (hashes, owners, bits) in self.tables.items():
                if len(toks) < tn:
                    continue
                hits = self._ngram_hits(vals, tn, hashes, bits)
                if hits is None:
                    continue
                idx, pos = hits
                res.hits += len(idx)
                if spans is None:
                    spans = token_spans(norm)
                self._record_ngrams(norm, spans, tn, hashes, owners, idx, pos, found, all_items)
                if found and not all_items:
                    break
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

    def _ngram_hits(self, vals: np.ndarray, tn: int, hashes: np.ndarray, bits: np.ndarray):
        """Window indices whose hash is in ``hashes`` (and their first position there), or None."""
        wh = _window_hashes(vals, self.mult[:tn])
        # The bit filter rejects almost every window with one random access each; only the
        # few that pass pay for the binary search in the sorted array.
        cand = np.flatnonzero(_bit_test(bits, wh))
        if not len(cand):
            return None
        wc = wh[cand]
        pos = np.searchsorted(hashes, wc)
        np.minimum(pos, len(hashes) - 1, out=pos)
        hit = hashes[pos] == wc
        if not hit.any():
            return None
        # A window holding a token the benchmarks never use cannot be a benchmark n-gram.
        c = np.concatenate(([0], np.cumsum(vals == 0)))
        hit &= (c[tn + cand] - c[cand]) == 0
        return (cand[hit], pos[hit]) if hit.any() else None

    def _record_ngrams(self, norm, spans, tn, hashes, owners, idx, pos, found, all_items) -> None:
        # Every (window, owner) pair, vectorised; then only each owner's first window is kept.
        hi = np.searchsorted(hashes, hashes[pos], side="right")
        counts = hi - pos
        win = np.repeat(idx, counts)
        starts = np.repeat(pos - np.cumsum(counts) + counts, counts)
        own = owners[np.arange(len(win)) + starts]
        first_owner, first_at = np.unique(own, return_index=True)
        if not all_items:
            k = int(np.argmin(win[first_at]))
            first_owner, first_at = first_owner[k:k + 1], first_at[k:k + 1]
        for owner, at in zip(first_owner.tolist(), first_at.tolist()):
            i = int(win[at])
            start, end = int(spans[0][i]), int(spans[1][i + tn - 1])
            self._record(found, owner, Match(owner, "ngram", start, norm[start:end], tn))

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


def build_index(texts: Iterable[BenchmarkText], n: int = 10, short_min: int = 3, short_max: int = 9,
                n_cjk: int = 20, require_word: bool = True) -> BenchmarkIndex:
    return BenchmarkIndex(list(texts), n=n, short_min=short_min, short_max=short_max, n_cjk=n_cjk,
                          require_word=require_word)
