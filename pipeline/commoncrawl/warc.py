"""Streaming WARC access with warcio: iterate records with their
offsets, and account for every record of a file (``scan_warc``).

Records are never read whole into memory beyond one record's payload. A file is
never taken as complete unless it is: every byte warcio reads also passes through
:class:`_FramingCheck`, which checks that each gzip member ends cleanly and that each
record holds exactly its declared ``Content-Length`` followed by the record separator.
A damaged file ends its iteration with a :class:`WarcReadError` naming the byte offset
and how many records were read before the damage, so callers keep those.
"""
from __future__ import annotations

import io
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Iterator

import fsspec
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed


def quote_prefix(data: bytes | str | None, limit: int = 48) -> str:
    """A short, escaped, printable prefix of ``data`` for an error message: no raw bytes, no terminal
    control codes (an error must never carry a file's contents into logs or stats)."""
    if data is None:
        return "None"
    if isinstance(data, str):
        data = data.encode("utf-8", "backslashreplace")
    shown = data[:limit].decode("ascii", "backslashreplace")
    shown = "".join(ch if 32 <= ord(ch) < 127 else f"\\x{ord(ch):02x}" for ch in shown)
    return shown + ("..." if len(data) > limit else "")


class WarcReadError(Exception):
    """A WARC file could not be read to its end. ``records_read`` were fine.

    ``retryable`` is True only for I/O errors (the bytes could not be fetched); damage in the
    file itself gives the same result on every read.
    """

    def __init__(self, path: str, reason: str, records_read: int, retryable: bool = False):
        super().__init__(f"{path}: {reason} (after {records_read} records)")
        self.path = path
        self.reason = reason
        self.records_read = records_read
        self.retryable = retryable


class WarcDamage(Exception):
    """The bytes of the file break the WARC or gzip framing (found by :class:`_FramingCheck`)."""


class WarcTruncated(WarcDamage):
    """The file ends inside a gzip member or a record."""


class NotWarc(WarcDamage):
    """The bytes are not a WARC (or ARC) file at all."""


class WarcIOError(Exception):
    """Reading the underlying stream failed (network, disk): worth a retry."""


#: What a folder given as an input contributes: its WARC (and ARC) files, in name order.
WARC_SUFFIXES = (".warc.gz", ".warc", ".arc.gz", ".arc")


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


