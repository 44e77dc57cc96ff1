"""The ``decontam`` stage: Ray actors scan Parquet pages against the benchmark index.

Layout of ``<workdir>/decontam/`` (one unit per input Parquet file, ``<key>`` is its
path relative to the input folder with ``/`` turned into ``__``):

    kept/<key>.parquet    the pages that stay, same schema as the input (POOL or CORPUS)
    audit/<key>.parquet   DECONTAM_AUDIT_SCHEMA: one row per (removed page, benchmark item)
    drops/<key>.parquet   DROP_LOG_SCHEMA: one row per removed page, reason ``benchmark_contamination``
    units/<key>.json      the unit's stats; written last, so a unit with it is complete
    _SUCCESS              the whole stage's stats (also in stats.json), written last

Every file is written to a temporary name and renamed. A rerun skips units whose
``units/<key>.json`` exists *and* names the same index fingerprint (same benchmark
texts, same n and bounds); a unit scanned against other benchmarks is redone.

Input: ``decontam.input`` when set, else the latest complete upstream output:
``<workdir>/dedup/kept`` (or ``<workdir>/dedup/pages``), then ``<workdir>/pool/pages``.
Any Parquet file under the folder (recursively) with ``id``, ``url`` and ``text``
columns is a page file (drop logs and other side tables are skipped), so point
``decontam.input`` at the folder of published pages, not at a stage's intermediates. Once the recall rounds exist, ``make
corpus`` wires their output in here (the recall issue does that).
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from decontam.index import BenchmarkIndex
from decontam.loaders import BenchmarkText, load_benchmark
from pipeline.core.config import Config, ConfigError, DecontamConfig
from pipeline.core.io import (MARKER, atomic_path, check_parquet_rows, is_complete, mark_complete, write_json_atomic,
                         write_parquet_atomic)
from pipeline.core.schema import DECONTAM_AUDIT_SCHEMA, DROP_LOG_SCHEMA, validate_table

log = logging.getLogger(__name__)

STAGE = "decontam"
DROP_REASON = "benchmark_contamination"
PAGE_COLUMNS = ("id", "url", "text")


# --- inputs -------------------------------------------------------------------------

def load_benchmarks(dcfg: DecontamConfig, workdir: str | Path) -> tuple[list[BenchmarkText], dict[str, Any]]:
    """All texts of the configured benchmarks, and per-benchmark counts for the stats."""
    texts: list[BenchmarkText] = []
    loaded: dict[str, Any] = {}
    for spec in dcfg.benchmarks:
        path = spec.resolved_path(workdir)
        if path is not None and not path.exists() and not spec.required:
            log.warning("benchmark %s: %s not found, skipped (required: false)", spec.name, path)
            loaded[spec.name] = {"path": str(path), "skipped": "not found"}
            continue
        got = load_benchmark(spec.name, path, format=spec.format, fields=spec.fields, id_field=spec.id_field,
                             hf_id=spec.hf_id, hf_config=spec.hf_config, split=spec.split)
        loaded[spec.name] = {"path": str(path) if path else spec.hf_id, "items": len({t.item_id for t in got}),
                             "texts": len(got)}
        texts.extend(got)
    if not texts:
        raise ConfigError("decontam.benchmarks: no benchmark loaded (the list is empty or every optional path is missing)")
    return texts, loaded


def _page_files(folder: Path) -> list[Path]:
    files = []
    for p in sorted(folder.rglob("*.parquet")):
        if any(part.startswith(".") or part.startswith("_") for part in p.relative_to(folder).parts):
            continue
        names = pq.read_schema(p).names
        if all(c in names for c in PAGE_COLUMNS):
            files.append(p)
    return files


def resolve_input(cfg: Config) -> Path:
    """The folder of page files the stage reads (see module docstring)."""
    if cfg.decontam.input:
        folder = Path(cfg.decontam.input.replace("{workdir}", str(cfg.workdir_path)))
        if not folder.is_dir():
            raise ConfigError(f"decontam.input: {folder} is not a folder")
        return folder
    w = cfg.workdir_path
    # Only the published page folders: a stage folder also holds intermediates (pool/warcs/
    # has pages before URL dedup) that must not be read twice.
    for stage_dir, folder in ((w / "rounds", w / "rounds" / "recalled"), (w / "dedup", w / "dedup" / "kept"),
                              (w / "dedup", w / "dedup" / "pages"), (w / "pool", w / "pool" / "pages")):
        if is_complete(stage_dir) and folder.is_dir() and _page_files(folder):
            return folder
    raise ConfigError(
        f"decontam.input is not set and no complete upstream output was found under {w} "
        "(looked for rounds/recalled, dedup/kept, dedup/pages, pool/pages with the stage's _SUCCESS marker): "
        "run those stages "
        "first or set decontam.input"
    )


def _unit_key(folder: Path, path: Path) -> str:
    return "__".join(path.relative_to(folder).with_suffix("").parts)


# --- the per-file work (runs inside a Ray actor; callable directly in tests) ----------

def scan_file(index: BenchmarkIndex, src: Path, key: str, out: Path, batch_rows: int = 2_000) -> dict[str, Any]:
    """Scan one page file: write kept pages, audit rows and drop-log rows; return the unit's stats."""
    t0 = time.perf_counter()
    pf = pq.ParquetFile(src)
    schema = pf.schema_arrow
    has = set(schema.names)
    audit: list[dict[str, Any]] = []
    drops: list[dict[str, Any]] = []
    pages = kept = tokens = 0
    by_bench: dict[str, int] = {}
    scan_s = 0.0
    kept_path = out / "kept" / f"{key}.parquet"
    with atomic_path(kept_path) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in pf.iter_batches(batch_size=batch_rows):
                texts = batch.column("text").to_pylist()
                keep = [True] * len(texts)
                ts = time.perf_counter()
                results = [index.scan(t or "") for t in texts]
                scan_s += time.perf_counter() - ts
                ids = batch.column("id").to_pylist()
                urls = batch.column("url").to_pylist()
                extra = {c: batch.column(c).to_pylist() for c in ("warc_path", "warc_record_id", "warc_offset") if c in has}
                for i, res in enumerate(results):
                    tokens += res.tokens
                    if not res.contaminated:
                        continue
                    keep[i] = False
                    first = res.matches[0]
                    ft = index.texts[first.owner]
                    by_bench[ft.benchmark] = by_bench.get(ft.benchmark, 0) + 1
                    for m in res.matches:
                        t = index.texts[m.owner]
                        audit.append({"id": ids[i], "url": urls[i], "benchmark": t.benchmark, "item_id": t.item_id,
                                      "field": t.field, "match_kind": m.kind, "matched": m.matched,
                                      "offset": m.offset, "n_tokens": m.n_tokens, "page_hits": res.hits,
                                      "source_file": src.name})
                    drops.append({"stage": STAGE, "reason": DROP_REASON,
                                  "detail": f"{ft.benchmark} {ft.item_id} {ft.field} ({first.kind}): {first.matched[:200]}",
                                  "id": ids[i], "url": urls[i],
                                  **{c: extra[c][i] for c in extra}})
                pages += len(texts)
                kept += sum(keep)
                writer.write_batch(batch.filter(pa.array(keep, type=pa.bool_())))
        check_parquet_rows(tmp, kept, kept_path)
    audit_t = pa.Table.from_pylist(audit, schema=DECONTAM_AUDIT_SCHEMA)
    validate_table(audit_t, DECONTAM_AUDIT_SCHEMA, f"decontam audit of {src}")
    write_parquet_atomic(out / "audit" / f"{key}.parquet", audit_t)
    drops_t = pa.Table.from_pylist(drops, schema=DROP_LOG_SCHEMA)
    write_parquet_atomic(out / "drops" / f"{key}.parquet", drops_t)
    stats = {"source": str(src), "pages": pages, "kept": kept, "removed": pages - kept, "removed_by_benchmark": by_bench,
             "audit_rows": len(audit), "tokens": tokens, "scan_seconds": round(scan_s, 3),
             "seconds": round(time.perf_counter() - t0, 3)}
    return stats


