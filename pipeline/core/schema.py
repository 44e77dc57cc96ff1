"""Data contracts between stages: the pyarrow schemas every stage reads and writes.

A stage must write exactly these columns (``validate_table`` checks it), so a
later stage or a user's notebook can rely on them. docs/data-contracts.md
describes the same tables in prose.

Identifiers
    ``id`` is the first 16 hex digits of sha1(normalised URL). URL dedup in the
    pool stage makes it unique within a run, and it is stable across reruns, so
    scores, dedup decisions and decontamination hits are keyed by it (dolma-style:
    documents apart from attributes).

Times are UTC microsecond timestamps. WARC locations (``warc_path``,
``warc_offset``, ``warc_length``) let anyone re-read a page's raw record with one
ranged read. ``warc_path`` is absolute (local inputs are resolved when the pool
reads them) or the URL as given, never relative to where a job ran.
"""
from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

#: Pages extracted from WARC response records (``<workdir>/pool/``): text once,
#: re-scored by every recall round.
POOL_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("url_normalized", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("lang_score", pa.float32(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("http_status", pa.int16(), nullable=False),
        pa.field("content_type", pa.string()),
        pa.field("charset", pa.string()),
        pa.field("html_bytes", pa.int32(), nullable=False),
        pa.field("math_elements_html", pa.int32(), nullable=False),
        pa.field("math_fragments_text", pa.int32(), nullable=False),
        pa.field("warc_path", pa.string(), nullable=False),
        pa.field("warc_record_id", pa.string(), nullable=False),
        pa.field("warc_offset", pa.int64(), nullable=False),
        pa.field("warc_length", pa.int64(), nullable=False),
        pa.field("fetch_time", TS, nullable=False),
    ],
    metadata={"contract": "pool/v1"},
)

# --- recall rounds (``<workdir>/rounds/rN/``) ---------------------------------
# A round never rewrites the pool: its outputs are keyed by the pool's ``id``.

#: One row per pool page per round (``rounds/rN/scores/<stem>.parquet``, one file per pool file):
#: P(math) from the round's classifier and the page's approximate token count.
SCORE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("tokens", pa.int32(), nullable=False),
    ],
    metadata={"contract": "recall-scores/v1"},
)

#: The pages a round recalled (``rounds/rN/selected/<stem>.parquet``, one file per pool file), best
#: score first within the file (score descending, then id). ``first_round`` is the earliest round that
#: recalled the page. The whole round's order is (score desc, id asc) over every file's rows.
SELECTION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("tokens", pa.int32(), nullable=False),
        pa.field("first_round", pa.int16(), nullable=False),
    ],
    metadata={"contract": "recall-selection/v2"},
)

#: Domain discovery (``rounds/rN/domains/part-<p>.parquet``, one file per hash partition of the domain
#: names, each sorted by domain): every domain of the pool. ``is_math``: more than
#: ``recall.math_domain_share`` of its pages recalled.
DOMAIN_SCHEMA = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("pages", pa.int64(), nullable=False),
        pa.field("recalled", pa.int64(), nullable=False),
        pa.field("share", pa.float32(), nullable=False),
        pa.field("is_math", pa.bool_(), nullable=False),
        pa.field("first_math_round", pa.int16()),
    ],
    metadata={"contract": "recall-domains/v1"},
)

#: Pool pages that joined the seed positives at the start of a round
#: (``rounds/rN/seed_added/<stem>.parquet``, one file per pool file): under an accepted prefix, not
#: recalled by round N-1.
SEED_ADDED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("prefix", pa.string(), nullable=False),
        pa.field("added_round", pa.int16(), nullable=False),
    ],
    metadata={"contract": "recall-seed-added/v1"},
)

#: Columns of the URL-path annotation TSV (``rounds/rN/annotation.tsv``, or the user's
#: ``recall.annotation_file``), tab-separated with this header. ``recalled``/``total``
#: are counts (empty or ``-`` on lines a user adds); ``accepted`` is yes or no.
ANNOTATION_COLUMNS = ("domain", "prefix", "recalled", "total", "accepted")

#: The final corpus shards (``<workdir>/corpus/part-*.parquet``; the folder is the dataset, its
#: ``.meta/manifest.json`` and ``.meta/_SUCCESS`` are out of readers' way). Provenance to the byte: ``warc_path`` is
#: a URI anyone can open (an absolute local path, or the ``s3://`` / ``https://`` URL the pool read),
#: and ``warc_offset``/``warc_length`` are the record's compressed bytes in it, so one ranged read
#: gives the page's WARC record back (``python -m pipeline show ID``).
CORPUS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("math_score", pa.float32(), nullable=False),
        pa.field("round", pa.int16(), nullable=False),
        pa.field("token_count", pa.int32(), nullable=False),
        pa.field("warc_path", pa.string(), nullable=False),
        pa.field("warc_offset", pa.int64(), nullable=False),
        pa.field("warc_length", pa.int64(), nullable=False),
        pa.field("warc_record_id", pa.string(), nullable=False),
        pa.field("fetch_time", TS, nullable=False),
    ],
    metadata={"contract": "corpus/v2"},
)

#: Every record a stage does not pass on lands here with a reason
#: (``<workdir>/<stage>/drops/*.parquet``). ``id`` is null where a record never
#: became a page (a robots.txt response, a request record).
DROP_LOG_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("id", pa.string()),
        pa.field("url", pa.string()),
        pa.field("warc_path", pa.string()),
        pa.field("warc_record_id", pa.string()),
        pa.field("warc_offset", pa.int64()),
    ],
    metadata={"contract": "drops/v1"},
)