class _RecordFraming:
    """Checks uncompressed WARC bytes record by record: a ``WARC/`` version line, a header block ending in a
    blank line, ``Content-Length`` bytes of block, then the ``CRLF CRLF`` separator, up to a clean end.

    Written here because warcio (like most WARC readers) stops quietly at a short read: a record cut
    short, a wrong Content-Length or a file ending inside a header all look like a normal end to it.
    Only counters and one header block are held, never a record's block.
    """

    MAX_HEADER = 1 << 20
    SEP = b"\r\n\r\n"

    def __init__(self) -> None:
        self.pos = 0  # uncompressed bytes seen
        self.records = 0  # complete records (separator included)
        self.state = "start"  # start | head | body | sep | other
        self.head = bytearray()
        self.remaining = 0
        self.sep_seen = 0
        self.record_start = 0

    def feed(self, data: bytes, where) -> None:
        mv = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            if self.state == "other":
                return
            if self.state in ("start", "head"):
                if self.state == "start":
                    self.state = "head"
                    self.record_start = self.pos
                    self.head.clear()
                # the blank line ending the header block, in what is buffered plus (a bounded part of) this chunk
                old = len(self.head)
                self.head += mv[i:i + self.MAX_HEADER + 4 - old]
                end = self.head.find(self.SEP, max(0, old - 3))
                if end < 0:
                    if len(self.head) >= 5 and not self.head.startswith(b"WARC/"):
                        self._not_warc(where)
                        return
                    if len(self.head) > self.MAX_HEADER:
                        raise WarcDamage(f"record {self.records + 1} at {where(self.record_start)}: header "
                                         f"block longer than {self.MAX_HEADER} bytes")
                    self.pos += n - i
                    return
                consumed = end + 4 - old
                header = bytes(self.head[:end])
                if not header.startswith(b"WARC/"):
                    self._not_warc(where)
                    return
                m = re.search(rb"(?im)^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$", header)
                if m is None:
                    raise WarcDamage(f"record {self.records + 1} at {where(self.record_start)} has no "
                                     "Content-Length")
                self.remaining = int(m.group(1))
                self.pos += consumed
                i += consumed
                self.head.clear()
                self.state = "body"
                continue
            if self.state == "body":
                take = min(self.remaining, n - i)
                self.remaining -= take
                self.pos += take
                i += take
                if self.remaining == 0:
                    self.state = "sep"
                    self.sep_seen = 0
                continue
            # "sep": exactly CRLF CRLF after the block
            while i < n and self.sep_seen < 4:
                if data[i] != self.SEP[self.sep_seen]:
                    raise WarcDamage(f"record {self.records + 1} at {where(self.record_start)}: no record "
                                     f"separator after its Content-Length of block (byte {self.pos} of the "
                                     "uncompressed stream): the declared length is wrong")
                self.sep_seen += 1
                self.pos += 1
                i += 1
            if self.sep_seen == 4:
                self.records += 1
                self.state = "start"

    def _not_warc(self, where) -> None:
        if self.records == 0 and self.record_start == 0:
            self.state = "other"  # not WARC (an ARC file, or garbage): warcio's own checks decide
            return
        raise WarcDamage(f"record {self.records + 1} at {where(self.record_start)} does not start with a WARC/ "
                         "version line")

    def finish(self, where) -> None:
        if self.state == "other":
            return
        if self.state == "head" and not self.head.strip(b"\r\n"):
            return  # blank bytes after the last record
        if self.state != "start":
            what = {"head": "its header", "body": f"its block ({self.remaining} bytes of Content-Length missing)",
                    "sep": "its record separator"}[self.state]
            raise WarcTruncated(f"the file ends inside record {self.records + 1} (at {where(self.record_start)}), in "
                             f"{what}")
        if self.records == 0:
            raise WarcDamage(f"no WARC record in the file ({self.pos} bytes)")


class _FramingCheck:
    """A pass-through reader under warcio that checks the gzip members and the WARC framing of the file.

    warcio's reader treats a gzip member that never reaches its end, and a record cut short, as a normal end
    of file. The check sees the bytes warcio inflates (through :class:`_CheckedReader`), so each member is
    inflated once; damage is kept, with the number of records read before it, until the iteration reaches it.
    """

    CHUNK = 1 << 20

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.raw_pos = 0  # bytes of the file read
        self.mode: str | None = None  # gzip | plain
        self.member_start = 0  # file offset of the gzip member being inflated
        self.framing = _RecordFraming()
        self.damage: WarcDamage | None = None
        self.records_at_damage = 0
        self.eof = False

    def tell(self) -> int:
        return self.raw_pos

    # warcio reads with read(n), and tell() for its offsets
    def read(self, size: int = -1) -> bytes:
        try:
            data = self.raw.read(size)
        except (zlib.error, EOFError) as exc:  # a decoding layer under us (fsspec compression=...)
            raise WarcIOError(f"{type(exc).__name__} while reading") from None
        except OSError as exc:
            raise WarcIOError(f"{type(exc).__name__}: {quote_prefix(str(exc), 200)}") from None
        self.raw_pos += len(data)
        return data

    def note(self, exc: WarcDamage) -> None:
        if self.damage is None:
            self.damage = exc
            self.records_at_damage = self.framing.records

    def feed(self, inflated: bytes) -> None:
        """Bytes of the WARC stream (inflated, or as read from a plain file), in order."""
        if self.damage is None and inflated:
            try:
                self.framing.feed(inflated, self._where)
            except WarcDamage as exc:
                self.note(exc)

    def member_ended(self) -> None:
        """A gzip member ended: warcio reads no record across members, so one must not end inside a record."""
        f = self.framing
        if self.damage is None and f.state in ("head", "body", "sep") and (f.state != "head" or f.head.strip(b"\r\n")):
            what = {"head": "its header", "body": f"its block ({f.remaining} bytes of Content-Length missing)",
                    "sep": "its record separator"}[f.state]
            self.note(WarcDamage(f"record {f.records + 1} at {self._where(f.record_start)}: the member ends inside "
                                 f"{what}: the declared length is wrong, or the record spans gzip members"))

    def end_of_file(self, member_open: bool) -> None:
        if self.eof:
            return
        self.eof = True
        if self.damage is not None:
            return
        try:
            if member_open:
                raise WarcTruncated(f"the gzip member at byte {self.member_start} does not end: the file ends at "
                                    f"byte {self.raw_pos} inside it")
            if self.mode is None:
                raise WarcDamage("empty file (0 bytes): no WARC record")
            self.framing.finish(self._where)
        except WarcDamage as exc:
            self.note(exc)

    def _where(self, upos: int) -> str:
        if self.mode == "gzip":
            return f"the gzip member at byte {self.member_start}"
        return f"byte {upos}"

    def check_before(self, n: int) -> None:
        """Raise the damage found so far if it lies in record ``n`` (0-based) or before."""
        if self.damage is not None and self.records_at_damage <= n:
            raise self.damage


