"""The recall loop's global steps, distributed over pool files with bounded memory per process.

Every step runs units of one pool file (or one hash partition of the domains) on the executor; the
driver holds small aggregates only (a score histogram, one boundary bin's rows, per-partition counts,
the accepted prefixes). They run on any pool-shaped Parquet (``id, url, domain, lang, score, tokens``;
no text needed), so a scale benchmark calls them directly:

- :func:`select_by_budget` finds where a token budget cuts the ranking (score descending, then id
  ascending) from token-weighted score histograms, refining only the boundary bin;
- :func:`write_selection` is the per-file filter writing the selection (SELECTION_SCHEMA);
- :func:`domain_stats` counts pages and recalled pages per domain and per URL path prefix through hash
  partitions by domain, and proposes the prefixes of math domains;
- :func:`grow_seed` writes, per file, the pages under accepted prefixes that are not positives yet.

Units are plain functions of one JSON-able dict (tasks); outputs are written atomically through
:mod:`pipeline.core.storage`, so every folder may be a local path or an fsspec URL.
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers import annotation as ann
from classifiers.pool_pages import PoolPart, read_pages
from pipeline.core import storage
from pipeline.core.schema import DOMAIN_SCHEMA, SEED_ADDED_SCHEMA, SELECTION_SCHEMA, validate_table

#: rows of the boundary bin that the driver fetches to break ties exactly; a bigger bin is refined first
MAX_BOUNDARY_ROWS = 100_000
#: digit levels of the ranking key: two 16-bit halves of the score, then 2-byte digits of the id (64 bytes)
_MAX_LEVEL = 2 + 32


def _part_dict(p: PoolPart) -> dict:
    return asdict(p)


def _part(d: dict) -> PoolPart:
    return PoolPart(**d)


def _score_table(part: PoolPart, threshold: float | None, storage_options) -> pa.Table:
    if part.scores is None:
        raise ValueError(f"{part.stem}: no scores to rank")
    t = storage.read_parquet_table(part.scores, ["id", "score", "tokens"], storage_options)
    if threshold is not None:
        t = t.filter(pc.greater_equal(t.column("score"), pa.scalar(threshold, pa.float32())))
    return t


# --- selection within a token budget -------------------------------------------------------------

def _score_key(score: np.ndarray) -> np.ndarray:
    """uint32 that sorts ascending as the scores sort descending (IEEE bits made monotonic; -0 is 0)."""
    bits = (np.asarray(score, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    mono = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000)).astype(np.uint32)
    return np.uint32(0xFFFFFFFF) - mono


def _id_digit(ids: Sequence[str], j: int) -> np.ndarray:
    """The j-th 2-byte digit of each id's UTF-8 bytes (0 past its end): byte order is string order."""
    return np.fromiter((int.from_bytes(s.encode()[2 * j:2 * j + 2].ljust(2, b"\0"), "big") for s in ids),
                       dtype=np.int64, count=len(ids))


def _digits(level: int, key: np.ndarray, ids: list[str]) -> np.ndarray:
    if level == 0:
        return (key >> np.uint32(16)).astype(np.int64)
    if level == 1:
        return (key & np.uint32(0xFFFF)).astype(np.int64)
    return _id_digit(ids, level - 2)


