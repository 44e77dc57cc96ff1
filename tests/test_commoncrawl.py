"""configs/commoncrawl.yaml, the real-crawl config, run offline.

The crawl comes from a local HTTP server on 127.0.0.1 laid out like data.commoncrawl.org
(``crawl-data/CC-MAIN-2024-10/warc.paths.gz`` and ``.../segments/<segment>/warc/*.warc.gz``), holding
WARCs written by the mini-CC generator. The Hugging Face hub is replaced at its two doors only: the
``hf://`` fsspec protocol (the OpenWebMath seed) serves OpenWebMath-format Parquet from a local folder laid
out like the hub's repository, and ``datasets.load_dataset`` (the benchmarks) serves local rows for exactly
the ids, configs and splits the config names. Everything else is the config file as shipped.
"""
from __future__ import annotations

import gzip
import http.server
import io
import json
import shutil
import threading
from functools import partial
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from pipeline.core.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "commoncrawl.yaml"
CRAWL = "CC-MAIN-2024-10"
SEGMENT = "1707947473347.0"  # a segment name in Common Crawl's form
OWM = "datasets/open-web-math/open-web-math/data"


# --- the offline hub -----------------------------------------------------------------

class _CountingFile(io.RawIOBase):
    """A local file that counts the bytes read from it (what a remote read would download)."""

    def __init__(self, path: str, counter: dict):
        self._fh = open(path, "rb")
        self._counter = counter

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, b):
        n = self._fh.readinto(b)
        self._counter["bytes"] = self._counter.get("bytes", 0) + (n or 0)
        return n

    def seek(self, offset, whence=0):
        return self._fh.seek(offset, whence)

    def tell(self):
        return self._fh.tell()

    def close(self):
        self._fh.close()
        super().close()


def install_fake_hub(root: Path) -> dict:
    """``hf://<path>`` reads ``root/<path>`` for the rest of the test; returns the bytes-read counter."""
    counter: dict = {}

    class FakeHub(DirFileSystem):
        protocol = "hf"
        cachable = False

        def __init__(self, **kwargs):
            super().__init__(path=str(root), fs=LocalFileSystem(), **kwargs)

        def open(self, path, mode="rb", **kwargs):
            assert mode == "rb", mode
            return _CountingFile(self._join(self._strip_protocol(path)), counter)

    fsspec.register_implementation("hf", FakeHub, clobber=True)
    return counter


@pytest.fixture()
def fake_hub():
    """Call with a folder to serve it as the hub; the real HfFileSystem is back after the test."""
    from huggingface_hub import HfFileSystem

    yield install_fake_hub
    fsspec.register_implementation("hf", HfFileSystem, clobber=True)


def write_owm_parquet(seed_jsonl: Path, folder: Path, files: int = 2, row_group: int = 25,
                      more: list[dict] | None = None) -> int:
    """The mini-CC's OpenWebMath-format seed (and ``more`` such rows) as OpenWebMath ships it: Parquet (url, text,
    date, metadata) in ``data/train-NNNNN-of-MMMMM-<hash>.parquet``. Returns the row count."""
    rows = [json.loads(line) for line in seed_jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows += more or []
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("url", pa.string()), ("text", pa.string()), ("date", pa.string()),
                        ("metadata", pa.string())])
    per = -(-len(rows) // files)
    for i in range(files):
        part = rows[i * per:(i + 1) * per]
        table = pa.Table.from_pylist([{"url": r["url"], "text": r["text"], "date": str(r.get("date")),
                                       "metadata": json.dumps(r.get("metadata"))} for r in part], schema=schema)
        pq.write_table(table, folder / f"train-{i:05d}-of-{files:05d}-{i:016x}.parquet", row_group_size=row_group)
    return len(rows)


def to_hails(rec: dict, task: str) -> dict:
    """An AGIEval jsonl row as hails/agieval-<task> has it: AGIEval's zero-shot prompt (microsoft/AGIEval
    dataset_loader.convert_zero_shot) as ``query``, with ``choices`` and ``gold`` or with ``answer``."""
    passage = rec.get("passage") or ""
    zh = task.startswith("gaokao")
    if rec.get("options"):
        letter = "ABCDEFG"[len(rec["options"]) - 1]
        query = (f"{passage}问题：{rec['question']} 选项：{' '.join(rec['options'])}\n答案：从A到{letter}, 我们应选择"
                 if zh else f"{passage}Q: {rec['question']} Answer Choices: {' '.join(rec['options'])}\n"
                 f"A: Among A through {letter}, the answer is")
        return {"query": query, "choices": rec["options"], "gold": ["ABCDEFG".index((rec.get("label") or "A")[0])]}
    query = f"{passage}问题：{rec['question']}\n答案：" if zh else f"{passage}Q: {rec['question']}\nA: The answer is"
    return {"query": query, "answer": str(rec.get("answer"))}


def fake_load_dataset(bench: Path, calls: list):
    """``datasets.load_dataset`` for the hub ids of configs/commoncrawl.yaml, serving the mini-CC's benchmark
    files as the hub's rows (AGIEval in the hails/agieval-* form: query, choices, gold / query, answer)."""
    import datasets

    def jsonl(p: Path) -> list[dict]:
        return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]

    def agieval(task: str) -> list[dict]:
        return [to_hails(r, task) for r in jsonl(bench / "agieval" / f"{task}.jsonl")]

    def load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        assert split == "test", (path, split)
        if (path, name) == ("openai/gsm8k", "main"):
            rows = jsonl(bench / "gsm8k" / "test.jsonl")
        elif path == "EleutherAI/hendrycks_math":
            folder = bench / "math" / "test" / name
            rows = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
        elif (path, name) == ("weitianwen/cmath", None):
            rows = jsonl(bench / "cmath" / "test.jsonl")
        elif path.startswith("hails/agieval-") and name is None:
            rows = agieval(path.removeprefix("hails/agieval-"))
        else:
            raise ValueError(f"the offline hub has no dataset {path} ({name}, {split})")
        return datasets.Dataset.from_list(rows)

    return load_dataset


