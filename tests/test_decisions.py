"""Documents once, decisions by id: dedup, decontam and the corpus step over a run folder, local and on S3.

The pool holds real web pages (plus planted copies and a page quoting a GSM8K question); the recalled
decision is written by hand (the recall stage's contract), so the corpus is known exactly.
"""
from __future__ import annotations

import datetime as dt
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import pages
from pipeline.core import storage
from pipeline.core.config import load_config
from pipeline.core.executor import Executor
from pipeline.core.io import is_complete, mark_complete, read_marker
from pipeline.core.schema import CORPUS_SCHEMA, POOL_SCHEMA, RECALLED_SCHEMA
from pipeline.core.stage import StageContext

T0 = dt.datetime(2024, 2, 20, tzinfo=dt.timezone.utc)


def _page(pid: str, url: str, text: str, i: int, minutes: int) -> dict:
    return {"id": pid, "url": url, "url_normalized": url, "domain": url.split("/")[2], "text": text, "lang": "en",
            "lang_score": 0.9, "title": None, "http_status": 200, "content_type": "text/html", "charset": "utf-8",
            "html_bytes": len(text), "math_elements_html": 0, "math_fragments_text": 0,
            "warc_path": "/data/crawl/a.warc.gz", "warc_record_id": f"<urn:uuid:{pid}>", "warc_offset": 1000 * i,
            "warc_length": 900, "fetch_time": T0 + dt.timedelta(minutes=minutes)}


@pytest.fixture(scope="module")
def run_inputs(shared_data, tmp_path_factory):
    """Pool files (POOL_SCHEMA), the recalled decision, and what the corpus must hold."""
    rng = random.Random(14)
    web = shared_data / "seed" / "web_negative" / "dclm_majority_data.jsonl"
    texts = [t for t in dict.fromkeys(json.loads(line)["text"] for line in web.open()) if len(t.split()) >= 60][:90]
    gsm = json.loads((shared_data / "benchmarks" / "gsm8k" / "test.jsonl").open().readline())["question"]
    rows = [_page(f"{i:016x}", f"https://site{i % 9}.example/p/{i}", t, i, i) for i, t in enumerate(texts)]
    copies = [_page(f"c{i:015x}", f"https://mirror.example/p/{i}", "  " + rows[i]["text"].upper(), 200 + i, 10_000 + i)
              for i in range(0, 30, 3)]  # exact copies fetched later: dedup removes them
    contaminated = _page("d000000000000001", "https://homework.example/q", rows[5]["text"][:400] + " Q: " + gsm, 300, 5)
    allrows = rows + copies + [contaminated]
    rng.shuffle(allrows)
    folder = tmp_path_factory.mktemp("decisions")
    files = {"pool-a": allrows[:40], "pool-b": allrows[40:75], "pool-c": allrows[75:]}
    recalled: dict[str, pa.Table] = {}
    for stem, part in files.items():
        (folder / "pool" / "pages").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(part, schema=POOL_SCHEMA), folder / "pool" / "pages" / f"{stem}.parquet",
                       row_group_size=16)
        # recall keeps two thirds of the pages; the copies and the contaminated page among them
        kept = sorted(r["id"] for r in part if r["id"][0] in "cd" or int(r["id"], 16) % 3)
        recalled[stem] = pa.table({"id": kept, "score": [0.5 + (k % 7) / 20 for k in range(len(kept))],
                                   "tokens": [len(r) * 3 for r in kept], "round": [1 + k % 3 for k in range(len(kept))]},
                                  schema=RECALLED_SCHEMA)
    copy_ids = {r["id"] for r in copies}
    want = sorted(i for t in recalled.values() for i in t.column("id").to_pylist()
                  if i not in copy_ids and i != contaminated["id"])
    return folder, files, recalled, want, copy_ids, contaminated["id"]


def _publish(root: str, folder, recalled, opts) -> None:
    for f in sorted((folder / "pool" / "pages").iterdir()):
        storage.write_bytes(storage.join(root, "pool", "pages", f.name), f.read_bytes(), opts)
    mark_complete(storage.join(root, "pool"), {"stage": "pool"})
    for stem, t in recalled.items():
        storage.write_parquet(storage.join(root, "rounds", "recalled", f"{stem}.parquet"), t, opts)
    mark_complete(storage.join(root, "rounds"), {"stage": "rounds"})


def _run_stages(root: str, shared_data, opts) -> dict:
    from decontam.stage import run_decontam_stage
    from dedup.stage import run_dedup_stage
    from pipeline.corpus import run_corpus_stage

    cfg = load_config(None, {"workdir": root, "dedup.chunk_rows": 20, "corpus.target_rows": 25,
                             "corpus.row_group_rows": 10, "decontam.benchmarks": [
                                 {"name": "gsm8k", "path": str(shared_data / "benchmarks/gsm8k/test.jsonl")}]})
    out = {}
    with Executor() as ex:
        for name, fn, reads in (("dedup", run_dedup_stage, ("pool",)),
                                ("decontam", run_decontam_stage, ("pool", "dedup", "rounds")),
                                ("corpus", run_corpus_stage, ("pool", "dedup", "rounds", "decontam"))):
            ctx = StageContext(cfg=cfg, workdir=root, folder=storage.join(root, name),
                               inputs={r: storage.join(root, r) for r in reads}, executor=ex, progress=False,
                               storage_options=opts or {})
            out[name] = fn(ctx)
    return out


def _corpus(root: str, opts) -> pa.Table:
    files = storage.list_files(storage.join(root, "corpus"), ".parquet", opts)
    return pa.concat_tables([storage.read_parquet_table(f, None, opts) for f in files])


