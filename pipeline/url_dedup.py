"""URL dedup across files, hash-partitioned: one capture per ``id`` (normalised URL), the earliest fetch wins.

The rule: among the rows sharing an ``id``, the row with the smallest ``(fetch_time, warc_path, warc_offset)``
wins (ties beyond that, which real WARCs never have, go to the earlier file of ``candidate_files``, then
the earlier row); every other row of that ``id`` loses. The result does not depend on scheduling, on the
order the files finished in or on the number of partitions.

No process holds every candidate. Three steps on the executor, every unit's memory bounded by one file or
one partition:

1. **keys** (a unit per candidate file): read the file's ``id, fetch_time, warc_path, warc_offset`` and write
   them, with each row's index in the file, split by ``hash(id) mod P`` into ``<folder>/keys/<p>/<key>.parquet``
   (empty partitions are not written).
2. **winners** (a unit per partition): read that partition's keys of every file, sort them by
   ``(id, fetch_time, warc_path, warc_offset, file, row)`` (Arrow's sort, not Python objects), keep the first row
   of each ``id`` and write the others per file: ``<folder>/losers/<key>/<p>.parquet`` (``row``, ``id``), only
   for files that lost rows in that partition.
   Then a unit per file counts its losers from those files' footers (the driver holds one count per file,
   never one per partition and file).
3. the caller applies the losers file by file (:func:`loser_rows` gives one file's), as the pool stage does
   when it publishes ``pages/<key>.parquet``.

``<folder>`` is ``<out_folder>/<fingerprint>``: the fingerprint covers the candidate files (names, keys and
sizes) and ``P``, so a rerun over the same files resumes from the units' markers and a rerun over other files
starts afresh (earlier fingerprints' folders are removed). Outputs go through :mod:`pipeline.core.storage`, so
``out_folder`` may be an fsspec URL (``s3://bucket/run/pool/url_dedup``); every step runs as Ray tasks through
:class:`pipeline.core.executor.Executor`. The driver holds one small stats dict per unit and per file.

For a scale benchmark, on pool-shaped Parquet (any files with at least ``id`` (string), ``fetch_time``
(timestamp), ``warc_path`` (string) and ``warc_offset`` (int64); text and HTML are never read)::

    from pipeline.core.executor import Executor
    from pipeline.url_dedup import url_dedup, loser_rows

    with Executor(num_cpus=8) as ex:
        stats = url_dedup(files, "/tmp/bench/url_dedup", ex, partitions=16)
    stats["candidates"], stats["kept"], stats["duplicate_url"]   # totals
    stats["per_file"][key]           # {"candidates", "kept", "duplicate_url"} of one file
    loser_rows(stats["folder"], key)  # Arrow table (row, id) of that file's losers

``keys`` names the files (default: each file's name without ``.parquet`` plus 8 hex digits of sha1(path),
unique); ``stats`` also has ``partitions``, ``files``, ``folder``, per-step ``seconds`` and
``worker_peak_rss_mb`` (the largest peak RSS of a worker process that ran a unit).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import storage

log = logging.getLogger(__name__)

#: The columns URL dedup reads from a candidate file.
KEY_COLUMNS = ["id", "fetch_time", "warc_path", "warc_offset"]
#: Candidates per partition the pool aims at (a partition unit sorts ~100 bytes a candidate).
PARTITION_ROWS = 2_000_000

_KEYS_SCHEMA = pa.schema([("id", pa.string()), ("fetch_time", pa.int64()), ("warc_path", pa.string()),
                          ("warc_offset", pa.int64()), ("row", pa.int64())])
_LOSERS_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string())])


def partitions_for(candidates: int, rows_per_partition: int = PARTITION_ROWS) -> int:
    """How many partitions keep each near ``rows_per_partition`` candidates (at least one)."""
    return max(1, -(-int(candidates) // rows_per_partition))


def partition_of(ids: Sequence[str], partitions: int) -> np.ndarray:
    """Each id's partition: the first 8 bytes of blake2b(id), little-endian, mod ``partitions`` (stable across
    processes and machines, unlike Python's ``hash``)."""
    out = np.fromiter((int.from_bytes(hashlib.blake2b(i.encode("utf-8"), digest_size=8).digest(), "little")
                       for i in ids), dtype=np.uint64, count=len(ids))
    return (out % np.uint64(partitions)).astype(np.int64)


