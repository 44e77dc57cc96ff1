"""Benchmark of the pool stage (issue 3): math kept, speed against datatrove, Ray scaling, peak RSS.

Run: ``python bench/bench_extract.py`` (``make bench`` runs every bench/bench_*.py).

1. Math kept: on the math pages of ../shared/data/html/ and of a mini-CC, the share of formulas
   present as LaTeX in the output of this extractor, of plain trafilatura and of OpenWebMath's
   extractor (PyPI ``openwebmath-text-extract``, in its own virtualenv: ``OWM_PYTHON``).
   The formulas of a page come from an oracle written here, apart from pipeline/extraction/htmlmath.py:
   the TeX each markup carries (script text, annotation, alttext, image alt, delimited text),
   matched in the output with whitespace removed. MathML with no TeX anywhere is matched by
   its identifiers and numbers, in order, inside one ``$..$``/``\\(..\\)`` fragment of the output; so is
   AsciiMath (``<script type="math/asciimath">``, and backtick-delimited text where the page's MathJax
   set-up reads AsciiMath).
2. Speed: pages per second per core on the same WARCs for this stage's core (one process) and
   datatrove's ``WarcReader -> Trafilatura`` (``DATATROVE_PYTHON``), plus the gunzip-only
   ceiling. "Per core" divides by CPU seconds (datatrove runs trafilatura in a sandbox child
   process, counted too); wall-clock rates are printed beside them. Best of ``BENCH_REPEAT`` runs.
3. Scaling: the Ray stage with 1 and then 2 workers on a mini-CC of 1,000-response WARCs, timed from all workers
   ready to the last WARC done (actor start-up excluded); peak RSS per worker.

The machine this was written on has 2 cores shared with other developers: timings are noisy,
which is why every timing is repeated and the best run is reported.
"""
from __future__ import annotations

import gzip
import html as htmlmod
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
OWM_PY = os.environ.get("OWM_PYTHON", "/work/peers/owm-venv/bin/python")
DT_PY = os.environ.get("DATATROVE_PYTHON", "/work/peers/datatrove-venv/bin/python")
CACHE = Path(os.environ.get("BENCH_CACHE", "/tmp/mathcorpus-bench"))
PAGES = int(os.environ.get("BENCH_PAGES", "1200"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "2"))
SCALING_PAGES = int(os.environ.get("BENCH_SCALING_PAGES", "8000"))
MAX_MATH_PAGES = int(os.environ.get("BENCH_MATH_PAGES", "200"))
PEERS = REPO / "bench" / "peers"


def log(msg: str) -> None:
    print(msg, flush=True)


def peer_ok(python: str, module: str) -> bool:
    if not Path(python).exists():
        return False
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


# --- the mini-CC --------------------------------------------------------------------

