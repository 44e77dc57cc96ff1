"""The dedup stage on Ray: signatures, band shuffle, connected components, outputs.

Phases (each a set of Ray tasks; ``workers`` of them in flight at once):

1. **sign** - one task per input chunk (whole Parquet row groups, about
   ``chunk_rows`` rows): normalise, hash, shingle, MinHash (:mod:`dedup.minhash`).
   For every text it emits rows ``(key, node)``: one for the exact hash of the
   normalised text and one per LSH band. Rows go to ``P`` hash partitions by
   ``key % P`` (files ``_work/keys/pNNNNN/cNNNNNN.parquet``): the map side of
   the shuffle.
2. **bands** - one task per key partition: texts sharing a key become a star of
   candidate edges (:func:`dedup.components.star_edges`), re-partitioned by node.
3. **components** - Large-Star / Small-Star rounds, one task per edge partition
   per step, until every partition is a forest of stars
   (:mod:`dedup.components`).
4. **write** - each chunk's removed rows, drop log and kept rows.

A node is a string ``rank | id | exact hash | chunk`` whose byte order is the
keeper order, so each component's minimum is its keeper. Every task writes its
outputs atomically and a marker last; a rerun skips finished tasks, so a crash
costs only the tasks in flight. No task holds more than one chunk or one
partition; ``P`` grows with the input so partitions stay near
``partition_rows`` rows (docs/dedup.md derives memory per billion documents).
"""
from __future__ import annotations

import glob
import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from dedup import components as cc
from dedup.minhash import EMPTY, HUGE, OK, SHORT, ShingleParams, permutations, sign_batch
from pipeline.core.io import mark_complete, write_json_atomic, write_parquet_atomic
from pipeline.core.progress import progress_bar
from pipeline.core.schema import DEDUP_REMOVED_SCHEMA, DROP_LOG_SCHEMA

log = logging.getLogger(__name__)

STAGE = "dedup"
REQUIRED_COLUMNS = ("id", "text")
#: where a stage folder keeps its rows (pool: pages/, dedup: kept/); the corpus has part-*.parquet on top
STAGE_ROW_FOLDERS = ("pages", "kept")
_TS_UNSIGNED = 1 << 63
_MAX_LEN = (1 << 48) - 1
_SUFFIX = 16 + 6  # exact hash + chunk, fixed width, after the id and a NUL


@dataclass(frozen=True)
class DedupParams:
    """Everything a task needs (plain data, shipped to Ray workers)."""

    shingles: ShingleParams
    batch_rows: int = 2_000
    partitions: int = 1
    workers: int = 1
    write_kept: bool = True
    keep_work: bool = False
    max_rounds: int = 100


@dataclass(frozen=True)
class Chunk:
    index: int
    path: str
    row_groups: tuple[int, ...]
    rows: int


# --- input ----------------------------------------------------------------------------------------

def expand_inputs(inputs: Iterable[str | Path]) -> list[str]:
    """Parquet files named by paths, folders (their ``*.parquet``, or a stage folder's rows) or globs.

    Sorted within each item and de-duplicated; names starting with ``.`` or ``_`` are skipped.
    """
    files: list[str] = []
    for item in inputs:
        item = str(item)
        p = Path(item)
        if p.is_dir():
            # A stage folder stands for its rows: the pool's pages/, a dedup run's kept/.
            if not any(p.glob("*.parquet")):
                for sub in STAGE_ROW_FOLDERS:
                    if (p / sub).is_dir():
                        p = p / sub
                        break
            files.extend(str(f) for f in sorted(p.glob("*.parquet")))
        elif any(ch in item for ch in "*?["):
            files.extend(sorted(glob.glob(item)))
        elif p.exists():
            files.append(item)
        else:
            raise FileNotFoundError(f"dedup input not found: {item}")
    seen, out = set(), []
    for f in files:
        if Path(f).name.startswith((".", "_")):
            continue  # temp files and markers, never data
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


def plan_chunks(files: list[str], chunk_rows: int) -> list[Chunk]:
    """Split files into chunks of whole row groups, about ``chunk_rows`` rows each (metadata only)."""
    chunks: list[Chunk] = []
    for path in files:
        meta = pq.ParquetFile(path).metadata
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


def read_chunk(chunk: Chunk, columns: list[str] | None = None) -> pa.Table:
    pf = pq.ParquetFile(chunk.path)
    if not chunk.row_groups:
        return pf.schema_arrow.empty_table() if columns is None else pf.schema_arrow.empty_table().select(columns)
    cols = None
    if columns is not None:
        cols = [c for c in columns if c in pf.schema_arrow.names]
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


# --- the task bodies (pure functions of files; Ray runs them) --------------------------------------

