"""The dedup stage: signatures, band shuffle, connected components, decisions.

Phases, each a set of units on :class:`pipeline.core.executor.Executor` (``workers`` in flight):

1. **sign** - one unit per input chunk (whole Parquet row groups, about
   ``chunk_rows`` rows): normalise, hash, shingle, MinHash (:mod:`dedup.minhash`).
   For every text it emits rows ``(key, node)``: one for the exact hash of the
   normalised text and one per LSH band. Rows go to ``P`` hash partitions by
   ``key % P`` (files ``_work/keys/pNNNNN/cNNNNNN.parquet``): the map side of
   the shuffle.
2. **bands** - one unit per key partition: texts sharing a key become a star of
   candidate edges (:func:`dedup.components.star_edges`), re-partitioned by node.
3. **components** - Large-Star / Small-Star rounds, one unit per edge partition
   per step, until every partition is a forest of stars
   (:mod:`dedup.components`).
4. **write** - each root partition's removed rows, split by chunk; then one unit per
   input file writes its decisions, ``removed/<stem>.parquet`` (DEDUP_REMOVED_SCHEMA,
   empty where nothing was removed) and ``drops/<stem>.parquet``. The text stays in the
   input: the pages kept are the input's minus ``removed`` (:mod:`pipeline.pages`).

A node is a string ``rank | id | exact hash | chunk`` whose byte order is the
keeper order, so each component's minimum is its keeper. Every unit writes its
outputs atomically, then the executor writes its marker (``_work/markers/<phase>/``,
with a fingerprint of the plan and parameters); a rerun skips finished units, so a
crash costs only the units in flight. No unit holds more than one chunk, one
partition or one input file's removed ids; ``P`` grows with the input so
partitions stay near ``partition_rows`` rows (docs/dedup.md derives memory per
billion documents). Every read and write goes through :mod:`pipeline.core.storage`,
so the input, the output and the shuffle may be on an object store (``s3://...``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from dedup import components as cc
from dedup.minhash import EMPTY, HUGE, OK, SHORT, ShingleParams, permutations, sign_batch
from pipeline.core import storage
from pipeline.core.inputs import expand_files
from pipeline.core.io import clear_marker, mark_complete
from pipeline.core.schema import DEDUP_REMOVED_SCHEMA, DROP_LOG_SCHEMA, validate_table
from pipeline.core.stats import StageStats

log = logging.getLogger(__name__)

STAGE = "dedup"
REQUIRED_COLUMNS = ("id", "text")
#: a stage folder named as an input stands for its rows: the pool's pages/
STAGE_ROW_FOLDERS = ("pages",)
#: drop-log columns copied from the input where it has them
_LOCATION_COLUMNS = ("url", "warc_path", "warc_record_id", "warc_offset")
_TS_UNSIGNED = 1 << 63
_MAX_LEN = (1 << 48) - 1
_SUFFIX = 16 + 6  # exact hash + chunk, fixed width, after the id and a NUL


@dataclass(frozen=True)
class DedupParams:
    """Everything a unit needs (plain data, shipped to Ray workers)."""

    shingles: ShingleParams
    batch_rows: int = 2_000
    partitions: int = 1
    workers: int = 1
    keep_work: bool = False
    max_rounds: int = 100
    storage_options: dict | None = None


@dataclass(frozen=True)
class Chunk:
    index: int
    path: str
    row_groups: tuple[int, ...]
    rows: int


@dataclass(frozen=True)
class InputFile:
    """One input file and its chunks: the write unit, whose decisions are ``removed/<stem>.parquet``."""

    path: str
    stem: str
    chunks: tuple[int, ...]


# --- input ----------------------------------------------------------------------------------------

def expand_inputs(inputs: Iterable[str], storage_options: dict | None = None) -> list[str]:
    """Parquet files named by paths, folders (a stage folder stands for its rows), globs or URLs."""
    return expand_files([str(i) for i in inputs], (".parquet",), folder_subdirs=STAGE_ROW_FOLDERS,
                        storage_options=storage_options, what="dedup input")


def stem_of(path: str) -> str:
    n = storage.name(path)
    return n[: -len(".parquet")] if n.endswith(".parquet") else n


@contextmanager
def _parquet_file(path: str, storage_options: dict | None) -> Iterator[pq.ParquetFile]:
    """A Parquet file, local or remote (ranged reads), closed after use."""
    with storage.open_file(path, "rb", storage_options) as fh:
        pf = pq.ParquetFile(fh)
        try:
            yield pf
        finally:
            pf.close()


def plan_chunks(files: list[str], chunk_rows: int, storage_options: dict | None = None) -> list[Chunk]:
    """Split files into chunks of whole row groups, about ``chunk_rows`` rows each (metadata only)."""
    chunks: list[Chunk] = []
    for path in files:
        with _parquet_file(path, storage_options) as pf:
            meta = pf.metadata
        names = set(meta.schema.names)
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise ValueError(f"dedup input {path} lacks column(s) {missing}; it needs id, text (and fetch_time)")
        group: list[int] = []
        rows = 0
        for rg in range(meta.num_row_groups):
            n = meta.row_group(rg).num_rows
            if group and rows + n > chunk_rows:
                chunks.append(Chunk(len(chunks), path, tuple(group), rows))
                group, rows = [], 0
            group.append(rg)
            rows += n
        if group or meta.num_row_groups == 0:
            chunks.append(Chunk(len(chunks), path, tuple(group), rows))
    if len(chunks) >= 16 ** 6:
        raise ValueError(f"{len(chunks)} chunks: raise dedup.chunk_rows")
    return chunks


def plan_files(files: list[str], chunks: list[Chunk]) -> list[InputFile]:
    """The write units: each input file with its chunks. Stems must be unique (they name the decisions)."""
    by_stem: dict[str, str] = {}
    for f in files:
        st = stem_of(f)
        if st in by_stem:
            raise ValueError(f"dedup inputs {by_stem[st]} and {f} have the same file name: their decisions "
                             f"(removed/{st}.parquet) would collide")
        by_stem[st] = f
    of_file: dict[str, list[int]] = {f: [] for f in files}
    for c in chunks:
        of_file[c.path].append(c.index)
    return [InputFile(f, stem_of(f), tuple(of_file[f])) for f in files]


def read_chunk(chunk: Chunk, columns: list[str] | None = None, storage_options: dict | None = None) -> pa.Table:
    with _parquet_file(chunk.path, storage_options) as pf:
        cols = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
        if not chunk.row_groups:
            empty = pf.schema_arrow.empty_table()
            return empty if cols is None else empty.select(cols)
        return pf.read_row_groups(list(chunk.row_groups), columns=cols)


# --- node keys ---------------------------------------------------------------------------------------

def node_keys(ids: pa.Array, fetch_us: np.ndarray, fetch_null: np.ndarray, text_chars: np.ndarray,
              exact: np.ndarray, chunk: int) -> list[str]:
    """Rank keys: earliest fetch (unknown last), then longest text, then smallest id.

    ``<fetch:16 hex><inverted length:12 hex><id>\\0<exact:16 hex><chunk:6 hex>``. The
    NUL after the id makes a shorter id sort before its extensions.
    """
    out = []
    for i, doc_id in enumerate(ids.to_pylist()):
        ft = (1 << 64) - 1 if fetch_null[i] else int(fetch_us[i]) + _TS_UNSIGNED
        inv = _MAX_LEN - min(int(text_chars[i]), _MAX_LEN)
        out.append(f"{ft:016x}{inv:012x}{doc_id}\0{int(exact[i]):016x}{chunk:06x}")
    return out


def parse_node(node: str) -> tuple[str, str, int]:
    """(id, exact hash hex, chunk index) of a node key."""
    return node[28:-_SUFFIX - 1], node[-_SUFFIX:-6], int(node[-6:], 16)


def cluster_id(kept_id: str) -> int:
    """Stable int64 cluster id derived from the keeper's id."""
    return xxhash.xxh3_64_intdigest(kept_id.encode()) & 0x7FFF_FFFF_FFFF_FFFF


