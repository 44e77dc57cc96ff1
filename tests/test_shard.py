"""Corpus shards: sized by target, zstd, manifest with sha256; readable by pyarrow, duckdb and HF datasets."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.schema import CORPUS_SCHEMA
from pipeline.shard import ShardSpec, verify_corpus, write_corpus


def _rows(n, start=0):
    t = datetime(2024, 2, 20, tzinfo=timezone.utc)
    return pa.Table.from_pylist([{
        "id": f"{i:016x}", "url": f"https://site{i % 7}.org/q/{i}", "domain": f"site{i % 7}.org",
        "text": ("Let $x^2 = %d$. " % i) * (1 + i % 5) + ("设 $x$ 为实数。" if i % 4 == 0 else ""),
        "lang": "zh" if i % 4 == 0 else "en", "math_score": (i % 100) / 100, "round": 1 + i % 3,
        "token_count": 10 * (1 + i % 5), "warc_path": "warc/a.warc.gz", "warc_record_id": f"<urn:uuid:{i}>",
        "fetch_time": t} for i in range(start, start + n)], schema=CORPUS_SCHEMA)


def test_shards_by_rows_with_manifest_and_readers(tmp_path):
    out = tmp_path / "corpus"
    manifest = write_corpus([_rows(250), _rows(180, 250)], out, ShardSpec(target_rows=100, target_bytes=None,
                            row_group_rows=40), stage_counts={"pool": 1000}, config={"a": 1})
    assert [f["rows"] for f in manifest["files"]] == [100, 100, 100, 100, 30]
    assert manifest["rows"] == 430 and manifest["stage_counts"] == {"pool": 1000} and manifest["config_hash"]
    assert (out / "_SUCCESS").exists() and not list(out.glob(".*tmp*"))
    verify_corpus(out)
    pf = pq.ParquetFile(out / "part-00000.parquet")
    assert pf.metadata.row_group(0).column(0).compression == "ZSTD" and pf.metadata.num_row_groups == 3
    # pyarrow (the folder also holds manifest.json and _SUCCESS: skip what is not Parquet)
    import pyarrow.dataset as ds
    table = ds.dataset(out, format="parquet", exclude_invalid_files=True).to_table()
    assert table.num_rows == 430 and table.schema.names == CORPUS_SCHEMA.names
    assert table["id"].to_pylist() == [f"{i:016x}" for i in range(430)]  # order kept
    # duckdb
    import duckdb
    con = duckdb.connect()
    got = con.execute(f"select count(*), count(distinct id), sum(token_count) from read_parquet('{out}/part-*.parquet')").fetchone()
    assert got == (430, 430, int(pa.compute.sum(table["token_count"]).as_py()))
    # Hugging Face datasets (local files only)
    import datasets
    hf = datasets.load_dataset("parquet", data_files=sorted(str(p) for p in out.glob("part-*.parquet")),
                               split="train", cache_dir=str(tmp_path / "hf"))
    assert hf.num_rows == 430 and hf[3]["id"] == f"{3:016x}" and "x^2" in hf[3]["text"]


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


def test_inspect_cli_reports_counts(tmp_path):
    out = tmp_path / "run" / "corpus"
    write_corpus([_rows(120)], out, ShardSpec(target_rows=50))
    res = subprocess.run([sys.executable, "-m", "pipeline", "inspect", str(tmp_path / "run")], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert "rows: 120" in res.stdout and "by language" in res.stdout and "top domains" in res.stdout
    js = json.loads(subprocess.run([sys.executable, "-m", "pipeline", "inspect", str(out), "--json"],
                                   capture_output=True, text=True).stdout)
    assert dict(js["by_lang"]) == {"en": 90, "zh": 30} and sum(n for _, n in js["score_histogram"]) == 120
    missing = subprocess.run([sys.executable, "-m", "pipeline", "inspect", str(tmp_path)], capture_output=True, text=True)
    assert missing.returncode == 2 and "no part-" in missing.stderr
