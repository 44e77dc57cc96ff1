"""Runs inside OpenWebMath's own virtualenv (openwebmath-text-extract, resiliparse<0.15, warcio).

argv: WARC OUT_JSONL RESULT_JSON. Reads every HTML response of the WARC into memory first (reading the
WARC is not OpenWebMath's per-page work), then times, page by page, what OpenWebMath does per page:
the HTML decode with resiliparse's charset detection and ``extract_text`` with the most likely value
of each option (as owm_extract.py). Writes {"url", "text"} lines and {wall_s, cpu_s, pages, peak_rss_mb}.
"""
import json
import resource
import sys
import time

from owm_extract import load_config
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from text_extract.extract import extract_text
from warcio.archiveiterator import ArchiveIterator


def owm_page(payload: bytes, config: dict) -> str:
    html = bytes_to_str(payload, detect_encoding(payload))
    try:
        out = extract_text(html, config, fast=True)
    except Exception as exc:  # a page the peer cannot handle counts as no text
        print(f"owm failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ""
    return (out[0] if isinstance(out, tuple) else out) or ""


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime



def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss survives fork and exec, so it would report the parent's)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

def main():
    warc, out_jsonl, result_json = sys.argv[1:4]
    config = load_config()
    pages = []
    with open(warc, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response" and rec.http_headers and rec.http_headers.get_statuscode() == "200":
                pages.append((rec.rec_headers.get_header("WARC-Target-URI"), rec.content_stream().read()))
    owm_page(pages[0][1], config)  # warm up: imports inside the extractor
    texts = []
    c0, t0 = cpu(), time.perf_counter()
    for url, payload in pages:
        texts.append((url, owm_page(payload, config)))
    wall, cpu_s = time.perf_counter() - t0, cpu() - c0
    with open(out_jsonl, "w") as dst:
        for url, text in texts:
            dst.write(json.dumps({"url": url, "text": text}) + "\n")
    with open(result_json, "w") as fh:
        json.dump({"wall_s": wall, "cpu_s": cpu_s, "pages": len(pages),
                   "peak_rss_mb": peak_rss_mb()}, fh)


if __name__ == "__main__":
    main()