def _partition_of(nodes: list[str], partitions: int) -> np.ndarray:
    return np.fromiter((xxhash.xxh3_64_intdigest(n.encode()) % partitions for n in nodes),
                       dtype=np.int64, count=len(nodes))


# --- the unit bodies (pure functions of files; the executor runs them) -----------------------------

def _write_partitioned(table: pa.Table, parts: np.ndarray, partitions: int, folder: str, name: str,
                       storage_options: dict | None) -> None:
    """Write one file per non-empty partition: ``folder/pNNNNN/name.parquet``."""
    if table.num_rows == 0:
        return
    order = np.argsort(parts, kind="stable")
    table = table.take(pa.array(order))
    parts = parts[order]
    bounds = np.flatnonzero(np.r_[True, parts[1:] != parts[:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:]):
        storage.write_parquet(storage.join(folder, f"p{int(parts[s]):05d}", f"{name}.parquet"),
                              table.slice(s, e - s), storage_options, compression="lz4")


def _read_folder(folder: str, schema: pa.Schema, storage_options: dict | None) -> pa.Table:
    files = storage.list_files(folder, ".parquet", storage_options)
    if not files:
        return schema.empty_table()
    return pa.concat_tables([storage.read_parquet_table(f, None, storage_options).cast(schema) for f in files])


def sign_chunk(chunk: Chunk, params: DedupParams, work: str) -> dict:
    """Phase 1 on one chunk: doc statuses and (key, node) rows, hash-partitioned by key."""
    t0 = time.perf_counter()
    opts = params.storage_options
    work = str(work)
    table = read_chunk(chunk, ["id", "text", "fetch_time"], opts)
    n = table.num_rows
    sp = params.shingles
    perms = permutations(sp.num_perm, sp.seed)
    ids = table.column("id").combine_chunks() if n else pa.array([], pa.string())
    if ids.null_count:
        raise ValueError(f"{chunk.path}: column id holds nulls")
    texts = table.column("text").combine_chunks() if n else pa.array([], pa.string())
    if "fetch_time" in table.column_names and n:
        ft = table.column("fetch_time").combine_chunks().cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        fetch_null = ft.is_null().to_numpy(zero_copy_only=False)
        fetch_us = pc.fill_null(ft, 0).to_numpy(zero_copy_only=False)
    else:
        fetch_null = np.ones(n, dtype=bool)
        fetch_us = np.zeros(n, dtype=np.int64)
    text_chars = pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False) if n else np.zeros(0)

    statuses, nodes, key_cols, node_cols = [], [], [], []
    sign_seconds = 0.0
    for s in range(0, n, params.batch_rows):
        e = min(n, s + params.batch_rows)
        ts = time.perf_counter()
        sb = sign_batch(texts.slice(s, e - s), sp, perms)
        sign_seconds += time.perf_counter() - ts
        bn = node_keys(ids.slice(s, e - s), fetch_us[s:e], fetch_null[s:e], text_chars[s:e], sb.exact, chunk.index)
        statuses.append(sb.status)
        nodes.extend(bn)
        node_arr = np.array(bn, dtype=object)
        live = sb.status != EMPTY
        # exact key for every non-empty text, band keys for every signed one
        key_cols.append(sb.exact[live])
        node_cols.append(node_arr[live])
        signed = sb.has_signature
        if signed.any():
            key_cols.append(sb.bands[signed].reshape(-1))
            node_cols.append(np.repeat(node_arr[signed], sp.bands))
    status = np.concatenate(statuses) if statuses else np.empty(0, dtype=object)
    keys = np.concatenate(key_cols) if key_cols else np.empty(0, np.uint64)
    knodes = np.concatenate(node_cols) if node_cols else np.empty(0, object)
    key_table = pa.table({"key": pa.array(keys, pa.uint64()), "node": pa.array(knodes.tolist(), pa.string())},
                         schema=cc.KEY_SCHEMA)
    _write_partitioned(key_table, (keys % np.uint64(params.partitions)).astype(np.int64), params.partitions,
                       storage.join(work, "keys"), f"c{chunk.index:06d}", opts)
    storage.write_parquet(storage.join(work, "docs", f"c{chunk.index:06d}.parquet"),
                          pa.table({"id": ids, "status": pa.array(status.tolist(), pa.string())}), opts)
    counts = {k: int((status == k).sum()) for k in (OK, EMPTY, SHORT, HUGE)}
    return {"docs": n, "key_rows": int(len(keys)), "sign_seconds": round(sign_seconds, 4),
            "task_seconds": round(time.perf_counter() - t0, 4), **{f"status_{k}": v for k, v in counts.items()}}


