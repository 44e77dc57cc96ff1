"""The ``decontam`` stage: workers scan pages against the benchmark index and write decisions by id.

Units are the pool's page files. A unit reads the pages of pool file ``<stem>`` that recall kept
(pool pages ∩ ``rounds/recalled/<stem>``, minus ``dedup/removed/<stem>``: :mod:`pipeline.pages`, the
stages it reads are its ``ctx.inputs``) and writes, under ``<workdir>/decontam/``:

    removed/<stem>.parquet  DECONTAM_REMOVED_SCHEMA: one row per removed page (empty file: none removed)
    audit/<stem>.parquet    DECONTAM_AUDIT_SCHEMA: one row per (removed page, benchmark item)
    drops/<stem>.parquet    DROP_LOG_SCHEMA: one row per removed page, reason ``benchmark_contamination``
    units/<stem>.json       the unit's stats, written by the executor after the files (its marker)
    stats.json, _SUCCESS    the stage's stats, written last

No page text is copied: the corpus step joins the pool's pages with these decisions. A rerun skips
units whose marker names the same fingerprint (same benchmark texts, same rule, same upstream
decisions); any other unit is scanned again.

``decontam.input`` scans a folder (or any path, glob or URL) of Parquet page files instead, e.g. a
finished corpus: every file with ``id``, ``url`` and ``text`` columns (recursively; drop logs and other
side tables are skipped) is a unit, keyed by its path under the folder with ``/`` turned into ``__``,
and the same three decision files are written per key. Every read and write goes through
:mod:`pipeline.core.storage`, so the run folder may be on an object store.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa

from decontam.index import BenchmarkIndex
from decontam.loaders import BenchmarkText, load_benchmark
from pipeline import pages as page_source
from pipeline.core import storage
from pipeline.core.config import Config, ConfigError, DecontamConfig
from pipeline.core.inputs import InputNotFound, expand_files
from pipeline.core.io import clear_marker, mark_complete
from pipeline.core.schema import DECONTAM_AUDIT_SCHEMA, DECONTAM_REMOVED_SCHEMA, DROP_LOG_SCHEMA, validate_table
from pipeline.core.stats import StageStats

log = logging.getLogger(__name__)

STAGE = "decontam"
DROP_REASON = "benchmark_contamination"
PAGE_COLUMNS = ("id", "url", "text")
#: read with the pages where the source has them, for the drop log
LOCATION_COLUMNS = ("warc_path", "warc_record_id", "warc_offset")
#: the stages whose outputs decide which pages decontam scans (their folders are ``ctx.inputs``)
READS = ("pool", "dedup", "rounds")


# --- benchmarks ---------------------------------------------------------------------

def load_benchmarks(dcfg: DecontamConfig, workdir: str) -> tuple[list[BenchmarkText], dict[str, Any]]:
    """All texts of the configured benchmarks, and per-benchmark counts for the stats. A benchmark path may
    be a URL (``{workdir}/minicc/benchmarks/...`` of a run on an object store): it is copied to a local
    temporary folder for the loaders."""
    texts: list[BenchmarkText] = []
    loaded: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="decontam-bench-") as tmp:
        for spec in dcfg.benchmarks:
            path = None if spec.path is None else spec.path.replace("{workdir}", str(workdir))
            if path is not None and not storage.exists(path):
                if not spec.required:
                    log.warning("benchmark %s: %s not found, skipped (required: false)", spec.name, path)
                    loaded[spec.name] = {"path": path, "skipped": "not found"}
                    continue
            local = path
            if path is not None and storage.is_url(path):
                local = os.path.join(tmp, spec.name, posixpath.basename(path.rstrip("/")))
                fs, inner = storage.filesystem(path)
                fs.get(inner, local, recursive=fs.isdir(inner))
            got = load_benchmark(spec.name, local, format=spec.format, fields=spec.fields, id_field=spec.id_field,
                                 hf_id=spec.hf_id, hf_config=spec.hf_config, split=spec.split)
            loaded[spec.name] = {"path": path if path else spec.hf_id, "items": len({t.item_id for t in got}),
                                 "texts": len(got)}
            texts.extend(got)
    if not texts:
        raise ConfigError("decontam.benchmarks: no benchmark loaded (the list is empty or every optional path is missing)")
    return texts, loaded


def build_index(dcfg: DecontamConfig, workdir: str) -> tuple[BenchmarkIndex, dict[str, Any]]:
    texts, loaded = load_benchmarks(dcfg, workdir)
    index = BenchmarkIndex(texts, n=dcfg.n, short_min=dcfg.short_min, short_max=dcfg.short_max, n_cjk=dcfg.n_cjk,
                           require_word=dcfg.require_word)
    return index, loaded


# --- units --------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """One unit: the decisions ``<key>.parquet`` for the pages of pool file ``key`` (``source`` says which
    decisions apply), or of the page file ``path`` (``decontam.input``)."""

    key: str
    source: page_source.PageSource | None = None
    path: str | None = None
    columns: tuple[str, ...] = PAGE_COLUMNS


def plan_pool_units(inputs: Mapping[str, str], storage_options: dict | None = None) -> list[Unit]:
    """One unit per pool page file; the pages are those that the stages in ``inputs`` kept."""
    missing = [s for s in ("pool", "rounds") if s not in inputs]
    if missing:
        raise ConfigError(f"decontam reads the recalled pages: the inputs name no {' or '.join(missing)} folder "
                          "(run it as a stage of the pipeline, or set decontam.input)")
    src = page_source.PageSource.of({k: v for k, v in inputs.items() if k in READS}, storage_options)
    stems = page_source.stems(src)
    if not stems:
        raise ConfigError(f"decontam: no pool page files in {storage.join(src.pool, 'pages')}")
    schema = page_source.storage_schema(src.pool_file(stems[0]), storage_options)
    cols = PAGE_COLUMNS + tuple(c for c in LOCATION_COLUMNS if c in schema.names)
    return [Unit(key=s, source=src, columns=cols) for s in stems]


def plan_file_units(item: str, storage_options: dict | None = None) -> list[Unit]:
    """``decontam.input``: every Parquet page file it names (files with id, url and text columns)."""
    try:
        files = expand_files([item], (".parquet",), recursive=True, storage_options=storage_options,
                             what="decontam.input")
    except InputNotFound as exc:
        raise ConfigError(f"decontam.input: {exc}") from None
    base = item.rstrip("/")
    units = []
    for f in files:
        names = page_source.storage_schema(f, storage_options).names
        if not all(c in names for c in PAGE_COLUMNS):
            continue
        rel = f[len(base) + 1:] if f.startswith(base + "/") or f.startswith(base + os.sep) else storage.name(f)
        key = "__".join(p for p in rel.replace(os.sep, "/").split("/") if p)
        key = key[: -len(".parquet")] if key.endswith(".parquet") else key
        units.append(Unit(key=key, path=f, columns=PAGE_COLUMNS + tuple(c for c in LOCATION_COLUMNS if c in names)))
    if not units:
        raise ConfigError(f"decontam.input {item}: no Parquet page files (with id, url, text columns)")
    return units


def _unit_batches(unit: Unit, batch_rows: int, storage_options: dict | None) -> Iterator[pa.Table]:
    if unit.source is not None:
        yield from page_source.iter_pages(unit.source, unit.key, list(unit.columns), batch_rows=batch_rows)
    else:
        for b in storage.iter_parquet_batches(unit.path, list(unit.columns), batch_rows, storage_options):
            yield pa.Table.from_batches([b])


# --- the per-unit work (runs on a worker; callable directly) ---------------------------

def scan_pages(index: BenchmarkIndex, batches: Iterable[pa.Table], source_name: str) -> dict[str, Any]:
    """Scan pages (tables with id, url, text and optionally the WARC location): the removed, audit and drop
    tables and the counts."""
    removed: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    drops: list[dict[str, Any]] = []
    pages = tokens = 0
    by_bench: dict[str, int] = {}
    scan_s = 0.0
    for batch in batches:
        texts = batch.column("text").to_pylist()
        ts = time.perf_counter()
        results = [index.scan(t or "") for t in texts]
        scan_s += time.perf_counter() - ts
        ids = batch.column("id").to_pylist()
        urls = batch.column("url").to_pylist()
        extra = {c: batch.column(c).to_pylist() for c in LOCATION_COLUMNS if c in batch.column_names}
        pages += len(texts)
        for i, res in enumerate(results):
            tokens += res.tokens
            if not res.contaminated:
                continue
            first = res.matches[0]
            ft = index.texts[first.owner]
            by_bench[ft.benchmark] = by_bench.get(ft.benchmark, 0) + 1
            removed.append({"id": ids[i], "benchmark": ft.benchmark, "item_id": ft.item_id, "field": ft.field,
                            "match_kind": first.kind, "page_hits": res.hits})
            for m in res.matches:
                t = index.texts[m.owner]
                audit.append({"id": ids[i], "url": urls[i], "benchmark": t.benchmark, "item_id": t.item_id,
                              "field": t.field, "match_kind": m.kind, "matched": m.matched,
                              "offset": m.offset, "n_tokens": m.n_tokens, "page_hits": res.hits,
                              "source_file": source_name})
            drops.append({"stage": STAGE, "reason": DROP_REASON,
                          "detail": f"{ft.benchmark} {ft.item_id} {ft.field} ({first.kind}): {first.matched[:200]}",
                          "id": ids[i], "url": urls[i], **{c: extra[c][i] for c in extra}})
    removed_t = pa.Table.from_pylist(sorted(removed, key=lambda r: r["id"]), schema=DECONTAM_REMOVED_SCHEMA)
    audit_t = pa.Table.from_pylist(audit, schema=DECONTAM_AUDIT_SCHEMA)
    drops_t = pa.Table.from_pylist(drops, schema=DROP_LOG_SCHEMA)
    validate_table(removed_t, DECONTAM_REMOVED_SCHEMA, f"decontam decisions of {source_name}")
    validate_table(audit_t, DECONTAM_AUDIT_SCHEMA, f"decontam audit of {source_name}")
    return {"removed": removed_t, "audit": audit_t, "drops": drops_t, "pages": pages, "tokens": tokens,
            "by_benchmark": by_bench, "scan_seconds": scan_s}


def scan_unit(index: BenchmarkIndex, unit: Unit, out: str, batch_rows: int = 2_000,
              storage_options: dict | None = None) -> dict[str, Any]:
    """Scan one unit's pages and publish its three decision files; return its unit stats (a dict)."""
    t0 = time.perf_counter()
    source_name = storage.name(unit.path) if unit.path else f"{unit.key}.parquet"
    got = scan_pages(index, _unit_batches(unit, batch_rows, storage_options), source_name)
    for sub in ("audit", "drops", "removed"):  # removed last: it is what the corpus step reads
        storage.write_parquet(storage.join(out, sub, f"{unit.key}.parquet"), got[sub], storage_options)
    n_removed = got["removed"].num_rows
    return {"rows_in": got["pages"], "rows_out": got["pages"] - n_removed,
            "dropped": {DROP_REASON: n_removed} if n_removed else {}, "seconds": round(time.perf_counter() - t0, 3),
            "extra": {"removed_by_benchmark": got["by_benchmark"], "audit_rows": got["audit"].num_rows,
                      "tokens": got["tokens"], "scan_seconds": round(got["scan_seconds"], 3),
                      "items_found": sorted({f"{b}\t{i}" for b, i in zip(got["audit"].column("benchmark").to_pylist(),
                                                                       got["audit"].column("item_id").to_pylist())})}}