# --- the config file itself -------------------------------------------------------------

def test_commoncrawl_yaml_loads_and_names_a_real_crawl():
    cfg = load_config(CONFIG)
    assert cfg.pool.crawls == [CRAWL] and cfg.pool.inputs == [] and not cfg.pool.reads_minicc
    assert cfg.pool.resolved_inputs() == [f"https://data.commoncrawl.org/crawl-data/{CRAWL}/warc.paths.gz"]
    assert cfg.pool.manifest_limit and cfg.pool.manifest_limit >= 1
    assert cfg.recall.truth is None
    assert cfg.recall.seed_files == [f"hf://{OWM}/*.parquet"] and cfg.recall.seed_max_docs == 500_000
    hub = {b.name: (b.format, b.hf_id, b.hf_config, b.split) for b in cfg.decontam.benchmarks}
    assert all(b.path is None and b.hf_id for b in cfg.decontam.benchmarks)  # nothing from the mini-CC
    assert hub["gsm8k"] == ("gsm8k", "openai/gsm8k", "main", "test")
    assert hub["math"][:2] == ("math", "EleutherAI/hendrycks_math") and len(hub["math"][2]) == 7
    assert hub["cmath"] == ("cmath", "weitianwen/cmath", None, "test")
    assert {n for n in hub if n.startswith("agieval-")} == {
        "agieval-gaokao-mathqa", "agieval-gaokao-mathcloze", "agieval-sat-math", "agieval-math"}
    assert cfg.mixture.standins == []  # no synthetic stand-ins in a real blend
    # everything else is as in the default config
    default = load_config(REPO / "configs" / "default.yaml")
    for section in ("dedup", "corpus", "tokenize", "train"):
        assert getattr(cfg, section) == getattr(default, section), section
    skip = {"seed_files", "seed_max_docs", "truth"}
    assert {k: v for k, v in cfg.recall.model_dump().items() if k not in skip} == \
        {k: v for k, v in default.recall.model_dump().items() if k not in skip}
    skip = {"crawls", "manifest_limit"}
    assert {k: v for k, v in cfg.pool.model_dump().items() if k not in skip} == \
        {k: v for k, v in default.pool.model_dump().items() if k not in skip}


@pytest.mark.parametrize("bad", ["CC-MAIN-2024-1", "CC-MAIN-2024-54", "cc-main-2024-10", "2024-10", "CC-NEWS-2024-10"])
def test_a_bad_crawl_id_is_named(bad):
    with pytest.raises(ConfigError, match=rf"pool\.crawls: .*'{bad}' is not a Common Crawl crawl id"):
        load_config(CONFIG, {"pool.crawls": [bad]})