def _write_partitioned(table: pa.Table, parts: np.ndarray, partitions: int, folder: Path, name: str) -> None:
    """Write one file per non-empty partition: ``folder/pNNNNN/name.parquet``."""
    if table.num_rows == 0:
        return
    order = np.argsort(parts, kind="stable")
    table = table.take(pa.array(order))
    parts = parts[order]
    bounds = np.flatnonzero(np.r_[True, parts[1:] != parts[:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:]):
        write_parquet_atomic(folder / f"p{int(parts[s]):05d}" / f"{name}.parquet", table.slice(s, e - s),
                             compression="lz4")


def _read_folder(folder: Path, schema: pa.Schema) -> pa.Table:
    files = sorted(f for f in folder.glob("*.parquet") if not f.name.startswith("."))
    if not files:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(f).cast(schema) for f in files])


def sign_chunk(chunk: Chunk, params: DedupParams, work: Path) -> dict:
    """Phase 1 on one chunk: doc statuses and (key, node) rows, hash-partitioned by key."""
    t0 = time.perf_counter()
    table = read_chunk(chunk, ["id", "text", "fetch_time"])
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
                       work / "keys", f"c{chunk.index:06d}")
    write_parquet_atomic(work / "docs" / f"c{chunk.index:06d}.parquet",
                         pa.table({"id": ids, "status": pa.array(status.tolist(), pa.string())}))
    counts = {k: int((status == k).sum()) for k in (OK, EMPTY, SHORT, HUGE)}
    return {"docs": n, "key_rows": int(len(keys)), "sign_seconds": round(sign_seconds, 4),
            "task_seconds": round(time.perf_counter() - t0, 4), **{f"status_{k}": v for k, v in counts.items()}}


def band_partition(part: int, params: DedupParams, work: Path) -> dict:
    """Phase 2 on one key partition: star edges among texts that share a key."""
    keys = _read_folder(work / "keys" / f"p{part:05d}", cc.KEY_SCHEMA)
    edges, shared = cc.star_edges(keys)
    sym = cc.symmetric(edges)
    _write_partitioned(sym, _partition_of(sym.column("u").to_pylist(), params.partitions), params.partitions,
                       work / "cc" / "r000-sym", f"from-p{part:05d}")
    return {"key_rows": keys.num_rows, "shared_keys": shared, "edges": edges.num_rows}


def large_star_partition(part: int, rnd: int, params: DedupParams, work: Path) -> dict:
    sym = _read_folder(work / "cc" / f"r{rnd:03d}-sym" / f"p{part:05d}", cc.EDGE_SCHEMA)
    out, converged, assignments = cc.large_star(sym)
    # Convergence is global: other partitions may need another round, so the next step's
    # edges are always written; the assignments are used only if every partition converged.
    _write_partitioned(out, _partition_of(out.column("u").to_pylist(), params.partitions), params.partitions,
                       work / "cc" / f"r{rnd:03d}-ori", f"from-p{part:05d}")
    if converged:
        # leaf -> root, partitioned by root so one task later sees each whole cluster
        _write_partitioned(assignments, _partition_of(assignments.column("v").to_pylist(), params.partitions),
                           params.partitions, work / "cc" / f"r{rnd:03d}-assign", f"from-p{part:05d}")
    return {"converged": converged, "edges_in": sym.num_rows}


def small_star_partition(part: int, rnd: int, params: DedupParams, work: Path) -> dict:
    ori = _read_folder(work / "cc" / f"r{rnd:03d}-ori" / f"p{part:05d}", cc.EDGE_SCHEMA)
    sym = cc.small_star(ori)
    _write_partitioned(sym, _partition_of(sym.column("u").to_pylist(), params.partitions), params.partitions,
                       work / "cc" / f"r{rnd + 1:03d}-sym", f"from-p{part:05d}")
    return {"edges_in": ori.num_rows}


def cluster_partition(part: int, rnd: int, params: DedupParams, work: Path) -> dict:
    """Phase 4a on one root partition: removed rows (id, cluster, keeper, reason), split by chunk."""
    a = _read_folder(work / "cc" / f"r{rnd:03d}-assign" / f"p{part:05d}", cc.EDGE_SCHEMA)
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
        write_parquet_atomic(work / "removed" / f"c{chunk_index:06d}" / f"from-p{part:05d}.parquet",
                             pa.table(cols, schema=DEDUP_REMOVED_SCHEMA))
    hist: dict[str, int] = {}
    for size in sizes.values():
        bucket = str(size) if size < 10 else ("10-99" if size < 100 else "100+")
        hist[bucket] = hist.get(bucket, 0) + 1
    return {"clusters": len(sizes), "largest_cluster": max(sizes.values(), default=0), "cluster_sizes": hist}


