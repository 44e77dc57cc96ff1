"""Pure core of text dedup: normalisation, shingles, MinHash signatures, LSH band keys.

Everything here works on whole batches of texts at once (pyarrow compute for
normalising and tokenising, numpy for hashing) so a Ray task spends its time in
C loops, not in a Python loop per shingle. Nothing here touches Ray.

The MinHash is datasketch's (2.x default "affine32" scheme): the permutations
come from ``datasketch.MinHash(num_perm, seed)`` and the permuted value of a
32-bit shingle hash ``h`` is ``a*fmix32(h) + b mod 2^32``, so a signature equals
``MinHash(num_perm, seed, hashfunc=lambda h: h).update_batch(hashes)``
(``tests/test_dedup_minhash.py`` holds that). What datasketch cannot do is hash a
batch of documents in one call; that part is ours and vectorised.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from datasketch import MinHash

MAX_HASH = np.uint64((1 << 32) - 1)
MAX_HASH32 = np.uint32((1 << 32) - 1)

# Doc status values: what the stage did with a text before any dedup decision.
OK = "ok"              # shingled and signed
EMPTY = "empty"        # nothing but whitespace/punctuation after normalising: dropped
SHORT = "short"        # fewer tokens than one shingle: exact dedup only
HUGE = "huge"          # longer than max_chars: signed on its first max_chars characters

# CJK ideographs, kana and hangul: each character is a token of its own
# (Chinese has no spaces; a "word" would be a whole sentence).
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
_CJK_SPLIT = rf"([{_CJK}])"
# RE2's \w is ASCII-only, so letters and digits are spelt as Unicode classes.
_NON_TOKEN = r"[^\p{L}\p{N}\p{M}]+"
_CJK_CHAR = rf"^[{_CJK}]$"


@dataclass(frozen=True)
class ShingleParams:
    word_ngram: int = 5      # shingle = this many consecutive words
    cjk_ngram: int = 5       # ... or this many CJK characters in a CJK-dominant text
    cjk_dominant: float = 0.5  # share of CJK tokens above which a text uses cjk_ngram
    max_chars: int = 500_000   # longer texts are signed on their first max_chars characters
    num_perm: int = 128
    bands: int = 16
    rows: int = 8
    seed: int = 1


def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5,
                       fn_weight: float = 0.5) -> tuple[int, int]:
    """Bands b and rows r (b*r <= num_perm) minimising the weighted LSH error at ``threshold``.

    The probability that two documents of Jaccard s share a band is
    P(s) = 1 - (1 - s^r)^b. False positives are the area under P below the
    threshold, false negatives the area above it under 1-P; the pair (b, r) with
    the smallest fp_weight*FP + fn_weight*FN wins. This is the criterion
    datasketch's MinHashLSH uses (its ``_optimal_param`` is private, so it is
    recomputed here with numpy; a test checks both agree).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if num_perm < 2:
        raise ValueError(f"num_perm must be at least 2, got {num_perm}")
    lo = np.linspace(0.0, threshold, 1001)
    hi = np.linspace(threshold, 1.0, 1001)
    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1.0 - (1.0 - lo ** r) ** b, lo)
            fn = np.trapezoid((1.0 - hi ** r) ** b, hi)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err - 1e-15:
                best, best_err = (b, r), err
    return best


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """Probability that two texts of this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - jaccard ** rows) ** bands


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's MinHash permutation parameters (a, b) for this num_perm and seed."""
    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
    a, b = m.permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def normalize_texts(texts: pa.Array) -> pa.Array:
    """NFKC, case-folded, whitespace collapsed and stripped: the form exact dedup hashes."""
    t = pc.utf8_normalize(texts, form="NFKC")
    t = pc.utf8_lower(t)
    t = pc.replace_substring_regex(t, pattern=r"\s+", replacement=" ")
    return pc.utf8_trim_whitespace(t)


def exact_hashes(normalized: pa.Array) -> np.ndarray:
    """64-bit xxh3 of each normalised text (uint64)."""
    return np.fromiter((xxhash.xxh3_64_intdigest(s) for s in _as_bytes(normalized).to_pylist()),
                       dtype=np.uint64, count=len(normalized))


def _as_bytes(strings: pa.Array) -> pa.Array:
    # xxhash hashes bytes; the cast reinterprets the UTF-8 buffers without copying.
    return strings.cast(pa.large_binary() if pa.types.is_large_string(strings.type) else pa.binary())


