"""Corpus shards: sized by target, zstd, manifest with sha256; readable by pyarrow, duckdb and HF datasets."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.schema import CORPUS_SCHEMA
from pipeline.shard import ShardSpec, verify_corpus, write_corpus


def _rows(n, start=0):
    t = datetime(2024, 2, 20, tzinfo=timezone.utc)
    return pa.Table.from_pylist([{
        "id": f"{i:016x}", "url": f"https://site{i % 7}.org/q/{i}", "domain": f"site{i % 7}.org",
        "text": ("Let $x^2 = %d$. " % i) * (1 + i % 5) + ("设 $x$ 为实数。" if i % 4 == 0 else ""),
        "lang": "zh" if i % 4 == 0 else "en", "math_score": (i % 100) / 100, "round": 1 + i % 3,
        "token_count": 10 * (1 + i % 5), "warc_path": "/data/crawl/a.warc.gz", "warc_offset": 1000 * i,
        "warc_length": 900, "warc_record_id": f"<urn:uuid:{i}>", "fetch_time": t}
        for i in range(start, start + n)], schema=CORPUS_SCHEMA)


def _small_tables(sizes):
    """Like decontam's kept files: many tables, each smaller than a row group."""
    start = 0
    for n in sizes:
        yield _rows(n, start)
        start += n


SIZES = [5, 84, 13, 40, 7, 61, 22, 9, 70, 33, 18, 44, 24]  # 430 rows in 13 pieces


@pytest.fixture(scope="module")
def corpus_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "corpus"
    manifest = write_corpus(_small_tables(SIZES), out, ShardSpec(target_rows=200, target_bytes=None,
                            row_group_rows=40), stage_counts={"pool": 1000}, config={"a": 1})
    return out, manifest


def test_shards_by_rows_with_row_groups_as_configured(corpus_folder):
    out, manifest = corpus_folder
    assert [f["rows"] for f in manifest["files"]] == [200, 200, 30]
    assert manifest["rows"] == 430 and manifest["stage_counts"] == {"pool": 1000} and manifest["config_hash"]
    assert manifest["contract"] == "corpus/v2" and manifest["row_group_rows"] == 40
    # every file of the folder is a shard; the manifest and marker are in .meta/, which readers skip
    assert sorted(p.name for p in out.iterdir()) == [".meta", "part-00000.parquet", "part-00001.parquet",
                                                     "part-00002.parquet"]
    assert sorted(p.name for p in (out / ".meta").iterdir()) == ["_SUCCESS", "manifest.json"]
    verify_corpus(out)
    groups = [[pq.ParquetFile(out / f["file"]).metadata.row_group(g).num_rows
               for g in range(pq.ParquetFile(out / f["file"]).metadata.num_row_groups)] for f in manifest["files"]]
    # 13 pieces of 5-84 rows still give row groups of exactly row_group_rows (each shard's last one fewer)
    assert groups == [[40] * 5, [40] * 5, [30]]
    assert [f["row_groups"] for f in manifest["files"]] == [5, 5, 1]
    assert pq.ParquetFile(out / "part-00000.parquet").metadata.row_group(0).column(0).compression == "ZSTD"


def test_the_folder_is_a_dataset_for_pyarrow_and_duckdb(corpus_folder):
    out, _ = corpus_folder
    ids = [f"{i:016x}" for i in range(430)]
    table = pq.read_table(out)  # the failing command of issue 16: no glob, no exclude flag
    assert table.num_rows == 430 and table.schema.names == CORPUS_SCHEMA.names
    assert sorted(table["id"].to_pylist()) == ids
    import pyarrow.dataset as ds
    dataset = ds.dataset(out, format="parquet")
    assert dataset.count_rows() == 430 and dataset.to_table(columns=["id"])["id"].to_pylist() == ids  # order kept
    import duckdb
    con = duckdb.connect()
    want = (430, 430, int(pa.compute.sum(table["token_count"]).as_py()))
    for source in (f"{out}/*", f"{out}/*.parquet", str(out)):
        got = con.execute(f"select count(*), count(distinct id), sum(token_count) from read_parquet('{source}')")
        assert got.fetchone() == want, source