def band_partition(part: int, params: DedupParams, work: str) -> dict:
    """Phase 2 on one key partition: star edges among texts that share a key."""
    opts = params.storage_options
    keys = _read_folder(storage.join(work, "keys", f"p{part:05d}"), cc.KEY_SCHEMA, opts)
    edges, shared = cc.star_edges(keys)
    sym = cc.symmetric(edges)
    _write_partitioned(sym, _partition_of(sym.column("u").to_pylist(), params.partitions), params.partitions,
                       storage.join(work, "cc", "r000-sym"), f"from-p{part:05d}", opts)
    return {"key_rows": keys.num_rows, "shared_keys": shared, "edges": edges.num_rows}


def large_star_partition(part: int, rnd: int, params: DedupParams, work: str) -> dict:
    opts = params.storage_options
    sym = _read_folder(storage.join(work, "cc", f"r{rnd:03d}-sym", f"p{part:05d}"), cc.EDGE_SCHEMA, opts)
    out, converged, assignments = cc.large_star(sym)
    # Convergence is global: other partitions may need another round, so the next step's
    # edges are always written; the assignments are used only if every partition converged.
    _write_partitioned(out, _partition_of(out.column("u").to_pylist(), params.partitions), params.partitions,
                       storage.join(work, "cc", f"r{rnd:03d}-ori"), f"from-p{part:05d}", opts)
    if converged:
        # leaf -> root, partitioned by root so one unit later sees each whole cluster
        _write_partitioned(assignments, _partition_of(assignments.column("v").to_pylist(), params.partitions),
                           params.partitions, storage.join(work, "cc", f"r{rnd:03d}-assign"), f"from-p{part:05d}",
                           opts)
    return {"converged": converged, "edges_in": sym.num_rows}