def file_key(path: str) -> str:
    """A unique, file-name-safe key of a candidate file: its name without ``.parquet`` and 8 hex digits of
    sha1(path)."""
    stem = storage.name(path)
    stem = stem[: -len(".parquet")] if stem.endswith(".parquet") else stem
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in stem)[:120] or "file"
    return f"{stem}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"


def _peak_rss_mb() -> float:
    """The worker process's peak resident memory so far (Linux reports KiB): an upper bound for the unit."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _part_name(p: int) -> str:
    return f"{p:05d}"


# --- the units' pure cores (callable without Ray) -------------------------------------------------------------

@dataclass(frozen=True)
class KeysUnit:
    file: str
    key: str
    folder: str
    partitions: int
    storage_options: dict | None = None


def write_partition_keys(unit: KeysUnit) -> dict[str, Any]:
    """Step 1 for one file: its candidates' keys, split by partition. Returns the file's stats."""
    t0 = time.perf_counter()
    t = storage.read_parquet_table(unit.file, columns=KEY_COLUMNS, storage_options=unit.storage_options)
    n = t.num_rows
    fetch = t.column("fetch_time")
    if pa.types.is_timestamp(fetch.type):  # one unit for every file, whatever each was written with
        fetch = pc.cast(fetch, pa.timestamp("us", tz=fetch.type.tz)).cast(pa.int64())
    keys = pa.table({"id": t.column("id").cast(pa.string()), "fetch_time": fetch.cast(pa.int64()),
                     "warc_path": t.column("warc_path").cast(pa.string()),
                     "warc_offset": t.column("warc_offset").cast(pa.int64()),
                     "row": pa.array(np.arange(n, dtype=np.int64))}, schema=_KEYS_SCHEMA)
    part = partition_of(keys.column("id").to_pylist(), unit.partitions)
    order = np.argsort(part, kind="stable")
    keys = keys.take(pa.array(order))
    part = part[order]
    bounds = np.searchsorted(part, np.arange(unit.partitions + 1))
    written = 0
    for p in range(unit.partitions):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        if hi > lo:
            storage.write_parquet(storage.join(unit.folder, "keys", _part_name(p), f"{unit.key}.parquet"),
                                  keys.slice(lo, hi - lo), unit.storage_options)
            written += 1
    return {"rows_in": n, "rows_out": n, "dropped": {}, "seconds": round(time.perf_counter() - t0, 3),
            "extra": {"partition_files": written, "peak_rss_mb": _peak_rss_mb()}}


@dataclass(frozen=True)
class WinnersUnit:
    partition: int
    folder: str
    storage_options: dict | None = None


def pick_winners(unit: WinnersUnit) -> dict[str, Any]:
    """Step 2 for one partition: the earliest capture of each id wins; the others are written per file.
    Returns the partition's stats (rows in, rows out, duplicates)."""
    t0 = time.perf_counter()
    sources = _read_sources(unit.folder, unit.storage_options)
    src_of = {k: i for i, k in enumerate(sources)}
    part_dir = storage.join(unit.folder, "keys", _part_name(unit.partition))
    tables = []
    for f in storage.list_files(part_dir, ".parquet", unit.storage_options):
        key = storage.name(f)[: -len(".parquet")]
        if key not in src_of:
            continue
        t = storage.read_parquet_table(f, storage_options=unit.storage_options)
        tables.append(t.append_column("src", pa.array(np.full(t.num_rows, src_of[key], dtype=np.int32))))
    if not tables:
        return {"rows_in": 0, "rows_out": 0, "dropped": {}, "seconds": round(time.perf_counter() - t0, 3),
                "extra": {"losers": {}, "peak_rss_mb": _peak_rss_mb()}}
    t = pa.concat_tables(tables)
    n = t.num_rows
    order = pc.sort_indices(t, sort_keys=[("id", "ascending"), ("fetch_time", "ascending"),
                                          ("warc_path", "ascending"), ("warc_offset", "ascending"),
                                          ("src", "ascending"), ("row", "ascending")])
    t = t.take(order).select(["id", "src", "row"])
    ids = t.column("id")
    loses = np.zeros(n, dtype=bool)
    if n > 1:  # a row whose id equals the previous row's lost to an earlier capture
        loses[1:] = pc.equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    losers = t.filter(pa.array(loses))
    if losers.num_rows:
        losers = losers.take(pc.sort_indices(losers, sort_keys=[("src", "ascending"), ("row", "ascending")]))
        src = losers.column("src").to_numpy()
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        ends = np.r_[starts[1:], len(src)]
        for lo, hi in zip(starts, ends):
            key = sources[int(src[lo])]
            part = losers.slice(int(lo), int(hi - lo))
            storage.write_parquet(storage.join(unit.folder, "losers", key, f"{_part_name(unit.partition)}.parquet"),
                                  pa.table({"row": part.column("row"), "id": part.column("id")},
                                           schema=_LOSERS_SCHEMA), unit.storage_options)
    dup = int(losers.num_rows)
    # per-file counts are not returned: P partitions x F files of them would grow the driver with the crawl;
    # step 2b counts each file's losers from what is written here
    return {"rows_in": n, "rows_out": n - dup, "dropped": {"duplicate_url": dup} if dup else {},
            "seconds": round(time.perf_counter() - t0, 3), "extra": {"peak_rss_mb": _peak_rss_mb()}}


