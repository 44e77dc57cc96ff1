"""Benchmark of extraction on real pages (issue 13): main text, formulas kept, speed per core, peak RSS.

Run: ``python bench/bench_real_pages.py`` (``make bench`` runs it with the other benchmarks;
``make bench BENCH_SECTIONS=real`` runs only this one). Peers, each in a virtualenv of its own:
``DATATROVE_PYTHON`` (default /work/peers/datatrove-venv/bin/python: datatrove, trafilatura<1.12, warcio)
and ``OWM_PYTHON`` (default /work/peers/owm-venv/bin/python: openwebmath-text-extract, resiliparse<0.15,
warcio). A missing peer loses its column, never the run.

Extractors, each on the same WARC of the 442 pages of ../shared/data/pages/ (written by
../shared/tools/real_pages.py's ``write_warc``):
- ours: this project's pool stage (``pipeline.pool.process_warc``: read WARC, decode, extract, language ID)
  in a child process, once per backend. Backends: ``BENCH_BACKENDS`` (comma-separated), else
  "mathcorpus,trafilatura" where ``ExtractSettings`` has an ``extractor`` field (``pool.extractor``),
  else the one extractor main has.
- trafilatura: ``trafilatura.extract`` with its defaults, on the raw bytes (its own decoding).
- resiliparse: ``extract_plain_text(main_content=True, preserve_formatting=True)`` after resiliparse's own
  charset detection.
- openwebmath: OpenWebMath's per-page work (resiliparse decode + ``extract_text``), bench/peers/owm_warc.py.
- datatrove: ``WarcReader -> Trafilatura`` on the WARC, bench/peers/datatrove_speed.py.

Sections (``BENCH_SECTIONS``: comma-separated "text", "math", "speed"; empty or "real": all three):
1. text: bag-of-words P/R/F1 macro-averaged per folder, with real_pages.py's own metric (imported).
2. math: formulas kept on every real math page (pages of pages/ holding math markup, and the math pages of
   ../shared/data/html/), by bench_extract.py's oracle: TeX present in the HTML (script, annotation,
   alttext, image alt, delimited) found inside one ``$..$``/``$$..$$``/``\\(..\\)``/``\\[..\\]`` fragment
   of the output (whitespace ignored); MathML without TeX and AsciiMath converted
   (identifiers and numbers in order inside one LaTeX fragment of the output). Every extractor runs once
   more, on a WARC of these pages only. No real page here carries MathML without TeX, so a second row
   group, "real MathML, TeX annotation removed", measures the conversion on the same pages with every
   ``<math>`` element's TeX taken away (bench_extract.py's ``strip_math_tex``: its TeX annotation and
   ``alttext``, and the alt of MediaWiki's fallback image, which repeats the TeX): real MathML, not pages that
   natively lack TeX. Each extractor runs on a WARC of those pages too; the converted kind's metric is the
   same, and beside it the share of formulas for which one LaTeX fragment of the output equals the TeX taken
   away (both normalised:
   braces, spaces, ``\\left``/``\\right``, spacing commands and a few synonyms ignored), for information.
   Two more columns there put the MathML converters side by side apart from their extractors, on every
   ``<math>`` of those pages: ours (``pipeline.extraction.mathml``) and OpenWebMath's ``mml_to_latex`` (the
   mmltex XSLT), bench/peers/owm_mmltex.py.
3. speed: CPU seconds of each extractor over the 442 pages, ``BENCH_REPEAT`` times (default 3); the
   ratios are medians over repetitions of runs made back to back (the host is shared and noisy), the
   pages/CPU-s columns are the best run. Peak RSS of each worker process (VmHWM). For a cascade (fast pass,
   then the recalled pages again with the best extractor): CPU-ms per page of re-reading a kept page by its
   WARC offset and length and extracting it with ``BENCH_REEXTRACT_BACKEND`` (default: trafilatura where it
   is a backend), on ``BENCH_REEXTRACT_PAGES`` pages (default 150; 0: skipped).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
DATA = REPO.parent / "shared" / "data"
REAL_PAGES_TOOL = REPO.parent / "shared" / "tools" / "real_pages.py"
OWM_PY = os.environ.get("OWM_PYTHON", "/work/peers/owm-venv/bin/python")
DT_PY = os.environ.get("DATATROVE_PYTHON", "/work/peers/datatrove-venv/bin/python")
CACHE = Path(os.environ.get("BENCH_CACHE", "/tmp/mathcorpus-bench"))
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
REEXTRACT_PAGES = int(os.environ.get("BENCH_REEXTRACT_PAGES", "150"))
PEERS = REPO / "bench" / "peers"
FOLDERS = ("magic-article", "magic-forum", "aeb")
F1_GOALS = {"magic-article": 0.90, "magic-forum": 0.85, "aeb": 0.96}
TEX_GOAL, CONVERT_GOAL = 99.0, 30.0
DT_GOAL, OWM_GOAL, RSS_GOAL_MB = 3.0, 1.5, 2048.0
#: Formulas whose TeX is in the HTML, and those that have to be converted to become LaTeX.
CONVERTED_KINDS = ("mathml_noannot", "asciimath")


def log(msg: str = "") -> None:
    print(msg, flush=True)


def sections() -> set[str]:
    raw = {s.strip() for s in os.environ.get("BENCH_SECTIONS", "").split(",") if s.strip()}
    if not raw or "real" in raw or "all" in raw:
        return {"text", "math", "speed"}
    return raw & {"text", "math", "speed"}


def real_pages():
    """../shared/tools/real_pages.py as a module: its page list, WARC writer and metric."""
    spec = importlib.util.spec_from_file_location("real_pages", REAL_PAGES_TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peer_ok(python: str, *modules: str) -> bool:
    if not Path(python).exists():
        return False
    return subprocess.run([python, "-c", "import " + ", ".join(modules)], capture_output=True).returncode == 0


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux keeps that across fork and exec, so a child
    would report the benchmark's own peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_jsonl_texts(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["url"]] = rec["text"] or ""
    return out


# --- the inputs ----------------------------------------------------------------------

def pages_warc(rp) -> Path:
    """The 442 pages as one WARC, written by real_pages.py's own writer (each run: the pages may change)."""
    out = CACHE / "real-pages.warc.gz"
    tmp = out.with_suffix(".tmp")
    rp.write_warc(str(tmp))
    tmp.rename(out)
    return out