def small_star_partition(part: int, rnd: int, params: DedupParams, work: str) -> dict:
    opts = params.storage_options
    ori = _read_folder(storage.join(work, "cc", f"r{rnd:03d}-ori", f"p{part:05d}"), cc.EDGE_SCHEMA, opts)
    sym = cc.small_star(ori)
    _write_partitioned(sym, _partition_of(sym.column("u").to_pylist(), params.partitions), params.partitions,
                       storage.join(work, "cc", f"r{rnd + 1:03d}-sym"), f"from-p{part:05d}", opts)
    return {"edges_in": ori.num_rows}


def cluster_partition(part: int, rnd: int, params: DedupParams, work: str) -> dict:
    """Phase 4a on one root partition: removed rows (id, cluster, keeper, reason), split by chunk."""
    opts = params.storage_options
    a = _read_folder(storage.join(work, "cc", f"r{rnd:03d}-assign", f"p{part:05d}"), cc.EDGE_SCHEMA, opts)
    rows: dict[int, dict[str, list]] = {}
    sizes: dict[str, int] = {}
    for leaf, root in zip(a.column("u").to_pylist(), a.column("v").to_pylist()):
        lid, lexact, lchunk = parse_node(leaf)
        rid, rexact, _ = parse_node(root)
        r = rows.setdefault(lchunk, {"id": [], "cluster_id": [], "kept_id": [], "reason": []})
        r["id"].append(lid)
        r["cluster_id"].append(cluster_id(rid))
        r["kept_id"].append(rid)
        r["reason"].append("exact" if lexact == rexact else "near")
        sizes[root] = sizes.get(root, 1) + 1
    for chunk_index, cols in rows.items():
        storage.write_parquet(storage.join(work, "removed", f"c{chunk_index:06d}", f"from-p{part:05d}.parquet"),
                              pa.table(cols, schema=DEDUP_REMOVED_SCHEMA), opts)
    hist: dict[str, int] = {}
    for size in sizes.values():
        bucket = str(size) if size < 10 else ("10-99" if size < 100 else "100+")
        hist[bucket] = hist.get(bucket, 0) + 1
    return {"clusters": len(sizes), "largest_cluster": max(sizes.values(), default=0), "cluster_sizes": hist}


#: ``cluster_id`` of a page removed for its empty text (it joins no cluster)
EMPTY_CLUSTER = -1