def _in_range(t: pa.Table, prefix: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose ranking key starts with ``prefix``: (their positions in ``t``, their score keys)."""
    key = _score_key(t.column("score").to_numpy())
    rows = np.arange(t.num_rows)
    for level, digit in enumerate(prefix):
        ids = t.column("id").take(pa.array(rows)).to_pylist() if level >= 2 else []
        keep = _digits(level, key, ids) == digit
        key, rows = key[keep], rows[keep]
    return rows, key


def histogram_unit(unit: dict) -> dict:
    """Token-weighted histogram of the next digit of one file's ranking key (digit ``len(unit["prefix"])``)
    over the rows whose key starts with ``unit["prefix"]`` (score >= threshold only): sparse bins
    ``digit -> tokens, rows``."""
    t = _score_table(_part(unit["part"]), unit["threshold"], unit.get("storage_options"))
    rows, key = _in_range(t, unit["prefix"])
    level = len(unit["prefix"])
    ids = t.column("id").take(pa.array(rows)).to_pylist() if level >= 2 else []
    digits = _digits(level, key, ids)
    tokens = t.column("tokens").to_numpy().astype(np.int64)[rows]
    bins, inverse = np.unique(digits, return_inverse=True)
    return {"digits": bins.tolist(), "tokens": np.bincount(inverse, weights=tokens, minlength=len(bins))
            .astype(np.int64).tolist(), "rows": np.bincount(inverse, minlength=len(bins)).tolist()}


def boundary_rows_unit(unit: dict) -> dict:
    """The rows of one file whose key starts with ``unit["prefix"]``: id, score, tokens."""
    t = _score_table(_part(unit["part"]), unit["threshold"], unit.get("storage_options"))
    rows, _ = _in_range(t, unit["prefix"])
    t = t.take(pa.array(rows))
    return {"id": t.column("id").to_pylist(), "score": t.column("score").to_pylist(),
            "tokens": t.column("tokens").to_pylist()}


@dataclass
class Cut:
    """Where the selection ends. A page is selected when its score is >= ``threshold`` (if set) and, when
    ``score``/``id`` are set, it ranks before that first excluded page: ``score > cut.score`` or
    ``score == cut.score and id < cut.id``. ``score is None``: the budget keeps every page above the
    threshold."""

    threshold: float | None
    budget_tokens: int | None
    score: float | None = None
    id: str | None = None
    selected_rows: int = 0
    selected_tokens: int = 0
    passes: int = 0
    boundary_rows: int = 0
    levels: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Cut":
        return cls(**d)

    def mask(self, score, ids) -> np.ndarray:
        """Which rows (scores and ids, arrays of one file) the selection keeps."""
        score = np.asarray(score, dtype=np.float32)
        keep = np.ones(len(score), dtype=bool)
        if self.threshold is not None:
            keep &= score >= np.float32(self.threshold)
        if self.score is not None and len(score):
            cs = np.float32(self.score)
            ids = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(list(ids), pa.string())
            before = pc.less(ids, pa.scalar(self.id, pa.string())).to_numpy(zero_copy_only=False)
            keep &= (score > cs) | ((score == cs) & before)
        return keep


def _merge_hist(results: list[dict]) -> dict[int, list[int]]:
    merged: dict[int, list[int]] = {}
    for r in results:
        for d, tok, rows in zip(r["digits"], r["tokens"], r["rows"]):
            m = merged.setdefault(int(d), [0, 0])
            m[0] += int(tok)
            m[1] += int(rows)
    return merged


def select_by_budget(parts: Sequence[PoolPart], executor, *, budget_tokens: int | None,
                     threshold: float | None = None, max_boundary_rows: int = MAX_BOUNDARY_ROWS,
                     storage_options: dict | None = None, step: str = "select") -> Cut:
    """The cut of the ranking (score descending, ties by id ascending) that keeps the longest prefix of
    the pages scoring >= ``threshold`` whose tokens add up to at most ``budget_tokens``: exactly what a
    global sort and a cumulative sum give, without either.

    Each pass, every file's unit returns a token-weighted histogram of the ranking key's next digit
    (16 bits of the score's order-preserving bits, then 2-byte digits of the id) over the rows in the
    current boundary bin; the driver adds whole bins while they fit and descends into the bin that does
    not. Once that bin holds at most ``max_boundary_rows`` rows, they are fetched and walked in order.
    Driver memory: one histogram (<= 65,536 bins) and one boundary bin. ``parts`` need ``scores``.
    """
    cut = Cut(threshold, budget_tokens)
    base = {"threshold": threshold, "storage_options": storage_options}
    units = [{"part": _part_dict(p), **base} for p in parts]

    def run(fn, prefix, name):
        cut.passes += 1
        res = executor.map(f"{step}_{name}", fn, [dict(u, prefix=list(prefix)) for u in units],
                           key=lambda u: u["part"]["stem"], progress=False)
        return [r.result for r in res]

    prefix: list[int] = []
    while True:
        hist = _merge_hist(run(histogram_unit, prefix, "histogram"))
        boundary = None
        for digit in sorted(hist):
            tok, rows = hist[digit]
            if budget_tokens is None or cut.selected_tokens + tok <= budget_tokens:
                cut.selected_tokens += tok
                cut.selected_rows += rows
            else:
                boundary = digit
                break
        if boundary is None:  # the whole range fits (only at the first level: a boundary bin never fits)
            return cut
        prefix.append(boundary)
        cut.levels = list(prefix)
        if hist[boundary][1] <= max_boundary_rows or len(prefix) >= _MAX_LEVEL:
            break
    got = run(boundary_rows_unit, prefix, "boundary")
    ids = [i for r in got for i in r["id"]]
    score = np.array([s for r in got for s in r["score"]], dtype=np.float32)
    tokens = np.array([t for r in got for t in r["tokens"]], dtype=np.int64)
    cut.boundary_rows = len(ids)
    order = np.lexsort((np.array(ids, dtype=object).astype(str), -score))
    for i in order:
        if cut.selected_tokens + int(tokens[i]) > budget_tokens:
            cut.score, cut.id = float(score[i]), ids[i]
            return cut
        cut.selected_tokens += int(tokens[i])
        cut.selected_rows += 1
    raise AssertionError("the boundary bin fits the budget: the histogram passes disagree")


# --- the per-file filter: the selection's rows ----------------------------------------------------

def _ids_of(path: str, storage_options) -> pa.Array:
    if not storage.exists(path, storage_options):
        return pa.array([], pa.string())
    return storage.read_parquet_table(path, ["id"], storage_options).column("id").combine_chunks()


def selection_unit(unit: dict) -> dict:
    """Write one file's selection (SELECTION_SCHEMA, score desc then id) to ``unit["out"]``; the first round
    of a page is the earliest of ``unit["earlier"]`` (selection files of rounds 1..N-1) holding it."""
    part, opts = _part(unit["part"]), unit.get("storage_options")
    cut = Cut.from_dict(unit["cut"])
    scores = storage.read_parquet_table(part.scores, ["id", "score", "tokens"], opts)
    keep = cut.mask(scores.column("score").to_numpy(), scores.column("id"))
    sel = scores.filter(pa.array(keep, pa.bool_()))
    meta = read_pages(part, ["id", part.url_column, "domain", "lang"], opts)
    if meta.num_rows != scores.num_rows:
        raise ValueError(f"{part.scores}: {scores.num_rows} scores for {meta.num_rows} pages of {part.pages}")
    joined = sel.join(meta, keys="id", join_type="left outer")
    joined = joined.sort_by([("score", "descending"), ("id", "ascending")])
    ids = joined.column("id")
    first = np.full(joined.num_rows, unit["round"], dtype=np.int16)
    for k, earlier in enumerate(unit["earlier"], 1):
        hit = pc.is_in(ids, value_set=_ids_of(earlier, opts)).to_numpy(zero_copy_only=False)
        first = np.where(hit & (first > k), np.int16(k), first)
    table = pa.table({
        "id": ids.cast(pa.string()), "url": joined.column(part.url_column).cast(pa.string()),
        "domain": joined.column("domain").cast(pa.string()), "lang": joined.column("lang").cast(pa.string()),
        "score": joined.column("score").cast(pa.float32()), "tokens": joined.column("tokens").cast(pa.int32()),
        "first_round": pa.array(first, pa.int16())}, schema=SELECTION_SCHEMA)
    validate_table(table, SELECTION_SCHEMA, f"selection of {part.stem}")
    storage.write_parquet(unit["out"], table, opts)
    prev = unit["earlier"][-1] if unit["earlier"] else None
    overlap = int(pc.sum(pc.is_in(ids, value_set=_ids_of(prev, opts))).as_py() or 0) if prev else None
    return {"rows_in": scores.num_rows, "rows_out": table.num_rows,
            "tokens": int(pc.sum(table.column("tokens")).as_py() or 0),
            "new_pages": int((first == unit["round"]).sum()), "overlap_prev": overlap}


def write_selection(parts: Sequence[PoolPart], cut: Cut, out_folder: str, executor, *, round_no: int = 1,
                    earlier_folders: Sequence[str] = (), markers: str | None = None, fingerprint: str = "",
                    storage_options: dict | None = None) -> dict:
    """Per file, the pages the cut keeps, to ``<out_folder>/<stem>.parquet`` (SELECTION_SCHEMA); the first
    round of a page is the earliest of ``earlier_folders`` (rounds 1..N-1's selection folders, same
    stems) that holds it. Returns totals: rows_in, rows_out, tokens, new_pages, overlap_prev (pages also
    in the last earlier folder, None without one)."""
    units = [{"part": _part_dict(p), "cut": cut.to_dict(), "round": round_no,
              "out": storage.join(out_folder, f"{p.stem}.parquet"),
              "earlier": [storage.join(f, f"{p.stem}.parquet") for f in earlier_folders],
              "storage_options": storage_options} for p in parts]
    res = executor.map("select_write", selection_unit, units, key=lambda u: u["part"]["stem"], markers=markers,
                       fingerprint=fingerprint, progress=False)
    out: dict[str, Any] = {k: 0 for k in ("rows_in", "rows_out", "tokens", "new_pages")}
    overlap = 0 if earlier_folders else None
    for r in res:
        for k in out:
            out[k] += r.result[k]
        if overlap is not None:
            overlap += r.result["overlap_prev"]
    out["overlap_prev"] = overlap
    return out


# --- domain and prefix statistics through hash partitions ---------------------------------------------

def domain_partition(domain: str, partitions: int) -> int:
    """A domain's partition: CRC32 of its name (stable across processes and runs)."""
    return zlib.crc32(domain.encode("utf-8")) % partitions


def _partition_file(folder: str, p: int) -> str:
    return storage.join(folder, f"part-{p:05d}.parquet")


_COUNTS = pa.schema([pa.field("domain", pa.string(), nullable=False), pa.field("prefix", pa.string()),
                     pa.field("pages", pa.int64(), nullable=False), pa.field("recalled", pa.int64(), nullable=False)])


def domain_counts_unit(unit: dict) -> dict:
    """One file's pages and recalled pages per (domain, path prefix at ``depth``; null above it), split by
    domain partition into ``<parts>/<p>/<stem>.parquet`` (one small file per partition)."""
    part, opts = _part(unit["part"]), unit.get("storage_options")
    meta = read_pages(part, ["id", part.url_column, "domain"], opts)
    recalled = pc.is_in(meta.column("id"), value_set=_ids_of(unit["selected"], opts)).to_numpy(zero_copy_only=False)
    depth = unit["depth"]
    counts: dict[tuple[str, str | None], list[int]] = {}
    for url, dom, hit in zip(meta.column(part.url_column).to_pylist(), meta.column("domain").to_pylist(), recalled):
        c = counts.setdefault((dom, ann.path_prefix(ann.url_path(url), depth)), [0, 0])
        c[0] += 1
        c[1] += bool(hit)
    by_part: dict[int, list] = {}
    for (dom, prefix), (n, hits) in counts.items():
        by_part.setdefault(domain_partition(dom, unit["partitions"]), []).append((dom, prefix, n, hits))
    for p in range(unit["partitions"]):
        rows = sorted(by_part.get(p, []), key=lambda r: (r[0], r[1] or ""))
        table = pa.table({"domain": [r[0] for r in rows], "prefix": [r[1] for r in rows],
                          "pages": [r[2] for r in rows], "recalled": [r[3] for r in rows]}, schema=_COUNTS)
        storage.write_parquet(storage.join(unit["parts"], f"{p:05d}", f"{part.stem}.parquet"), table, opts)
    return {"rows_in": meta.num_rows, "recalled": int(recalled.sum()), "domains": len({d for d, _ in counts})}


def domain_partition_unit(unit: dict) -> dict:
    """Add up one domain partition's counts from every file: write its domains (DOMAIN_SCHEMA) and return
    its math domains' prefix proposals and the math domains that are new this round."""
    opts = unit.get("storage_options")
    folder = storage.join(unit["parts"], f"{unit['partition']:05d}")
    tables = [storage.read_parquet_table(storage.join(folder, f"{s}.parquet"), None, opts) for s in unit["stems"]]
    counts = pa.concat_tables(tables) if tables else _COUNTS.empty_table()
    per_domain = counts.group_by("domain").aggregate([("pages", "sum"), ("recalled", "sum")])
    per_domain = per_domain.sort_by("domain")
    names = per_domain.column("domain").to_pylist()
    pages = np.array(per_domain.column("pages_sum").to_pylist(), dtype=np.int64)
    hits = np.array(per_domain.column("recalled_sum").to_pylist(), dtype=np.int64)
    share = hits / np.maximum(pages, 1)
    is_math = share > unit["share"]
    earlier: dict[str, int] = {}
    if unit.get("previous"):
        prev = storage.read_parquet_table(_partition_file(unit["previous"], unit["partition"]),
                                          ["domain", "first_math_round"], opts).to_pydict()
        earlier = {d: r for d, r in zip(prev["domain"], prev["first_math_round"]) if r is not None}
    n = unit["round"]
    math = {d for d, m in zip(names, is_math) if m}
    table = pa.table({
        "domain": pa.array(names, pa.string()), "pages": pa.array(pages, pa.int64()),
        "recalled": pa.array(hits, pa.int64()), "share": pa.array(share, pa.float32()),
        "is_math": pa.array(is_math, pa.bool_()),
        "first_math_round": pa.array([earlier.get(d, n if d in math else None) for d in names], pa.int16()),
    }, schema=DOMAIN_SCHEMA)
    storage.write_parquet(_partition_file(unit["out"], unit["partition"]), table, opts)
    prefix_rows = counts.filter(pc.invert(pc.is_null(counts.column("prefix"))))
    prefix_rows = prefix_rows.filter(pc.is_in(prefix_rows.column("domain"), value_set=pa.array(sorted(math),
                                                                                                   pa.string())))
    per_prefix = prefix_rows.group_by(["domain", "prefix"]).aggregate([("pages", "sum"), ("recalled", "sum")])
    proposals = []
    for d, p, total, rec in zip(*(per_prefix.column(c).to_pylist() for c in ("domain", "prefix", "pages_sum",
                                                                              "recalled_sum"))):
        if total >= unit["min_pages"]:
            proposals.append([d, p, rec, total, rec / total >= unit["prefix_share"]])
    proposals.sort(key=lambda r: (r[0], r[1]))
    new = sorted(d for d in math if d not in earlier)
    return {"domains": len(names), "math_domains": len(math), "new_domains": len(new), "new_domain_names": new[:50],
            "proposals": proposals}


@dataclass
class DomainStats:
    """What :func:`domain_stats` found: counts, the first 50 new math domains (sorted) and the prefix
    proposals (sorted by domain, prefix)."""

    domains: int
    math_domains: int
    new_domains: int
    new_domain_names: list[str]
    proposals: list[ann.PrefixRow]
    partitions: int


def domain_stats(parts: Sequence[PoolPart], selected_folder: str, out_folder: str, executor, *, share: float,
                 depth: int = 1, min_pages: int = 5, prefix_share: float = 0.5, partitions: int | None = None,
                 round_no: int = 1, previous_folder: str | None = None, markers: str | None = None,
                 fingerprint: str = "", storage_options: dict | None = None) -> DomainStats:
    """Domain discovery and prefix proposal (DeepSeekMath §2.1) without one process seeing every page.

    Map: per file, pages and recalled pages (ids in ``<selected_folder>/<stem>.parquet``) per (domain,
    prefix), written per domain partition under ``<out_folder>/_parts/``. Reduce: per partition, the
    domains (``<out_folder>/part-<p>.parquet``, DOMAIN_SCHEMA; ``is_math`` when more than ``share`` of a
    domain's pages were recalled; ``first_math_round`` carried from ``previous_folder``, the round
    before's domains with the same partitions) and the prefixes of its math domains with at least
    ``min_pages`` pages, accepted when at least ``prefix_share`` of them were recalled (what
    :func:`classifiers.annotation.propose_prefixes` gives). ``partitions`` defaults to the number of
    files (at most 256); keep it the same across rounds.
    """
    partitions = partitions or max(1, min(256, len(parts)))
    parts_folder = storage.join(out_folder, "_parts")
    base = {"storage_options": storage_options}
    executor.map("domain_counts", domain_counts_unit,
                 [{"part": _part_dict(p), "selected": storage.join(selected_folder, f"{p.stem}.parquet"),
                   "depth": depth, "partitions": partitions, "parts": parts_folder, **base} for p in parts],
                 key=lambda u: u["part"]["stem"], markers=markers and storage.join(markers, "domain_counts"),
                 fingerprint=fingerprint, progress=False)
    stems = [p.stem for p in parts]
    res = executor.map("domain_partitions", domain_partition_unit,
                       [{"partition": k, "stems": stems, "parts": parts_folder, "out": out_folder, "share": share,
                         "min_pages": min_pages, "prefix_share": prefix_share, "round": round_no,
                         "previous": previous_folder, **base} for k in range(partitions)],
                       key=lambda u: f"{u['partition']:05d}",
                       markers=markers and storage.join(markers, "domain_partitions"), fingerprint=fingerprint,
                       progress=False)
    got = [r.result for r in res]
    storage.remove(parts_folder, storage_options, recursive=True)
    proposals = sorted((ann.PrefixRow(d, p, rec, total, bool(acc)) for g in got for d, p, rec, total, acc
                        in g["proposals"]), key=lambda r: (r.domain, r.prefix))
    return DomainStats(domains=sum(g["domains"] for g in got), math_domains=sum(g["math_domains"] for g in got),
                       new_domains=sum(g["new_domains"] for g in got),
                       new_domain_names=sorted(d for g in got for d in g["new_domain_names"])[:50],
                       proposals=proposals, partitions=partitions)


def read_domains(folder: str, storage_options: dict | None = None) -> pa.Table:
    """Every domain of a round (all partitions), sorted by domain."""
    files = storage.list_files(folder, ".parquet", storage_options)
    if not files:
        return DOMAIN_SCHEMA.empty_table()
    return pa.concat_tables([storage.read_parquet_table(f, None, storage_options) for f in files]).sort_by("domain")


# --- seed growth ---------------------------------------------------------------------------------------

def grow_unit(unit: dict) -> dict:
    """One file's pages under an accepted prefix (the longest that matches) and in none of
    ``unit["exclude"]`` (id files: the round before's selection, earlier growth), to ``unit["out"]``."""
    part, opts = _part(unit["part"]), unit.get("storage_options")
    accepted = unit["accepted"]
    meta = read_pages(part, ["id", part.url_column, "domain"], opts)
    meta = meta.filter(pc.is_in(meta.column("domain"), value_set=pa.array(sorted(accepted), pa.string())))
    excluded = [_ids_of(f, opts) for f in unit["exclude"]]
    for ids in excluded:
        if len(ids):
            meta = meta.filter(pc.invert(pc.is_in(meta.column("id"), value_set=ids)))
    urls, doms = meta.column(part.url_column).to_pylist(), meta.column("domain").to_pylist()
    under = ann.pages_under(urls, doms, accepted)
    keep = [u is not None for u in under]
    ids = [i for i, k in zip(meta.column("id").to_pylist(), keep) if k]
    table = pa.table({"id": ids, "url": [u for u, k in zip(urls, keep) if k],
                      "domain": [d for d, k in zip(doms, keep) if k], "prefix": [p for p in under if p is not None],
                      "added_round": pa.array([unit["round"]] * len(ids), pa.int16())}, schema=SEED_ADDED_SCHEMA)
    storage.write_parquet(unit["out"], table, opts)
    return {"rows_out": table.num_rows}


def grow_seed(parts: Sequence[PoolPart], accepted: dict[str, list[str]], out_folder: str, executor, *,
              round_no: int, exclude_folders: Sequence[str] = (), markers: str | None = None,
              fingerprint: str = "", storage_options: dict | None = None) -> int:
    """Seed growth as a per-file filter: the pages under ``accepted`` prefixes (domain -> prefixes, a
    small dict) whose ids are in none of ``exclude_folders`` (``<folder>/<stem>.parquet`` id files), to
    ``<out_folder>/<stem>.parquet`` (SEED_ADDED_SCHEMA, file order). Returns the pages added."""
    units = [{"part": _part_dict(p), "accepted": accepted, "round": round_no,
              "out": storage.join(out_folder, f"{p.stem}.parquet"),
              "exclude": [storage.join(f, f"{p.stem}.parquet") for f in exclude_folders],
              "storage_options": storage_options} for p in parts]
    res = executor.map("grow_seed", grow_unit, units, key=lambda u: u["part"]["stem"], markers=markers,
                       fingerprint=fingerprint, progress=False)
    return sum(r.result["rows_out"] for r in res)


def fingerprint_of(*parts: Any) -> str:
    """A short stable hash of what a step's outputs depend on (config values, model digests, file names)."""
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]