def minicc(pages: int = PAGES, per_warc: int | None = None) -> Path:
    from pipeline.core.config import load_config
    from pipeline.synth import generate_minicc

    per_warc = per_warc or max(100, pages // 6)
    cfg = load_config(REPO / "configs" / "default.yaml", {
        "synth.pages": pages, "synth.records_per_warc": per_warc, "synth.seed_docs": 100,
        "synth.domains": 200, "synth.math_domains": 16, "synth.planted_items": 20,
    })
    out = CACHE / (f"minicc-{pages}" if per_warc == max(100, pages // 6) else f"minicc-{pages}-{per_warc}")
    t0 = time.perf_counter()
    generate_minicc(cfg.synth, out)  # returns at once when already complete
    log(f"mini-CC: {out} ({time.perf_counter() - t0:.0f}s to make or find)")
    return out


def good_warcs(mcc: Path) -> list[str]:
    from pipeline.commoncrawl.warc import scan_warc

    return [str(p) for p in sorted((mcc / "warc").glob("*.warc.gz")) if scan_warc(str(p)).error is None]


# --- 1. math kept -------------------------------------------------------------------

_DELIMITED = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$])\$([^$\n]+?)\$(?!\$)", re.S)
_WRAPPER = re.compile(r"^\{\\(?:displaystyle|textstyle)\s*(.*)\}$", re.S)


def _texnorm(tex: str) -> str:
    tex = htmlmod.unescape(tex).strip()
    m = _WRAPPER.match(tex)
    if m:
        tex = m.group(1)
    return re.sub(r"\s+", "", tex)


def _signature(math_el) -> str:
    """Identifiers and numbers of a bare MathML formula, as its LaTeX would spell them, space-separated."""
    from pipeline.extraction.mathml import SYMBOLS

    out = []
    for node in math_el.iter():
        if isinstance(node.tag, str) and node.tag.split("}")[-1] in ("mi", "mn"):
            tok = "".join(SYMBOLS.get(ch, ch) for ch in (node.text or "").strip())
            tok = re.sub(r"[^A-Za-z0-9]", "", tok)
            if tok:
                out.append(tok)
    return " ".join(out)


def _tokens_in_order(sig: str, fragment: str) -> bool:
    """Every identifier and number of ``sig`` appears in ``fragment`` (letters and digits only), in order."""
    hay = re.sub(r"[^A-Za-z0-9]", "", fragment)
    pos = 0
    for tok in sig.split():
        pos = hay.find(tok, pos)
        if pos < 0:
            return False
        pos += len(tok)
    return True


#: AsciiMath's named symbols and functions: skipped in a signature (their LaTeX spelling differs or
#: is a command); what is left is the formula's identifiers and numbers, which any conversion keeps.
_ASCIIMATH_NAMES = frozenset("""
    alpha beta gamma Gamma delta Delta epsilon varepsilon zeta eta theta Theta vartheta iota kappa lambda Lambda
    mu nu xi Xi pi Pi rho sigma Sigma tau upsilon phi Phi varphi chi psi Psi omega Omega
    sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh sech csch coth exp log ln det dim mod gcd lcm
    lub glb min max lim Lim sum prod int oint sqrt root frac stackrel overset underset text mbox bb bbb cc tt
    fr sf hat bar ul vec dot ddot tilde obrace ubrace abs floor ceil norm del grad oo xx in notin sub sup sube
    supe uu nn vv ^^ AA EE not and or if iff aleph vdots ddots cdots ldots quad qquad cdot prop darr uarr rarr
    larr harr rArr lArr hArr to implies tilde ne le ge lt gt lim O o
""".split())
_ASCIIMATH_TOKEN = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?")


def asciimath_signature(expr: str) -> str:
    """Identifiers and numbers of an AsciiMath formula, space-separated (letters of an unknown word one by one,
    as AsciiMath reads them)."""
    out = []
    for m in _ASCIIMATH_TOKEN.finditer(htmlmod.unescape(expr)):
        tok = m.group()
        if tok[0].isdigit():
            out.append(tok.replace(".", ""))
        elif tok not in _ASCIIMATH_NAMES:
            out.extend(tok)
    return " ".join(out)


#: A MathJax set-up that reads AsciiMath: v2's combined configs (TeX-MML-AM_CHTML, AM_HTMLorMML, ...) and
#: asciimath2jax, v3's input/asciimath component. Looked for in script sources and script text only.
_DECLARES_ASCIIMATH = re.compile(r"asciimath2jax|input/asciimath|(?:^|[-_=/?&])AM_[A-Za-z]+|\bAsciiMath\b\s*[:=]",
                                 re.I)
_BACKTICKS = re.compile(r"`([^`\n]{1,300})`")


def declares_asciimath(tree) -> bool:
    for script in tree.iter("script"):
        if _DECLARES_ASCIIMATH.search(script.get("src") or "") or _DECLARES_ASCIIMATH.search(script.text or ""):
            return True
    return False


def oracle_formulas(html: str) -> list[tuple[str, str | None, str | None]]:
    """(kind, TeX or None, signature or None) for every formula of a page."""
    import lxml.html

    tree = lxml.html.document_fromstring(html)
    found: list[tuple[str, str | None, str | None]] = []
    for el in tree.xpath('//script[starts-with(@type, "math/asciimath")]'):
        sig = asciimath_signature(el.text or "")
        if sig:
            found.append(("asciimath", None, sig))
    if declares_asciimath(tree):
        body = tree.find("body")
        prose = " ".join(body.xpath(".//text()[not(ancestor::script) and not(ancestor::style) and "
                                    "not(ancestor::code) and not(ancestor::pre) and not(ancestor::textarea)]")
                         ) if body is not None else ""
        for m in _BACKTICKS.finditer(prose):
            sig = asciimath_signature(m.group(1))
            if sig:
                found.append(("asciimath", None, sig))
    for el in tree.xpath('//*[contains(@class, "mwe-math-element")]'):
        tex = (el.xpath('.//*[local-name()="math"]/@alttext') or el.xpath(".//img/@alt") or [None])[0]
        ann = el.xpath('.//*[local-name()="annotation"][contains(@encoding, "tex")]/text()')
        math = el.xpath('.//*[local-name()="math"]')
        if not tex and not ann and math and _signature(math[0]):
            # MediaWiki markup whose TeX copies were all taken away: its MathML is the formula
            found.append(("mathml_noannot", None, _signature(math[0])))
        else:
            found.append(("wiki_img", tex or (ann[0] if ann else None), None))
        el.drop_tree()
    for el in tree.xpath('//*[contains(concat(" ", normalize-space(@class), " "), " katex ")]'):
        ann = el.xpath('.//*[local-name()="annotation"]/text()')
        found.append(("katex", ann[0] if ann else None, None))
        el.drop_tree()
    for el in tree.xpath('//script[starts-with(@type, "math/tex")]'):
        # MathJax 2 renders each script into the elements before it (HTML-CSS/SVG spans, an assistive
        # MathML copy): one formula, whose TeX is the script's
        prev = el.getprevious()
        while prev is not None and any(c.startswith(("MathJax", "MJX")) for c in (prev.get("class") or "").split()):
            prev.drop_tree()
            prev = el.getprevious()
        tex = el.text or ""
        if re.sub(r"\\(begingroup|endgroup)|\s", "", tex):
            found.append(("mathjax", tex, None))
    for el in tree.xpath('//*[local-name()="math"]'):
        ann = el.xpath('.//*[local-name()="annotation"][contains(@encoding, "tex")]/text()')
        tex = ann[0] if ann else el.get("alttext")
        if tex:
            found.append(("mathml", tex, None))
        elif _signature(el):  # an empty <math/> (left by a renderer) is no formula
            found.append(("mathml_noannot", None, _signature(el)))
    for img in tree.xpath('//img[contains(@src, "latex.php") or contains(@src, "codecogs")]'):
        found.append(("latex_img", img.get("alt"), None))
    body = tree.find("body")
    if body is not None:
        text = " ".join(body.xpath("//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::title)]"))
        for m in _DELIMITED.finditer(text):
            tex = next(g for g in m.groups() if g is not None)
            if m.group(4) is not None and (tex[:1].isspace() or tex[-1:].isspace()):
                continue  # pandoc's rule: "$5 and $" is not math
            found.append(("tex", tex, None))
    return found


#: A start tag, its attributes quoted or bare (a quoted value may hold ``>``).
_START_TAG = r"<{name}\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>"
_ATTR = r"\s{name}\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+)"
_TEX_ANNOTATION = re.compile(rb"<(?:[A-Za-z]+:)?annotation\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*?encoding\s*=\s*[\"'][^\"']*tex"
                             rb"[^\"']*[\"'](?:[^>\"']|\"[^\"]*\"|'[^']*')*>.*?</(?:[A-Za-z]+:)?annotation\s*>",
                             re.S | re.I)
_MATH_TAG = re.compile(_START_TAG.format(name="(?:[A-Za-z]+:)?math").encode(), re.I)
_IMG_TAG = re.compile(_START_TAG.format(name="img").encode(), re.I)
_ALTTEXT = re.compile(_ATTR.format(name="alttext").encode(), re.I)
_ALT = re.compile(_ATTR.format(name="alt").encode(), re.I)


def strip_math_tex(body: bytes) -> bytes:
    """The page with every ``<math>`` element's TeX taken away: its TeX annotations and its ``alttext``
    deleted, and the alt text of MediaWiki's fallback image (``mwe-math-fallback-image``, the same TeX
    again) too; every other byte stays. Real MathML then stands for MathML that carries no TeX."""
    body = _TEX_ANNOTATION.sub(b"", body)
    body = _MATH_TAG.sub(lambda m: _ALTTEXT.sub(b"", m.group(0)), body)
    return _IMG_TAG.sub(lambda m: _ALT.sub(b"", m.group(0)) if b"mwe-math-fallback-image" in m.group(0)
                        else m.group(0), body)


def formula_kept(tex: str | None, sig: str | None, text: str, fragments: list[str], in_math: bool = False) -> bool:
    """``in_math``: the TeX must be inside one LaTeX fragment of the output (a one-letter formula is
    otherwise found in any text); else anywhere in it."""
    if tex:
        if in_math:
            want = _texnorm(tex)
            return any(want in re.sub(r"\s+", "", f) for f in fragments)
        return _texnorm(tex) in re.sub(r"\s+", "", text)
    if sig:
        return any(_tokens_in_order(sig, f) for f in fragments)
    return False


def math_pages(mcc: Path) -> list[dict]:
    import pyarrow.parquet as pq

    from pipeline.extraction.extract import decode_html
    from pipeline.commoncrawl.warc import read_record_at

    docs = []
    for line in (DATA / "html" / "manifest.jsonl").read_text().splitlines():
        m = json.loads(line)
        if m["label"] == "math":
            docs.append({"id": m["file"], "source": "shared-html", "kind": "real",
                         "html": (DATA / "html" / m["file"]).read_bytes().decode("utf-8", "replace")})
    truth = [r for r in pq.read_table(mcc / "truth.parquet").to_pylist()
             if r["is_math"] and r["is_html"] and r["http_status"] == 200 and r["math_elements"] > 0]
    for r in truth[:MAX_MATH_PAGES]:
        # truth has no record length: read a generous range, the first record in it is the page
        rec = read_record_at(str(mcc / r["warc_file"]), r["warc_offset"], 4 << 20)
        html, _ = decode_html(rec.payload, rec.content_type)
        docs.append({"id": r["warc_record_id"], "source": "mini-CC", "kind": r["math_markup"], "html": html})
    return docs


def run_owm(docs: list[dict]) -> dict[str, str] | None:
    if not peer_ok(OWM_PY, "text_extract"):
        log(f"  openwebmath-text-extract: MISSING (set OWM_PYTHON; looked for {OWM_PY}); skipped")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_text("".join(json.dumps({"id": d["id"], "html": d["html"]}) + "\n" for d in docs))
        proc = subprocess.run([OWM_PY, str(PEERS / "owm_extract.py"), str(src), str(dst)], capture_output=True,
                              text=True, timeout=1800)
        if proc.returncode != 0:
            log(f"  openwebmath-text-extract failed: {proc.stderr[-500:]}")
            return None
        return {json.loads(l)["id"]: json.loads(l)["text"] for l in dst.read_text().splitlines()}


def bench_math(mcc: Path) -> dict:
    import trafilatura

    from pipeline.extraction.extract import ExtractSettings, html_to_text

    docs = math_pages(mcc)
    log(f"\n== 1. math kept: {len(docs)} math pages "
        f"({sum(d['source'] == 'shared-html' for d in docs)} real from shared/data/html, "
        f"{sum(d['source'] == 'mini-CC' for d in docs)} mini-CC)")
    outputs: dict[str, dict[str, str]] = {"this stage": {}, "trafilatura": {}}
    for d in docs:
        outputs["this stage"][d["id"]] = html_to_text(d["html"], ExtractSettings())[0] or ""
        outputs["trafilatura"][d["id"]] = trafilatura.extract(d["html"]) or ""
    owm = run_owm(docs)
    if owm is not None:
        outputs["openwebmath"] = owm
    table: dict[str, dict[str, list[int]]] = {name: defaultdict(lambda: [0, 0]) for name in outputs}
    for d in docs:
        formulas = oracle_formulas(d["html"])
        group = f"{d['source']}:{d['kind']}" if d["source"] == "mini-CC" else "shared-html:wikipedia"
        for name, out in outputs.items():
            text = out.get(d["id"], "")
            frags = [next(g for g in m.groups() if g is not None) for m in _DELIMITED.finditer(text)]
            for kind, tex, sig in formulas:
                cell = table[name][group]
                cell[0] += 1
                cell[1] += formula_kept(tex, sig, text, frags)
                total = table[name]["ALL"]
                total[0] += 1
                total[1] += formula_kept(tex, sig, text, frags)
    groups = sorted({g for t in table.values() for g in t if g != "ALL"}) + ["ALL"]
    names = list(outputs)
    log(f"{'formulas kept as LaTeX':32}" + "".join(f"{n:>16}" for n in names) + f"{'formulas':>10}")
    result = {}
    for g in groups:
        n = table[names[0]][g][0]
        cells = []
        for name in names:
            tot, kept = table[name][g]
            pct = 100.0 * kept / tot if tot else float("nan")
            result.setdefault(name, {})[g] = round(pct, 2)
            cells.append(f"{pct:15.1f}%")
        log(f"{g:32}" + "".join(cells) + f"{n:>10}")
    if "openwebmath" not in outputs:
        log("  (openwebmath column missing: peer venv not found)")
    return result


# --- 2. speed -----------------------------------------------------------------------

def count_html_pages(warcs: list[str]) -> tuple[int, int]:
    """(HTML 200 responses, their payload bytes) in ``warcs``."""
    from pipeline.commoncrawl.warc import iter_warc

    n = size = 0
    for w in warcs:
        with open(w, "rb") as fh:
            for e in iter_warc(fh, w):
                if e.rec_type == "response" and e.http_status == 200 and \
                        (e.content_type or "").split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
                    n += 1
                    size += len(e.payload or b"")
    return n, size


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def time_ours(warcs: list[str]) -> tuple[float, float]:
    from pipeline.extraction.extract import ExtractSettings
    from pipeline.pool import process_warc

    out = tempfile.mkdtemp(prefix="bench-ours-")
    try:
        c0, t0 = _cpu_self(), time.perf_counter()
        for w in warcs:
            process_warc(w, out, ExtractSettings())
        return time.perf_counter() - t0, _cpu_self() - c0
    finally:
        shutil.rmtree(out, ignore_errors=True)


def time_gunzip(warcs: list[str]) -> tuple[float, float]:
    c0, t0 = _cpu_self(), time.perf_counter()
    for w in warcs:
        with gzip.open(w, "rb") as fh:
            while fh.read(1 << 20):
                pass
    return time.perf_counter() - t0, _cpu_self() - c0


def time_datatrove(warcs: list[str]) -> tuple[float, float, int] | None:
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(tmp) / "dt.json"
        proc = subprocess.run([DT_PY, str(PEERS / "datatrove_speed.py"), str(res), *warcs], capture_output=True,
                              text=True, timeout=1800)
        if proc.returncode != 0 or not res.exists():
            log(f"  datatrove failed: {proc.stderr[-800:]}")
            return None
        r = json.loads(res.read_text())
        return r["wall_s"], r["cpu_s"], r["docs"]


def bench_speed(mcc: Path) -> dict:
    warcs = good_warcs(mcc) + [str(DATA / "warc" / n) for n in (
        "resiliparse_CC-MAIN-2020-34_sample.warc.gz", "dolma_sample-0000.warc.gz", "dolma_sample-0001.warc.gz")]
    pages, html_bytes = count_html_pages(warcs)
    mb = sum(os.path.getsize(w) for w in warcs) / 1e6
    log(f"\n== 2. speed: {len(warcs)} WARCs ({mb:.1f} MB gzip), {pages} HTML 200 responses "
        f"(mean {html_bytes / max(pages, 1) / 1024:.1f} KiB of HTTP payload); best of {REPEAT}")
    have_dt = peer_ok(DT_PY, "datatrove")
    if not have_dt:
        log(f"  datatrove: MISSING (set DATATROVE_PYTHON; looked for {DT_PY}); its column is skipped")
    time_ours(warcs[:1])  # warm up: imports, the language model
    best = {"this stage": (1e9, 1e9), "datatrove": (1e9, 1e9), "gunzip": (1e9, 1e9)}
    dt_docs = None
    pair_ratios = []  # per repetition, ours and datatrove back to back: less exposed to a noisy host than best-of
    for _ in range(REPEAT):
        runs = {"this stage": time_ours(warcs), "gunzip": time_gunzip(warcs)}
        if have_dt:
            dt = time_datatrove(warcs)
            if dt:
                runs["datatrove"] = dt[:2]
                dt_docs = dt[2]
                pair_ratios.append(dt[1] / runs["this stage"][1])
        for k, (wall, cpu) in runs.items():
            best[k] = (min(best[k][0], wall), min(best[k][1], cpu))
    result = {"pages": pages, "warcs": len(warcs), "datatrove_docs_out": dt_docs}
    log(f"{'':14}{'wall s':>9}{'CPU s':>9}{'pages/s':>10}{'pages/CPU-s':>13}")
    for k, (wall, cpu) in best.items():
        if wall >= 1e9:
            continue
        result[k] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "pages_per_s": round(pages / wall, 1),
                     "pages_per_cpu_s": round(pages / cpu, 1)}
        log(f"{k:14}{wall:9.2f}{cpu:9.2f}{pages / wall:10.1f}{pages / cpu:13.1f}")
    if "datatrove" in result:
        r = result["this stage"]["pages_per_cpu_s"] / result["datatrove"]["pages_per_cpu_s"]
        rw = result["this stage"]["pages_per_s"] / result["datatrove"]["pages_per_s"]
        result["ratio_vs_datatrove_per_core"] = round(r, 2)
        result["ratio_vs_datatrove_wall"] = round(rw, 2)
        result["ratio_per_core_each_repetition"] = [round(x, 2) for x in pair_ratios]
        log(f"this stage / datatrove: {r:.2f}x per core (CPU), {rw:.2f}x wall  (goal >= 2x, while keeping the math)")
        log(f"  per core, each repetition: {', '.join(f'{x:.2f}x' for x in pair_ratios)} "
            f"(median {sorted(pair_ratios)[len(pair_ratios) // 2]:.2f}x)")
    if "gunzip" in result:
        log(f"gunzip-only ceiling: {result['gunzip']['pages_per_cpu_s']:.0f} pages/CPU-s; this stage reaches "
            f"{100 * result['this stage']['pages_per_cpu_s'] / result['gunzip']['pages_per_cpu_s']:.1f}% of it")
    return result


