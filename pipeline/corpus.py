"""The corpus step: pool pages joined with the decisions of the stages before, as CORPUS_SCHEMA shards.

For every pool file ``<stem>`` (in name order), the pages that dedup kept, the last recall round
recalled and decontamination did not remove (:func:`pipeline.pages.iter_pages` over ``pool``, ``dedup``,
``rounds``, ``decontam``), sorted by id, with the recalled decision's fields mapped by name here and only
here: ``score`` -> ``math_score``, ``round`` -> ``round``, ``tokens`` -> ``token_count``. The rows stream
into :func:`pipeline.shard.write_corpus`, one pool file's pages at a time, so the process holds at most
one file's surviving pages; the same decisions give the same shards, row for row.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import pages
from pipeline.core.io import is_complete, read_marker
from pipeline.core.schema import CORPUS_SCHEMA
from pipeline.core.stats import StageStats
from pipeline.shard import ShardSpec, write_corpus

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
assert list(COLUMN_MAP) == CORPUS_SCHEMA.names


def to_corpus_rows(t: pa.Table) -> pa.Table:
    """Pages with their recalled decision (``pipeline.pages`` columns) as CORPUS_SCHEMA rows, sorted by id."""
    t = t.sort_by([("id", "ascending")])
    cols = [pc.cast(t.column(src), CORPUS_SCHEMA.field(dst).type) for dst, src in COLUMN_MAP.items()]
    return pa.Table.from_arrays(cols, schema=CORPUS_SCHEMA)


def corpus_tables(inputs: Mapping[str, str] | pages.PageSource, storage_options: dict | None = None,
                  counts: dict[str, int] | None = None) -> Iterator[pa.Table]:
    """CORPUS_SCHEMA tables, one per pool file with surviving pages, in stem order (see the module)."""
    src = pages.PageSource.of(inputs, storage_options)
    want = list(dict.fromkeys(COLUMN_MAP.values()))
    for stem in pages.stems(src):
        t = pages.read_pages(src, stem, want)
        if counts is not None:
            counts["files"] = counts.get("files", 0) + 1
        if t.num_rows:
            yield to_corpus_rows(t)


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


def build_corpus(cfg, inputs: Mapping[str, str], out: str, *, progress: bool = True,
                 storage_options: dict | None = None) -> StageStats:
    """Write the corpus of the decisions in ``inputs`` into ``out`` and publish it; return the stats."""
    t0 = time.perf_counter()
    missing = [s for s in ("pool", "rounds", "decontam") if s not in inputs]
    if missing:
        raise ValueError(f"corpus: the inputs name no {', '.join(missing)} folder")
    src = pages.PageSource.of({k: v for k, v in inputs.items() if k in READS}, storage_options)
    counts: dict[str, int] = {}
    done: list[StageStats] = []

    def marker(manifest: dict) -> dict:
        done.append(_stats(manifest, counts, t0))
        return done[0].to_dict()

    write_corpus(corpus_tables(src, storage_options, counts), out, spec_from_config(cfg.corpus),
                 stage_counts=stage_counts(inputs, storage_options), config=cfg.model_dump(), progress=progress,
                 storage_options=storage_options, marker_stats=marker)
    return done[0]


def _stats(manifest: dict, counts: dict[str, int], t0: float) -> StageStats:
    return StageStats(stage=STAGE, rows_in=manifest["rows"], rows_out=manifest["rows"], units=counts.get("files", 0),
                      seconds=round(time.perf_counter() - t0, 2),
                      notes=f"{len(manifest['files'])} shards, {manifest['bytes']} bytes",
                      extra={"shards": len(manifest["files"]), "bytes": manifest["bytes"],
                             "pool_files": counts.get("files", 0)})


def run_corpus_stage(ctx) -> StageStats:
    """The ``corpus`` stage of a run (reads pool, dedup, rounds, decontam)."""
    return build_corpus(ctx.cfg, ctx.inputs, ctx.folder, progress=ctx.progress,
                        storage_options=ctx.storage_options or None)