def write_pages_warc(out: Path, pages: list[tuple[str, bytes]]) -> Path:
    """``pages`` (URL, HTML bytes) as response records laid out as real_pages.py's ``write_warc`` lays them out."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, body in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                                warc_headers_dict={"WARC-Identified-Payload-Type": "text/html"}))
    tmp.rename(out)
    return out


def warc_payloads(warc: Path) -> list[tuple[str, bytes]]:
    """(URL, HTTP payload) of every response in ``warc``, read with this project's reader."""
    from pipeline.commoncrawl.warc import iter_raw_records

    with open(warc, "rb") as fh:
        return [(r.target_uri, r.payload) for r in iter_raw_records(fh, str(warc), 64 << 20)
                if r.rec_type == "response" and r.http_status == 200]


# --- ours: the pool stage in a child process -------------------------------------------

def our_backends() -> list[str | None]:
    """Backend names to run; [None] where this checkout's ExtractSettings has no ``extractor`` field."""
    from pipeline.extraction.extract import ExtractSettings

    if "extractor" not in {f.name for f in dataclasses.fields(ExtractSettings)}:
        if os.environ.get("BENCH_BACKENDS"):
            log("  BENCH_BACKENDS ignored: pipeline.extraction.extract.ExtractSettings has no `extractor` field here")
        return [None]
    names = os.environ.get("BENCH_BACKENDS", "mathcorpus,trafilatura")
    return [n.strip() for n in names.split(",") if n.strip()]


def our_label(backend: str | None) -> str:
    return "ours" if backend is None else f"ours:{backend}"


def our_settings(backend: str | None):
    """The pool's settings as configs/default.yaml sets them, with ``pool.extractor`` = ``backend``."""
    from pipeline.core.config import PoolConfig, load_config
    from pipeline.extraction.extract import ExtractSettings
    from pipeline.pool import settings_from_config

    overrides = {"pool.extractor": backend} if backend and "extractor" in PoolConfig.model_fields else {}
    settings = settings_from_config(load_config(REPO / "configs" / "default.yaml", overrides).pool)
    if backend and "extractor" in {f.name for f in dataclasses.fields(ExtractSettings)}:
        settings = dataclasses.replace(settings, extractor=backend)
    return settings