def write_file(unit: InputFile, params: DedupParams, work: str, out: str) -> dict:
    """Phase 4b on one input file: its decisions ``removed/<stem>.parquet`` (duplicates and empty texts,
    sorted by id) and its drop log ``drops/<stem>.parquet``. Reads only ids and locations, never the text."""
    opts = params.storage_options
    dups = pa.concat_tables([_read_folder(storage.join(work, "removed", f"c{c:06d}"), DEDUP_REMOVED_SCHEMA, opts)
                             for c in unit.chunks]) if unit.chunks else DEDUP_REMOVED_SCHEMA.empty_table()
    docs = pa.concat_tables([storage.read_parquet_table(storage.join(work, "docs", f"c{c:06d}.parquet"), None, opts)
                             for c in unit.chunks]) if unit.chunks else None
    rows_in = docs.num_rows if docs is not None else 0
    empty_ids = (pc.filter(docs.column("id"), pc.equal(docs.column("status"), EMPTY)).combine_chunks()
                 if docs is not None else pa.array([], pa.string()))
    empty = pa.table({"id": empty_ids, "cluster_id": pa.array([EMPTY_CLUSTER] * len(empty_ids), pa.int64()),
                      "kept_id": pa.array([""] * len(empty_ids), pa.string()),
                      "reason": pa.array(["empty"] * len(empty_ids), pa.string())}, schema=DEDUP_REMOVED_SCHEMA)
    removed = pa.concat_tables([dups.cast(DEDUP_REMOVED_SCHEMA), empty]).sort_by("id")
    validate_table(removed, DEDUP_REMOVED_SCHEMA, f"dedup decisions of {unit.path}")
    storage.write_parquet(storage.join(out, "removed", f"{unit.stem}.parquet"), removed, opts)

    reasons = removed.column("reason").to_pylist()
    kept_ids = removed.column("kept_id").to_pylist()
    clusters = removed.column("cluster_id").to_pylist()
    drop_ids = removed.column("id")
    drops = {
        "stage": [STAGE] * removed.num_rows,
        "reason": ["empty_text" if r == "empty" else f"duplicate_{r}" for r in reasons],
        "detail": ["no letters or digits after normalising" if r == "empty" else f"kept={k} cluster={c}"
                   for r, k, c in zip(reasons, kept_ids, clusters)],
        "id": drop_ids.to_pylist(),
    }
    with _parquet_file(unit.path, opts) as pf:
        names = set(pf.schema_arrow.names)
    located = [c for c in _LOCATION_COLUMNS if c in names]
    lookup: dict[str, dict] = {}
    if located and removed.num_rows:
        # streamed with only these columns (ranged reads on an object store: the text is not fetched)
        loc = pa.Table.from_batches([b.filter(pc.is_in(b.column("id"), value_set=drop_ids))
                                     for b in storage.iter_parquet_batches(unit.path, ["id", *located], 65536, opts)])
        lookup = {c: dict(zip(loc.column("id").to_pylist(), loc.column(c).to_pylist())) for c in located}
    for c in _LOCATION_COLUMNS:
        drops[c] = [lookup.get(c, {}).get(i) for i in drops["id"]]
    storage.write_parquet(storage.join(out, "drops", f"{unit.stem}.parquet"), pa.table(drops, schema=DROP_LOG_SCHEMA),
                          opts)
    n_exact = sum(r == "exact" for r in reasons)
    n_near = sum(r == "near" for r in reasons)
    n_empty = len(empty_ids)
    return {"rows_in": rows_in, "rows_out": rows_in - removed.num_rows,
            "dropped": {k: v for k, v in (("duplicate_exact", n_exact), ("duplicate_near", n_near),
                                          ("empty_text", n_empty)) if v},
            "extra": {"stem": unit.stem}}


# --- orchestration ----------------------------------------------------------------------------------

def _call(unit: tuple) -> dict:
    """A phase's unit: ``(body, item, *args)``; runs ``body(item, *args)`` (the executor ships plain units)."""
    body, *args = unit
    return body(*args)


def params_from_config(cfg, total_rows: int, workers: int, storage_options: dict | None = None) -> DedupParams:
    from dedup.minhash import optimal_bands_rows

    if cfg.bands and cfg.rows:
        bands, rows = cfg.bands, cfg.rows
    else:
        bands, rows = optimal_bands_rows(cfg.threshold, cfg.num_perm, cfg.fp_weight, cfg.fn_weight)
    shingles = ShingleParams(word_ngram=cfg.word_ngram, cjk_ngram=cfg.cjk_ngram, cjk_dominant=cfg.cjk_dominant,
                             max_chars=cfg.max_chars, num_perm=cfg.num_perm, bands=bands, rows=rows, seed=cfg.seed)
    # key rows = texts * (bands + 1); enough partitions that each holds ~partition_rows of them,
    # at least one per worker so the shuffle phases use every core.
    partitions = max(workers, math.ceil(total_rows * (bands + 1) / cfg.partition_rows), 1)
    return DedupParams(shingles=shingles, batch_rows=cfg.batch_rows, partitions=partitions, workers=workers,
                       keep_work=cfg.keep_work, max_rounds=cfg.max_rounds, storage_options=storage_options)


