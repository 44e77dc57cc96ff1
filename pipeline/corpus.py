"""The corpus step: pool pages joined with the decisions of the stages before, as CORPUS_SCHEMA shards.

For every pool file ``<stem>`` (in name order), the pages that dedup kept, the last recall round
recalled and decontamination did not remove (:func:`pipeline.pages.iter_pages` over ``pool``, ``dedup``,
``rounds``, ``decontam``), sorted by id, with the recalled decision's fields mapped here and only here
(:data:`COLUMN_MAP`: ``score`` -> ``math_score``, ``round`` -> ``round``, ``tokens`` -> ``token_count``).

It runs as two steps of units on the executor, so no process reads the whole corpus:

1. **size** - one unit per pool file: its surviving rows and their uncompressed bytes;
2. the driver cuts the row sequence into shards from those sizes alone
   (:func:`pipeline.shard.plan_shards`, the same targets as :func:`pipeline.shard.write_corpus`);
3. **shards** - one unit per shard: it reads its slices of one or more pool files, writes
   ``part-NNNNN.parquet`` (checked, published atomically) and returns its manifest entry;

then the driver writes the manifest and the marker. Unit markers (``.meta/units/``, out of readers' way)
carry a fingerprint of the decisions and the shard settings, so a rerun resumes, and the same decisions give
the same shards, row for row. A worker holds one pool file's surviving pages at a time.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import pages
from pipeline.core import storage
from pipeline.core.io import META_DIR, clear_marker, is_complete, read_marker
from pipeline.core.schema import CORPUS_SCHEMA
from pipeline.core.stats import StageStats
from pipeline.shard import ShardSpec, plan_shards, publish_manifest, shard_name, write_shard

log = logging.getLogger(__name__)

STAGE = "corpus"
#: the stages whose outputs the corpus is made of (their folders are ``ctx.inputs``)
READS = ("pool", "dedup", "rounds", "decontam")
#: corpus column <- column of the pages read (pool columns, and the recalled decision's)
COLUMN_MAP = {
    "id": "id", "url": "url", "domain": "domain", "text": "text", "lang": "lang",
    "math_score": "score", "round": "round", "token_count": "tokens",
    "warc_path": "warc_path", "warc_offset": "warc_offset", "warc_length": "warc_length",
    "warc_record_id": "warc_record_id", "fetch_time": "fetch_time",
}
if list(COLUMN_MAP) != CORPUS_SCHEMA.names:
    raise ImportError("pipeline.corpus.COLUMN_MAP does not name the CORPUS_SCHEMA columns in order")
_READ_COLUMNS = list(dict.fromkeys(COLUMN_MAP.values()))


def to_corpus_rows(t: pa.Table) -> pa.Table:
    """Pages with their recalled decision (``pipeline.pages`` columns) as CORPUS_SCHEMA rows, sorted by id."""
    t = t.sort_by([("id", "ascending")])
    cols = [pc.cast(t.column(src), CORPUS_SCHEMA.field(dst).type) for dst, src in COLUMN_MAP.items()]
    return pa.Table.from_arrays(cols, schema=CORPUS_SCHEMA)


def corpus_rows(src: pages.PageSource, stem: str) -> pa.Table:
    """The corpus rows of one pool file (sorted by id)."""
    return to_corpus_rows(pages.read_pages(src, stem, _READ_COLUMNS))


# --- the units ----------------------------------------------------------------------

def size_unit(unit: tuple[pages.PageSource, str]) -> dict[str, Any]:
    """Step 1 on one pool file: how many corpus rows it gives and their uncompressed Arrow bytes."""
    src, stem = unit
    t0 = time.perf_counter()
    rows = corpus_rows(src, stem)
    return {"rows_in": rows.num_rows, "rows_out": rows.num_rows, "seconds": round(time.perf_counter() - t0, 3),
            "extra": {"stem": stem, "bytes": int(rows.nbytes)}}


def shard_unit(unit: tuple[pages.PageSource, int, list[tuple[str, int, int]], ShardSpec, str]) -> dict[str, Any]:
    """Step 3 on one shard: its row slices of pool files, written as ``part-<index>.parquet``."""
    src, index, slices, spec, out = unit
    t0 = time.perf_counter()
    parts = [corpus_rows(src, stem).slice(start, stop - start) for stem, start, stop in slices]
    table = pa.concat_tables(parts).combine_chunks()
    want = sum(stop - start for _, start, stop in slices)
    if table.num_rows != want:
        raise RuntimeError(f"corpus shard {index}: read {table.num_rows} rows where the plan says {want} "
                           "(the decisions changed since the plan)")
    entry = write_shard(table, out, index, spec, src.storage_options)
    return {"rows_in": want, "rows_out": want, "seconds": round(time.perf_counter() - t0, 3), "extra": entry}


# --- the stage ------------------------------------------------------------------------

def stage_counts(inputs: Mapping[str, str], storage_options: dict | None = None) -> dict[str, Any]:
    """Rows in, out and dropped of each stage the corpus is made of, from their markers (for the manifest)."""
    out: dict[str, Any] = {}
    for name in READS:
        folder = inputs.get(name)
        if not folder or not is_complete(folder):
            continue
        m = read_marker(folder)
        out[name] = {k: m.get(k) for k in ("rows_in", "rows_out", "dropped") if k in m}
    return out


def spec_from_config(c) -> ShardSpec:
    return ShardSpec(target_rows=c.target_rows, target_bytes=c.target_bytes, row_group_rows=c.row_group_rows,
                     compression=c.compression)


def build_corpus(cfg, inputs: Mapping[str, str], out: str, *, executor=None, progress: bool = True,
                 storage_options: dict | None = None) -> StageStats:
    """Write the corpus of the decisions in ``inputs`` into ``out`` (a folder or a URL) and publish it (shards,
    then ``.meta/manifest.json``, then ``.meta/_SUCCESS``); return the stage's stats."""
    from pipeline.core.executor import current

    t0 = time.perf_counter()
    out = str(out)
    missing = [s for s in ("pool", "rounds", "decontam") if s not in inputs]
    if missing:
        raise ValueError(f"corpus: the inputs name no {', '.join(missing)} folder")
    src = pages.PageSource.of({k: v for k, v in inputs.items() if k in READS}, storage_options)
    spec = spec_from_config(cfg.corpus)
    executor = executor or current()
    clear_marker(out)  # the corpus is not complete until its new marker
    storage.sweep_temp_keys(out, storage_options)  # temporary keys of writers killed before they published
    storage.makedirs(out)
    fp = hashlib.sha256(json.dumps([pages.decisions_fingerprint(src), spec.__dict__, COLUMN_MAP],
                                   sort_keys=True).encode()).hexdigest()[:16]
    markers = storage.join(out, META_DIR, "units")
    stems = pages.stems(src)
    sized = executor.map("corpus size", size_unit, [(src, s) for s in stems], key=lambda u: u[1],
                         markers=storage.join(markers, "size"), fingerprint=fp, storage_options=storage_options,
                         progress=progress, unit_name="file")
    sizes = [(r.result["extra"]["stem"], r.result["rows_out"], r.result["extra"]["bytes"]) for r in sized]
    plan = plan_shards(sizes, spec)
    # a shard's marker counts only while its file is there (one listing)
    present = {storage.name(f) for f in storage.list_files(out, ".parquet", storage_options)}
    for i in range(len(plan)):
        if shard_name(i) not in present:
            storage.remove(storage.join(markers, "shards", f"{i:05d}.json"), storage_options)
    shard_fp = hashlib.sha256(f"{fp}|{json.dumps(plan)}".encode()).hexdigest()[:16]
    written = executor.map("corpus shards", shard_unit, [(src, i, sl, spec, out) for i, sl in enumerate(plan)],
                           key=lambda u: f"{u[1]:05d}", markers=storage.join(markers, "shards"),
                           fingerprint=shard_fp, storage_options=storage_options, progress=progress,
                           unit_name="shard")
    files = [r.result["extra"] for r in written]
    keep = {f["file"] for f in files}
    for f in storage.list_files(out, ".parquet", storage_options):  # shards of an earlier, longer plan
        if storage.name(f) not in keep:
            storage.remove(f, storage_options)
    rows = sum(n for _, n, _ in sizes)
    stats = StageStats(stage=STAGE, rows_in=rows, rows_out=sum(f["rows"] for f in files), units=len(plan),
                       units_cached=sum(r.cached for r in written))

    def marker(manifest: dict) -> dict:
        stats.seconds = round(time.perf_counter() - t0, 2)
        stats.notes = f"{len(manifest['files'])} shards, {manifest['bytes']} bytes"
        stats.extra = {"shards": len(manifest["files"]), "bytes": manifest["bytes"], "pool_files": len(stems),
                       "fingerprint": shard_fp}
        return stats.to_dict()

    if not stats.balanced:
        raise RuntimeError(f"corpus: {rows} rows planned, {stats.rows_out} written: not published")
    publish_manifest(out, files, spec, stage_counts(inputs, storage_options), cfg.model_dump(),
                     storage_options=storage_options, marker_stats=marker)
    return stats


def run_corpus_stage(ctx) -> StageStats:
    """The ``corpus`` stage of a run (reads pool, dedup, rounds, decontam)."""
    return build_corpus(ctx.cfg, ctx.inputs, ctx.folder, executor=ctx.executor, progress=ctx.progress,
                        storage_options=ctx.storage_options or None)