def test_one_crawl_id_as_a_string_and_its_s3_manifest():
    cfg = load_config(CONFIG, {"pool.crawls": "CC-MAIN-2023-50", "pool.cc_base_url": "s3://commoncrawl"})
    assert cfg.pool.resolved_inputs() == ["s3://commoncrawl/crawl-data/CC-MAIN-2023-50/warc.paths.gz"]


def test_extract_takes_a_crawl_id_and_names_a_bad_one(tmp_path, capsys):
    from pipeline.cli import main

    assert main(["extract", "--crawl", "CC-MAIN-2024-1", "-o", str(tmp_path / "x")]) == 2
    assert "pool.crawls: " in capsys.readouterr().err
    assert main(["extract", "-o", str(tmp_path / "x")]) == 2
    assert "--input PATH... and/or --crawl ID" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_real_input_may_not_lean_on_the_minicc():
    # the default config's seed and benchmarks live in the mini-CC, which a real crawl does not generate
    with pytest.raises(ConfigError) as e:
        load_config(REPO / "configs" / "default.yaml", {"pool.crawls": [CRAWL]})
    assert "recall.seed_files: empty" in str(e.value)
    assert "decontam.benchmarks.0: minicc-gsm8k" in str(e.value)
    with pytest.raises(ConfigError, match="hf_id goes with format hf"):
        load_config(CONFIG, {"decontam.benchmarks": [{"name": "x", "hf_id": "a/b", "format": "jsonl",
                                                      "fields": ["q"]}]})


# --- the hub doors, offline ------------------------------------------------------------------

def test_openwebmath_seed_from_the_hub_with_a_cap(minicc, fake_hub, tmp_path):
    from classifiers.seed import load_seed

    hub = tmp_path / "hub"
    total = write_owm_parquet(minicc / "seed" / "openwebmath.jsonl", hub / OWM, files=3, row_group=10)
    counter = fake_hub(hub)
    pattern = load_config(CONFIG).recall.seed_files[0]

    full = load_seed([pattern], min_tokens=20)
    assert [Path(f).name for f in full.files] == sorted(p.name for p in (hub / OWM).glob("*.parquet"))
    assert all(f.startswith(f"hf://{OWM}/train-") for f in full.files)
    assert full.rows_read == total and len(full.docs) == total - sum(full.filtered.values())
    read_all = counter["bytes"]

    counter.clear()
    capped = load_seed([pattern], min_tokens=20, max_docs=30)
    assert len(capped.docs) == 30
    assert sorted(capped.docs_per_file.values()) == [10, 10, 10]  # spread evenly over the three files
    # each file is left after its share: its first row groups are read, not the file
    assert capped.rows_read < full.rows_read / 2 and counter["bytes"] < read_all / 2
    owm = pq.read_table(hub / OWM / sorted(p.name for p in (hub / OWM).glob("*.parquet"))[0]).to_pylist()
    first = capped.docs[0]
    assert first.source == f"{capped.files[0]}#1" and owm[0]["text"].startswith(first.text)


def test_benchmarks_from_the_hub_read_as_their_formats(minicc, monkeypatch):
    import datasets

    from decontam.stage import load_benchmarks

    calls: list = []
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset(minicc / "benchmarks", calls))
    cfg = load_config(CONFIG)
    texts, loaded = load_benchmarks(cfg.decontam, cfg.workdir_path)
    # MATH is read subject by subject (the mini-CC writes five of the seven), as one benchmark
    math_calls = [c for c in calls if c[0] == "EleutherAI/hendrycks_math"]
    assert [c[1] for c in math_calls] == load_config(CONFIG).decontam.benchmarks[1].hf_config
    files = sorted((minicc / "benchmarks" / "math" / "test").rglob("*.json"))
    assert loaded["math"]["items"] == len(files)
    assert {t.item_id.split(":")[0] for t in texts if t.benchmark == "math"} <= {
        f"EleutherAI/hendrycks_math/{c[1]}" for c in math_calls}
    # GSM8K through its own format: the answer with and without the calculator marks
    gsm = [json.loads(x) for x in (minicc / "benchmarks" / "gsm8k" / "test.jsonl").read_text().splitlines() if x]
    assert loaded["gsm8k"]["items"] == len(gsm)
    fields = {t.field for t in texts if t.benchmark == "gsm8k"}
    assert {"question", "answer"} <= fields
    if any("<<" in r["answer"] for r in gsm):
        assert "answer_raw" in fields and not any("<<" in t.text for t in texts
                                                   if t.benchmark == "gsm8k" and t.field == "answer")
    for name in ("cmath", "agieval-gaokao-mathqa", "agieval-gaokao-mathcloze", "agieval-sat-math", "agieval-math"):
        assert loaded[name]["items"] > 0 and loaded[name]["path"].startswith(("weitianwen/", "hails/")), name
    assert {t.field for t in texts if t.benchmark == "agieval-sat-math"} == {"question", "options"}


