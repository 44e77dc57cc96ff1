"""Streaming WARC access with warcio: expand inputs, iterate records with their
offsets, and account for every record of a file (``scan_warc``).

Records are never read whole into memory beyond one record's payload; a
damaged file ends its iteration with a :class:`WarcReadError` that says how
many records were read before the damage, so callers can keep them.
"""
from __future__ import annotations

import glob
import io
import os
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Iterator

import fsspec
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed


class WarcReadError(Exception):
    """A WARC file could not be read to its end. ``records_read`` were fine."""

    def __init__(self, path: str, reason: str, records_read: int):
        super().__init__(f"{path}: {reason} (after {records_read} records)")
        self.path = path
        self.reason = reason
        self.records_read = records_read


#: What a local folder given as input contributes: its WARC (and ARC) files, in name order.
WARC_SUFFIXES = (".warc.gz", ".warc", ".arc.gz", ".arc")


def expand_inputs(inputs: list[str]) -> list[str]:
    """Expand local globs and folders (their WARC files) into absolute paths; URLs (``s3://``,
    ``https://``, ...) pass through as given. In the order given, without repeats.

    Local paths are made absolute here because they become every row's ``warc_path``: a path
    relative to where a job ran (or to Ray's upload dir) opens nothing anywhere else.
    """
    out: list[str] = []
    for item in inputs:
        if "://" in item:
            out.append(item)
            continue
        item = os.path.expanduser(item)
        if any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item, recursive=True))
            out.extend([os.path.abspath(m) for m in matches] if matches else [item])
        elif os.path.isdir(item):
            out.extend(os.path.abspath(os.path.join(item, n)) for n in sorted(os.listdir(item))
                       if n.endswith(WARC_SUFFIXES) and not n.startswith((".", "_")))
        else:
            out.append(os.path.abspath(item))
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


#: Payloads above this are not held in memory: the entry is yielded with ``oversized=True``
#: and no payload (Common Crawl itself truncates payloads at 1 MiB).
MAX_PAYLOAD_BYTES = 16 << 20


@dataclass
class WarcEntry:
    """One complete WARC record. ``payload`` is the record's block after any HTTP headers
    (None when ``oversized``); ``record.content_stream()`` reads the same bytes, decoded."""

    record: object
    offset: int
    rec_type: str
    target_uri: str | None
    record_id: str | None
    date: str | None
    payload: bytes | None = None
    oversized: bool = False
    length: int = 0  # bytes of the record in the file (compressed), for one ranged read

    @property
    def http_status(self) -> int | None:
        hh = getattr(self.record, "http_headers", None)
        if hh is None or not hh.get_statuscode():
            return None
        try:
            return int(hh.get_statuscode())
        except ValueError:
            return None

    @property
    def content_type(self) -> str | None:
        hh = getattr(self.record, "http_headers", None)
        return hh.get_header("Content-Type") if hh is not None else None


def clean_target_uri(uri: str | None) -> str | None:
    """wget writes ``WARC-Target-URI: <http://...>``; strip the angle brackets."""
    if uri is None:
        return None
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1].strip()
    return uri


class TruncatedRecord(Exception):
    pass


def _read_payload(rec, max_payload: int) -> tuple[bytes | None, bool]:
    """Read the record's remaining block, bounded; raise TruncatedRecord if the file ends inside it."""
    stream = rec.raw_stream
    data = stream.read(max_payload + 1)
    oversized = len(data) > max_payload
    if oversized:
        data = None
        while stream.read(1 << 20):  # drain without holding it
            pass
    # warcio's LimitReader counts down what the record declared; a cut file leaves some undelivered.
    missing = getattr(stream, "limit", 0)
    if missing > 0:
        raise TruncatedRecord(f"record ends {missing} bytes short of its Content-Length")
    return data, oversized