def write_chunk(chunk: Chunk, params: DedupParams, work: Path, out: Path) -> dict:
    """Phase 4b on one chunk: removed table, drop log, and the kept rows in the input's own schema."""
    removed = _read_folder(work / "removed" / f"c{chunk.index:06d}", DEDUP_REMOVED_SCHEMA)
    removed = removed.sort_by("id")
    docs = pq.read_table(work / "docs" / f"c{chunk.index:06d}.parquet")
    empty_ids = pc.filter(docs.column("id"), pc.equal(docs.column("status"), EMPTY))
    name = f"part-{chunk.index:05d}.parquet"
    write_parquet_atomic(out / "removed" / name, removed)
    drops = {
        "stage": [STAGE] * (removed.num_rows + len(empty_ids)),
        "reason": [f"duplicate_{r}" for r in removed.column("reason").to_pylist()] + ["empty_text"] * len(empty_ids),
        "detail": [f"kept={k} cluster={c}" for k, c in zip(removed.column("kept_id").to_pylist(),
                                                            removed.column("cluster_id").to_pylist())]
        + ["no letters or digits after normalising"] * len(empty_ids),
        "id": removed.column("id").to_pylist() + empty_ids.to_pylist(),
    }
    drop_ids = pa.array(drops["id"], pa.string())
    full = read_chunk(chunk)
    if {"url", "warc_path", "warc_record_id", "warc_offset"} & set(full.column_names):
        by_id = full.filter(pc.is_in(full.column("id"), value_set=drop_ids))
        lookup = {c: dict(zip(by_id.column("id").to_pylist(), by_id.column(c).to_pylist()))
                  for c in ("url", "warc_path", "warc_record_id", "warc_offset") if c in by_id.column_names}
    else:
        lookup = {}
    for c in ("url", "warc_path", "warc_record_id", "warc_offset"):
        drops[c] = [lookup.get(c, {}).get(i) for i in drops["id"]]
    write_parquet_atomic(out / "drops" / name, pa.table(drops, schema=DROP_LOG_SCHEMA))
    kept_rows = full.num_rows
    if params.write_kept:
        kept = full.filter(pc.invert(pc.is_in(full.column("id"), value_set=drop_ids)))
        kept_rows = kept.num_rows
        write_parquet_atomic(out / "kept" / name, kept)
    else:
        kept_rows = full.num_rows - len(drop_ids)
    reasons = removed.column("reason")
    return {"docs": full.num_rows, "kept": kept_rows, "empty": len(empty_ids),
            "removed_exact": int(pc.sum(pc.equal(reasons, "exact")).as_py() or 0),
            "removed_near": int(pc.sum(pc.equal(reasons, "near")).as_py() or 0)}


# --- orchestration ----------------------------------------------------------------------------------

def _run_phase(name: str, items: list, body: Callable[..., dict], args: tuple, work: Path,
               workers: int, key: Callable[[Any], str], progress: bool = True) -> list[dict]:
    """Run ``body(item, *args)`` as Ray tasks, ``workers`` at a time; skip items whose marker exists.

    Each result is saved as a marker (``_work/markers/<name>/<key>.json``) written after the
    task's outputs, so a rerun resumes at task granularity.
    """
    import ray

    markers = work / "markers" / name
    results: dict[int, dict] = {}
    todo = []
    for i, item in enumerate(items):
        m = markers / f"{key(item)}.json"
        if m.exists():
            results[i] = json.loads(m.read_text())
        else:
            todo.append(i)
    remote = ray.remote(num_cpus=1, max_retries=2)(body)
    in_flight: dict[Any, int] = {}
    done = len(results)
    last_log = time.monotonic()
    pending = list(todo)
    bar = progress_bar(len(items), f"dedup {name}", "task", progress, initial=done)
    while pending or in_flight:
        while pending and len(in_flight) < workers:
            i = pending.pop(0)
            in_flight[remote.remote(items[i], *args)] = i
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in ready:
            i = in_flight.pop(ref)
            res = ray.get(ref)
            write_json_atomic(markers / f"{key(items[i])}.json", res)
            results[i] = res
            done += 1
            bar.update(1)
        if time.monotonic() - last_log > 10 or done == len(items):
            log.info("dedup %s: %d/%d tasks done", name, done, len(items))
            last_log = time.monotonic()
    bar.close()
    return [results[i] for i in range(len(items))]


def params_from_config(cfg, total_rows: int, workers: int) -> DedupParams:
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
                       write_kept=cfg.write_kept, keep_work=cfg.keep_work, max_rounds=cfg.max_rounds)