def loser_rows(folder: str, key: str, storage_options: dict | None = None) -> pa.Table:
    """Step 3's input for one file: (``row``, ``id``) of its rows that lost, sorted by row (empty when none)."""
    files = storage.list_files(storage.join(folder, "losers", key), ".parquet", storage_options)
    if not files:
        return _LOSERS_SCHEMA.empty_table()
    t = pa.concat_tables([storage.read_parquet_table(f, storage_options=storage_options) for f in files])
    return t.take(pc.sort_indices(t, sort_keys=[("row", "ascending")]))


@dataclass(frozen=True)
class LosersUnit:
    key: str
    folder: str
    storage_options: dict | None = None


def count_losers(unit: LosersUnit) -> dict[str, int]:
    """Step 2b for one file: how many of its rows lost (from the footers of its loser files)."""
    files = storage.list_files(storage.join(unit.folder, "losers", unit.key), ".parquet", unit.storage_options)
    return {"duplicate_url": sum(storage.parquet_rows(f, unit.storage_options) for f in files)}


def loser_mask(folder: str, key: str, rows: int, storage_options: dict | None = None) -> np.ndarray | None:
    """A boolean keep-mask over a file's ``rows`` rows, or None when the file lost nothing."""
    losers = loser_rows(folder, key, storage_options)
    if not losers.num_rows:
        return None
    keep = np.ones(rows, dtype=bool)
    keep[losers.column("row").to_numpy()] = False
    return keep


# --- the whole dedup on the executor --------------------------------------------------------------------------

def _sources_path(folder: str) -> str:
    return storage.join(folder, "_sources.json")


def _read_sources(folder: str, storage_options: dict | None) -> list[str]:
    return json.loads(storage.read_bytes(_sources_path(folder), storage_options))["keys"]


def fingerprint_of(candidate_files: Sequence[str], keys: Sequence[str], partitions: int,
                   storage_options: dict | None = None, sizes: Sequence[int] | None = None) -> str:
    """What the outputs depend on: every file's path, key and size, and the partition count."""
    if sizes is None:
        sizes = [storage.size(f, storage_options) for f in candidate_files]
    body = json.dumps([partitions, list(zip(candidate_files, keys, sizes))], sort_keys=True).encode()
    return hashlib.sha1(body).hexdigest()[:16]