def ours_worker(backend: str, warc: str, out_dir: str, result_json: str, reextract: str = "-") -> None:
    """Child process: one pool-stage pass over ``warc`` after a warm-up; CPU, wall and peak RSS to JSON.
    ``reextract`` (a backend name, "" for the default, "-" for none): then the cascade's second step on the
    ``BENCH_REEXTRACT_PAGES`` kept pages spread over the WARC, each re-read by its WARC offset and length (one ranged read)
    and extracted again with that backend."""
    import pyarrow.parquet as pq

    from pipeline.extraction.extract import extract_record
    from pipeline.pool import process_warc
    from pipeline.commoncrawl.warc import iter_raw_records, read_record_at

    settings = our_settings(backend or None)
    with open(warc, "rb") as fh:  # warm up: imports, the language-ID model, the extractor's caches
        extract_record(next(iter_raw_records(fh, warc, settings.max_record_bytes)), settings)
    c0, t0 = cpu_self(), time.perf_counter()
    stats = process_warc(warc, out_dir, settings)
    wall, cpu = time.perf_counter() - t0, cpu_self() - c0
    result = {"wall_s": wall, "cpu_s": cpu, "records": stats.get("records_seen"), "kept": stats.get("kept"),
              "error": stats.get("error"),
              "peak_rss_mb": peak_rss_mb()}
    if reextract != "-":
        again = our_settings(reextract or None)
        rows = []
        for f in sorted(Path(out_dir).glob("warcs/*/pages.parquet")):
            rows += pq.read_table(f, columns=["warc_path", "warc_offset", "warc_length"]).to_pylist()
        rows = rows[::max(1, len(rows) // REEXTRACT_PAGES)][:REEXTRACT_PAGES]  # spread over the folders
        extract_record(read_record_at(rows[0]["warc_path"], rows[0]["warc_offset"], rows[0]["warc_length"]), again)
        c0, t0 = cpu_self(), time.perf_counter()
        for r in rows:
            extract_record(read_record_at(r["warc_path"], r["warc_offset"], r["warc_length"]), again)
        result["reextract"] = {"backend": reextract or None, "pages": len(rows), "cpu_s": cpu_self() - c0,
                               "wall_s": time.perf_counter() - t0}
    Path(result_json).write_text(json.dumps(result))


def run_ours(backend: str | None, warc: Path, reextract: str = "-") -> tuple[dict, dict[str, str]] | None:
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="bench-real-ours-") as tmp:
        res = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, __file__, "--ours-worker", backend or "", str(warc),
                               str(Path(tmp) / "out"), str(res), reextract],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0 or not res.exists():
            log(f"  {our_label(backend)} failed: {proc.stderr.strip()[-800:]}")
            return None
        texts = {}
        for f in (Path(tmp) / "out").glob("warcs/*/pages.parquet"):
            t = pq.read_table(f, columns=["url", "text"])
            texts.update(zip(t.column("url").to_pylist(), t.column("text").to_pylist()))
        return json.loads(res.read_text()), texts


# --- the others -------------------------------------------------------------------------

def run_trafilatura(payloads: list[tuple[str, bytes]]) -> tuple[dict, dict[str, str]]:
    import trafilatura

    c0, t0 = cpu_self(), time.perf_counter()
    texts = {url: trafilatura.extract(body) or "" for url, body in payloads}
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_self() - c0}, texts


def resiliparse_page(body: bytes) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    return extract_plain_text(bytes_to_str(body, detect_encoding(body)), main_content=True, preserve_formatting=True)


def run_resiliparse(payloads: list[tuple[str, bytes]]) -> tuple[dict, dict[str, str]] | None:
    try:
        resiliparse_page(payloads[0][1])  # warm up
    except ImportError:
        log("  resiliparse: MISSING in .venv (requirements.txt pins resiliparse==2.0.1; run make setup)")
        return None
    c0, t0 = cpu_self(), time.perf_counter()
    texts = {url: resiliparse_page(body) for url, body in payloads}
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_self() - c0}, texts