#: Pages the dedup stage removed (``<workdir>/dedup/removed/<stem>.parquet``, one file per input
#: file ``pool/pages/<stem>.parquet``, empty where it removed none): one row per removed page, with
#: its cluster and the page kept for that cluster. ``reason`` is ``exact`` (same normalised text as
#: the kept one), ``near`` (MinHash LSH candidate, linked to the kept text through connected
#: components; ``cluster_id``/``kept_id`` name the keeper) or ``empty`` (no letters or digits after
#: normalising; ``kept_id`` is empty and ``cluster_id`` -1). The pages kept are the pool's, minus these.
DEDUP_REMOVED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("cluster_id", pa.int64(), nullable=False),
        pa.field("kept_id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ],
    metadata={"contract": "dedup-removed/v1"},
)

#: Labels of the generated mini Common Crawl (``<minicc>/truth.parquet``): one
#: row per WARC *response* record, in file and offset order.
TRUTH_SCHEMA = pa.schema(
    [
        pa.field("warc_file", pa.string(), nullable=False),
        pa.field("warc_record_id", pa.string(), nullable=False),
        pa.field("warc_offset", pa.int64(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("fetch_time", TS, nullable=False),
        pa.field("http_status", pa.int16(), nullable=False),
        pa.field("content_type", pa.string(), nullable=False),
        pa.field("is_html", pa.bool_(), nullable=False),
        pa.field("is_math", pa.bool_(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("math_markup", pa.string(), nullable=False),
        pa.field("math_elements", pa.int32(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("declared_charset", pa.string()),
        pa.field("actual_charset", pa.string()),
        pa.field("dup_group", pa.int64()),
        pa.field("dup_kind", pa.string(), nullable=False),
        pa.field("benchmark", pa.string()),
        pa.field("benchmark_item", pa.string()),
        pa.field("layout", pa.string(), nullable=False),
        pa.field("posts", pa.int32(), nullable=False),
    ],
    metadata={"contract": "truth/v2"},
)

#: One row per (removed page, benchmark item found in it) (``<workdir>/decontam/audit/*.parquet``).
#: ``offset`` is the character offset of ``matched`` in the page text after the
#: rule's normalisation (NFKC, lower case, white space collapsed, ends stripped),
#: so ``normalize(text)[offset:offset + len(matched)] == matched``. ``match_kind``
#: is ``ngram`` (an n-gram of a long benchmark text; ``n_tokens`` = n) or ``exact``
#: (a whole benchmark text of short_min..short_max tokens). ``page_hits`` counts all
#: matching windows and exact matches on the page, every item together.
DECONTAM_AUDIT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("field", pa.string(), nullable=False),
        pa.field("match_kind", pa.string(), nullable=False),
        pa.field("matched", pa.string(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("n_tokens", pa.int16(), nullable=False),
        pa.field("page_hits", pa.int32(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
    ],
    metadata={"contract": "decontam-audit/v1"},
)

#: The pages the last recall round kept (``rounds/recalled/<stem>.parquet``, one file per pool file
#: ``pool/pages/<stem>.parquet``, empty where none of its pages was kept): decisions, no text. ``score``
#: is the last round's P(math), ``tokens`` the page's approximate token count (words plus CJK
#: characters), ``round`` the first round that recalled it. The corpus maps them to ``math_score``,
#: ``token_count`` and ``round`` (:mod:`pipeline.corpus`); :mod:`pipeline.pages` joins them to the pages.
RECALLED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("tokens", pa.int32(), nullable=False),
        pa.field("round", pa.int16(), nullable=False),
    ],
    metadata={"contract": "recalled/v2"},
)

#: The recalled pages decontamination removed (``decontam/removed/<stem>.parquet``, one file per pool
#: file, empty where none was removed): one row per page, with the first benchmark item found in it
#: (every item found is in ``decontam/audit/<stem>.parquet``) and ``page_hits``, the page's matches.
DECONTAM_REMOVED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("field", pa.string(), nullable=False),
        pa.field("match_kind", pa.string(), nullable=False),
        pa.field("page_hits", pa.int32(), nullable=False),
    ],
    metadata={"contract": "decontam-removed/v1"},
)

SCHEMAS = {
    "recalled": RECALLED_SCHEMA,
    "pool": POOL_SCHEMA,
    "corpus": CORPUS_SCHEMA,
    "drops": DROP_LOG_SCHEMA,
    "truth": TRUTH_SCHEMA,
    "decontam_audit": DECONTAM_AUDIT_SCHEMA,
    "decontam_removed": DECONTAM_REMOVED_SCHEMA,
    "dedup_removed": DEDUP_REMOVED_SCHEMA,
    "recall_scores": SCORE_SCHEMA,
    "recall_selection": SELECTION_SCHEMA,
    "recall_domains": DOMAIN_SCHEMA,
    "recall_seed_added": SEED_ADDED_SCHEMA,
}


class SchemaMismatch(ValueError):
    pass


def validate_table(table: pa.Table, schema: pa.Schema, what: str = "table") -> None:
    """Raise :class:`SchemaMismatch` unless ``table`` has exactly ``schema``'s columns and types."""
    want = [(f.name, f.type) for f in schema]
    got = [(f.name, f.type) for f in table.schema]
    if want != got:
        missing = [n for n, _ in want if n not in table.schema.names]
        extra = [n for n, _ in got if n not in schema.names]
        wrong = [f"{n}: {t} (want {dict(want)[n]})" for n, t in got if n in dict(want) and dict(want)[n] != t]
        raise SchemaMismatch(
            f"{what} does not match contract {schema.metadata.get(b'contract', b'?').decode()}: "
            f"missing={missing} extra={extra} wrong_types={wrong} order_ok={[n for n, _ in want] == [n for n, _ in got]}"
        )
    for f in schema:
        if not f.nullable and table.column(f.name).null_count:
            raise SchemaMismatch(f"{what}: column {f.name} must not hold nulls")
