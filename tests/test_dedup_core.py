"""Pure dedup core, no Ray: MinHash equals datasketch's, LSH parameters, bad-input rules, components."""
from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from dedup import components as cc
from dedup.minhash import (EMPTY, HUGE, OK, SHORT, ShingleParams, _token_hashes, candidate_probability,
                           normalize_texts, optimal_bands_rows, permutations, shingle_hashes, sign_batch,
                           tokenize)


def _web_texts(shared_data, n=120):
    path = shared_data / "seed" / "web_negative" / "dclm_majority_data.jsonl"
    texts = [json.loads(line)["text"] for line in path.open()]
    return [t for t in texts if len(t.split()) >= 80][:n]


def _shingle_set(text, n=5):
    toks, _ = tokenize(normalize_texts(pa.array([text])))
    toks = toks.to_pylist()
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def _jaccard(a, b):
    sa, sb = _shingle_set(a), _shingle_set(b)
    return len(sa & sb) / len(sa | sb)


@pytest.mark.parametrize("threshold,num_perm,fp,fn", [(0.8, 128, 0.5, 0.5), (0.8, 128, 0.3, 0.7),
                                                      (0.7, 112, 0.5, 0.5), (0.9, 256, 0.2, 0.8)])
def test_bands_rows_match_datasketch_optimum(threshold, num_perm, fp, fn):
    assert optimal_bands_rows(threshold, num_perm, fp, fn) == _optimal_param(threshold, num_perm, fp, fn)


def test_candidate_curve_is_steep_around_threshold():
    b, r = optimal_bands_rows(0.8, 128, 0.3, 0.7)
    assert candidate_probability(0.95, b, r) > 0.999
    assert candidate_probability(0.5, b, r) < 0.01


def test_signatures_equal_datasketch_minhash(shared_data):
    texts = _web_texts(shared_data, 20) + ["数学是研究数量、结构以及空间等概念的一门学科，也是一门很古老的学科。"]
    p = ShingleParams()
    sb = sign_batch(pa.array(texts), p)
    toks, parents = tokenize(normalize_texts(pa.array(texts)))
    ngram = np.full(len(texts), 5)
    hashes, hp = shingle_hashes(_token_hashes(toks), parents, ngram)
    for i in range(len(texts)):
        m = MinHash(num_perm=p.num_perm, seed=p.seed, hashfunc=lambda h: h)
        m.update_batch(hashes[hp == i].tolist())
        assert np.array_equal(m.hashvalues, sb.signatures[i]), i


def test_signature_agreement_estimates_jaccard(shared_data):
    rng = random.Random(7)
    base = _web_texts(shared_data, 30)
    variants = []
    for t in base:
        words = t.split(" ")
        for k in rng.sample(range(len(words)), max(1, len(words) // 12)):
            words[k] = "qqq" + str(k)
        variants.append(" ".join(words))
    p = ShingleParams(num_perm=256, bands=16, rows=16)
    sa = sign_batch(pa.array(base), p).signatures
    sv = sign_batch(pa.array(variants), p).signatures
    errors = [abs((sa[i] == sv[i]).mean() - _jaccard(base[i], variants[i])) for i in range(len(base))]
    assert np.mean(errors) < 0.04 and max(errors) < 0.15


def test_normalised_exact_hash_ignores_case_and_spacing():
    sb = sign_batch(pa.array(["The  quick brown\nfox jumps over", "the quick brown fox JUMPS over ",
                              "the quick brown fox jumps under"]), ShingleParams())
    assert sb.exact[0] == sb.exact[1] != sb.exact[2]
    assert np.array_equal(sb.bands[0], sb.bands[1])


def test_bad_input_rules():
    long_text = " ".join(f"w{i}" for i in range(30_000))  # ~200k chars
    p = ShingleParams(max_chars=50_000)
    sb = sign_batch(pa.array(["", "  \n\t ", "!!! ... ???", "only four words here", None,
                              "five words make one shingle", long_text]), p)
    assert list(sb.status) == [EMPTY, EMPTY, EMPTY, SHORT, EMPTY, OK, HUGE]
    assert not sb.has_signature[:5].any() and sb.has_signature[5:].all()
    # a huge text is signed on its first max_chars characters only
    prefix = sign_batch(pa.array([long_text[:50_000]]), p)
    assert np.array_equal(prefix.signatures[0], sb.signatures[6])
    assert sb.n_tokens[6] == prefix.n_tokens[0]


def test_cjk_text_is_shingled_by_characters():
    zh = "勾股定理是一个基本的几何定理，指直角三角形的两条直角边的平方和等于斜边的平方。"
    toks, parents = tokenize(normalize_texts(pa.array([zh, "x² + y² = z², mixed 中文 text"])))
    first = [t for t, q in zip(toks.to_pylist(), parents) if q == 0]
    assert first[:4] == ["勾", "股", "定", "理"]
    second = [t for t, q in zip(toks.to_pylist(), parents) if q == 1]
    assert "中" in second and "mixed" in second
    # one changed character in a CJK text keeps it a near duplicate (char shingles), a new text does not
    sb = sign_batch(pa.array([zh * 3, (zh * 3).replace("基本", "重要", 1), "今天天气很好，我们去公园散步吧，然后回家吃饭。" * 3]),
                    ShingleParams())
    assert list(sb.status) == [OK, OK, OK]
    assert (sb.signatures[0] == sb.signatures[1]).mean() > 0.7
    assert (sb.signatures[0] == sb.signatures[2]).mean() < 0.1


def _union_find(pairs):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent if find(x) != x}


@pytest.mark.parametrize("shape", ["random", "chain", "reverse_chain", "stars"])
def test_components_match_union_find(shape):
    rng = random.Random(hash(shape) & 0xFFFF)
    for _ in range(25):
        n = rng.randint(2, 400)
        if shape == "random":
            pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(1, n))]
        elif shape == "chain":
            pairs = [(i, i + 1) for i in range(n)]
        elif shape == "reverse_chain":
            pairs = [(n - i, n - i - 1) for i in range(n)]
        else:
            pairs = [(rng.randrange(n), rng.randrange(5)) for _ in range(n)]
        pairs = [(f"{a:05d}", f"{b:05d}") for a, b in pairs]
        got = cc.components_in_memory(pa.table({"u": [a for a, _ in pairs], "v": [b for _, b in pairs]}))
        assert dict(zip(got.column("u").to_pylist(), got.column("v").to_pylist())) == _union_find(pairs)


def test_star_edges_link_every_sharer_to_the_smallest():
    keys = pa.table({"key": pa.array([1, 1, 1, 2, 2, 3, 3], pa.uint64()),
                     "node": ["c", "a", "b", "d", "b", "e", "e"]})
    edges, shared = cc.star_edges(keys)
    assert shared == 2  # key 3 is one node twice: not a candidate
    assert sorted(zip(edges.column("u").to_pylist(), edges.column("v").to_pylist())) == [
        ("b", "a"), ("c", "a"), ("d", "b")]
