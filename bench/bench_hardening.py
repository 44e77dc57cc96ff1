"""Bad inputs, tried as an attacker or an unlucky operator would: each is fed to the pool's pure core
(resolve_inputs + process_warc, as a pool worker runs them, without Ray) or to the config loader, and judged
*clean* when nothing escapes as an exception, the input is listed with a reason, the reason is short printable
ASCII that quotes none of the file's bytes, a damaged file keeps exactly the records before the damage, and only
I/O errors are retryable. The peer: the same check on plain warcio's ArchiveIterator for the WARC-level inputs
(silent = read to an end without any error).

    .venv/bin/python bench/bench_hardening.py
"""
from __future__ import annotations

import gzip
import io
import json
import sys
import tempfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WARC = REPO.parent / "shared" / "data" / "warc" / "warcio_example.warc.gz"
SECRET = b"root:$6$TOPSECRET$hash:19000:0:99999:7:::\n\x1b[31mred\x1b[0m\n"


def _record(uri: str, body: bytes, declared: int | None = None, length_header: bool = True,
            encoding: str | None = None) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
    if encoding:
        head += f"Content-Encoding: {encoding}\r\n".encode()
    http = head + b"\r\n" + body
    n = len(http) if declared is None else declared
    lines = [b"WARC/1.0", b"WARC-Type: response", f"WARC-Target-URI: {uri}".encode(),
             b"WARC-Date: 2024-02-21T00:00:00Z", f"WARC-Record-ID: <urn:uuid:{abs(hash(uri)):032x}>".encode(),
             b"Content-Type: application/http; msgtype=response"]
    if length_header:
        lines.append(f"Content-Length: {n}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + http + b"\r\n\r\n"


def _page(i: int) -> bytes:
    return _record(f"http://ok.example/{i}", b"<html><body><p>Page %d: $a^2+b^2=c^2$ for a right triangle, a "
                   b"statement every student of geometry meets early.</p></body></html>" % i)


def _gz(*records: bytes) -> bytes:
    return b"".join(gzip.compress(r) for r in records)


def _bomb(enc: str, total: int = 256 << 20) -> bytes:
    if enc == "br":
        import brotli

        c = brotli.Compressor(quality=1)
        return b"".join(c.process(b"\0" * (1 << 20)) for _ in range(total >> 20)) + c.finish()
    c = zlib.compressobj(9, zlib.DEFLATED, 31 if enc == "gzip" else 15)
    return b"".join(c.compress(b"\0" * (1 << 20)) for _ in range(total >> 20)) + c.flush()


def warc_cases(tmp: Path) -> list[tuple[str, Path, dict]]:
    """(name, file, expectation): ``kept`` records before the damage, ``ok``: no failure, ``too_large`` drops."""
    real = WARC.read_bytes()
    plain = gzip.decompress(real)
    good = [_page(i) for i in range(3)]
    corrupt = bytearray(_gz(*good))
    corrupt[len(gzip.compress(good[0])) + 40] ^= 0xFF
    cases = {
        # the records wholly before the cut (the cut one too if all its bytes are there: 5 or 6)
        "gzip WARC cut inside a record": (real[:2000], {"records": 2}),
        "plain WARC cut inside a record": (plain[:2000], {"records": 2}),
        "gzip WARC cut in the last member's trailer": (real[:-4], {"records": (5, 6)}),
        "plain WARC cut in the last separator": (plain[:-2], {"records": (5, 6)}),
        "Content-Length shorter than the block": (_gz(*good, _record("http://x.example/", b"<p>body</p>", 30),
                                                      _page(9)), {"records": 3}),
        "Content-Length longer than the block": (_gz(*good, _record("http://x.example/", b"<p>body</p>", 90),
                                                     _page(9)), {"records": 3}),
        "record without Content-Length": (_gz(*good, _record("http://x.example/", b"<p>b</p>", length_header=False)),
                                          {"records": 3}),
        "garbage between two records": (b"".join(good) + b"NOT A RECORD\r\n\r\n" + _page(9), {"records": 3}),
        "trailing garbage after the last gzip member": (_gz(*good) + b"\x00\x01garbage", {"records": 3}),
        "flipped byte in a gzip member": (bytes(corrupt), {"records": 1}),
        "0-byte file": (b"", {"records": 0}),
        "empty gzip member": (gzip.compress(b""), {"records": 0}),
        "random bytes": (bytes(range(256)) * 8, {"records": 0}),
        "gzip of an HTML page": (gzip.compress(b"<html>this is not a WARC file</html>\n" * 50), {"records": 0}),
        "a local secret file (ANSI codes, shadow line)": (SECRET, {"records": 0}),
        "gzip-encoded body, a 256 MiB bomb": (_gz(_page(1), _record("http://b.example/g", _bomb("gzip"),
                                                                    encoding="gzip")), {"ok": True, "too_large": 1}),
        "deflate-encoded body, a 256 MiB bomb": (_gz(_page(1), _record("http://b.example/d", _bomb("deflate"),
                                                                       encoding="deflate")), {"ok": True, "too_large": 1}),
        "br-encoded body, a 256 MiB bomb": (_gz(_page(1), _record("http://b.example/b", _bomb("br"), encoding="br")),
                                            {"ok": True, "too_large": 1}),
    }
    out = []
    for i, (name, (blob, exp)) in enumerate(cases.items()):
        path = tmp / f"case{i:02d}.warc.gz"
        path.write_bytes(blob)
        out.append((name, path, exp))
    (tmp / "empty-dir").mkdir()
    out.append(("an empty folder", tmp / "empty-dir", {"records": None}))
    out.append(("a missing file", tmp / "missing.warc.gz", {"records": None, "retryable": True}))
    return out


def manifest_cases(tmp: Path) -> list[tuple[str, str]]:
    secret = tmp / "secret.txt"
    secret.write_bytes(SECRET)
    return [("manifest entry file://", f"file://{secret}"), ("manifest entry: an absolute path", str(secret)),
            ("manifest entry climbing out (..)", "../../../etc/hostname"),
            ("manifest entry on loopback", "http://127.0.0.1:8265/api/jobs/"),
            ("manifest entry on loopback spelled 0x7f000001", "http://0x7f000001/x.warc.gz"),
            ("manifest entry on localhost", "http://localhost:9000/x.warc.gz"),
            ("manifest entry on a private host", "http://10.1.2.3/x.warc.gz"),
            ("manifest entry on the metadata address", "http://169.254.169.254/latest/meta-data/"),
            ("manifest entry with another scheme", "ftp://example.org/x.warc.gz"),
            ("manifest entry with terminal codes", "http://example.org/\x1b[31mx.warc.gz")]


def clean_text(text: str) -> bool:
    return len(text) <= 700 and all(32 <= ord(c) < 127 for c in text) and "TOPSECRET" not in text


def main() -> None:
    from warcio.archiveiterator import ArchiveIterator

    from pipeline.core.config import ConfigError, load_config
    from pipeline.extraction.extract import ExtractSettings
    from pipeline.commoncrawl.inputs import resolve_inputs
    from pipeline.pool import process_warc

    results = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        settings = ExtractSettings()
        for name, path, exp in warc_cases(tmp):
            try:
                paths, failures = resolve_inputs([str(path)])
                stats = [process_warc(p, tmp / "pool", settings) for p in paths]
            except Exception as exc:  # noqa: BLE001 - an escape is what is measured
                results.append((name, False, f"raised {type(exc).__name__}", None))
                continue
            st = stats[0] if stats else {}
            err = st.get("error") or (failures[0]["reason"] if failures else None)
            ok = True
            if exp.get("ok"):
                ok = err is None and st["dropped_by_reason"].get("too_large") == exp["too_large"]
            else:
                ok = err is not None and clean_text(err)
                if exp.get("records") is not None:
                    want = exp["records"] if isinstance(exp["records"], tuple) else (exp["records"],)
                    ok = ok and st.get("records_seen") in want
                if "retryable" in exp:
                    ok = ok and bool(st.get("retryable")) == exp["retryable"]
                elif st:
                    ok = ok and not st.get("retryable")
            peer = None
            if path.is_file():
                try:
                    for rec in ArchiveIterator(io.BytesIO(path.read_bytes())):
                        rec.content_stream().read(1 << 20)
                    peer = "silent"
                except Exception:  # noqa: BLE001
                    peer = "error"
            results.append((name, ok, err, peer))
        man_dir = tmp / "m"
        man_dir.mkdir()
        for name, entry in manifest_cases(tmp):
            man = man_dir / "warc.paths.gz"
            man.write_bytes(gzip.compress((entry + "\n").encode()))
            try:
                paths, failures = resolve_inputs([str(man)])
                ok = paths == [] and len(failures) == 1 and not failures[0]["retryable"] and \
                    clean_text(failures[0]["path"] + failures[0]["reason"])
                results.append((name, ok, failures[0]["reason"] if failures else "accepted", None))
            except Exception as exc:  # noqa: BLE001
                results.append((name, False, f"raised {type(exc).__name__}", None))
        bad_man = man_dir / "bad.paths.gz"
        bad_man.write_bytes(b"\x1f\x8b\x08\x00garbage" + SECRET)
        paths, failures = resolve_inputs([str(bad_man)])
        results.append(("unreadable manifest", paths == [] and len(failures) == 1 and
                        clean_text(failures[0]["reason"]), failures[0]["reason"] if failures else None, None))
        for key, value in (("synth.pages", 1e23), ("recall.fasttext.bucket", 10**11), ("pool.max_record_bytes", 1 << 40),
                           ("pool.workers", 10**9)):
            try:
                load_config(REPO / "configs" / "default.yaml", {key: value})
                results.append((f"config {key}={value:g}", False, "accepted", None))
            except ConfigError as exc:
                results.append((f"config {key}={value:g}", key in str(exc) or key.rsplit(".", 1)[0] in str(exc),
                                str(exc).splitlines()[-1].strip(), None))
    width = max(len(r[0]) for r in results)
    for name, ok, err, peer in results:
        print(f"{'clean ' if ok else 'FAILED'} {name:<{width}}  {json.dumps(err)[:110]}" +
              (f"  [warcio alone: {peer}]" if peer else ""))
    peers = [r for r in results if r[3]]
    print(f"\nbad inputs handled cleanly: {sum(r[1] for r in results)} of {len(results)}; plain warcio read "
          f"{sum(r[3] == 'silent' for r in peers)} of the {len(peers)} damaged or hostile files to a silent end")


if __name__ == "__main__":
    main()
