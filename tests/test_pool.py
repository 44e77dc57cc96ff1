"""The pool stage end to end on Ray: odd real WARCs, bad inputs, URL dedup, resume, remote inputs."""
from __future__ import annotations

import gzip
import http.server
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.core.config import PoolConfig
from pipeline.pool import read_drops, read_pool, run_pool, warc_key
from pipeline.core.schema import DROP_LOG_SCHEMA, POOL_SCHEMA, validate_table
from pipeline.commoncrawl.warc import read_record_at, scan_warc

REPO = Path(__file__).resolve().parents[1]


def cfg(**kw) -> PoolConfig:
    return PoolConfig(workers=2, **kw)


def odd_warcs(shared_data) -> list[str]:
    return sorted(str(p) for p in (shared_data / "warc").rglob("*.warc.gz"))


def test_odd_real_warcs_all_go_through(shared_data, ray_session, tmp_path):
    paths = odd_warcs(shared_data)
    stats = run_pool(paths, tmp_path, cfg(), progress=False)
    assert stats["failures"] == []
    assert (tmp_path / "_SUCCESS").exists()
    per = {Path(s["path"]).name: s for s in stats["per_warc"]}
    for p in paths:  # every record of every file is seen, exactly as an independent scan counts them
        s = per[Path(p).name]
        assert s["records_seen"] == scan_warc(p).records
        assert s["records_seen"] == s["kept"] + s["dropped"]
    # ClueWeb09: WARC/0.18, bad dates, EUC-JP under a false Content-Encoding: gzip -> 29 Japanese pages
    cw = per["resiliparse_clueweb09-quirk.warc.gz"]
    assert cw["kept"] == 29 and cw["langs"] == {"ja": 29}
    # the CC slice ends with a request whose response is missing: 16 pages, nothing failed
    assert per["resiliparse_CC-MAIN-2020-34_sample.warc.gz"]["kept"] == 16
    assert per["warcio_example.warc.gz"]["dropped_by_reason"].get("revisit") == 1
    pool = read_pool(tmp_path)
    validate_table(pool, POOL_SCHEMA, "pool")
    assert pool.num_rows == stats["totals"]["kept"]
    assert len(set(pool.column("id").to_pylist())) == pool.num_rows
    assert not any(u.startswith("<") for u in pool.column("url").to_pylist())  # wget's <uri> form cleaned
    ja = [t for t, lang in zip(pool.column("text").to_pylist(), pool.column("lang").to_pylist()) if lang == "ja"]
    assert len(ja) == 29 and all("\ufffd" not in t[:200] for t in ja)
    drops = read_drops(tmp_path)
    validate_table(drops, DROP_LOG_SCHEMA, "drops")
    t = stats["totals"]
    assert t["records_seen"] == pool.num_rows + drops.num_rows == t["kept"] + t["dropped"]
    assert dict(Counter(drops.column("reason").to_pylist())) == t["dropped_by_reason"]


def test_a_row_is_reread_with_one_ranged_read(shared_data, ray_session, tmp_path):
    p = str(shared_data / "warc" / "resiliparse_CC-MAIN-2020-34_sample.warc.gz")
    run_pool([p], tmp_path, cfg(), progress=False)
    pool = read_pool(tmp_path).to_pylist()
    for row in pool[:5]:
        rec = read_record_at(row["warc_path"], row["warc_offset"], row["warc_length"])
        assert rec.record_id == row["warc_record_id"] and rec.rec_type == "response"
        assert rec.target_uri == row["url"] and len(rec.payload) >= row["html_bytes"] * 0.5