class _Scanner:
    """A decontam worker: holds the index for its whole life (it crosses to each worker once)."""

    def __init__(self, index: BenchmarkIndex, out: str, batch_rows: int, storage_options: dict | None):
        self.index, self.out, self.batch_rows, self.storage_options = index, out, batch_rows, storage_options


def _scan(scanner: _Scanner, unit: Unit) -> dict[str, Any]:
    return scan_unit(scanner.index, unit, scanner.out, scanner.batch_rows, scanner.storage_options)


# --- the stage ------------------------------------------------------------------------

def _upstream_fingerprint(inputs: Mapping[str, str], storage_options: dict | None) -> str:
    return page_source.decisions_fingerprint({k: v for k, v in inputs.items() if k in READS}, storage_options)


def decontaminate(cfg: Config, out: str, units: list[Unit], *, executor=None, upstream: str = "",
                  progress: bool = True, storage_options: dict | None = None, input_desc: str = "") -> StageStats:
    """Scan ``units`` into ``out``, publish the stage marker, return the stage's stats."""
    from pipeline.core.executor import current

    t0 = time.perf_counter()
    dcfg = cfg.decontam
    out = str(out)
    clear_marker(out)  # a stale marker must not outlive a run that did not finish
    storage.sweep_temp_keys(out, storage_options)  # temporary keys of writers killed before they published
    index, loaded = build_index(dcfg, cfg.workdir)
    fp = hashlib.sha256(f"{index.fingerprint()}|{upstream}".encode()).hexdigest()[:16]
    log.info("decontam: index of %d benchmark items, %d n-grams, %d short texts (fingerprint %s)",
             index.stats["items"], index.stats["ngrams"], index.stats["short_texts"], fp)
    executor = executor or current(dcfg.workers)
    markers = storage.join(out, "units")
    _forget_units_without_outputs(out, markers, [u.key for u in units], ("removed", "audit", "drops"),
                                  storage_options)
    # A unit's marker (units/<key>.json) carries the fingerprint: a rerun with other benchmarks, settings or
    # upstream decisions scans every unit again. A scanner whose process dies is replaced and its unit scanned
    # again (outputs are written atomically, the marker last); the index is not a restartable actor argument in
    # Ray's object store (ray-project/ray#53727), hence replacement rather than Ray's own restarts.
    results = executor.map(
        "decontam", _scan, units, key=lambda u: u.key, setup=_Scanner,
        setup_args=(executor.put(index), out, dcfg.batch_rows, storage_options), workers=dcfg.workers,
        max_retries=3, markers=markers, fingerprint=fp, storage_options=storage_options,
        progress=progress, unit_name="file",
        describe=lambda u, st: f"{st['rows_in']} pages, {sum(st['dropped'].values())} removed")
    unit_stats = [r.result for r in results]
    by_bench: dict[str, int] = {}
    found: set[str] = set()
    tokens = audit_rows = 0
    scan_s = 0.0
    for u in unit_stats:
        ex = u["extra"]
        for b, c in ex["removed_by_benchmark"].items():
            by_bench[b] = by_bench.get(b, 0) + c
        found.update(ex["items_found"])
        tokens += ex["tokens"]
        audit_rows += ex["audit_rows"]
        scan_s += ex["scan_seconds"]
    stats = StageStats.fold(STAGE, unit_stats, units_cached=sum(r.cached for r in results), extra={
        "input": input_desc, "fingerprint": fp, "removed_by_benchmark": dict(sorted(by_bench.items())),
        "benchmark_items_found": len(found), "audit_rows": audit_rows, "tokens": tokens,
        "scan_seconds": round(scan_s, 2), "tokens_per_second_per_worker": round(tokens / scan_s) if scan_s else None,
        "n": dcfg.n, "short_min": dcfg.short_min, "short_max": dcfg.short_max, "n_cjk": dcfg.n_cjk,
        "require_word": dcfg.require_word, "benchmarks": loaded, "index": index.stats})
    stats.seconds = round(time.perf_counter() - t0, 2)
    removed = sum(stats.dropped.values())
    stats.extra["removed_fraction"] = round(removed / stats.rows_in, 6) if stats.rows_in else 0.0
    stats.notes = f"{removed} pages removed, {len(found)} benchmark items found"
    storage.write_text(storage.join(out, "stats.json"), json.dumps(stats.to_dict(), indent=2, sort_keys=True,
                                                                   default=str) + "\n", storage_options)
    mark_complete(out, stats.to_dict(), outputs=[f"removed/{u.key}.parquet" for u in units])
    return stats