class _Scanner:
    """A decontam worker: holds the index for its whole life (it crosses to each worker once)."""

    def __init__(self, index: BenchmarkIndex, out: str, batch_rows: int):
        self.index, self.out, self.batch_rows = index, Path(out), batch_rows


def _scan_unit(scanner: _Scanner, unit: tuple[str, str]) -> dict[str, Any]:
    src, key = unit
    return scan_file(scanner.index, Path(src), key, scanner.out, scanner.batch_rows)


def run_decontam(cfg: Config, out: Path, input_folder: Path | None = None, force: bool = False,
                 progress: bool = True) -> dict[str, Any]:
    """Run the stage into ``out`` (normally ``<workdir>/decontam``); resumes unfinished work."""
    t0 = time.perf_counter()
    dcfg = cfg.decontam
    folder = input_folder or resolve_input(cfg)
    if force and out.exists():
        shutil.rmtree(out)
    (out / MARKER).unlink(missing_ok=True)  # a stale marker must not outlive a run that did not finish
    texts, loaded = load_benchmarks(dcfg, cfg.workdir_path)
    index = BenchmarkIndex(texts, n=dcfg.n, short_min=dcfg.short_min, short_max=dcfg.short_max, n_cjk=dcfg.n_cjk,
                           require_word=dcfg.require_word)
    fp = index.fingerprint()
    log.info("decontam: index of %d benchmark items, %d n-grams, %d short texts (fingerprint %s)",
             index.stats["items"], index.stats["ngrams"], index.stats["short_texts"], fp)
    files = _page_files(folder)
    if not files:
        raise ConfigError(f"decontam input {folder}: no Parquet page files (with id, url, text columns)")
    from pipeline.core.executor import current

    executor = current(dcfg.workers)
    jobs = [(str(f), _unit_key(folder, f)) for f in files]
    # A unit's marker (units/<key>.json) carries the index fingerprint: a rerun with other benchmarks or
    # settings scans every file again. A scanner whose process dies is replaced and its file scanned again
    # (outputs are written atomically, the marker last); the index is not a restartable actor argument in
    # Ray's object store (ray-project/ray#53727), hence replacement rather than Ray's own restarts.
    results = executor.map(
        "decontam", _scan_unit, jobs, key=lambda j: j[1], setup=_Scanner,
        setup_args=(executor.put(index), str(out), dcfg.batch_rows), workers=dcfg.workers, max_retries=3,
        markers=str(out / "units"), fingerprint=fp, progress=progress, unit_name="file",
        describe=lambda j, st: f"{st['pages']} pages, {st['removed']} removed")
    units: dict[str, dict[str, Any]] = {r.key: r.result for r in results}
    resumed = sum(r.cached for r in results)
    stats = _aggregate(units, out)
    stats.update(input=str(folder), files=len(files), files_resumed=resumed, fingerprint=fp,
                 n=dcfg.n, short_min=dcfg.short_min, short_max=dcfg.short_max, n_cjk=dcfg.n_cjk,
                 require_word=dcfg.require_word,
                 benchmarks=loaded, index=index.stats, seconds=round(time.perf_counter() - t0, 2))
    write_json_atomic(out / "stats.json", stats)
    mark_complete(out, stats)
    return stats


def _aggregate(units: dict[str, dict[str, Any]], out: Path) -> dict[str, Any]:
    pages = sum(u["pages"] for u in units.values())
    removed = sum(u["removed"] for u in units.values())
    tokens = sum(u["tokens"] for u in units.values())
    scan_s = sum(u["scan_seconds"] for u in units.values())
    by_bench: dict[str, int] = {}
    for u in units.values():
        for b, c in u["removed_by_benchmark"].items():
            by_bench[b] = by_bench.get(b, 0) + c
    found = set()
    for key in units:
        t = pq.read_table(out / "audit" / f"{key}.parquet", columns=["benchmark", "item_id"])
        found.update(zip(t.column("benchmark").to_pylist(), t.column("item_id").to_pylist()))
    items = len(found)
    return {"pages": pages, "kept": pages - removed, "removed": removed,
            "removed_fraction": round(removed / pages, 6) if pages else 0.0,
            "removed_by_benchmark": dict(sorted(by_bench.items())), "benchmark_items_found": items,
            "tokens": tokens, "scan_seconds": round(scan_s, 2),
            "tokens_per_second_per_worker": round(tokens / scan_s) if scan_s else None}