# --- 3. scaling and memory -------------------------------------------------------------

def bench_scaling() -> dict:
    import ray

    from pipeline.core.config import PoolConfig
    from pipeline.pool import run_pool

    # WARCs of 1,000 responses (a few seconds of work each): with the 200-response WARCs of the speed
    # section a WARC takes under half a second, and Ray's own per-task cost and daemons (on the same
    # 2 cores) would be measured instead of the stage. Real Common Crawl WARCs hold ~40,000 records.
    mcc = minicc(SCALING_PAGES, 1000)
    warcs = good_warcs(mcc)
    log(f"\n== 3. Ray scaling on {len(warcs)} mini-CC WARCs of 1,000 responses, 1 -> 2 workers; best of {REPEAT}")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    seconds = {1: [], 2: []}
    rss = []
    survival = None
    try:
        for _ in range(REPEAT):
            for workers in (1, 2):
                out = tempfile.mkdtemp(prefix=f"bench-ray{workers}-")
                stats = run_pool(warcs, out, PoolConfig(workers=workers), progress=False)
                seconds[workers].append(stats["extract_wall_seconds"])
                rss += [s["peak_rss_mb"] for s in stats["per_warc"] if "peak_rss_mb" in s]
                survival = stats["totals"]["math_survival"]
                shutil.rmtree(out, ignore_errors=True)
    finally:
        ray.shutdown()
    t1, t2 = min(seconds[1]), min(seconds[2])
    result = {"seconds_1_worker": seconds[1], "seconds_2_workers": seconds[2], "speedup": round(t1 / t2, 2),
              "peak_rss_mb_per_worker": max(rss), "math_survival_stage_stats": survival}
    log(f"1 worker {t1:.1f}s, 2 workers {t2:.1f}s: speedup {t1 / t2:.2f}x (goal >= 1.8x; 2 shared cores)")
    log(f"peak RSS per worker: {max(rss):.0f} MB (goal <= 2048 MB)")
    log(f"stage's own math survival figure on the mini-CC: {survival}")
    return result


def main() -> int:
    if not DATA.is_dir():
        log(f"shared data not found at {DATA}: nothing to benchmark")
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    mcc = minicc()
    results = {"math_kept_pct": bench_math(mcc), "speed": bench_speed(mcc), "scaling": bench_scaling()}
    out = CACHE / "bench_extract.json"
    out.write_text(json.dumps(results, indent=2))
    log(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