def run_dedup(inputs: Iterable[str | Path], out: str | Path, cfg, workers: int | None = None,
              progress: bool = True) -> dict:
    """Deduplicate Parquet files with ``id``, ``text`` (and ``fetch_time``) columns into ``out``.

    ``cfg`` is a :class:`pipeline.core.config.DedupConfig`. Writes ``out/kept/``,
    ``out/removed/``, ``out/drops/`` (one part per input chunk) and ``out/_SUCCESS``
    with the stats, which it also returns. Starts Ray in-process if it is not running.
    """
    import ray

    t_start = time.perf_counter()
    out = Path(out)
    files = expand_inputs(inputs)
    if not files:
        raise FileNotFoundError("dedup: no input Parquet files")
    chunks = plan_chunks(files, cfg.chunk_rows)
    total_rows = sum(c.rows for c in chunks)
    t = time.perf_counter()
    from pipeline.core.executor import ensure_ray

    ensure_ray(num_cpus=workers or cfg.workers or None)  # joins RAY_ADDRESS (`ray job submit`) when set
    ray_start = time.perf_counter() - t
    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers = max(1, min(workers or cfg.workers or cpus, cpus))
    params = params_from_config(cfg, total_rows, workers)
    work = out / "_work"
    plan = {"files": files, "chunks": len(chunks), "rows": total_rows, "params": asdict(params)}
    plan_file = work / "plan.json"
    if plan_file.exists():
        old = json.loads(plan_file.read_text())
        if {k: v for k, v in old.items() if k != "params"} != {k: v for k, v in plan.items() if k != "params"} \
                or old["params"]["shingles"] != plan["params"]["shingles"] \
                or old["params"]["partitions"] != plan["params"]["partitions"]:
            log.warning("dedup: input or parameters changed since the interrupted run; starting over")
            shutil.rmtree(work)
    # `workers` may differ on a resume; partitions and shingles may not.
    write_json_atomic(plan_file, plan)
    log.info("dedup: %d rows in %d chunks from %d files; b=%d r=%d; %d partitions; %d workers",
             total_rows, len(chunks), len(files), params.shingles.bands, params.shingles.rows,
             params.partitions, workers)
    timings = {"ray_start": ray_start}
    parts = list(range(params.partitions))

    t = time.perf_counter()
    sign = _run_phase("sign", chunks, sign_chunk, (params, work), work, workers, lambda c: f"c{c.index:06d}",
                      progress=progress)
    timings["sign"] = time.perf_counter() - t

    t = time.perf_counter()
    bands = _run_phase("bands", parts, band_partition, (params, work), work, workers, lambda p: f"p{p:05d}",
                       progress=progress)
    timings["bands"] = time.perf_counter() - t

    t = time.perf_counter()
    rnd = 0
    while True:
        ls = _run_phase(f"r{rnd:03d}-large", parts, large_star_partition, (rnd, params, work), work, workers,
                        lambda p: f"p{p:05d}", progress=progress)
        if all(r["converged"] for r in ls):
            break
        _run_phase(f"r{rnd:03d}-small", parts, small_star_partition, (rnd, params, work), work, workers,
                   lambda p: f"p{p:05d}", progress=progress)
        rnd += 1
        if rnd >= params.max_rounds:
            raise RuntimeError(f"dedup: connected components did not converge in {params.max_rounds} rounds")
    timings["components"] = time.perf_counter() - t

    t = time.perf_counter()
    clusters = _run_phase("clusters", parts, cluster_partition, (rnd, params, work), work, workers,
                          lambda p: f"p{p:05d}", progress=progress)
    written = _run_phase("write", chunks, write_chunk, (params, work, out), work, workers,
                         lambda c: f"c{c.index:06d}", progress=progress)
    timings["write"] = time.perf_counter() - t

    def total(rows: list[dict], k: str) -> int:
        return int(sum(r.get(k, 0) for r in rows))

    hist: dict[str, int] = {}
    for r in clusters:
        for k, v in r["cluster_sizes"].items():
            hist[k] = hist.get(k, 0) + v
    sign_seconds = sum(r["sign_seconds"] for r in sign)
    stats = {
        "input_files": len(files),
        "docs": total(written, "docs"),
        "kept": total(written, "kept"),
        "removed_exact": total(written, "removed_exact"),
        "removed_near": total(written, "removed_near"),
        "dropped_empty": total(written, "empty"),
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
        "seconds": {k: round(v, 2) for k, v in timings.items()} | {"total": round(time.perf_counter() - t_start, 2)},
    }
    accounted = stats["kept"] + stats["removed_exact"] + stats["removed_near"] + stats["dropped_empty"]
    if accounted != stats["docs"]:
        raise RuntimeError(f"dedup: {stats['docs']} docs in but {accounted} accounted for")
    write_json_atomic(out / "stats.json", stats)
    if not params.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    mark_complete(out, stats)
    log.info("dedup: %d docs, kept %d, removed %d exact + %d near, %d empty, %d clusters (%.1fs)",
             stats["docs"], stats["kept"], stats["removed_exact"], stats["removed_near"], stats["dropped_empty"],
             stats["clusters"], stats["seconds"]["total"])
    return stats