def _remove_other_runs(out_folder: str, keep: str, storage_options: dict | None) -> None:
    """Folders of earlier fingerprints hold decisions about other inputs: never read, so removed."""
    if not storage.is_url(out_folder):
        base = storage.local_path(out_folder)
        subs = [p.name for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
    else:
        fs, inner = storage.filesystem(out_folder, storage_options)
        fs.invalidate_cache(inner)
        try:
            subs = [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(inner, detail=True)
                    if e.get("type") == "directory"]
        except FileNotFoundError:
            subs = []
    for s in subs:
        if s != keep and len(s) == 16 and all(c in "0123456789abcdef" for c in s):
            storage.remove(storage.join(out_folder, s), storage_options, recursive=True)


def url_dedup(candidate_files: list[str], out_folder: str, executor, partitions: int, *,
              keys: list[str] | None = None, storage_options: dict | None = None, sizes: list[int] | None = None,
              workers: int | None = None, max_retries: int = 2, progress: bool = False) -> dict[str, Any]:
    """Run steps 1 and 2 (see the module's docstring) over ``candidate_files`` on ``executor``; return the stats.

    ``storage_options`` apply to the candidate files and ``out_folder`` alike; ``sizes`` (the files' sizes,
    when the caller knows them) spare a size lookup per file for the fingerprint.
    """
    t0 = time.perf_counter()
    candidate_files = [str(f) for f in candidate_files]
    keys = list(keys) if keys is not None else [file_key(f) for f in candidate_files]
    if len(set(keys)) != len(keys):
        raise ValueError("url_dedup: file keys are not unique")
    partitions = max(1, int(partitions))
    fp = fingerprint_of(candidate_files, keys, partitions, storage_options, sizes)
    folder = storage.join(out_folder, fp)
    _remove_other_runs(out_folder, fp, storage_options)
    if not storage.exists(_sources_path(folder), storage_options):
        storage.write_bytes(_sources_path(folder), json.dumps({"keys": keys}).encode(), storage_options)
    markers = storage.join(folder, "_units")
    common = dict(markers=None, fingerprint=fp, storage_options=storage_options, workers=workers,
                  max_retries=max_retries, progress=progress)
    key_units = [KeysUnit(f, k, folder, partitions, storage_options) for f, k in zip(candidate_files, keys)]
    key_results = executor.map("url-keys", write_partition_keys, key_units, key=lambda u: u.key,
                               unit_name="file", **dict(common, markers=storage.join(markers, "keys")))
    t1 = time.perf_counter()
    win_units = [WinnersUnit(p, folder, storage_options) for p in range(partitions)]
    win_results = executor.map("url-winners", pick_winners, win_units, key=lambda u: _part_name(u.partition),
                               unit_name="partition", **dict(common, markers=storage.join(markers, "winners")))
    count_units = [LosersUnit(k, folder, storage_options) for k in keys]
    counted = executor.map("url-losers", count_losers, count_units, key=lambda u: u.key, unit_name="file",
                           **dict(common, markers=storage.join(markers, "losers")))
    per_file = {}
    for k, r, c in zip(keys, key_results, counted):
        n_in, lost = int(r.result["rows_in"]), int(c.result["duplicate_url"])
        per_file[k] = {"candidates": n_in, "kept": n_in - lost, "duplicate_url": lost}
    candidates = sum(v["candidates"] for v in per_file.values())
    dup = sum(v["duplicate_url"] for v in per_file.values())
    stats = {"candidates": candidates, "kept": candidates - dup, "duplicate_url": dup, "partitions": partitions,
             "files": len(keys), "folder": folder, "per_file": per_file,
             "units_cached": sum(r.cached for r in [*key_results, *win_results, *counted]),
             "worker_peak_rss_mb": max((r.result["extra"].get("peak_rss_mb", 0.0) for r in [*key_results, *win_results]),
                                       default=0.0),
             "seconds": {"keys": round(t1 - t0, 3), "winners": round(time.perf_counter() - t1, 3)}}
    log.debug("url dedup: %d candidates in %d files, %d partitions: %d duplicates", candidates, len(keys),
              partitions, dup)
    return stats