def test_bad_inputs_are_listed_and_the_rest_finishes(shared_data, ray_session, tmp_path):
    good = shared_data / "warc" / "dolma_sample-0000.warc.gz"
    blob = good.read_bytes()
    truncated = tmp_path / "in" / "truncated.warc.gz"
    truncated.parent.mkdir()
    truncated.write_bytes(blob[: len(blob) // 2])
    garbage = tmp_path / "in" / "garbage.warc.gz"
    garbage.write_bytes(gzip.compress(b"<html>this is not a WARC file</html>\n" * 50))
    plain_text = tmp_path / "in" / "notes.warc"
    plain_text.write_text("just some text\n")
    missing = tmp_path / "in" / "missing.warc.gz"
    other = shared_data / "warc" / "dolma_sample-0001.warc.gz"
    out = tmp_path / "out"
    inputs = [str(truncated), str(garbage), str(plain_text), str(missing), str(other)]
    stats = run_pool(inputs, out, cfg(), progress=False)
    failed = {Path(f["path"]).name: f for f in stats["failures"]}
    assert set(failed) == {"truncated.warc.gz", "garbage.warc.gz", "notes.warc", "missing.warc.gz"}
    assert "truncated" in failed["truncated.warc.gz"]["reason"] or "Error" in failed["truncated.warc.gz"]["reason"]
    assert failed["missing.warc.gz"]["reason"] == "file not found" and failed["missing.warc.gz"]["retryable"]
    assert "not a WARC" in failed["garbage.warc.gz"]["reason"]
    # the records before the damage are kept and accounted for
    per = {Path(s["path"]).name: s for s in stats["per_warc"]}
    assert 0 < per["truncated.warc.gz"]["records_read" if "records_read" in per["truncated.warc.gz"] else "records_seen"]
    assert per["truncated.warc.gz"]["kept"] >= 1
    assert per["dolma_sample-0001.warc.gz"]["kept"] == 15
    assert not (out / "_SUCCESS").exists()
    assert stats["totals"]["accounting_ok"]
    # the command's exit status says that inputs failed
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "extract", "--workers", "1", "-i", str(missing),
                           str(other), "-o", str(tmp_path / "cli")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "missing.warc.gz: file not found" in proc.stderr


def _warc(path: Path, captures: list[tuple[str, str, str]]) -> None:
    """Write a per-record-gzip WARC of (url, iso date, body text) responses."""
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, date, body in captures:
            html = f"<html><head><title>{body}</title></head><body><article><p>{body} " \
                   f"{'Some words to make a paragraph. ' * 10}</p></article></body></html>".encode()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            rec = w.create_warc_record(url, "response", payload=io.BytesIO(html), http_headers=headers,
                                       warc_headers_dict={"WARC-Date": date})
            w.write_record(rec)


def test_url_dedup_earliest_fetch_wins_across_warcs(ray_session, tmp_path):
    a, b = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    _warc(a, [("https://site.org/x", "2024-03-01T00:00:00Z", "late copy"),
              ("http://www.site.org/y/?utm_source=feed", "2024-01-05T00:00:00Z", "y variant"),
              ("https://site.org/z", "2024-01-01T00:00:00Z", "z only")])
    _warc(b, [("http://site.org/x#top", "2024-02-01T00:00:00Z", "early copy"),
              ("https://site.org/y", "2024-01-05T00:00:00Z", "y canonical")])
    c = tmp_path / "c.warc.gz"  # shares no URL with the others
    _warc(c, [("https://other.org/w", "2024-01-02T00:00:00Z", "w only")])
    results = []
    for order, workers in (([str(a), str(b), str(c)], 2), ([str(c), str(b), str(a)], 1)):
        out = tmp_path / f"out{workers}"
        stats = run_pool(order, out, PoolConfig(workers=workers), progress=False)
        pool = {r["url_normalized"]: r for r in read_pool(out).to_pylist()}
        results.append({k: (v["title"], v["warc_path"]) for k, v in pool.items()})
        assert set(pool) == {"https://site.org/x", "https://site.org/y", "https://site.org/z", "https://other.org/w"}
        assert pool["https://site.org/x"]["title"] == "early copy"
        assert pool["https://site.org/x"]["fetch_time"] == datetime(2024, 2, 1, tzinfo=timezone.utc)
        drops = [d for d in read_drops(out).to_pylist() if d["reason"] == "duplicate_url"]
        assert len(drops) == 2 and {d["warc_path"] for d in drops if d["url"] == "https://site.org/x"} == {str(a)}
        assert stats["totals"]["kept"] == 4 and stats["totals"]["dropped_by_reason"]["duplicate_url"] == 2
        # a WARC that lost nothing to URL dedup is not stored twice: its pool files are its per-WARC files
        for warc, shared in ((c, True), (a, False), (b, False)):
            key = warc_key(str(warc))
            for name in ("pages", "drops"):
                same = os.path.samefile(out / name / f"{key}.parquet", out / "warcs" / key / f"{name}.parquet")
                assert same == shared, (warc.name, name)
    # same fetch time for y: the tie goes to the smaller WARC path, whatever the order or worker count
    assert results[0] == results[1]
    assert results[0]["https://site.org/y"] == ("y variant", str(a))


def test_resume_after_a_killed_run_has_no_duplicates(shared_data, tmp_path):
    src = odd_warcs(shared_data)
    inputs = []
    for i, p in enumerate(src * 2):  # twice over, under new names: more units of work
        dst = tmp_path / "in" / f"{i:02d}-{Path(p).name}"
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(p, dst)
        inputs.append(str(dst))
    out = tmp_path / "out"
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    cmd = [sys.executable, "-m", "pipeline", "extract", "--workers", "1", "-i", *inputs, "-o", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and len(list(out.glob("warcs/*/_SUCCESS"))) < 3:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
        proc.wait()
    time.sleep(1.0)  # a WARC may have been renamed into place while the signal was on its way
    done_before = len(list(out.glob("warcs/*/_SUCCESS")))
    assert 3 <= done_before < len(inputs), "the run finished before it could be killed"
    assert not (out / "_SUCCESS").exists()
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{done_before} already done" in rerun.stderr
    stats_pool = read_pool(out)
    ids = stats_pool.column("id").to_pylist()
    assert len(ids) == len(set(ids))
    # same rows as one uninterrupted run (each page of the copies appears once, after URL dedup)
    clean = tmp_path / "clean"
    subprocess.run(cmd[:-1] + [str(clean)], cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
    assert sorted(ids) == sorted(read_pool(clean).column("id").to_pylist())
    assert sorted(read_drops(out).column("reason").to_pylist()) == sorted(read_drops(clean).column("reason").to_pylist())
    assert not list(out.glob("warcs/*/.*.tmp-*"))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def https_server(tmp_path):
    """HTTPS on 127.0.0.1 with a throwaway self-signed certificate, serving tmp_path/www."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not found: cannot make a test certificate")
    www = tmp_path / "www"
    www.mkdir()
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(www)))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_https_inputs_and_a_manifest_with_limit_and_sample(shared_data, ray_session, https_server, tmp_path):
    www, base = https_server
    names = ["dolma_sample-0000.warc.gz", "dolma_sample-0001.warc.gz", "warcio_example.warc.gz", "jwarc_cc.warc.gz"]
    (www / "crawl-data" / "CC-TEST" / "warc").mkdir(parents=True)
    for n in names:
        shutil.copy(shared_data / "warc" / n, www / "crawl-data" / "CC-TEST" / "warc" / n)
    with gzip.open(www / "warc.paths.gz", "wt") as fh:
        fh.writelines(f"crawl-data/CC-TEST/warc/{n}\n" for n in names)
    # self-signed test certificate: tell aiohttp not to verify it (never do this for real crawls)
    opts = {"ssl": False}
    direct = run_pool([f"{base}/crawl-data/CC-TEST/warc/{names[0]}"], tmp_path / "direct",
                      cfg(storage_options=opts), progress=False)
    assert direct["failures"] == [] and direct["totals"]["kept"] == 22
    assert read_pool(tmp_path / "direct").column("warc_path")[0].as_py().startswith("https://127.0.0.1")
    limited = run_pool([f"{base}/warc.paths.gz"], tmp_path / "limit",
                       cfg(storage_options=opts, manifest_limit=2, cc_base_url=base + "/"), progress=False)
    assert [Path(s["path"]).name for s in limited["per_warc"]] == names[:2]
    # 22 + 15 pages; the two wget crawls share a few URLs, which dedup drops
    t = limited["totals"]
    assert t["kept"] + t["dropped_by_reason"].get("duplicate_url", 0) == 37 and limited["failures"] == []
    sampled = run_pool([f"{base}/warc.paths.gz"], tmp_path / "sample",
                       cfg(storage_options=opts, manifest_sample=2, manifest_seed=7, cc_base_url=base + "/"),
                       progress=False)
    again = run_pool([f"{base}/warc.paths.gz"], tmp_path / "sample2",
                     cfg(storage_options=opts, manifest_sample=2, manifest_seed=7, cc_base_url=base + "/"),
                     progress=False)
    assert len(sampled["per_warc"]) == 2
    assert [s["path"] for s in sampled["per_warc"]] == [s["path"] for s in again["per_warc"]]
    missing = run_pool([f"{base}/crawl-data/none.warc.gz"], tmp_path / "404", cfg(storage_options=opts),
                       progress=False)
    assert len(missing["failures"]) == 1 and missing["failures"][0]["retryable"]


@pytest.fixture()
def s3_server():
    """An S3-compatible endpoint on 127.0.0.1 (moto's server) with a ``commoncrawl`` bucket."""
    pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    from pipeline_runs import moto_s3

    server, endpoint, _ = moto_s3("commoncrawl")
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
    yield client, endpoint
    server.stop()

def test_s3_manifest_and_warcs(shared_data, ray_session, s3_server, tmp_path):
    """``s3://commoncrawl/...`` inputs as Common Crawl lays them out, read by the Ray workers through s3fs."""
    client, endpoint = s3_server
    names = ["dolma_sample-0000.warc.gz", "dolma_sample-0001.warc.gz", "warcio_example.warc.gz"]
    for n in names:
        client.upload_file(str(shared_data / "warc" / n), "commoncrawl", f"crawl-data/CC-TEST/segments/1/warc/{n}")
    client.put_object(Bucket="commoncrawl", Key="crawl-data/CC-TEST/warc.paths.gz",
                      Body=gzip.compress("".join(f"crawl-data/CC-TEST/segments/1/warc/{n}\n" for n in names).encode()))
    opts = {"key": "testing", "secret": "testing", "endpoint_url": endpoint,
            "client_kwargs": {"region_name": "us-east-1"}}
    stats = run_pool(["s3://commoncrawl/crawl-data/CC-TEST/warc.paths.gz"], tmp_path / "s3",
                     cfg(storage_options=opts, manifest_limit=2, cc_base_url="s3://commoncrawl/"), progress=False)
    assert stats["failures"] == []
    assert [s["path"] for s in stats["per_warc"]] == [f"s3://commoncrawl/crawl-data/CC-TEST/segments/1/warc/{n}"
                                                      for n in names[:2]]
    t = stats["totals"]  # the same 22 + 15 pages as over https (a few URLs shared by the two crawls)
    assert t["kept"] + t["dropped_by_reason"].get("duplicate_url", 0) == 37
    row = read_pool(tmp_path / "s3").slice(0, 1).to_pylist()[0]
    again = read_record_at(row["warc_path"], row["warc_offset"], row["warc_length"], opts)  # one ranged GET
    assert again.record_id == row["warc_record_id"]
    missing = run_pool(["s3://commoncrawl/crawl-data/none.warc.gz"], tmp_path / "s3-404", cfg(storage_options=opts),
                       progress=False)
    assert len(missing["failures"]) == 1 and missing["failures"][0]["retryable"]


# -- the mini Common Crawl ---------------------------------------------------------

@pytest.fixture(scope="module")
def minicc_pool(minicc, ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("minicc_pool")
    stats = run_pool([str(minicc / "warc.paths.gz")], out, PoolConfig(workers=2), progress=False)
    return minicc, out, stats


def test_minicc_damaged_files_fail_and_keep_their_good_records(minicc_pool):
    minicc, out, stats = minicc_pool
    damaged = {Path(f["path"]).name: f for f in stats["failures"]}
    assert len(damaged) == 2 and not any(f["retryable"] for f in damaged.values())
    reasons = sorted(f["reason"] for f in damaged.values())
    assert any("not a WARC" in r for r in reasons) and any("truncated" in r for r in reasons)
    per = {Path(s["path"]).name: s for s in stats["per_warc"]}
    truncated = next(per[n] for n, f in damaged.items() if "truncated" in f["reason"])
    assert truncated["records_seen"] > 0 and truncated["kept"] > 0
    for s in stats["per_warc"]:
        assert s["records_seen"] == s["kept"] + s["dropped"]
        if Path(s["path"]).name not in damaged:
            assert s["records_seen"] == scan_warc(s["path"]).records and not s["error"]


def test_minicc_every_response_is_accounted_for(minicc_pool):
    minicc, out, stats = minicc_pool
    truth = pq.read_table(minicc / "truth.parquet").to_pylist()
    pool = read_pool(out).to_pylist()
    drops = read_drops(out).to_pylist()
    t = stats["totals"]
    assert t["records_seen"] == len(pool) + len(drops) == t["kept"] + t["dropped"]
    kept_ids = {r["warc_record_id"] for r in pool}
    dropped = {d["warc_record_id"]: d["reason"] for d in drops}
    assert not kept_ids & set(dropped)
    for row in truth:  # every complete response record of the crawl: kept, or dropped for the right reason
        rid = row["warc_record_id"]
        assert rid in kept_ids or rid in dropped, row
        if row["http_status"] != 200:
            assert dropped[rid] == "http_status"
        elif not row["is_html"]:
            assert dropped[rid] == "not_html"


def test_minicc_url_dedup_keeps_the_earliest_capture(minicc_pool):
    from pipeline.extraction.extract import normalize_url

    minicc, out, stats = minicc_pool
    truth = [r for r in pq.read_table(minicc / "truth.parquet").to_pylist() if r["is_html"] and r["http_status"] == 200]
    pool = read_pool(out).to_pylist()
    ids = [r["id"] for r in pool]
    assert len(ids) == len(set(ids))
    by_url: dict[str, list] = {}
    for r in truth:
        by_url.setdefault(normalize_url(r["url"]), []).append(r)
    kept = {r["url_normalized"]: r for r in pool}
    groups = [g for g in by_url.values() if len(g) > 1]
    assert any(r["dup_kind"] == "url_variant" for g in groups for r in g)
    assert any(r["dup_kind"] == "refetch" for g in groups for r in g)
    for g in groups:
        norm = normalize_url(g[0]["url"])
        if norm not in kept:  # every capture was dropped for another reason
            continue
        earliest = min(g, key=lambda r: (r["fetch_time"], r["warc_file"], r["warc_offset"]))
        assert kept[norm]["warc_record_id"] == earliest["warc_record_id"]
    assert stats["totals"]["dropped_by_reason"]["duplicate_url"] == sum(len(g) - 1 for g in groups
                                                                        if normalize_url(g[0]["url"]) in kept)


def test_minicc_math_survives_for_every_markup_kind(minicc_pool):
    minicc, out, stats = minicc_pool
    truth = {r["warc_record_id"]: r for r in pq.read_table(minicc / "truth.parquet").to_pylist()}
    per_kind: dict[str, list[int]] = {}
    for row in read_pool(out).to_pylist():
        t = truth[row["warc_record_id"]]
        if t["is_math"] and t["math_elements"]:
            acc = per_kind.setdefault(t["math_markup"], [0, 0])
            acc[0] += t["math_elements"]
            acc[1] += min(row["math_fragments_text"], t["math_elements"] + 4)  # titles repeat a formula or two
    assert {"mathjax", "tex", "katex", "mathml", "mathml_noannot", "wiki_img", "latex_img"} <= set(per_kind)
    for kind, (want, got) in per_kind.items():
        assert got >= 0.95 * want, (kind, got, want)
    assert stats["totals"]["math_survival"] >= 0.95


def test_minicc_language_and_charset(minicc_pool):
    minicc, out, stats = minicc_pool
    truth = {r["warc_record_id"]: r for r in pq.read_table(minicc / "truth.parquet").to_pylist()}
    rows = [(truth[r["warc_record_id"]], r) for r in read_pool(out).to_pylist()]
    for lang in ("en", "zh"):
        pairs = [(t, r) for t, r in rows if t["language"] == lang]
        assert pairs and sum(r["lang"] == lang for t, r in pairs) >= 0.97 * len(pairs), lang
    gbk = [(t, r) for t, r in rows if t["actual_charset"] == "gb18030"]
    assert gbk and all(r["charset"] == "gb18030" for t, r in gbk)  # missing or wrong labels included
    assert any(t["declared_charset"] != "gbk" for t, r in gbk)
    assert not any("\ufffd" in r["text"] or "Ã" in r["text"] or "Â" in r["text"] for t, r in rows)


def test_pool_stage_in_the_run_lists_damaged_inputs(minicc, ray_session, tmp_path):
    from pipeline.core.config import load_config
    from pipeline.core.executor import Executor
    from pipeline.core.io import is_complete, read_marker
    from pipeline.core.stage import StageContext
    from pipeline.pool import run_pool_stage
    from pipeline.run import STAGES

    assert [s.name for s in STAGES].index("pool") == [s.name for s in STAGES].index("minicc") + 1
    workdir = tmp_path / "out"
    workdir.mkdir()
    (workdir / "minicc").symlink_to(minicc, target_is_directory=True)
    cfg = load_config(REPO / "configs" / "default.yaml", {"workdir": str(workdir)})
    with Executor() as ex:
        ctx = StageContext(cfg=cfg, workdir=str(workdir), folder=str(workdir / "pool"),
                           inputs={"minicc": str(workdir / "minicc")}, executor=ex, progress=False)
        stats = run_pool_stage(ctx)
    assert len(stats.extra["failures"]) == 2 and stats.rows_out > 0 and stats.balanced
    per_warc = json.loads((workdir / "pool" / "stats.json").read_text())["per_warc"]
    assert stats.rows_in == sum(s["records_seen"] for s in per_warc)  # damaged files' good records included
    assert stats.dropped["duplicate_url"] > 0 and stats.units == len(list((minicc / "warc").glob("*.warc.gz")))
    assert is_complete(workdir / "pool")  # the damaged files are final, not retryable
    assert read_marker(workdir / "pool")["rows_out"] == stats.rows_out


# -- URL dedup across WARCs, hash-partitioned -----------------------------------------

def _earliest_capture_losers(candidate_files: list[str]) -> set[tuple[str, int]]:
    """(file, row) of every candidate that is not the earliest capture of its id: the rule stated plainly,
    over every row at once (what the partitioned dedup must reproduce without holding them together)."""
    rows = []
    for f in candidate_files:
        t = pq.read_table(f, columns=["id", "fetch_time", "warc_path", "warc_offset"]).to_pylist()
        rows += [(r["id"], (r["fetch_time"], r["warc_path"], r["warc_offset"]), f, i) for i, r in enumerate(t)]
    best: dict[str, tuple] = {}
    for doc_id, cand, f, i in rows:
        if doc_id not in best or cand < best[doc_id][0]:
            best[doc_id] = (cand, f, i)
    return {(f, i) for doc_id, cand, f, i in rows if best[doc_id][1:] != (f, i)}


def _crafted_crawl(folder: Path) -> list[str]:
    """Five WARCs whose captures share URLs across files: refetches at other times, URL variants, equal fetch
    times in different files (the tie goes to the smaller WARC path), and a WARC that shares nothing."""
    import random

    rng = random.Random(11)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for w in range(5):
        captures = []
        for i in range(24):
            if w == 4:
                url = f"https://alone.org/p{i}"
            else:
                n = rng.randrange(30)
                url = rng.choice([f"https://site{n % 3}.org/p{n}", f"http://www.site{n % 3}.org/p{n}/?utm_source=x",
                                  f"https://site{n % 3}.org/p{n}#frag"])
            day = rng.choice([1, 1, 2, 3])
            captures.append((url, f"2024-01-{day:02d}T00:00:00Z", f"page {w}-{i} about p{url.split('/p')[-1][:3]}"))
        p = folder / f"crawl-{w}.warc.gz"
        _warc(p, captures)
        paths.append(str(p))
    return paths


def test_partitioned_url_dedup_keeps_the_earliest_capture_whatever_the_partitions(ray_session, tmp_path):
    paths = _crafted_crawl(tmp_path / "in")
    pools = []
    for partitions, order in ((1, paths), (7, paths[::-1])):
        out = tmp_path / f"p{partitions}"
        stats = run_pool(order, out, cfg(), progress=False, url_partitions=partitions)
        assert stats["failures"] == [] and stats["url_dedup"]["partitions"] == partitions
        candidates = sorted(str(out / "warcs" / warc_key(p) / "pages.parquet") for p in paths)
        losers = _earliest_capture_losers(candidates)
        assert len(losers) > 20  # the crawl is built to share many URLs
        # the pool is exactly the candidates that are not losers, the drop log exactly the losers
        want_kept = set()
        for f in candidates:
            for i, r in enumerate(pq.read_table(f, columns=["warc_record_id"]).to_pylist()):
                if (f, i) not in losers:
                    want_kept.add(r["warc_record_id"])
        pool = read_pool(out)
        assert set(pool.column("warc_record_id").to_pylist()) == want_kept
        assert len(set(pool.column("id").to_pylist())) == pool.num_rows
        dups = [d for d in read_drops(out).to_pylist() if d["reason"] == "duplicate_url"]
        assert len(dups) == len(losers) == stats["totals"]["dropped_by_reason"]["duplicate_url"]
        ss = stats["stage_stats"]
        assert ss["rows_out"] == pool.num_rows and ss["dropped"]["duplicate_url"] == len(losers) and ss["balanced"]
        assert ss["rows_in"] == sum(scan_warc(p).records for p in paths)
        # the WARC that shares no URL is published as its own per-WARC files
        alone = warc_key(paths[4])
        assert os.path.samefile(out / "pages" / f"{alone}.parquet", out / "warcs" / alone / "pages.parquet")
        pools.append(sorted(zip(pool.column("id").to_pylist(), pool.column("warc_record_id").to_pylist())))
    assert pools[0] == pools[1]


def test_url_dedup_on_pool_shaped_files_without_html(ray_session, tmp_path):
    """The partitioned URL dedup as a scale benchmark calls it: Parquet files with ids, fetch times and WARC
    positions only; the same losers as the rule over all rows; a rerun resumes from the unit markers; other
    inputs start afresh."""
    import random
    from datetime import timedelta

    import pyarrow as pa

    from pipeline.core.executor import Executor
    from pipeline.url_dedup import loser_rows, url_dedup

    rng = random.Random(5)
    files = []
    for i in range(6):
        n = 400
        ids = [f"{rng.randrange(900):016x}" for _ in range(n)]
        times = [datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(hours=rng.randrange(4)) for _ in range(n)]
        t = pa.table({"id": ids, "url": [f"https://x.org/{d}" for d in ids],
                      "fetch_time": pa.array(times, pa.timestamp("us", tz="UTC")),
                      "warc_path": [f"s3://cc/seg{i % 2}.warc.gz"] * n, "warc_offset": rng.sample(range(10**6), n),
                      "text": ["t"] * n})
        f = tmp_path / "in" / f"part-{i}.parquet"
        f.parent.mkdir(exist_ok=True)
        pq.write_table(t, f)
        files.append(str(f))
    want = _earliest_capture_losers(files)
    out = str(tmp_path / "ud")
    with Executor() as ex:
        stats = url_dedup(files, out, ex, partitions=5)
        keys = list(stats["per_file"])
        got = {(f, r) for f, k in zip(files, keys) for r in loser_rows(stats["folder"], k).column("row").to_pylist()}
        again = url_dedup(files, out, ex, partitions=5)
        fewer = url_dedup(files[:4], out, ex, partitions=3)
    assert got == want and stats["duplicate_url"] == len(want) and stats["candidates"] == 2400
    assert stats["kept"] == len({i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()})
    assert sum(v["duplicate_url"] for v in stats["per_file"].values()) == len(want)
    assert again["units_cached"] == 6 + 5 + 6 and again["per_file"] == stats["per_file"]
    assert fewer["folder"] != stats["folder"] and not Path(stats["folder"]).exists()
    got4 = {(f, r) for f, k in zip(files, fewer["per_file"])
            for r in loser_rows(fewer["folder"], k).column("row").to_pylist()}
    assert got4 == _earliest_capture_losers(files[:4])


# -- the pool folder on an object store ----------------------------------------------

def test_pool_folder_on_s3(shared_data, ray_session, s3_server, tmp_path):
    """``extract -o s3://...``: every output and marker on the S3 endpoint, no temporary key left, the same pool
    as a local run, and a rerun that resumes from the markers there."""
    from pipeline.core import storage
    from pipeline.core.io import is_complete, read_marker

    client, endpoint = s3_server
    client.create_bucket(Bucket="run")
    opts = {"key": "testing", "secret": "testing", "endpoint_url": endpoint,
            "client_kwargs": {"region_name": "us-east-1"}}
    paths = _crafted_crawl(tmp_path / "in")[:3] + [str(shared_data / "warc" / "dolma_sample-0000.warc.gz")]
    url = "s3://run/work/pool"
    stats = run_pool(paths, url, cfg(), progress=False, storage_options=opts, url_partitions=3)
    local = run_pool(paths, tmp_path / "local", cfg(), progress=False)
    assert stats["failures"] == [] and is_complete(url, opts)
    marker = read_marker(url, opts)
    assert marker["stage"] == "pool" and marker["rows_out"] == stats["totals"]["kept"] and marker["balanced"]
    on_s3 = read_pool(url, opts)
    assert sorted(on_s3.column("id").to_pylist()) == sorted(read_pool(tmp_path / "local").column("id").to_pylist())
    assert sorted(read_drops(url, opts).column("warc_record_id").to_pylist()) == \
        sorted(read_drops(tmp_path / "local").column("warc_record_id").to_pylist())
    assert stats["totals"]["dropped_by_reason"]["duplicate_url"] > 0
    keys = {o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket="run")
            for o in page.get("Contents", [])}
    assert {f"work/pool/pages/{warc_key(p)}.parquet" for p in paths} <= keys
    assert {"work/pool/_SUCCESS", "work/pool/stats.json", "work/pool/failures.json"} <= keys
    assert not [k for k in keys if "/.tmp/" in k]
    json_stats = json.loads(storage.read_bytes(f"{url}/stats.json", opts))
    assert [s["path"] for s in json_stats["per_warc"]] == paths
    rerun = run_pool(paths, url, cfg(), progress=False, storage_options=opts, url_partitions=3)
    assert all(s.get("skipped") for s in rerun["per_warc"])
    assert rerun["stage_stats"]["units_cached"] == len(paths)
    assert sorted(read_pool(url, opts).column("id").to_pylist()) == sorted(on_s3.column("id").to_pylist())
    # inputs globbed on the object store: its WARC files and manifests, in name order
    from pipeline.commoncrawl.inputs import resolve_inputs

    for p in paths[:2]:
        client.upload_file(p, "run", f"in/{Path(p).name}")
    client.put_object(Bucket="run", Key="in/notes.txt", Body=b"not a WARC")
    got, failures = resolve_inputs(["s3://run/in/*", "s3://run/none/*.warc.gz"], storage_options=opts)
    assert got == [f"s3://run/in/{Path(p).name}" for p in sorted(paths[:2])] + ["s3://run/none/*.warc.gz"]
    assert failures == []