def run_owm(warc: Path) -> tuple[dict, dict[str, str]] | None:
    with tempfile.TemporaryDirectory(prefix="bench-real-owm-") as tmp:
        texts, res = Path(tmp) / "texts.jsonl", Path(tmp) / "result.json"
        proc = subprocess.run([OWM_PY, str(PEERS / "owm_warc.py"), str(warc), str(texts), str(res)],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0 or not res.exists():
            log(f"  openwebmath failed: {proc.stderr.strip()[-800:]}")
            return None
        return json.loads(res.read_text()), read_jsonl_texts(texts)


def run_datatrove(warc: Path) -> tuple[dict, dict[str, str]] | None:
    with tempfile.TemporaryDirectory(prefix="bench-real-dt-") as tmp:
        texts, res = Path(tmp) / "texts.jsonl", Path(tmp) / "result.json"
        proc = subprocess.run([DT_PY, str(PEERS / "datatrove_speed.py"), str(res), "--texts", str(texts), str(warc)],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0 or not res.exists():
            log(f"  datatrove failed: {proc.stderr.strip()[-800:]}")
            return None
        return json.loads(res.read_text()), read_jsonl_texts(texts)


def available_peers() -> dict[str, bool]:
    have = {"openwebmath": peer_ok(OWM_PY, "text_extract", "resiliparse", "warcio", "yaml"),
            "datatrove": peer_ok(DT_PY, "datatrove", "warcio")}
    if not have["openwebmath"]:
        log(f"  openwebmath: MISSING (set OWM_PYTHON; looked for {OWM_PY} with openwebmath-text-extract, "
            "resiliparse<0.15, warcio); its column is skipped")
    if not have["datatrove"]:
        log(f"  datatrove: MISSING (set DATATROVE_PYTHON; looked for {DT_PY} with datatrove, warcio); "
            "its column is skipped")
    return have


def reextract_backend(backends) -> str:
    """The cascade's second extractor: ``BENCH_REEXTRACT_BACKEND``, else trafilatura where it is a backend,
    else the one extractor there is ("" = the default)."""
    name = os.environ.get("BENCH_REEXTRACT_BACKEND")
    if name is not None:
        return name
    return "trafilatura" if "trafilatura" in backends else (backends[0] or "")


def run_all(warc: Path, payloads, backends, have: dict[str, bool], *, timed_only: bool = False,
            cascade: bool = False):
    """One run of every extractor on ``warc``: {name: (timing, texts by URL)}. ``timed_only``: skip plain
    trafilatura (its speed is not a goal; datatrove measures trafilatura's). ``cascade``: the first backend's
    worker also times re-extracting pages by their WARC offsets."""
    runs = {}
    for i, backend in enumerate(backends):
        r = run_ours(backend, warc, reextract_backend(backends) if cascade and i == 0 and REEXTRACT_PAGES else "-")
        if r:
            runs[our_label(backend)] = r
    if have["datatrove"]:
        r = run_datatrove(warc)
        if r:
            runs["datatrove"] = r
    if have["openwebmath"]:
        r = run_owm(warc)
        if r:
            runs["openwebmath"] = r
    r = run_resiliparse(payloads)
    if r:
        runs["resiliparse"] = r
    if not timed_only:
        runs["trafilatura"] = run_trafilatura(payloads)
    return runs


# --- 1. main text -------------------------------------------------------------------------

def bench_text(rp, outputs: dict[str, dict[str, str]]) -> dict:
    """P/R/F1 per folder with real_pages.py's metric (pages with >= 50 chars of truth, as its score())."""
    gold = [(folder, url, text) for folder, url, _, text in rp.truth() if len(text) >= 50]
    counts = {f: sum(1 for g in gold if g[0] == f) for f in FOLDERS}
    log(f"\n== 1. main text on ../shared/data/pages/: bag-of-words P/R/F1, macro-averaged per folder "
        f"({', '.join(f'{f} {n}' for f, n in counts.items())} pages)")
    result: dict = {}
    log(f"{'':22}" + "".join(f"{f + ' P/R/F1':>26}" for f in FOLDERS))
    for name, texts in outputs.items():
        per = defaultdict(list)
        for folder, url, truth_text in gold:
            per[folder].append(rp.prf(texts.get(url, ""), truth_text))
        cells = []
        for folder in FOLDERS:
            v = per[folder]
            p, r, f1 = (sum(x[i] for x in v) / len(v) for i in range(3))
            result.setdefault(name, {})[folder] = {"P": round(p, 3), "R": round(r, 3), "F1": round(f1, 3)}
            cells.append(f"{p:.3f} / {r:.3f} / {f1:.3f}".rjust(26))
        log(f"{name:22}" + "".join(cells))
    log(f"{'goal (F1)':22}" + "".join(f"{'>= ' + format(F1_GOALS[f], '.2f'):>26}" for f in FOLDERS))
    for name in outputs:
        if name.startswith("ours"):
            verdict = ", ".join(f"{f} {result[name][f]['F1']:.3f} {'OK' if result[name][f]['F1'] >= F1_GOALS[f] else 'below'}"
                                for f in FOLDERS)
            log(f"  {name}: {verdict}")
    return result


# --- 2. formulas kept ---------------------------------------------------------------------

def math_docs(rp) -> list[dict]:
    """Every real math page: {url, source, body, formulas}. A page of pages/ counts when the oracle finds a
    formula in markup, or TeX between delimiters on a page that loads MathJax or KaTeX (prices are not math);
    every page of ../shared/data/html/ labelled math counts."""
    import gzip

    from bench_extract import oracle_formulas

    from pipeline.extraction.extract import decode_html

    docs = []
    for folder, url, path, _ in rp.truth():
        body = gzip.open(path).read()
        html, _ = decode_html(body, "text/html")
        formulas = oracle_formulas(html)
        low = html.lower()
        if any(k != "tex" for k, _, _ in formulas) or (formulas and ("mathjax" in low or "katex" in low)):
            docs.append({"url": url, "source": f"pages/{folder}", "body": body, "formulas": formulas})
    for line in (DATA / "html" / "manifest.jsonl").read_text().splitlines():
        m = json.loads(line)
        if m["label"] == "math":
            body = (DATA / "html" / m["file"]).read_bytes()
            html, _ = decode_html(body, "text/html")
            docs.append({"url": m["url"], "source": "html/", "body": body, "formulas": oracle_formulas(html)})
    return docs


def _math_fragments(text: str) -> list[str]:
    """The insides of the text's ``$..$``/``$$..$$``/``\\(..\\)``/``\\[..\\]`` fragments."""
    from bench_extract import _DELIMITED

    return [next(g for g in m.groups() if g is not None) for m in _DELIMITED.finditer(text)]


def bench_math(docs: list[dict], outputs: dict[str, dict[str, str]]) -> dict:
    from bench_extract import formula_kept

    n_tex = sum(1 for d in docs for k, tex, _ in d["formulas"] if tex and k not in CONVERTED_KINDS)
    n_conv = sum(1 for d in docs for k, _, _ in d["formulas"] if k in CONVERTED_KINDS)
    n_none = sum(1 for d in docs for k, tex, _ in d["formulas"] if not tex and k not in CONVERTED_KINDS)
    log(f"\n== 2. formulas kept on {len(docs)} real math pages "
        f"({sum(d['source'].startswith('pages/') for d in docs)} of pages/, "
        f"{sum(d['source'] == 'html/' for d in docs)} of html/): {n_tex} with TeX in the HTML, "
        f"{n_conv} to convert (MathML without TeX, AsciiMath); {n_none} without TeX (e.g. KaTeX without "
        "annotation, images without alt) not counted")
    rows: dict[str, dict[str, list[int]]] = {}
    for name, texts in outputs.items():
        table = defaultdict(lambda: [0, 0])
        for d in docs:
            text = texts.get(d["url"], "")
            frags = _math_fragments(text)
            for kind, tex, sig in d["formulas"]:
                if not tex and kind not in CONVERTED_KINDS:
                    continue
                kept = formula_kept(tex, sig, text, frags, in_math=True)
                group = "converted" if kind in CONVERTED_KINDS else "tex"
                for key in (f"{group}:{kind}", f"{group}:on {d['source'].split('/')[0]}/", f"{group}:ALL"):
                    table[key][0] += 1
                    table[key][1] += kept
        rows[name] = table
    keys = sorted({k for t in rows.values() for k in t}, key=lambda k: (k.split(":")[0] != "tex", k.endswith("ALL"), k))
    names = list(outputs)
    log(f"{'formulas kept (%)':28}" + "".join(f"{n:>18}" for n in names) + f"{'formulas':>10}{'goal':>8}")
    result: dict = {}
    for key in keys:
        n = max(rows[name][key][0] for name in names)
        cells = []
        for name in names:
            tot, kept = rows[name].get(key, (0, 0))
            pct = 100.0 * kept / tot if tot else float("nan")
            result.setdefault(name, {})[key] = round(pct, 2)
            cells.append(f"{pct:17.1f}%")
        goal = (f">= {TEX_GOAL:.0f}%" if key.startswith("tex") else f">= {CONVERT_GOAL:.0f}%") if key.endswith("ALL") else ""
        log(f"{key:28}" + "".join(cells) + f"{n:>10}{goal:>8}")
    if not n_conv:
        log("  (no MathML-without-TeX or AsciiMath formula on these pages: the conversion row is empty)")
    result["formulas"] = {"tex": n_tex, "converted": n_conv, "no_tex": n_none, "pages": len(docs)}
    return result


def tex_removed_docs(docs: list[dict]) -> list[dict]:
    """The pages of ``docs`` holding ``<math>`` with TeX, that TeX taken away (``strip_math_tex``); each
    formula to convert paired with the TeX the page carried for it (``removed``, by document order)."""
    import lxml.html

    from bench_extract import _signature, oracle_formulas, strip_math_tex

    from pipeline.extraction.extract import decode_html
    from pipeline.extraction.mathml import local_name, tex_annotation

    out = []
    for d in docs:
        body = strip_math_tex(d["body"])
        if body == d["body"]:
            continue
        html, _ = decode_html(body, "text/html")
        formulas = [f for f in oracle_formulas(html) if f[0] == "mathml_noannot"]
        carried = [(_signature(el), tex_annotation(el))
                   for el in lxml.html.document_fromstring(decode_html(d["body"], "text/html")[0]).iter()
                   if local_name(el) == "math" and _signature(el)]
        sigs = [sig for _, _, sig in formulas]
        removed = [tex for _, tex in carried] if [sig for sig, _ in carried] == sigs else [None] * len(sigs)
        out.append({**d, "body": body, "formulas": formulas, "removed": removed})
    return out


def converters_alone(docs: list[dict], warc: Path, have: dict[str, bool]) -> dict[str, dict[str, str]]:
    """Each MathML converter apart from its extractor's page handling: every ``<math>`` of a page converted,
    the conversions between ``$`` in document order. Ours: ``pipeline.extraction.mathml.tex_of_math``;
    OpenWebMath's: its ``mml_to_latex`` (the mmltex XSLT), bench/peers/owm_mmltex.py."""
    import lxml.html

    from pipeline.extraction.extract import decode_html
    from pipeline.extraction.mathml import local_name, tex_of_math

    ours = {}
    for d in docs:
        tree = lxml.html.document_fromstring(decode_html(d["body"], "text/html")[0])
        ours[d["url"]] = " ".join(f"${tex_of_math(el)[0]}$" for el in tree.iter() if local_name(el) == "math")
    out = {"mathml.py alone": ours}
    if have["openwebmath"]:
        with tempfile.TemporaryDirectory(prefix="bench-real-mmltex-") as tmp:
            texts = Path(tmp) / "texts.jsonl"
            proc = subprocess.run([OWM_PY, str(PEERS / "owm_mmltex.py"), str(warc), str(texts)],
                                  capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0 or not texts.exists():
                log(f"  openwebmath's mmltex failed: {proc.stderr.strip()[-800:]}")
            else:
                out["mmltex alone"] = read_jsonl_texts(texts)
    return out


def _tex_same(tex: str) -> str:
    """TeX with what does not change the formula taken out, to compare a conversion with the TeX it replaces."""
    import html
    import re

    from bench_extract import _WRAPPER

    t = html.unescape(tex).strip()
    m = _WRAPPER.match(t)
    t = m.group(1) if m else t
    # sizes, styles and spaces go; a row break (\\) is matched first so that it stays
    t = re.sub(r"\\\\|\\(?:displaystyle|textstyle|scriptstyle|left|right|big|Big|bigg|Bigg|q?quad)(?![A-Za-z])"
               r"|\\[,;:! ]", lambda m: m.group(0) if m.group(0) == "\\\\" else "", t)
    for a, b in ((r"\dots", r"\ldots"), (r"\lVert", r"\|"), (r"\rVert", r"\|"), (r"\mbox", r"\text"),
                 (r"\dfrac", r"\frac"), (r"\tfrac", r"\frac"), (r"\rightarrow", r"\to"),
                 (r"\operatorname", r"\mathrm"), (r"\lbrace", r"\{"), (r"\rbrace", r"\}"),
                 (r"\vert", "|"), (r"\Vert", r"\|"), (r"\mid", "|"), ("⟨", r"\langle"), ("⟩", r"\rangle"),
                 ("‖", r"\|")):
        t = t.replace(a, b)
    t = re.sub(r"\\\\\s*(?=\\end\{)", "", t)  # a row break before \end{..} ends no row
    t = re.sub(r"\\(le|ge|ne)(?![a-z])", lambda m: "\\" + m.group(1) + "q", t)
    return re.sub(r"[\s{}]", "", t)


def bench_math_tex_removed(docs: list[dict], outputs: dict[str, dict[str, str]]) -> dict:
    """Formulas converted on real MathML whose TeX was taken away, with the converted kind's metric; and the
    share whose LaTeX equals the TeX taken away (normalised), for information."""
    from bench_extract import formula_kept

    n = sum(len(d["formulas"]) for d in docs)
    n_same = sum(1 for d in docs for tex in d["removed"] if tex)
    log(f"\n== 2b. real MathML, TeX annotation removed: the {n} formulas of the {len(docs)} pages above whose "
        "<math> carries TeX, run again with that TeX taken away (annotation, alttext, MediaWiki's fallback-image "
        "alt). Not pages that natively lack TeX: their real MathML, made to need conversion")
    rows: dict[str, dict[str, list[int]]] = {}
    for name, texts in outputs.items():
        table = defaultdict(lambda: [0, 0])
        for d in docs:
            text = texts.get(d["url"], "")
            frags = _math_fragments(text)
            norm_frags = [_tex_same(f) for f in frags]
            for (kind, tex, sig), removed in zip(d["formulas"], d["removed"]):
                kept = formula_kept(tex, sig, text, frags, in_math=True)
                for key in (f"converted:on {d['source'].split('/')[0]}/", "converted:ALL"):
                    table[key][0] += 1
                    table[key][1] += kept
                if removed:
                    want = _tex_same(removed)
                    table["same TeX as removed:ALL"][0] += 1
                    table["same TeX as removed:ALL"][1] += want in norm_frags
        rows[name] = table
    keys = sorted({k for t in rows.values() for k in t}, key=lambda k: (k.startswith("same"), k.endswith("ALL"), k))
    names = list(outputs)
    log(f"{'TeX removed: kept (%)':28}" + "".join(f"{nm:>18}" for nm in names) + f"{'formulas':>10}{'goal':>8}")
    result: dict = {}
    for key in keys:
        cells = []
        for name in names:
            tot, kept = rows[name].get(key, (0, 0))
            pct = 100.0 * kept / tot if tot else float("nan")
            result.setdefault(name, {})[key] = round(pct, 2)
            cells.append(f"{pct:17.1f}%")
        goal = f">= {CONVERT_GOAL:.0f}%" if key == "converted:ALL" else ""
        log(f"{key:28}" + "".join(cells) + f"{max(rows[nm][key][0] for nm in names):>10}{goal:>8}")
    for name in names:
        pct = result[name].get("converted:ALL", float("nan"))
        if name.endswith(" alone"):
            log(f"  {name}: {pct:.1f}% converted on real MathML, TeX annotation removed (the converter alone, on "
                "every <math> of the page: no extractor, no goal)")
            continue
        log(f"  {name}: {pct:.1f}% converted on real MathML, TeX annotation removed (goal >= {CONVERT_GOAL:.0f}%: "
            f"{'OK' if pct >= CONVERT_GOAL else 'below'})")
    result["formulas"] = {"converted": n, "with_removed_tex": n_same, "pages": len(docs)}
    return result


# --- 3. speed -----------------------------------------------------------------------------

def bench_speed(n_pages: int, html_bytes: int, timings: dict[str, list[dict]], backends) -> dict:
    log(f"\n== 3. speed on the pages/ WARC ({n_pages} pages, mean {html_bytes / max(n_pages, 1) / 1024:.0f} KiB of "
        f"HTML), one process each; {REPEAT} repetition(s), best run shown, ratios = median of back-to-back pairs")
    log(f"{'':22}{'CPU s (best)':>13}{'wall s':>9}{'pages/CPU-s':>13}{'peak RSS MB':>13}   CPU s each run")
    result: dict = {"pages": n_pages, "repeat": REPEAT}
    for name, runs in timings.items():
        best = min(runs, key=lambda r: r["cpu_s"])
        rss = max((r.get("peak_rss_mb") or 0) for r in runs)
        result[name] = {"cpu_s": [round(r["cpu_s"], 3) for r in runs], "wall_s": [round(r["wall_s"], 3) for r in runs],
                        "pages_per_cpu_s": round(n_pages / best["cpu_s"], 1), "peak_rss_mb": round(rss, 1) or None}
        log(f"{name:22}{best['cpu_s']:13.2f}{best['wall_s']:9.2f}{n_pages / best['cpu_s']:13.1f}"
            f"{(f'{rss:.0f}' if rss else '-'):>13}   " + ", ".join(f"{r['cpu_s']:.2f}" for r in runs))
    for backend in backends:
        ours = our_label(backend)
        if ours not in timings:
            continue
        for peer, goal in (("datatrove", DT_GOAL), ("openwebmath", OWM_GOAL), ("resiliparse", None)):
            if peer not in timings:
                continue
            pairs = [p["cpu_s"] / o["cpu_s"] for o, p in zip(timings[ours], timings[peer])]
            med = statistics.median(pairs)
            result.setdefault("ratios", {})[f"{ours}/{peer}"] = {"median": round(med, 2),
                                                                  "each": [round(x, 2) for x in pairs]}
            verdict = (f"(goal >= {goal:.1f}x: {'OK' if med >= goal else 'below'})" if goal else "(for scale)")
            log(f"{ours} / {peer}: {med:.2f}x per core {verdict}; each repetition "
                + ", ".join(f"{x:.2f}x" for x in pairs))
        for r in timings[ours]:
            again = r.get("reextract")
            if again and again["pages"]:
                per_page = again["cpu_s"] / again["pages"]
                line = (f"{ours}: cascade, re-extracting a kept page by its WARC offset and length with "
                        f"{our_label(again['backend'] or None)}: {1000 * per_page:.1f} CPU-ms per page "
                        f"({again['pages']} pages)")
                if "datatrove" in timings:
                    dt_page = min(t["cpu_s"] for t in timings["datatrove"]) / n_pages
                    line += (f"; datatrove's whole pass {1000 * dt_page:.1f} CPU-ms per page "
                             f"(datatrove / re-extraction {dt_page / per_page:.2f}x)")
                result.setdefault("reextract", {})[ours] = {**again, "cpu_ms_per_page": round(1000 * per_page, 2)}
                log(line)
        rss = result[ours]["peak_rss_mb"]
        if rss:
            log(f"{ours}: peak RSS per worker {rss:.0f} MB (goal <= {RSS_GOAL_MB:.0f} MB: "
                f"{'OK' if rss <= RSS_GOAL_MB else 'over'})")
    return result


def main() -> int:
    if not DATA.is_dir() or not REAL_PAGES_TOOL.exists():
        log(f"shared data not found at {DATA}: nothing to benchmark")
        return 0
    todo = sections()
    CACHE.mkdir(parents=True, exist_ok=True)
    rp = real_pages()
    warc = pages_warc(rp)
    payloads = warc_payloads(warc)
    backends = our_backends()
    log(f"real pages: {warc} ({len(payloads)} pages); ours: {', '.join(our_label(b) for b in backends)}; "
        f"sections: {', '.join(sorted(todo))}")
    have = available_peers()
    reps = REPEAT if "speed" in todo else int("text" in todo)
    timings: dict[str, list[dict]] = defaultdict(list)
    outputs: dict[str, dict[str, str]] = {}
    for i in range(reps):
        t0 = time.perf_counter()
        runs = run_all(warc, payloads, backends, have, timed_only=i > 0 or "text" not in todo,
                       cascade=i == 0 and "speed" in todo)
        for name, (timing, texts) in runs.items():
            if name != "trafilatura":
                timings[name].append(timing)
            if i == 0:
                outputs[name] = texts
        log(f"  repetition {i + 1}/{reps}: {time.perf_counter() - t0:.0f}s")
    results: dict = {"extractors": list(outputs)}
    if "text" in todo:
        results["text"] = bench_text(rp, outputs)
    if "math" in todo:  # every extractor once more, on a WARC of the math pages only
        docs = math_docs(rp)
        math_warc = write_pages_warc(CACHE / "real-math-pages.warc.gz", [(d["url"], d["body"]) for d in docs])
        math_outputs = {name: texts for name, (_, texts) in
                        run_all(math_warc, warc_payloads(math_warc), backends, have).items()}
        results["math"] = bench_math(docs, math_outputs)
        removed = tex_removed_docs(docs)
        if removed:  # the same real MathML with its TeX taken away: every extractor once more
            removed_warc = write_pages_warc(CACHE / "real-math-tex-removed.warc.gz",
                                            [(d["url"], d["body"]) for d in removed])
            removed_outputs = {name: texts for name, (_, texts) in
                               run_all(removed_warc, warc_payloads(removed_warc), backends, have).items()}
            removed_outputs.update(converters_alone(removed, removed_warc, have))
            results["math_tex_removed"] = bench_math_tex_removed(removed, removed_outputs)
    if "speed" in todo:
        results["speed"] = bench_speed(len(payloads), sum(len(b) for _, b in payloads), timings, backends)
    out = CACHE / "bench_real_pages.json"
    out.write_text(json.dumps(results, indent=2))
    log(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ours-worker"]:
        ours_worker(*sys.argv[2:7])
        sys.exit(0)
    sys.exit(main())
