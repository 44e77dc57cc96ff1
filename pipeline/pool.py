"""The pool stage: Ray actors turn WARC files into deduplicated, math-preserving pool rows.

Layout of the stage folder (``<workdir>/pool/`` or ``extract --output DIR``)::

    warcs/<key>/pages.parquet   candidate rows of one WARC (POOL_SCHEMA), before cross-WARC URL dedup
    warcs/<key>/drops.parquet   records of that WARC dropped while reading (DROP_LOG_SCHEMA)
    warcs/<key>/_SUCCESS        per-WARC completion marker with the WARC's stats (written last)
    pages/<key>.parquet         the pool: rows that won URL dedup (ids unique across the run)
    drops/<key>.parquet         every dropped record of the WARC, ``duplicate_url`` losers included
    stats.json                  per-WARC and total stats, math survival, failures
    failures.json               inputs that failed: path and reason
    _SUCCESS                    the stage is complete (only when no input failed)

``<key>`` is the WARC's file name without ``.warc.gz`` plus 8 hex digits of
sha1(path), so equal names from different crawls never collide.

Phase 1 (Ray, one WARC per actor call, bounded by ``pool.workers``) writes the
``warcs/<key>/`` files atomically and then the marker; a rerun skips WARCs whose
marker exists. Phase 2 (driver, cheap: reads only ids, times and offsets) picks
one capture per normalised URL: the earliest ``fetch_time`` wins, ties broken by
WARC path then offset, so the result does not depend on scheduling order.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import random
import re
import resource
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.extraction.extract import Drop, ExtractSettings, extract_record
from pipeline.core.io import (is_complete, link_atomic, mark_complete, read_marker, write_json_atomic,
                         write_parquet_atomic)
from pipeline.core.schema import DROP_LOG_SCHEMA, POOL_SCHEMA, validate_table
from pipeline.commoncrawl.warc import WarcReadError, iter_raw_records, quote_prefix

log = logging.getLogger(__name__)

STAGE = "pool"
MANIFEST_RE = re.compile(r"(^|/)[^/]*\.paths(\.gz)?$")


# --- inputs --------------------------------------------------------------------

def is_manifest(path: str) -> bool:
    return bool(MANIFEST_RE.search(path))


#: URL schemes an input or manifest entry may use unless ``pool.allow_schemes`` says otherwise.
DEFAULT_SCHEMES = ("https", "http", "s3", "gs", "hf")
#: What a manifest entry may point at only when listed in ``pool.allow_manifest_targets``.
MANIFEST_TARGETS = ("local", "loopback", "private", "link_local")


#: A crawl's warc.paths.gz holds ~100,000 entries of ~140 characters; far larger is not a manifest.
MAX_MANIFEST_ENTRIES = 10_000_000
MAX_MANIFEST_LINE = 4096


class ManifestError(ValueError):
    """A manifest that is not one (too long a line, too many entries)."""


class InputRefused(ValueError):
    """An input or manifest entry the input policy does not allow; the message says which key allows it."""


def host_kind(host: str) -> str | None:
    """``loopback``, ``link_local`` or ``private`` for a host that is one (IP literals in any form the C
    library accepts, such as ``127.1`` or ``0x7f000001``, and ``localhost`` names); None otherwise.
    DNS names are not resolved."""
    import ipaddress
    import socket

    h = host.strip().strip("[]").rstrip(".").lower()
    if h in ("localhost", "ip6-localhost", "ip6-loopback") or h.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(h.split("%")[0])
    except ValueError:
        if not re.fullmatch(r"[0-9a-fx.]+", h) or not re.search(r"\d", h):
            return None
        try:
            ip = ipaddress.ip_address(socket.inet_aton(h))
        except OSError:
            return None
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_private or ip.is_reserved or ip.is_unspecified or ip.is_multicast:
        return "private"
    return None


@dataclass(frozen=True)
class InputPolicy:
    """Which inputs the pool reads (``pool.allow_schemes``, ``pool.allow_manifest_targets``).

    The inputs a user lists (``pool.inputs``, ``extract --input``, ``pool.cc_base_url``) are trusted
    apart from their scheme; a manifest's entries are data from elsewhere, so they resolve under the
    manifest's base and may not name local files, loopback, private or link-local hosts unless allowed.
    """

    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    manifest_targets: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, pool_cfg) -> "InputPolicy":
        return cls(tuple(getattr(pool_cfg, "allow_schemes", DEFAULT_SCHEMES)),
                   tuple(getattr(pool_cfg, "allow_manifest_targets", ())))

    def check_input(self, item: str) -> None:
        scheme = item.split("://", 1)[0].lower() if "://" in item else None
        if scheme is not None and scheme != "file" and scheme not in self.schemes:
            raise InputRefused(f"URL scheme {quote_prefix(scheme, 16)}:// is not in pool.allow_schemes "
                               f"({', '.join(self.schemes)})")

    def _need(self, target: str, what: str) -> None:
        if target not in self.manifest_targets:
            raise InputRefused(f"manifest entry {what}: refused (add {target} to pool.allow_manifest_targets "
                               "to read it)")

    def check_entry(self, entry: str) -> None:
        """Raise InputRefused for an entry with a scheme the policy refuses or a host it does not allow."""
        if any(ord(c) < 32 or ord(c) == 127 for c in entry):
            raise InputRefused("manifest entry holds control characters")
        if "://" not in entry:
            if entry.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", entry):
                self._need("local", "is an absolute local path")
            return
        scheme, rest = entry.split("://", 1)
        scheme = scheme.lower()
        if scheme == "file":
            self._need("local", "is a file:// URL")
            return
        if scheme not in self.schemes:
            raise InputRefused(f"manifest entry: URL scheme {quote_prefix(scheme, 16)}:// is not in "
                               f"pool.allow_schemes ({', '.join(self.schemes)})")
        if scheme in ("http", "https"):
            from urllib.parse import urlsplit

            try:
                host = urlsplit(entry).hostname or ""
            except ValueError:
                raise InputRefused("manifest entry is not a valid URL") from None
            kind = host_kind(host)
            if kind is not None:
                self._need(kind, f"names a {kind.replace('_', '-')} host")


def _has_dotdot(entry: str) -> bool:
    return any(part == ".." for part in re.split(r"[/\\]", entry.split("://", 1)[-1]))


def read_manifest(path: str, base_url: str, storage_options: dict | None = None,
                  policy: InputPolicy | None = None) -> tuple[list[str], list[dict]]:
    """(WARC locations, refused entries) of a Common Crawl ``warc.paths.gz`` (or plain ``.paths``) manifest.

    Entries are relative: ``crawl-data/...`` entries are joined to ``base_url``
    (``https://data.commoncrawl.org/`` or ``s3://commoncrawl/``) unless the file exists beside a local
    manifest (a mirrored crawl or the mini-CC); other relative entries resolve beside the manifest. An entry
    may not climb out of that base (``..``); absolute paths, ``file://``, loopback/private/link-local hosts
    and schemes outside ``pool.allow_schemes`` are refused unless ``policy`` allows them.
    """
    policy = policy or InputPolicy()
    compression = "gzip" if path.endswith(".gz") else None
    entries = []
    with fsspec.open(path, "rt", compression=compression, encoding="utf-8", **(storage_options or {})) as fh:
        for lineno, line in enumerate(iter(lambda: fh.readline(MAX_MANIFEST_LINE + 1), ""), 1):
            if len(line) > MAX_MANIFEST_LINE:
                raise ManifestError(f"line {lineno} is longer than {MAX_MANIFEST_LINE} characters")
            if line.strip() and not line.startswith("#"):
                entries.append(line.strip())
                if len(entries) > MAX_MANIFEST_ENTRIES:
                    raise ManifestError(f"more than {MAX_MANIFEST_ENTRIES:,} entries")
    local_dir = None if "://" in path else Path(path).resolve().parent
    out: list[str] = []
    refused: list[dict] = []
    for entry in entries:
        try:
            policy.check_entry(entry)
            if _has_dotdot(entry):
                raise InputRefused("manifest entry climbs out of the manifest's base (..)")
        except InputRefused as exc:
            refused.append({"path": f"{quote_prefix(path, 200)}: {quote_prefix(entry, 80)}", "reason": str(exc),
                            "records_read": 0, "retryable": False})
            continue
        if "://" in entry:
            out.append(entry)
        elif entry.startswith("/"):
            out.append(entry)  # allowed as local by the policy
        elif local_dir is not None and (local_dir / entry).exists():
            out.append(str(local_dir / entry))
        else:
            base = base_url if entry.startswith("crawl-data/") or local_dir is not None else path.rsplit("/", 1)[0] + "/"
            out.append(base.rstrip("/") + "/" + entry)
    return out, refused


def resolve_inputs(inputs: Iterable[str], *, limit: int | None = None, sample: int | None = None, seed: int = 0,
                   base_url: str = "https://data.commoncrawl.org/",
                   storage_options: dict | None = None,
                   policy: InputPolicy | None = None) -> tuple[list[str], list[dict]]:
    """(WARC paths in a stable order, failures). Expands local globs, folders and manifests.

    ``limit`` keeps the first N entries of each manifest, ``sample`` a seeded random
    N of them (in manifest order). A manifest that cannot be read is a failure; so is an input
    or manifest entry that ``policy`` refuses (not retryable).
    """
    from pipeline.commoncrawl.warc import expand_inputs

    policy = policy or InputPolicy()
    paths: list[str] = []
    failures: list[dict] = []
    for item in expand_inputs(list(inputs)):
        try:
            policy.check_input(item)
        except InputRefused as exc:
            failures.append({"path": quote_prefix(item, 200), "reason": str(exc), "records_read": 0,
                             "retryable": False})
            continue
        if not is_manifest(item):
            paths.append(item)
            continue
        try:
            entries, refused = read_manifest(item, base_url, storage_options, policy)
        except ManifestError as exc:
            failures.append({"path": quote_prefix(item, 200), "reason": f"not a manifest: {exc}", "records_read": 0,
                             "retryable": False})
            continue
        except (UnicodeDecodeError, zlib.error, gzip.BadGzipFile, EOFError) as exc:
            failures.append({"path": quote_prefix(item, 200), "reason": f"manifest damaged: {type(exc).__name__}",
                             "records_read": 0, "retryable": False})
            continue
        except OSError as exc:
            failures.append({"path": quote_prefix(item, 200), "reason": f"manifest unreadable: {type(exc).__name__}: "
                             f"{quote_prefix(str(exc), 200)}", "records_read": 0, "retryable": True})
            continue
        failures.extend(refused)
        if sample is not None and sample < len(entries):
            keep = set(random.Random(seed).sample(range(len(entries)), sample))
            entries = [e for i, e in enumerate(entries) if i in keep]
        if limit is not None:
            entries = entries[:limit]
        paths.extend(entries)
    seen: set[str] = set()
    return [p for p in paths if not (p in seen or seen.add(p))], failures


def warc_key(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"\.(warc|arc)(\.gz)?$", "", name) or "warc"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:120]
    return f"{stem}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"


def open_input(path: str, storage_options: dict | None = None):
    """A streaming binary handle for a local path or any fsspec URL (never read whole)."""
    opts = dict(storage_options or {})
    if path.startswith(("http://", "https://")):
        opts.setdefault("block_size", 0)  # stream the response; do not depend on Range support
    return fsspec.open(path, "rb", **opts)


# --- phase 1: one WARC ---------------------------------------------------------

def settings_from_config(pool_cfg) -> ExtractSettings:
    return ExtractSettings(
        max_record_bytes=pool_cfg.max_record_bytes,
        max_seconds_per_record=pool_cfg.max_seconds_per_record,
        min_text_chars=pool_cfg.min_text_chars,
        lang_chars=pool_cfg.lang_chars,
        include_tables=pool_cfg.include_tables,
        include_comments=pool_cfg.include_comments,
        favor_recall=pool_cfg.favor_recall,
        extractor=pool_cfg.extractor,
    )


#: Upper edges of the per-page math survival histogram (LaTeX fragments kept / math elements in the HTML).
SURVIVAL_BINS = (0.5, 0.9, 0.99, 1.0)


def _survival_bin(row: dict) -> str | None:
    """The histogram bin of a page's math survival, or None for a page without math elements."""
    if not row["math_elements_html"]:
        return None
    share = min(1.0, row["math_fragments_text"] / row["math_elements_html"])
    for edge in SURVIVAL_BINS[:-1]:
        if share < edge:
            return f"<{edge}"
    return "1.0" if share >= 1.0 else "<1.0"


def _drop_row(d: Drop, rec) -> dict:
    return {"stage": STAGE, "reason": d.reason, "detail": d.detail, "id": d.id, "url": d.url,
            "warc_path": rec.warc_path, "warc_record_id": rec.record_id, "warc_offset": rec.offset}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def process_warc(path: str, out_dir: str | Path, settings: ExtractSettings,
                 storage_options: dict | None = None) -> dict:
    """Extract one WARC into ``out_dir/warcs/<key>/``; return its stats. Never raises on bad input.

    A file damaged midway keeps the rows read before the damage: its outputs
    and marker are written with ``error`` set (rereading it gives the same
    result). A file that cannot be opened writes nothing, so a rerun tries again.
    """
    key = warc_key(path)
    folder = Path(out_dir) / "warcs" / key
    if is_complete(folder):
        stats = read_marker(folder)
        stats["skipped"] = True
        return stats
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.tmp-*"):  # left by a killed run
        stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    rows: list[dict] = []
    drops: list[dict] = []
    reasons: Counter = Counter()
    math_kinds: Counter = Counter()
    survival: Counter = Counter()
    low_survival: list[str] = []
    visible_chars = 0
    seen = 0
    warc_bytes = 0
    html_bytes = 0
    error = None
    try:
        with open_input(path, storage_options) as fh:
            for rec in iter_raw_records(fh, path, settings.max_record_bytes):
                seen += 1
                warc_bytes += rec.length
                out = extract_record(rec, settings)
                if isinstance(out, Drop):
                    reasons[out.reason] += 1
                    drops.append(_drop_row(out, rec))
                else:
                    math_kinds.update(out.pop("_math_by_kind"))
                    visible_chars += out.pop("_visible_chars")
                    bin_ = _survival_bin(out)
                    if bin_ is not None:
                        survival[bin_] += 1
                        if bin_ in ("<0.5", "<0.9") and len(low_survival) < 20:
                            low_survival.append(out["url"])
                    html_bytes += out["html_bytes"]
                    rows.append(out)
    except WarcReadError as exc:
        if exc.retryable:  # the bytes could not be fetched: nothing is written, a rerun reads the file again
            return {"path": path, "key": key, "error": exc.reason[:500], "records_read": seen, "retryable": True}
        error = exc.reason  # damage in the file: the records before it are kept, the same on every read
    except FileNotFoundError:
        return {"path": path, "key": key, "error": "file not found", "retryable": True}
    except IsADirectoryError:
        return {"path": path, "key": key, "error": "a directory, not a WARC file", "retryable": False}
    except OSError as exc:  # opening failed (permissions, network): may succeed later
        return {"path": path, "key": key, "error": f"cannot open: {type(exc).__name__}: "
                f"{quote_prefix(str(exc), 300)}", "retryable": True}
    pages = pa.Table.from_pylist(rows, schema=POOL_SCHEMA)
    validate_table(pages, POOL_SCHEMA, f"pool rows of {path}")
    write_parquet_atomic(folder / "pages.parquet", pages)
    write_parquet_atomic(folder / "drops.parquet", pa.Table.from_pylist(drops, schema=DROP_LOG_SCHEMA))
    math_html = sum(r["math_elements_html"] for r in rows)
    math_text = sum(r["math_fragments_text"] for r in rows)
    stats = {
        "path": path,
        "key": key,
        "records_seen": seen,
        "kept": len(rows),
        "dropped": sum(reasons.values()),
        "dropped_by_reason": dict(sorted(reasons.items())),
        "warc_bytes": warc_bytes,
        "html_bytes": html_bytes,
        "text_chars": sum(len(r["text"]) for r in rows),
        "visible_chars": visible_chars,
        "math_survival_pages": dict(sorted(survival.items())),
        "math_survival_low_urls": low_survival,
        "seconds": round(time.perf_counter() - t0, 3),
        "math_elements_html": math_html,
        "math_fragments_text": math_text,
        "math_elements_by_kind": dict(sorted(math_kinds.items())),
        "math_pages": sum(1 for r in rows if r["math_elements_html"]),
        "langs": dict(Counter(r["lang"] for r in rows).most_common(20)),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "worker_pid": os.getpid(),
        "error": error,
    }
    assert stats["records_seen"] == stats["kept"] + stats["dropped"], stats
    mark_complete(folder, stats, outputs=["pages.parquet", "drops.parquet"])
    return stats


# --- phase 2: URL dedup across WARCs ---------------------------------------------

def dedup_urls(out_dir: str | Path, keys: list[str]) -> dict:
    """Write ``pages/`` and ``drops/`` from the per-WARC outputs: one row per normalised URL.

    The earliest fetch wins; ties go to the smaller (warc_path, warc_offset), so
    the choice is the same whatever order the WARCs finished in.
    """
    out_dir = Path(out_dir)
    # (id, (fetch time, warc_path, offset)) of every candidate row, per WARC, read once
    candidates: dict[str, list[tuple[str, tuple]]] = {}
    for key in keys:
        t = pq.read_table(out_dir / "warcs" / key / "pages.parquet",
                          columns=["id", "fetch_time", "warc_path", "warc_offset"])
        candidates[key] = list(zip(t.column("id").to_pylist(), zip(
            t.column("fetch_time").cast(pa.int64()).to_pylist(), t.column("warc_path").to_pylist(),
            t.column("warc_offset").to_pylist())))
    winners: dict[str, tuple] = {}
    for rows in candidates.values():
        for doc_id, cand in rows:
            if doc_id not in winners or cand < winners[doc_id]:
                winners[doc_id] = cand
    kept_total = 0
    dup_total = 0
    per_key: dict[str, dict] = {}
    for key in keys:
        folder = out_dir / "warcs" / key
        mask = [winners[doc_id] == cand for doc_id, cand in candidates[key]]
        if all(mask):
            # Nothing of this WARC lost to an earlier capture (the usual case on real Common Crawl, which
            # fetches a URL once per crawl): the pool's files are the per-WARC files themselves, not copies.
            link_atomic(folder / "pages.parquet", out_dir / "pages" / f"{key}.parquet")
            link_atomic(folder / "drops.parquet", out_dir / "drops" / f"{key}.parquet")
            kept_total += len(mask)
            per_key[key] = {"kept_after_dedup": len(mask), "duplicate_url": 0}
            continue
        pages = pq.read_table(folder / "pages.parquet")
        drops = pq.read_table(folder / "drops.parquet")
        mask_arr = pa.array(mask, pa.bool_())
        kept = pages.filter(mask_arr)
        losers = pages.filter(pc.invert(mask_arr))
        dup_rows = [{"stage": STAGE, "reason": "duplicate_url",
                     "detail": "earlier capture kept", "id": r["id"], "url": r["url"],
                     "warc_path": r["warc_path"], "warc_record_id": r["warc_record_id"],
                     "warc_offset": r["warc_offset"]}
                    for r in losers.select(["id", "url", "warc_path", "warc_record_id", "warc_offset"]).to_pylist()]
        all_drops = pa.concat_tables([drops, pa.Table.from_pylist(dup_rows, schema=DROP_LOG_SCHEMA)])
        write_parquet_atomic(out_dir / "pages" / f"{key}.parquet", kept)
        write_parquet_atomic(out_dir / "drops" / f"{key}.parquet", all_drops)
        kept_total += len(kept)
        dup_total += len(losers)
        per_key[key] = {"kept_after_dedup": len(kept), "duplicate_url": len(losers)}
    # outputs of WARCs no longer among the inputs would make the pool disagree with its stats
    wanted = {f"{k}.parquet" for k in keys}
    for sub in ("pages", "drops"):
        if (out_dir / sub).exists():
            for f in (out_dir / sub).glob("*.parquet"):
                if f.name not in wanted:
                    f.unlink()
    return {"kept": kept_total, "duplicate_url": dup_total, "per_warc": per_key}


# --- the Ray wrapper -------------------------------------------------------------

class _PoolWorker:
    """A pool worker's state: the extraction settings, with the language-ID model loaded once per worker."""

    def __init__(self, settings: dict, storage_options: dict | None, out_dir: str):
        from pipeline.extraction.extract import _identifier

        self.settings = ExtractSettings(**settings)
        self.storage_options = storage_options
        self.out_dir = out_dir
        _identifier()


def _extract_warc(worker: _PoolWorker, path: str) -> dict:
    return process_warc(path, worker.out_dir, worker.settings, worker.storage_options)


def run_pool(inputs: list[str], out_dir: str | Path, pool_cfg, *, progress: bool = True) -> dict:
    """Extract ``inputs`` (paths, globs, URLs, manifests) into ``out_dir``; return the stage stats.

    ``stats["failures"]`` lists every input that failed with its reason; the
    stage marker is written only when there are none, so a rerun retries them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths, failures = resolve_inputs(
        inputs, limit=pool_cfg.manifest_limit, sample=pool_cfg.manifest_sample, seed=pool_cfg.manifest_seed,
        base_url=pool_cfg.cc_base_url, storage_options=pool_cfg.storage_options,
        policy=InputPolicy.from_config(pool_cfg))
    settings = settings_from_config(pool_cfg)
    results: dict[str, dict] = {}
    todo = []
    for p in paths:
        folder = out_dir / "warcs" / warc_key(p)
        if is_complete(folder):
            stats = read_marker(folder)
            stats["skipped"] = True
            results[p] = stats
        else:
            todo.append(p)
    if progress:
        log.info("pool: %d WARCs, %d already done, %d to extract with %d workers",
                 len(paths), len(paths) - len(todo), len(todo), pool_cfg.workers)
    extract_wall = 0.0
    if todo:
        from pipeline.core.executor import current

        executor = current(pool_cfg.workers)

        def describe(path, stats):
            return f"{stats.get('kept', 0)} kept of {stats.get('records_seen', 0)} in {stats.get('seconds', 0):.1f}s"

        # one WARC in flight per worker; a worker that died is replaced and its WARC extracted again
        for r in executor.map(
                "pool", _extract_warc, todo, key=warc_key, setup=_PoolWorker,
                setup_args=(asdict(settings), pool_cfg.storage_options, str(out_dir)), workers=pool_cfg.workers,
                max_retries=pool_cfg.max_retries, raise_on_error=False, progress=progress, unit_name="WARC",
                describe=describe if progress else None):
            if r.error is not None:  # the worker raised, or died more often than pool.max_retries
                cause = r.error.cause
                stats = {"path": r.unit, "key": warc_key(r.unit), "error": f"worker failed: {type(cause).__name__}: "
                         f"{str(cause).splitlines()[0][:300] if str(cause) else ''}", "retryable": True}
            else:
                stats = r.result
            results[r.unit] = stats
        extract_wall = executor.timings["pool"]["run"]
    ok_keys = []
    per_warc = []
    for p in paths:
        st = results[p]
        per_warc.append(st)
        if st.get("error"):
            failures.append({"path": p, "reason": st["error"], "records_read": st.get("records_seen", 0),
                             "retryable": bool(st.get("retryable"))})
        if "records_seen" in st:  # outputs exist (damaged files included: their good records count)
            ok_keys.append(st["key"])
    dedup = dedup_urls(out_dir, ok_keys)
    totals = _totals(per_warc, dedup)
    stats = {
        "inputs": len(paths),
        "warcs_done": len(ok_keys),
        "failures": failures,
        "seconds": round(time.perf_counter() - t0, 2),
        "extract_wall_seconds": round(extract_wall, 2),  # from all workers ready to the last WARC done
        "totals": totals,
        "per_warc": [dict(s, **dedup["per_warc"].get(s.get("key"), {})) for s in per_warc],
    }
    write_json_atomic(out_dir / "failures.json", failures)
    write_json_atomic(out_dir / "stats.json", stats)
    if not failures:
        mark_complete(out_dir, {k: v for k, v in stats.items() if k != "per_warc"}, outputs=pool_outputs(out_dir))
    elif (out_dir / "_SUCCESS").exists():
        (out_dir / "_SUCCESS").unlink()
    return stats


def pool_outputs(out_dir: str | Path) -> list[str]:
    """The stage's published files (``pages/`` and ``drops/``), relative to ``out_dir``, for its marker."""
    out_dir = Path(out_dir)
    return [f"{sub}/{f.name}" for sub in ("pages", "drops") for f in sorted((out_dir / sub).glob("*.parquet"))]


def _totals(per_warc: list[dict], dedup: dict) -> dict:
    reasons: Counter = Counter()
    kinds: Counter = Counter()
    langs: Counter = Counter()
    survival: Counter = Counter()
    low_urls: list[str] = []
    tot = Counter()
    for s in per_warc:
        if "records_seen" not in s:
            continue
        for k in ("records_seen", "warc_bytes", "html_bytes", "math_elements_html", "math_fragments_text",
                  "math_pages", "text_chars", "visible_chars"):
            tot[k] += s.get(k, 0)
        survival.update(s.get("math_survival_pages", {}))
        low_urls.extend(s.get("math_survival_low_urls", []))
        tot["extract_seconds"] += s.get("seconds", 0.0)
        reasons.update(s.get("dropped_by_reason", {}))
        kinds.update(s.get("math_elements_by_kind", {}))
        langs.update(s.get("langs", {}))
    if dedup["duplicate_url"]:
        reasons["duplicate_url"] += dedup["duplicate_url"]
    out = dict(tot)
    out["kept"] = dedup["kept"]
    out["dropped"] = sum(reasons.values())
    out["dropped_by_reason"] = dict(sorted(reasons.items()))
    out["math_elements_by_kind"] = dict(sorted(kinds.items()))
    out["langs"] = dict(langs.most_common(20))
    out["math_survival"] = round(tot["math_fragments_text"] / tot["math_elements_html"], 4) if tot["math_elements_html"] else None
    # per page: the distribution, how many fell below 90%, and some of those pages to look at
    out["math_survival_pages"] = dict(sorted(survival.items()))
    out["math_pages_below_90"] = survival.get("<0.5", 0) + survival.get("<0.9", 0)
    out["math_survival_low_urls"] = low_urls[:50]
    out["boilerplate_share"] = (round(1 - tot["text_chars"] / tot["visible_chars"], 4)
                                if tot["visible_chars"] else None)
    out["peak_rss_mb_max"] = max((s.get("peak_rss_mb", 0) for s in per_warc), default=0)
    out["accounting_ok"] = out["records_seen"] == out["kept"] + out["dropped"] if "records_seen" in out else True
    return out


def read_pool(out_dir: str | Path) -> pa.Table:
    """All pool rows of a finished stage folder (``pages/*.parquet``) in one table."""
    files = sorted((Path(out_dir) / "pages").glob("*.parquet"))
    if not files:
        return POOL_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f) for f in files])


def read_drops(out_dir: str | Path) -> pa.Table:
    files = sorted((Path(out_dir) / "drops").glob("*.parquet"))
    if not files:
        return DROP_LOG_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f) for f in files])