def _fingerprint(plan: dict) -> str:
    return hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()[:16]


def dedup_files(files: list[str], out: str, cfg, *, executor=None, workers: int | None = None,
                progress: bool = True, storage_options: dict | None = None) -> StageStats:
    """Deduplicate ``files`` (Parquet with ``id``, ``text`` and optionally ``fetch_time``) into the decisions
    under ``out`` (a local folder or a URL) and publish them with the stage marker; return the stage's stats.

    ``cfg`` is a :class:`pipeline.core.config.DedupConfig`; ``executor`` runs the units (default: the running
    command's, :func:`pipeline.core.executor.current`).
    """
    from pipeline.core.executor import current

    t_start = time.perf_counter()
    out = str(out)
    opts = storage_options
    if not files:
        raise FileNotFoundError("dedup: no input Parquet files")
    clear_marker(out)  # a stale marker must not vouch for decisions this run rewrites
    storage.sweep_temp_keys(out, opts)  # temporary keys of writers killed before they published (object stores)
    chunks = plan_chunks(files, cfg.chunk_rows, opts)
    units = plan_files(files, chunks)
    total_rows = sum(c.rows for c in chunks)
    executor = executor or current(workers or cfg.workers or None)
    cpus = executor.cluster_cpus()
    workers = max(1, min(workers or cfg.workers or cpus, cpus))
    params = params_from_config(cfg, total_rows, workers, opts)
    work = storage.join(out, "_work")
    # What the units' outputs depend on (not the number of workers): a marker with another fingerprint is
    # redone, and shuffle files of another plan are swept first so they cannot leak into this one.
    plan = {"files": files, "chunks": [asdict(c) for c in chunks], "shingles": asdict(params.shingles),
            "partitions": params.partitions, "batch_rows": params.batch_rows}
    fp = _fingerprint(plan)
    plan_file = storage.join(work, "plan.json")
    try:
        old_fp = json.loads(storage.read_bytes(plan_file, opts)).get("fingerprint")
    except (FileNotFoundError, ValueError):
        old_fp = None
    if old_fp is not None and old_fp != fp:
        log.warning("dedup: input or parameters changed since the interrupted run; starting over")
        storage.remove(work, opts, recursive=True)
    storage.write_text(plan_file, json.dumps({"fingerprint": fp, "plan": plan}, sort_keys=True), opts)
    log.info("dedup: %d rows in %d chunks from %d files; b=%d r=%d; %d partitions; %d workers",
             total_rows, len(chunks), len(files), params.shingles.bands, params.shingles.rows,
             params.partitions, workers)
    timings: dict[str, float] = {}
    parts = list(range(params.partitions))

    def phase(name: str, body: Callable[..., dict], items: list, args: tuple, key: Callable[[Any], str]):
        res = executor.map(f"dedup {name}", _call, [(body, item, *args) for item in items],
                           key=lambda u: key(u[1]), workers=workers, markers=storage.join(work, "markers", name),
                           fingerprint=fp, storage_options=opts, progress=progress, unit_name="task")
        return [r.result for r in res], sum(r.cached for r in res)

    def chunk_key(c: Chunk) -> str:
        return f"c{c.index:06d}"

    def part_key(p: int) -> str:
        return f"p{p:05d}"

    t = time.perf_counter()
    sign, _ = phase("sign", sign_chunk, chunks, (params, work), chunk_key)
    timings["sign"] = time.perf_counter() - t

    t = time.perf_counter()
    bands, _ = phase("bands", band_partition, parts, (params, work), part_key)
    timings["bands"] = time.perf_counter() - t

    t = time.perf_counter()
    rnd = 0
    while True:
        ls, _ = phase(f"r{rnd:03d}-large", large_star_partition, parts, (rnd, params, work), part_key)
        if all(r["converged"] for r in ls):
            break
        phase(f"r{rnd:03d}-small", small_star_partition, parts, (rnd, params, work), part_key)
        rnd += 1
        if rnd >= params.max_rounds:
            raise RuntimeError(f"dedup: connected components did not converge in {params.max_rounds} rounds")
    timings["components"] = time.perf_counter() - t

    # a write unit's marker counts only while its decisions are there (one listing per folder)
    present = [{storage.name(f) for f in storage.list_files(storage.join(out, sub), ".parquet", opts)}
               for sub in ("removed", "drops")]
    for u in units:
        if any(f"{u.stem}.parquet" not in names for names in present):
            storage.remove(storage.join(work, "markers", "write", f"{u.stem}.json"), opts)

    t = time.perf_counter()
    clusters, _ = phase("clusters", cluster_partition, parts, (rnd, params, work), part_key)
    written, cached = phase("write", write_file, units, (params, work, out), lambda u: u.stem)
    timings["write"] = time.perf_counter() - t

    def total(rows: list[dict], k: str) -> int:
        return int(sum(r.get(k, 0) for r in rows))

    hist: dict[str, int] = {}
    for r in clusters:
        for k, v in r["cluster_sizes"].items():
            hist[k] = hist.get(k, 0) + v
    sign_seconds = sum(r["sign_seconds"] for r in sign)
    timings["total"] = time.perf_counter() - t_start
    stats = StageStats.fold(STAGE, written, units_cached=cached, seconds=round(timings["total"], 2), extra={
        "input_files": len(files),
        "short_exact_only": total(sign, f"status_{SHORT}"),
        "huge_truncated": total(sign, f"status_{HUGE}"),
        "clusters": total(clusters, "clusters"),
        "largest_cluster": max((r["largest_cluster"] for r in clusters), default=0),
        "cluster_sizes": dict(sorted(hist.items())),
        "candidate_edges": total(bands, "edges"),
        "shared_keys": total(bands, "shared_keys"),
        "key_rows": total(sign, "key_rows"),
        "components_rounds": rnd + 1,
        "bands": params.shingles.bands,
        "rows": params.shingles.rows,
        "num_perm": params.shingles.num_perm,
        "threshold": cfg.threshold,
        "partitions": params.partitions,
        "chunks": len(chunks),
        "workers": workers,
        "signature_docs_per_task_second": round(total(sign, "docs") / sign_seconds, 1) if sign_seconds else None,
        "phase_seconds": {k: round(v, 2) for k, v in timings.items()},
    })
    if stats.rows_in != total_rows or not stats.balanced:
        raise RuntimeError(f"dedup: {total_rows} rows in but {stats.rows_out} kept + {sum(stats.dropped.values())} "
                           f"removed over {stats.rows_in} read")
    d = stats.dropped
    stats.notes = (f"{d.get('duplicate_exact', 0)} exact + {d.get('duplicate_near', 0)} near duplicates, "
                   f"{d.get('empty_text', 0)} empty, {stats.extra['clusters']} clusters")
    storage.write_text(storage.join(out, "stats.json"), json.dumps(stats.to_dict(), indent=2, sort_keys=True) + "\n",
                       opts)
    if not params.keep_work:
        storage.remove(work, opts, recursive=True)
    outputs = [f"{sub}/{u.stem}.parquet" for u in units for sub in ("removed", "drops")]
    mark_complete(out, stats.to_dict(), outputs=outputs)
    log.info("dedup: %d docs, kept %d, %s (%.1fs)", stats.rows_in, stats.rows_out, stats.notes, stats.seconds)
    return stats