@pytest.mark.parametrize("task", ["gaokao-mathqa", "gaokao-mathcloze", "sat-math", "math"])
def test_agieval_from_the_hub_prompt_form_reads_as_the_original_files(shared_data, monkeypatch, task):
    """The real AGIEval test sets, put in the hub's form (AGIEval's zero-shot prompt as ``query``), index the same
    passages, questions and options as the original jsonl files do."""
    import datasets

    from decontam.loaders import load_benchmark

    path = shared_data / "benchmarks" / "agieval" / f"{task}.jsonl"
    rows = [to_hails(json.loads(x), task) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    monkeypatch.setattr(datasets, "load_dataset", lambda hf_id, config, split: datasets.Dataset.from_list(rows))
    spec = next(b for b in load_config(CONFIG).decontam.benchmarks if b.name == f"agieval-{task}")
    hub = load_benchmark(spec.name, format=spec.format, hf_id=spec.hf_id, hf_config=spec.hf_config, split=spec.split)
    local = load_benchmark(spec.name, path)

    def by_item(texts, fields):
        out: dict = {}
        for t in texts:
            if t.field in fields:
                out.setdefault(t.item_id.rsplit(":", 1)[-1], {})[t.field] = t.text
        return [out[k] for k in sorted(out, key=int)]

    keep = {"passage", "question", "options"}
    # item ids: line numbers (1-based) there, row numbers (0-based) here
    assert by_item(hub, keep) == by_item(local, keep) and len(by_item(hub, keep)) == len(rows)


# --- the whole run against an offline data.commoncrawl.org --------------------------------------

class _Logged(http.server.SimpleHTTPRequestHandler):
    requests: list  # set per server

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requests.append(("GET", self.path))
        super().do_GET()

    def do_HEAD(self):
        self.requests.append(("HEAD", self.path))
        super().do_HEAD()


@pytest.fixture(scope="module")
def crawl_site(minicc, tmp_path_factory):
    """The session's mini-CC (its 5 complete WARCs) served as crawl CC-MAIN-2024-10 on http://127.0.0.1:<port>/,
    its seed as OpenWebMath Parquet in a hub-shaped folder; yields (base URL, www, minicc, hub, manifest entries,
    request log)."""
    root = tmp_path_factory.mktemp("cc")
    damaged = {Path(f["file"]).name for f in json.loads((minicc / "_SUCCESS").read_text())["damaged_files"]}
    warcs = [w for w in sorted((minicc / "warc").glob("*.warc.gz")) if w.name not in damaged]
    assert len(warcs) == 5 and damaged
    www = root / "www"
    seg = www / "crawl-data" / CRAWL / "segments" / SEGMENT / "warc"
    seg.mkdir(parents=True)
    entries = []
    for w in warcs:
        shutil.copy(w, seg / w.name)
        entries.append(f"crawl-data/{CRAWL}/segments/{SEGMENT}/warc/{w.name}")
    with gzip.open(www / "crawl-data" / CRAWL / "warc.paths.gz", "wt") as fh:
        fh.writelines(e + "\n" for e in entries)
    # The session mini-CC has 300 seed pages; the paper-sized seed is 500K. A fastText model with the config's
    # (the paper's) settings needs more than 300 positives to separate math, so the hub holds 1,200 more
    # OpenWebMath-format pages from the same generator (another random seed, other hosts).
    from pipeline.core.config import SynthConfig
    from pipeline.synth import MiniCC

    more = MiniCC(SynthConfig(seed=7, seed_docs=1200, pages=100, domains=250, math_domains=16)).seed_docs()
    hub = root / "hub"
    write_owm_parquet(minicc / "seed" / "openwebmath.jsonl", hub / OWM, files=3, row_group=100, more=more)

    handler = type("Handler", (_Logged,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", www, minicc, hub, entries, handler.requests
    server.shutdown()


def test_the_real_crawl_config_builds_a_corpus(crawl_site, ray_session, fake_hub, monkeypatch, tmp_path):
    import datasets

    from pipeline.run import run_pipeline

    base, www, minicc, hub, entries, requests = crawl_site
    fake_hub(hub)
    calls: list = []
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset(minicc / "benchmarks", calls))
    workdir = tmp_path / "out"
    limit = 3
    # the config as shipped; only the run folder, the server and the crawl's size (3 of the 5 WARCs) differ
    cfg = load_config(CONFIG, {"workdir": str(workdir), "pool.cc_base_url": base + "/",
                               "pool.manifest_limit": limit})
    # every stage up to the corpus (tokenising it is tested elsewhere), then the report's accounting
    assert run_pipeline(cfg, until="corpus") == 0
    from pipeline.report import build_report

    assert build_report(workdir, workdir / "report")["totals"]["balanced"] is True

    # nothing synthetic: no mini-CC generated (and so no truth)
    stats = {s["stage"]: s for s in json.loads((workdir / "run_stats.json").read_text())["stages"]}
    assert stats["minicc"]["status"] == "skipped" and not (workdir / "minicc").exists()

    # the manifest, then exactly its first `limit` WARCs, each downloaded once, and nothing else
    assert requests[0][1] == f"/crawl-data/{CRAWL}/warc.paths.gz"
    assert {path for _, path in requests} == {f"/crawl-data/{CRAWL}/warc.paths.gz", *("/" + e for e in entries[:limit])}
    assert sorted(path for method, path in requests if method == "GET" and path.endswith(".warc.gz")) == \
        sorted("/" + e for e in entries[:limit])
    pool = json.loads((workdir / "pool" / "stats.json").read_text())
    assert pool["inputs"] == limit and pool["failures"] == []
    assert [s["path"] for s in pool["per_warc"]] == [f"{base}/{e}" for e in entries[:limit]]

    # every record of those WARCs is accounted for: kept, or dropped with a reason
    from pipeline.pool import read_drops, read_pool
    from pipeline.commoncrawl.warc import scan_warc

    served = [www / e for e in entries[:limit]]
    t = pool["totals"]
    assert t["records_seen"] == sum(scan_warc(str(p)).records for p in served) == t["kept"] + t["dropped"]
    kept = set(read_pool(workdir / "pool").column("warc_record_id").to_pylist())
    dropped = set(read_drops(workdir / "pool").column("warc_record_id").to_pylist())
    truth = pq.read_table(minicc / "truth.parquet").to_pylist()  # the test's answer key, never the run's
    mine = [r for r in truth if Path(r["warc_file"]).name in {p.name for p in served}]
    assert mine and all(r["warc_record_id"] in kept | dropped for r in mine)
    assert not kept & dropped

    # recall trained on the hub seed, with no truth to measure against
    summary = json.loads((workdir / "rounds" / "summary.json").read_text())
    assert summary["seed_files"] and all(f.startswith(f"hf://{OWM}/") for f in summary["seed_files"])
    assert all(r["truth"] is None for r in summary["rounds"])

    # decontamination against the config's hub benchmarks; the corpus is math, and free of quoted items
    dstats = json.loads((workdir / "decontam" / "_SUCCESS").read_text())
    assert {c[0] for c in calls} >= {"openai/gsm8k", "EleutherAI/hendrycks_math", "weitianwen/cmath",
                                     "hails/agieval-sat-math"}
    manifest = json.loads((workdir / "corpus" / ".meta" / "manifest.json").read_text())
    files = sorted((workdir / "corpus").glob("part-*.parquet"))
    corpus = ds.dataset(files, format="parquet").to_table(columns=["id", "warc_record_id"]).to_pylist()
    assert manifest["rows"] == len(corpus) > 20
    label = {r["warc_record_id"]: r for r in mine}
    math_share = sum(label[r["warc_record_id"]]["is_math"] for r in corpus) / len(corpus)
    assert math_share > 0.6, math_share
    quoted = {r["warc_record_id"] for r in mine if r["benchmark"]}
    from pipeline import pages

    recalled_inputs = {s: str(workdir / s) for s in ("pool", "dedup", "rounds")}  # the pages recall kept
    recalled = {r for stem in pages.stems(recalled_inputs)
                for r in pages.read_pages(recalled_inputs, stem, ["warc_record_id"]).column(0).to_pylist()}
    assert quoted & recalled, "recall keeps math pages that quote benchmark items"
    assert not quoted & {r["warc_record_id"] for r in corpus}
    names = {b.name for b in cfg.decontam.benchmarks}
    removed_by = dstats["extra"]["removed_by_benchmark"]
    assert sum(dstats["dropped"].values()) >= len(quoted & recalled) and set(removed_by) <= names
