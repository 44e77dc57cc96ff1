"""Streaming WARC access with warcio: expand inputs, iterate records with their
offsets, and account for every record of a file (``scan_warc``).

Records are never read whole into memory beyond one record's payload; a
damaged file ends its iteration with a :class:`WarcReadError` that says how
many records were read before the damage, so callers can keep them.
"""
from __future__ import annotations

import glob
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


def expand_inputs(inputs: list[str]) -> list[str]:
    """Expand local globs; other paths and URLs pass through in the order given, without repeats."""
    out: list[str] = []
    for item in inputs:
        if "://" not in item and any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item, recursive=True))
            out.extend(matches if matches else [item])
        else:
            out.append(item)
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


@dataclass
class WarcEntry:
    """One WARC record as the iterator yields it; ``record`` is warcio's, streamable."""

    record: object
    offset: int
    rec_type: str
    target_uri: str | None
    record_id: str | None
    date: str | None

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


def iter_warc(stream: IO[bytes], path: str = "<stream>") -> Iterator[WarcEntry]:
    """Yield every record of a WARC stream with its byte offset; raise WarcReadError on damage."""
    it = ArchiveIterator(stream, arc2warc=False, check_digests=False)
    n = 0
    try:
        for rec in it:
            headers = rec.rec_headers
            yield WarcEntry(
                record=rec,
                offset=it.get_record_offset(),
                rec_type=rec.rec_type,
                target_uri=clean_target_uri(headers.get_header("WARC-Target-URI")),
                record_id=headers.get_header("WARC-Record-ID"),
                date=headers.get_header("WARC-Date"),
            )
            n += 1
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
    """Yield every record of a WARC stream as a :class:`pipeline.extract.RawRecord`.

    The HTTP payload of a response is read raw (neither dechunked nor
    decompressed: :func:`pipeline.extract.undo_http_encoding` decides) and
    capped at ``max_payload_bytes``; the rest of the record is skipped
    unread into memory. ``offset`` and ``length`` are the record's compressed
    bytes in the file, so ``warc_offset``/``warc_length`` allow one ranged read.
    Raises :class:`WarcReadError` on damage after yielding the good records.
    """
    from pipeline.extract import RawRecord

    it = ArchiveIterator(stream, arc2warc=False, check_digests=False)
    n = 0
    # A truncated gzip member ends the stream without an error from warcio, so each record
    # is held back until the next one parses (or the file ends on a complete member).
    pending = None
    pending_incomplete = False
    try:
        for rec in it:
            if pending is not None:
                n += 1
                yield pending
                pending = None
            headers = rec.rec_headers
            raw = RawRecord(
                warc_path=path,
                rec_type=rec.rec_type,
                offset=0,
                length=0,
                record_id=headers.get_header("WARC-Record-ID"),
                target_uri=clean_target_uri(headers.get_header("WARC-Target-URI")),
                date=headers.get_header("WARC-Date"),
            )
            hh = rec.http_headers
            if rec.rec_type in ("response", "revisit") and hh is not None and hh.get_statuscode():
                try:
                    raw.http_status = int(hh.get_statuscode())
                except ValueError:
                    raw.http_status = None
                raw.content_type = hh.get_header("Content-Type")
                raw.content_encoding = hh.get_header("Content-Encoding")
                raw.transfer_encoding = hh.get_header("Transfer-Encoding")
                if rec.rec_type == "response" and raw.http_status == 200:
                    body = rec.raw_stream.read(max_payload_bytes + 1)
                    raw.payload_truncated = len(body) > max_payload_bytes
                    raw.payload = body[:max_payload_bytes]
            # reading the offset finishes the record (warcio skips its remainder in blocks)
            raw.offset = it.get_record_offset()
            raw.length = it.get_record_length()
            decomp = getattr(it.reader, "decompressor", None)
            pending_incomplete = decomp is not None and hasattr(decomp, "eof") and not decomp.eof
            pending = raw
        if pending is not None:
            if pending_incomplete:
                raise WarcReadError(path, f"truncated gzip member at offset {pending.offset}", n)
            n += 1
            yield pending
    except ArchiveLoadFailed as exc:
        raise WarcReadError(path, f"not a WARC/ARC stream: {str(exc).strip()[:200]}", n) from None
    except (zlib.error, EOFError, OSError) as exc:
        raise WarcReadError(path, f"{type(exc).__name__}: {exc}", n) from None
    except ValueError as exc:
        raise WarcReadError(path, f"malformed record: {exc}", n) from None


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