def run_dedup(inputs: Iterable[str], out: str, cfg, workers: int | None = None, progress: bool = True, *,
              executor=None, storage_options: dict | None = None) -> dict:
    """Deduplicate the Parquet files that ``inputs`` name (paths, folders, globs, URLs) into ``out``.

    Writes ``out/removed/<stem>.parquet`` and ``out/drops/<stem>.parquet`` per input file, then
    ``out/_SUCCESS`` with the stats (:class:`StageStats` as a dict), which it also returns.
    """
    files = expand_inputs(inputs, storage_options)
    return dedup_files(files, str(out), cfg, executor=executor, workers=workers, progress=progress,
                       storage_options=storage_options).to_dict()


def run_dedup_stage(ctx) -> StageStats:
    """The ``dedup`` stage of a run (reads ``pool``): the pool's page files, or ``dedup.inputs`` when set."""
    cfg = ctx.cfg.dedup
    opts = ctx.storage_options or None
    if cfg.inputs:
        files = expand_inputs(cfg.inputs, opts)
    else:
        files = storage.list_files(storage.join(ctx.inputs["pool"], "pages"), ".parquet", opts)
        if not files:
            raise FileNotFoundError(f"dedup: no page files in {storage.join(ctx.inputs['pool'], 'pages')}")
    return dedup_files(files, ctx.folder, cfg, executor=ctx.executor, progress=ctx.progress, storage_options=opts)
