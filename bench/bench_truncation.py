"""Cut a real WARC at every byte position (gzip and plain) and check each cut with pipeline.commoncrawl.warc.iter_warc:
every cut inside a record is reported (naming the offset), the records before the cut are kept unchanged,
and a cut at a record boundary reads as the shorter, valid file.

Peer: warcio's own ArchiveIterator on the same cuts (how many it reads to a silent end).

    .venv/bin/python bench/bench_truncation.py [WARC] [--stride N]
"""
from __future__ import annotations

import argparse
import gzip
import io
import sys
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.commoncrawl.warc import WarcReadError, iter_warc  # noqa: E402

DEFAULT = REPO.parent / "shared" / "data" / "warc" / "warcio_example.warc.gz"


def read_all(blob: bytes) -> tuple[list[tuple], str | None]:
    """((offset, type, payload) of each record read, error or None)."""
    out = []
    try:
        for e in iter_warc(io.BytesIO(blob), "cut"):
            out.append((e.offset, e.rec_type, e.payload))
        return out, None
    except WarcReadError as exc:
        return out, exc.reason


def gzip_member_ends(blob: bytes) -> list[int]:
    ends, pos = [], 0
    while pos < len(blob):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        d.decompress(blob[pos:])
        pos = len(blob) - len(d.unused_data)
        ends.append(pos)
    return ends


def plain_record_ends(blob: bytes, records: list[tuple]) -> list[int]:
    starts = [r[0] for r in records] + [len(blob)]
    return starts[1:]


def warcio_silent(blob: bytes) -> bool:
    """True when plain warcio reads the cut file to an end without any error."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        for rec in ArchiveIterator(io.BytesIO(blob)):
            rec.content_stream().read()
        return True
    except Exception:
        return False


def sweep(blob: bytes, ends: list[int], full: list[tuple], stride: int = 1, peer: bool = False) -> dict:
    """Cut ``blob`` at 1..len-1 (every ``stride``-th); ``ends``: byte offsets where a record (its member) ends."""
    ends_set = set(ends)
    res = {"cuts": 0, "detected": 0, "silent": 0, "wrong_records": 0, "boundary_cuts": 0, "boundary_ok": 0,
           "peer_silent": 0, "offset_named": 0, "escaped": 0}
    for cut in range(1, len(blob), stride):
        got, err = read_all(blob[:cut])
        before = sum(1 for e in ends if e <= cut)
        if cut in ends_set:
            res["boundary_cuts"] += 1
            res["boundary_ok"] += int(err is None and got == full[:before])
            continue
        res["cuts"] += 1
        if err is None:
            res["silent"] += 1
        else:
            res["detected"] += 1
            res["offset_named"] += int("byte " in err)
        # the records before the cut, unchanged; the cut one only if all its bytes were there
        if not (got == full[:before] or got == full[:before + 1] and len(got) == before + 1):
            res["wrong_records"] += 1
        if peer:
            res["peer_silent"] += int(warcio_silent(blob[:cut]))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("warc", nargs="?", default=str(DEFAULT))
    ap.add_argument("--stride", type=int, default=1)
    args = ap.parse_args()
    gz = Path(args.warc).read_bytes()
    plain = gzip.decompress(gz)
    for name, blob in (("gzip", gz), ("plain", plain)):
        t0 = time.perf_counter()
        full, err = read_all(blob)
        assert err is None, err
        ends = gzip_member_ends(blob) if name == "gzip" else plain_record_ends(blob, full)
        r = sweep(blob, ends, full, args.stride, peer=True)
        secs = time.perf_counter() - t0
        print(f"{Path(args.warc).name} {name}: {r['cuts']} cuts inside records: detected {r['detected']} "
              f"({100 * r['detected'] / r['cuts']:.1f}%), silent {r['silent']}, records before the cut kept "
              f"unchanged in {r['cuts'] - r['wrong_records']}, offset named in {r['offset_named']}; "
              f"{r['boundary_ok']}/{r['boundary_cuts']} cuts at a record boundary read as the shorter valid file; "
              f"peer warcio ArchiveIterator silent on {r['peer_silent']} ({100 * r['peer_silent'] / r['cuts']:.1f}%)"
              f"; {secs:.1f}s")


if __name__ == "__main__":
    main()