def _check(root: str, stats: dict, run_inputs, opts) -> pa.Table:
    from pipeline.shard import verify_corpus

    folder, files, recalled, want, copy_ids, contaminated = run_inputs
    d, x, c = stats["dedup"], stats["decontam"], stats["corpus"]
    assert d.rows_in == sum(len(p) for p in files.values()) and d.dropped == {"duplicate_exact": len(copy_ids)}
    assert d.balanced and x.balanced and x.dropped == {"benchmark_contamination": 1}
    assert x.rows_in == sum(t.num_rows for t in recalled.values()) - len(copy_ids)  # dedup's decisions applied
    for name in ("dedup", "decontam"):  # decisions per pool file, same stem, an empty file where none
        assert [storage.name(f) for f in storage.list_files(storage.join(root, name, "removed"), "", opts)] == \
            [f"{s}.parquet" for s in sorted(files)]
        assert not storage.exists(storage.join(root, name, "kept"), opts)
    removed = storage.read_parquet_table(storage.join(root, "dedup", "removed", "pool-a.parquet"), None, opts)
    assert set(removed.column("id").to_pylist()) <= copy_ids
    corpus = _corpus(root, opts)
    ids = corpus.column("id").to_pylist()
    assert corpus.schema.names == CORPUS_SCHEMA.names and sorted(ids) == want and len(set(ids)) == len(ids)
    stem_of = {r["id"]: stem for stem, part in files.items() for r in part}
    assert ids == sorted(ids, key=lambda i: (stem_of[i], i))  # pool files in name order, each sorted by id
    assert c.rows_out == len(want) and is_complete(storage.join(root, "corpus"))
    by_id = {r["id"]: r for t in recalled.values() for r in t.to_pylist()}
    for r in corpus.to_pylist():  # the recalled decision's fields, mapped by name
        rec = by_id[r["id"]]
        assert (r["math_score"], r["round"], r["token_count"]) == (pytest.approx(rec["score"]), rec["round"],
                                                                   rec["tokens"])
    manifest = verify_corpus(storage.join(root, "corpus"), opts)
    assert manifest["rows"] == len(want) and len(manifest["files"]) == -(-len(want) // 25)
    assert manifest["stage_counts"]["decontam"]["dropped"] == {"benchmark_contamination": 1}
    assert read_marker(storage.join(root, "corpus"))["rows_out"] == len(want)
    return corpus


def test_pages_apply_the_named_decisions(run_inputs, ray_session, shared_data, tmp_path):
    folder, files, recalled, want, copy_ids, contaminated = run_inputs
    root = str(tmp_path / "w")
    _publish(root, folder, recalled, None)
    stats = _run_stages(root, shared_data, None)
    _check(root, stats, run_inputs, None)
    inputs = {r: str(tmp_path / "w" / r) for r in ("pool", "dedup", "rounds", "decontam")}
    assert pages.stems(inputs) == sorted(files)
    only_pool = [r["id"] for t in pages.iter_pages({"pool": inputs["pool"]}, "pool-a", ["id"]) for r in t.to_pylist()]
    assert only_pool == [r["id"] for r in files["pool-a"]]  # pool order, every page
    deduped = pages.read_pages({k: inputs[k] for k in ("pool", "dedup")}, "pool-a", ["id"]).column("id").to_pylist()
    assert deduped == [i for i in only_pool if i not in copy_ids]
    got = pages.read_pages(inputs, "pool-a", ["id", "round", "url"])
    assert got.column_names == ["id", "round", "url"] and contaminated not in got.column("id").to_pylist()
    with pytest.raises(ValueError, match="rounds/recalled"):
        pages.read_pages({"pool": inputs["pool"]}, "pool-a", ["id", "score"])
    storage.remove(str(tmp_path / "w" / "decontam" / "removed" / "pool-b.parquet"))
    with pytest.raises(pages.MissingDecisions, match="pool-b"):
        pages.read_pages(inputs, "pool-b", ["id"])
    # a rerun resumes: the unit whose decisions are gone runs again, the others are trusted; the dedup
    # rerun (from scratch: its shuffle was swept) decided the same, so decontam's fingerprint holds
    again = _run_stages(root, shared_data, None)
    assert again["dedup"].units_cached == 0 and again["decontam"].units_cached == 2  # dedup: _work swept
    assert pages.read_pages(inputs, "pool-b", ["id"]).num_rows > 0
    assert again["corpus"].units_cached == again["corpus"].units == 3  # the same decisions: the same shards
    _check(root, again, run_inputs, None)


@pytest.fixture()
def s3_endpoint():
    pytest.importorskip("moto.server")
    from pipeline_runs import moto_s3

    server, _, opts = moto_s3("run")
    storage.set_default_options(opts)
    yield opts
    storage.set_default_options({})
    server.stop()

def test_the_run_folder_on_s3_gives_the_local_corpus(run_inputs, ray_session, shared_data, s3_endpoint, tmp_path):
    """dedup (with its shuffle), decontam and the corpus step with the run folder on an S3 endpoint: the
    same corpus, row for row, as on a local folder, and nothing written locally."""
    folder, files, recalled, want, copy_ids, contaminated = run_inputs
    opts = s3_endpoint
    local = str(tmp_path / "local")
    _publish(local, folder, recalled, None)
    local_corpus = _check(local, _run_stages(local, shared_data, None), run_inputs, None)
    root = "s3://run/w"
    _publish(root, folder, recalled, opts)
    s3_corpus = _check(root, _run_stages(root, shared_data, opts), run_inputs, opts)
    assert s3_corpus.equals(local_corpus)
    assert not storage.list_files(storage.join(root, "dedup", "_work"), "", opts, recursive=True)