def tokenize(normalized: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Tokens of every text in one flat array, and the index of the text each token came from.

    A token is a run of letters/digits/marks, or one CJK character.
    """
    spaced = pc.replace_substring_regex(normalized, pattern=_CJK_SPLIT, replacement=r" \1 ")
    lists = pc.split_pattern_regex(spaced, pattern=_NON_TOKEN)
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    keep = pc.greater(pc.utf8_length(flat), 0)
    return pc.filter(flat, keep), pc.filter(parents, keep).to_numpy().astype(np.int64)


def _token_hashes(tokens: pa.Array) -> np.ndarray:
    # Hash each distinct token once: a batch repeats its common words thousands of times.
    enc = pc.dictionary_encode(tokens).combine_chunks() if isinstance(tokens, pa.ChunkedArray) \
        else pc.dictionary_encode(tokens)
    uniq = _as_bytes(enc.dictionary).to_pylist()
    uh = np.fromiter((xxhash.xxh3_64_intdigest(w) for w in uniq), dtype=np.uint64, count=len(uniq))
    return uh[enc.indices.to_numpy()]


def shingle_hashes(token_hashes: np.ndarray, parents: np.ndarray, ngram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every n-gram of consecutive tokens within one text, and its text index.

    ``ngram`` gives each text's shingle size (per text: words or CJK characters).
    A shingle hash is a polynomial over the 64-bit token hashes (wrapping uint64
    arithmetic, which numpy does natively), folded to 32 bits like datasketch's
    default sha1_hash32.
    """
    n_tok = len(token_hashes)
    if n_tok == 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    out_h = []
    out_p = []
    for n in np.unique(ngram):
        n = int(n)
        if n_tok < n:
            continue
        m = n_tok - n + 1
        acc = token_hashes[:m].copy()
        mult = np.uint64(0x9E3779B97F4A7C15)
        with np.errstate(over="ignore"):
            for k in range(1, n):
                acc = acc * mult + token_hashes[k:k + m]
        start_parent = parents[:m]
        valid = (start_parent == parents[n - 1:n - 1 + m]) & (ngram[start_parent] == n)
        h = acc[valid]
        out_h.append((h ^ (h >> np.uint64(32))) & MAX_HASH)
        out_p.append(start_parent[valid])
    if not out_h:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    h = np.concatenate(out_h)
    p = np.concatenate(out_p)
    order = np.argsort(p, kind="stable")
    return h[order], p[order]


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, the pre-mix datasketch's affine32 scheme applies to each hash."""
    h = h.astype(np.uint32, copy=True)
    with np.errstate(over="ignore"):
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h


def minhash_signatures(hashes: np.ndarray, parents: np.ndarray, n_docs: int, a: np.ndarray, b: np.ndarray,
                       chunk: int = 1 << 15) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signature (uint32 x num_perm) of each text from its shingle hashes, grouped by ``parents``.

    datasketch's default (affine32) scheme: fmix32 each 32-bit hash, then
    ``a*h + b mod 2^32`` per permutation, minimum per text. ``parents`` must be
    sorted. Returns (signatures[n_docs, num_perm], has_signature[n_docs]). Work
    is chunked so the permuted matrix never exceeds ``chunk`` shingles.
    """
    num_perm = len(a)
    sig = np.full((n_docs, num_perm), MAX_HASH32, dtype=np.uint32)
    has = np.zeros(n_docs, dtype=bool)
    if len(hashes) == 0:
        return sig, has
    has[parents] = True
    mixed = fmix32(hashes)
    for s in range(0, len(mixed), chunk):
        hv = mixed[s:s + chunk]
        pv = parents[s:s + chunk]
        with np.errstate(over="ignore"):
            r = hv[:, None] * a[None, :] + b[None, :]
        starts = np.flatnonzero(np.r_[True, pv[1:] != pv[:-1]])
        mins = np.minimum.reduceat(r, starts, axis=0)
        docs = pv[starts]
        sig[docs] = np.minimum(sig[docs], mins)
    return sig, has


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (text, band): xxh3 of the band's rows, salted with the band number.

    Two texts share a key only if they agree on every row of that band (a
    64-bit collision between different bands or rows is negligible).
    Returns uint64[n_docs, bands].
    """
    n = sig.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    used = np.ascontiguousarray(sig[:, : bands * rows]).reshape(n, bands, rows)
    for bi in range(bands):
        block = np.ascontiguousarray(used[:, bi, :])
        seed = bi + 1
        raw = block.view(np.uint8).reshape(n, rows * 4)
        out[:, bi] = np.fromiter((xxhash.xxh3_64_intdigest(raw[i].tobytes(), seed) for i in range(n)),
                                 dtype=np.uint64, count=n)
    return out


@dataclass
class SignedBatch:
    """Per-text results of :func:`sign_batch` (arrays of len(texts))."""

    status: np.ndarray        # object array of OK/EMPTY/SHORT/HUGE
    exact: np.ndarray         # uint64 hash of the normalised full text
    n_tokens: np.ndarray      # int64 tokens in the (possibly truncated) text
    signatures: np.ndarray    # uint32[n, num_perm]; rows of texts without one are all 0xffffffff
    has_signature: np.ndarray  # bool
    bands: np.ndarray         # uint64[n, bands]; meaningful only where has_signature


def sign_batch(texts: pa.Array, p: ShingleParams, perms: tuple[np.ndarray, np.ndarray] | None = None) -> SignedBatch:
    """Normalise, hash, shingle and MinHash a batch of texts (the pure core of the map phase)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = pc.fill_null(texts, "")
    n = len(texts)
    norm = normalize_texts(texts)
    exact = exact_hashes(norm)
    lengths = pc.utf8_length(norm).to_numpy(zero_copy_only=False).astype(np.int64)
    huge = lengths > p.max_chars
    shingled = pc.utf8_slice_codeunits(norm, 0, p.max_chars) if huge.any() else norm
    tokens, parents = tokenize(shingled)
    n_tokens = np.bincount(parents, minlength=n).astype(np.int64)
    is_cjk = pc.match_substring_regex(tokens, pattern=_CJK_CHAR).to_numpy(zero_copy_only=False)
    n_cjk = np.bincount(parents, weights=is_cjk, minlength=n)
    cjk_dom = n_cjk > p.cjk_dominant * np.maximum(n_tokens, 1)
    ngram = np.where(cjk_dom, p.cjk_ngram, p.word_ngram).astype(np.int64)
    th = _token_hashes(tokens)
    sh, sp = shingle_hashes(th, parents, ngram)
    a, b = perms if perms is not None else permutations(p.num_perm, p.seed)
    sig, has = minhash_signatures(sh, sp, n, a, b)
    keys = band_keys(sig, p.bands, p.rows)
    status = np.full(n, OK, dtype=object)
    status[huge] = HUGE
    status[(n_tokens > 0) & (n_tokens < ngram)] = SHORT
    status[n_tokens == 0] = EMPTY
    return SignedBatch(status=status, exact=exact, n_tokens=n_tokens, signatures=sig, has_signature=has, bands=keys)