def _forget_units_without_outputs(out: str, markers: str, keys: list[str], subs: tuple[str, ...],
                                  storage_options: dict | None) -> None:
    """Drop the marker of a unit one of whose outputs is gone, so that it runs again (a marker vouches for
    outputs that are there; one listing per output folder)."""
    present = [{storage.name(f) for f in storage.list_files(storage.join(out, sub), ".parquet", storage_options)}
               for sub in subs]
    for key in keys:
        if any(f"{key}.parquet" not in names for names in present):
            storage.remove(storage.join(markers, f"{key}.json"), storage_options)


def run_decontam_stage(ctx) -> StageStats:
    """The ``decontam`` stage of a run: the recalled pages of every pool file (``ctx.inputs``: pool, dedup,
    rounds), or the files of ``decontam.input`` when set."""
    opts = ctx.storage_options or None
    cfg = ctx.cfg
    if cfg.decontam.input:
        item = cfg.decontam.input.replace("{workdir}", str(ctx.workdir))
        units = plan_file_units(item, opts)
        upstream, desc = _files_fingerprint(units, opts), item
    else:
        units = plan_pool_units(ctx.inputs, opts)
        upstream = _upstream_fingerprint(ctx.inputs, opts)
        desc = ", ".join(f"{k}={ctx.inputs[k]}" for k in READS if k in ctx.inputs)
    return decontaminate(cfg, ctx.folder, units, executor=ctx.executor, upstream=upstream, progress=ctx.progress,
                         storage_options=opts, input_desc=desc)