class _CheckedReader(DecompressingBufferedReader):
    """warcio's reader, with everything it inflates (or reads plain) also passed to the framing check.

    The file's first two bytes decide gzip or plain, as gzip itself does; warcio's own guess (a failed first
    inflate means plain) would read bytes after a gzip member as a plain record instead of as damage.
    """

    def __init__(self, check: _FramingCheck, block_size: int):
        super().__init__(check, block_size=block_size)
        self.check = check

    def _process_read(self, data):
        if not data:
            d = self.decompressor
            self.check.end_of_file(self.check.mode == "gzip" and d is not None and not d.eof)
        super()._process_read(data)

    def _decompress(self, data):
        check = self.check
        if check.mode is None:
            check.mode = "gzip" if data[:2] == b"\x1f\x8b" else "plain"
        if check.mode == "plain":
            self.decompressor = None
            check.feed(data)
            return data
        if self.decompressor is None:  # after damage, or after warcio closed the iteration
            if data:
                check.note(WarcDamage(f"bytes after the last gzip member, at byte {check.raw_pos - len(data)}"))
            return b""
        try:
            out = self.decompressor.decompress(data)
        except zlib.error:
            check.note(WarcDamage(f"gzip data broken in the member at byte {check.member_start}"))
            self.decompressor = None  # warcio then reads no further; the damage ends the file
            return b""
        check.feed(out)
        if self.decompressor.eof:
            check.member_ended()
        return out

    def read_next_member(self):
        if self.decompressor is None or not self.decompressor.unused_data:
            return False
        self.check.member_start = self.check.raw_pos - len(self.decompressor.unused_data)
        return super().read_next_member()

    def drain(self) -> None:
        """Read (and check) whatever warcio left unread, up to the end of the file."""
        while not self.check.eof:
            if self.read(self.check.CHUNK):
                continue
            if self.read_next_member():
                continue
            if not self.check.eof and self.check.read(self.check.CHUNK):
                self.check.note(WarcDamage(f"bytes after the end of the WARC stream at byte {self.check.raw_pos}"))
                return


class _QuietArchiveIterator(ArchiveIterator):
    """warcio's iterator without its stderr warning, which prints the bytes found after a record (a file's
    contents, into logs); the framing check reports the same damage, escaped and with its offset."""

    def __init__(self, checked: _FramingCheck, **kwargs):
        super().__init__(checked, **kwargs)
        self.reader = _CheckedReader(checked, kwargs.get("block_size", self.reader.block_size))

    def _consume_blanklines(self):
        empty_size = 0
        first_line = True
        while True:
            line = self.reader.readline()
            if len(line) == 0:
                return None, empty_size
            if len(line.rstrip()) == 0 or first_line:
                empty_size += len(line)
                if len(line.rstrip()) != 0:
                    self.err_count += 1
                first_line = False
                continue
            return line, empty_size


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


