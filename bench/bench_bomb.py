"""Decompression bombs in a WARC: one response each with ``Content-Encoding`` gzip, deflate and br inflating to
1 GiB, beside one ordinary page. Reads the file with the pool's pure core (pipeline.pool.process_warc) in a fresh
process and prints its peak RSS against the same process's RSS before reading (the peer: the same file without its bombs).

    .venv/bin/python bench/bench_bomb.py
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOMB_BYTES = 1 << 30


def _zeros(total: int, step: int = 1 << 20):
    for _ in range(total // step):
        yield b"\0" * step


def bombs(total: int = BOMB_BYTES) -> dict[str, bytes]:
    """Content-Encoding -> a body that inflates to ``total`` zero bytes (built streaming, in little memory)."""
    import brotli

    out = {}
    for enc, wbits in (("gzip", 31), ("deflate", 15)):
        c = zlib.compressobj(9, zlib.DEFLATED, wbits)
        out[enc] = b"".join(c.compress(z) for z in _zeros(total)) + c.flush()
    b = brotli.Compressor(quality=1)
    out["br"] = b"".join(b.process(z) for z in _zeros(total)) + b.finish()
    return out


def write_bomb_warc(path: Path, total: int = BOMB_BYTES, with_bombs: bool = True) -> dict[str, int]:
    """The WARC (gzip per record, as Common Crawl writes): a normal page, then one bomb per encoding
    (without ``with_bombs``: the page only, the control)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    sizes = {}
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        page = b"<html><body><p>An ordinary page: $x^2+y^2=z^2$ holds for 3, 4, 5.</p></body></html>"
        bodies = [("identity", page)] + (list(bombs(total).items()) if with_bombs else [])
        for enc, body in bodies:
            headers = [("Content-Type", "text/html; charset=utf-8")]
            if enc != "identity":
                headers.append(("Content-Encoding", enc))
            sizes[enc] = len(body)
            hh = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"http://bomb.example/{enc}", "response", payload=io.BytesIO(body),
                                                http_headers=hh))
    return sizes


_CHILD = r"""
import json, resource, sys
from pipeline.extraction.extract import ExtractSettings, _identifier
from pipeline.pool import process_warc
_identifier()  # the language model, loaded as a pool worker does before its first WARC
out = []
for warc, folder in zip(sys.argv[1::2], sys.argv[2::2]):  # peak RSS only grows: the control goes first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = process_warc(warc, folder, ExtractSettings())
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.append({"rss_before_mb": before / 1024, "rss_peak_mb": after / 1024, "stats": stats})
print(json.dumps(out))
"""


def measure(*warcs_and_folders: Path) -> list[dict]:
    """Per (WARC, output folder) pair, in order, in one fresh process: RSS before and peak after, the stats."""
    res = subprocess.run([sys.executable, "-c", _CHILD, *map(str, warcs_and_folders)], capture_output=True,
                         text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    if res.returncode:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "bomb.warc.gz"
        sizes = write_bomb_warc(warc)
        control = Path(tmp) / "control.warc.gz"
        write_bomb_warc(control, with_bombs=False)
        c, r = measure(control, Path(tmp) / "pool-control", warc, Path(tmp) / "pool")
        st = r["stats"]
        print(f"bomb WARC: {warc.stat().st_size:,} bytes; bodies {sizes} bytes, each inflating to {BOMB_BYTES:,}")
        print(f"kept {st['kept']}, dropped {st['dropped_by_reason']}; worker RSS {r['rss_before_mb']:.0f} MB before, "
              f"peak {r['rss_peak_mb']:.0f} MB (+{r['rss_peak_mb'] - r['rss_before_mb']:.0f} MB; an unbounded "
              f"inflate holds {BOMB_BYTES >> 20} MB per bomb); the same process on the page alone (control): peak "
              f"{c['rss_peak_mb']:.0f} MB (+{c['rss_peak_mb'] - c['rss_before_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