def _files_fingerprint(units: list[Unit], storage_options: dict | None) -> str:
    h = hashlib.sha256()
    for u in units:
        h.update(f"{u.path}\t{storage.size(u.path, storage_options)}\n".encode())
    return h.hexdigest()[:16]


def run_decontam(cfg: Config, out: str, inputs: Mapping[str, str] | None = None, force: bool = False,
                 progress: bool = True, *, executor=None, storage_options: dict | None = None) -> dict[str, Any]:
    """Run the stage into ``out`` outside a pipeline run (the CLI, a notebook): ``decontam.input`` when set,
    else the recalled pages of the stage folders ``inputs`` names (see :data:`READS`). Resumes unfinished
    work; returns the stats as a dict."""
    if force:
        storage.remove(out, storage_options, recursive=True)
    if cfg.decontam.input:
        item = cfg.decontam.input.replace("{workdir}", str(cfg.workdir))
        units = plan_file_units(item, storage_options)
        upstream, desc = _files_fingerprint(units, storage_options), item
    else:
        if inputs is None:
            raise ConfigError("decontam: no inputs: name the stage folders it reads (pool, dedup, rounds) or set "
                              "decontam.input")
        units = plan_pool_units(inputs, storage_options)
        upstream = _upstream_fingerprint(inputs, storage_options)
        desc = ", ".join(f"{k}={inputs[k]}" for k in READS if k in inputs)
    return decontaminate(cfg, str(out), units, executor=executor, upstream=upstream, progress=progress,
                         storage_options=storage_options, input_desc=desc).to_dict()