def _damage_reason(exc: WarcDamage) -> str:
    if isinstance(exc, NotWarc):
        return f"not a WARC/ARC stream: {exc}"
    return f"{'truncated' if isinstance(exc, WarcTruncated) else 'damaged'} file: {exc}"


def iter_warc(stream: IO[bytes], path: str = "<stream>", max_payload: int = MAX_PAYLOAD_BYTES,
              *, whole_file: bool = True) -> Iterator[WarcEntry]:
    """Yield every complete record of a WARC stream with its byte offset; raise WarcReadError on damage.

    A record cut short by the end of the file, or followed by bytes that break the framing, is not
    yielded: the error names the offset and says how many complete records came before it.
    With ``whole_file`` (the default) the stream must also end cleanly and hold at least one record.
    """
    checked = _FramingCheck(stream)
    n = 0
    try:
        it = _QuietArchiveIterator(checked, arc2warc=False, check_digests=False)
        reader = it.reader  # the iterator lets go of it when it ends; drain() still reads through it
        # HTTP headers are parsed for responses and revisits only: a request record's headers are never used,
        # and parsing them costs a fifth of warcio's header work on Common Crawl (request, response, metadata).
        it.loader.HTTP_RECORDS = ("response", "revisit")
        for rec in it:
            headers = rec.rec_headers
            if rec.format != "warc":
                # warcio falls back to ARC for anything without a WARC/ version line, and then
                # "parses" arbitrary bytes as a record; accept ARC only when its header is a real URL line.
                uri = headers.get_header("uri") or ""
                if not re.match(r"^(https?|ftp|dns|filedesc)://\S+$", uri):
                    raise NotWarc("no WARC/ARC record header at byte %d" % it.get_record_offset())
            checked.check_before(n)
            payload, oversized = _read_payload(rec, max_payload)
            # only now: warcio's get_record_offset() finishes the record, reading (and losing)
            # whatever payload is still unread
            offset = it.get_record_offset()
            length = it.get_record_length()
            checked.check_before(n)
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
        if whole_file:
            reader.drain()
            checked.check_before(n)
            framed = checked.framing
            if framed.state != "other" and framed.records != n:
                raise WarcDamage(f"warcio read {n} records where the file frames {framed.records}")
            if n == 0:
                raise WarcDamage("no WARC record in the file")
    except WarcIOError as exc:
        raise WarcReadError(path, f"I/O error: {exc}", n, retryable=True) from None
    except WarcDamage as exc:
        raise WarcReadError(path, _damage_reason(exc), n) from None
    except TruncatedRecord as exc:
        # the framing check knows where; its message is the more precise one
        if checked.damage is not None:
            raise WarcReadError(path, _damage_reason(checked.damage), n) from None
        raise WarcReadError(path, f"truncated file: {exc}", n) from None
    except ArchiveLoadFailed:
        where = checked.damage or f"no WARC/ARC record header after record {n}"
        raise WarcReadError(path, f"not a WARC/ARC stream: {where}", n) from None
    except Exception as exc:  # noqa: BLE001 - any warcio failure on hostile bytes ends this file, not the worker
        if checked.damage is not None:
            raise WarcReadError(path, _damage_reason(checked.damage), n) from None
        raise WarcReadError(path, f"unreadable record after record {n} ({type(exc).__name__} in warcio)",
                            n) from None


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
    except IsADirectoryError:
        scan.error = "a directory, not a WARC file"
    except OSError as exc:
        scan.error = f"{type(exc).__name__}: {quote_prefix(str(exc), 200)}"
    return scan


def iter_raw_records(stream: IO[bytes], path: str, max_payload_bytes: int) -> Iterator["RawRecord"]:
    """:func:`iter_warc` as :class:`pipeline.extraction.extract.RawRecord` values, the pool's pure-core input.

    The HTTP payload stays raw (neither dechunked nor decompressed:
    :func:`pipeline.extraction.extract.undo_http_encoding` decides, since crawlers often store
    decoded bodies under their original headers).
    """
    from pipeline.extraction.extract import RawRecord

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