def iter_warc(stream: IO[bytes], path: str = "<stream>", max_payload: int = MAX_PAYLOAD_BYTES) -> Iterator[WarcEntry]:
    """Yield every complete record of a WARC stream with its byte offset; raise WarcReadError on damage.

    A record cut short by the end of the file is not yielded: the error says how many
    complete records came before it.
    """
    it = ArchiveIterator(stream, arc2warc=False, check_digests=False)
    # HTTP headers are parsed for responses and revisits only: a request record's headers are never used,
    # and parsing them costs a fifth of warcio's header work on Common Crawl (request, response, metadata).
    it.loader.HTTP_RECORDS = ("response", "revisit")
    n = 0
    try:
        for rec in it:
            headers = rec.rec_headers
            if rec.format != "warc":
                # warcio falls back to ARC for anything without a WARC/ version line, and then
                # "parses" arbitrary bytes as a record; accept ARC only when its header is a real URL line.
                uri = headers.get_header("uri") or ""
                if not re.match(r"^(https?|ftp|dns|filedesc)://\S+$", uri):
                    raise ArchiveLoadFailed("no WARC/ARC record header at offset %d" % it.get_record_offset())
            payload, oversized = _read_payload(rec, max_payload)
            # only now: warcio's get_record_offset() finishes the record, reading (and losing)
            # whatever payload is still unread
            offset = it.get_record_offset()
            length = it.get_record_length()
            if payload is not None:
                rec.raw_stream = io.BytesIO(payload)  # so content_stream() still works
            yield WarcEntry(
                record=rec,
                offset=offset,
                rec_type=rec.rec_type,
                target_uri=clean_target_uri(headers.get_header("WARC-Target-URI") or headers.get_header("uri")),
                record_id=headers.get_header("WARC-Record-ID"),
                date=headers.get_header("WARC-Date"),
                payload=payload,
                oversized=oversized,
                length=length,
            )
            n += 1
    except TruncatedRecord as exc:
        raise WarcReadError(path, f"truncated file: {exc}", n) from None
    except ArchiveLoadFailed as exc:
        raise WarcReadError(path, f"not a WARC/ARC stream: {str(exc).strip()[:200]}", n) from None
    except (zlib.error, EOFError, OSError) as exc:
        raise WarcReadError(path, f"{type(exc).__name__}: {exc}", n) from None
    except ValueError as exc:  # warcio raises ValueError on malformed headers/lengths
        raise WarcReadError(path, f"malformed record: {exc}", n) from None


@dataclass
class WarcScan:
    path: str
    records: int = 0
    by_type: Counter = field(default_factory=Counter)
    http_status: Counter = field(default_factory=Counter)
    content_types: Counter = field(default_factory=Counter)
    error: str | None = None

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "records": self.records,
            "by_type": dict(self.by_type),
            "http_status": {str(k): v for k, v in self.http_status.items()},
            "content_types": dict(self.content_types),
            "error": self.error,
        }


def scan_warc(path: str) -> WarcScan:
    """Read every record of ``path`` (local or any fsspec URL) and count it; never raises on bad input."""
    scan = WarcScan(path=path)
    try:
        with fsspec.open(path, "rb") as fh:
            for entry in iter_warc(fh, path):
                scan.records += 1
                scan.by_type[entry.rec_type] += 1
                if entry.rec_type in ("response", "revisit"):
                    status = entry.http_status
                    scan.http_status[status if status is not None else "none"] += 1
                    ctype = (entry.content_type or "none").split(";")[0].strip().lower()
                    scan.content_types[ctype] += 1
    except WarcReadError as exc:
        scan.error = exc.reason
    except FileNotFoundError:
        scan.error = "file not found"
    except OSError as exc:
        scan.error = f"{type(exc).__name__}: {exc}"
    return scan


def iter_raw_records(stream: IO[bytes], path: str, max_payload_bytes: int) -> Iterator["RawRecord"]:
    """:func:`iter_warc` as :class:`pipeline.extract.RawRecord` values, the pool's pure-core input.

    The HTTP payload stays raw (neither dechunked nor decompressed:
    :func:`pipeline.extract.undo_http_encoding` decides, since crawlers often store
    decoded bodies under their original headers).
    """
    from pipeline.extract import RawRecord

    for entry in iter_warc(stream, path, max_payload_bytes):
        raw = RawRecord(warc_path=path, rec_type=entry.rec_type, offset=entry.offset, length=entry.length,
                        record_id=entry.record_id, target_uri=entry.target_uri, date=entry.date)
        hh = getattr(entry.record, "http_headers", None)
        if entry.rec_type in ("response", "revisit") and hh is not None and hh.get_statuscode():
            raw.http_status = entry.http_status
            raw.content_type = hh.get_header("Content-Type")
            raw.content_encoding = hh.get_header("Content-Encoding")
            raw.transfer_encoding = hh.get_header("Transfer-Encoding")
            raw.payload = entry.payload or b""
            raw.payload_truncated = entry.oversized
        yield raw


def read_record_at(path: str, offset: int, length: int, storage_options: dict | None = None) -> "RawRecord":
    """Read one record again with a single ranged read (``warc_offset``, ``warc_length`` of a pool row)."""
    import io

    with fsspec.open(path, "rb", **(storage_options or {})) as fh:
        fh.seek(offset)
        blob = fh.read(length)
    for raw in iter_raw_records(io.BytesIO(blob), path, max(length * 20, 1 << 20)):
        raw.offset = offset
        return raw
    raise WarcReadError(path, f"no record at offset {offset}", 0)