def test_the_folder_is_a_dataset_for_hf_datasets(corpus_folder, tmp_path):
    out, _ = corpus_folder
    import datasets
    hf = datasets.load_dataset("parquet", data_dir=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert hf.num_rows == 430 and hf[3]["id"] == f"{3:016x}" and "x^2" in hf[3]["text"]
    assert hf[3]["warc_offset"] == 3000 and hf[3]["warc_path"] == "/data/crawl/a.warc.gz"


def test_the_folder_is_a_dataset_for_ray_data(corpus_folder, ray_session):
    out, _ = corpus_folder
    rd = ray_session.data.read_parquet(str(out))
    assert rd.count() == 430 and sorted(r["id"] for r in rd.take_all()) == [f"{i:016x}" for i in range(430)]


def test_the_folder_is_a_dataset_for_spark(corpus_folder):
    pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (optional: pip install pyspark, "
                                  "needs a Java runtime)")
    import shutil
    if not shutil.which("java"):
        pytest.skip("no Java runtime for Spark")
    out, _ = corpus_folder
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[1]").appName("corpus-reader").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "1").getOrCreate())
    try:
        df = spark.read.parquet(str(out))
        assert df.count() == 430 and df.select("id").distinct().count() == 430
        assert set(df.columns) == set(CORPUS_SCHEMA.names)
    finally:
        spark.stop()
    assert pyspark


def test_shards_by_bytes_and_tamper_detection(tmp_path):
    out = tmp_path / "corpus"
    big = _rows(400)
    manifest = write_corpus([big], out, ShardSpec(target_rows=None, target_bytes=big.nbytes // 4))
    assert 3 <= len(manifest["files"]) <= 6 and manifest["rows"] == 400
    with open(out / "part-00001.parquet", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ValueError, match="sha256"):
        verify_corpus(out)


def test_rewrite_replaces_never_appends(tmp_path):
    out = tmp_path / "corpus"
    write_corpus([_rows(50)], out, ShardSpec(target_rows=20))
    write_corpus([_rows(30)], out, ShardSpec(target_rows=20))
    assert pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read().num_rows == 30 and len(list(out.glob("part-*.parquet"))) == 2


def test_inspect_cli_reports_counts_and_a_seeded_random_sample(tmp_path):
    out = tmp_path / "run" / "corpus"
    write_corpus([_rows(120)], out, ShardSpec(target_rows=50))

    def inspect(*args):
        res = subprocess.run([sys.executable, "-m", "pipeline", "inspect", *args], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        return res.stdout

    text = inspect(str(tmp_path / "run"))  # a run folder: its corpus (the old positional spelling)
    assert "rows: 120" in text and "by language" in text and "top domains" in text
    assert "words (no tokenizer yet" in text  # no megatron/tokenizer in this run: words, and it says so
    js = json.loads(inspect("--input", str(out), "--json", "--samples", "5", "--seed", "3"))
    assert js["by_lang"] == {"en": 90, "zh": 30} and sum(b["pages"] for b in js["score_histogram"]) == 120
    assert js["manifest"]["contract"] == "corpus/v2" and js["schema"]["warc_offset"] == "int64"
    rows = [s["row"] for s in js["samples"]]
    assert len(set(rows)) == 5 and rows != list(range(5))  # drawn at random, not the first rows
    for s in js["samples"]:
        assert s["id"] == f"{s['row']:016x}" and s["tokens"] == len(s["text"].split())
    again = json.loads(inspect("-i", str(out), "--json", "--samples", "5", "--seed", "3"))
    other = json.loads(inspect("-i", str(out), "--json", "--samples", "5", "--seed", "4"))
    assert again["samples"] == js["samples"] and other["samples"] != js["samples"]
    missing = subprocess.run([sys.executable, "-m", "pipeline", "inspect", "--input", str(tmp_path)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no Parquet rows" in missing.stderr


@pytest.mark.parametrize("spec", [ShardSpec(target_rows=200, target_bytes=None, row_group_rows=40),
                                  ShardSpec(target_rows=None, target_bytes=30_000, row_group_rows=16),
                                  ShardSpec(target_rows=90, target_bytes=40_000, row_group_rows=25)],
                         ids=["rows", "bytes", "both"])
def test_planned_shards_cut_where_the_stream_does(spec, tmp_path):
    """The corpus step plans shards from per-file sizes alone (workers write them): the cuts of the stream."""
    from pipeline.shard import plan_shards, publish_manifest, write_shard

    tables = list(_small_tables(SIZES))
    streamed = write_corpus(tables, tmp_path / "streamed", spec)
    plan = plan_shards([(i, t.num_rows, t.nbytes) for i, t in enumerate(tables)], spec)
    assert [sum(b - a for _, a, b in shard) for shard in plan] == [f["rows"] for f in streamed["files"]]
    out = tmp_path / "planned"
    files = [write_shard(pa.concat_tables([tables[i].slice(a, b - a) for i, a, b in shard]), str(out), k, spec)
             for k, shard in enumerate(plan)]
    manifest = publish_manifest(str(out), files, spec)
    assert verify_corpus(out)["rows"] == streamed["rows"] == 430
    assert [f["row_groups"] for f in manifest["files"]] == [f["row_groups"] for f in streamed["files"]]
    assert pq.read_table(out).equals(pq.read_table(tmp_path / "streamed"))
