"""Hostile or unlucky inputs: manifests that point at local files or internal hosts, unbounded config values,
folders as inputs, one run per workdir, Ray on loopback."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.pool import InputPolicy, host_kind, resolve_inputs

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "default.yaml"


def _manifest(path: Path, entries: list[str]) -> str:
    path.write_bytes(gzip.compress(("\n".join(entries) + "\n").encode()))
    return str(path)


REFUSED = {
    "file:///etc/passwd": "local",
    "FILE:///etc/shadow": "local",
    "/etc/shadow": "local",
    "~/.ssh/id_rsa": "local",
    "../../../etc/hostname": "..",
    "crawl-data/../../etc/hostname": "..",
    "http://127.0.0.1:8265/api/jobs/": "loopback",
    "http://127.1/x.warc.gz": "loopback",
    "http://0x7f000001/x.warc.gz": "loopback",
    "http://2130706433/x.warc.gz": "loopback",
    "http://localhost:9000/x.warc.gz": "loopback",
    "http://[::1]/x.warc.gz": "loopback",
    "http://[::ffff:127.0.0.1]/x.warc.gz": "loopback",
    "https://10.0.0.5/x.warc.gz": "private",
    "http://192.168.1.1/x.warc.gz": "private",
    "http://0.0.0.0/x.warc.gz": "private",
    "http://169.254.169.254/latest/meta-data/": "link_local",
    "http://[fe80::1]/x.warc.gz": "link_local",
    "ftp://example.org/x.warc.gz": "allow_schemes",
    "gopher://example.org/x": "allow_schemes",
    "http://example.org/\x1b[31mred.warc.gz": "control",
}


def test_manifest_entries_of_every_refused_kind_are_failures_and_never_opened(shared_data, tmp_path):
    ok = str(shared_data / "warc" / "warcio_example.warc.gz")
    (tmp_path / "warc").mkdir()
    (tmp_path / "warc" / "a.warc.gz").write_bytes(Path(ok).read_bytes())
    entries = list(REFUSED) + ["warc/a.warc.gz", "https://data.commoncrawl.org/crawl-data/x.warc.gz",
                               "crawl-data/CC-MAIN-2024-10/segments/1/warc/b.warc.gz"]
    man = _manifest(tmp_path / "warc.paths.gz", entries)
    paths, failures = resolve_inputs([man])
    assert paths == [str(tmp_path / "warc" / "a.warc.gz"), "https://data.commoncrawl.org/crawl-data/x.warc.gz",
                     "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-10/segments/1/warc/b.warc.gz"]
    assert len(failures) == len(REFUSED)
    for f, (entry, why) in zip(failures, REFUSED.items()):
        assert not f["retryable"] and f["records_read"] == 0
        text = f["path"] + " " + f["reason"]
        assert "\x1b" not in text and all(32 <= ord(c) < 127 for c in text), text
        assert why in f["reason"] or (why == "control" and "control characters" in f["reason"]), (entry, f)
    # listed in the config, they are allowed
    pol = InputPolicy(manifest_targets=("local", "loopback", "private", "link_local"), schemes=("https", "http", "ftp"))
    paths, failures = resolve_inputs([_manifest(tmp_path / "w2.paths.gz", ["/etc/hostname", "http://127.0.0.1/x",
                                                                           "ftp://example.org/y"])], policy=pol)
    assert paths == ["/etc/hostname", "http://127.0.0.1/x", "ftp://example.org/y"] and failures == []


def test_refused_entries_in_a_pool_run_never_leak_file_contents(shared_data, ray_session, tmp_path):
    """The run reads the good WARC, lists the refused entries and completes; nothing of /etc is read."""
    from pipeline.config import PoolConfig
    from pipeline.pool import run_pool

    (tmp_path / "warc").mkdir()
    (tmp_path / "warc" / "a.warc.gz").write_bytes((shared_data / "warc" / "warcio_example.warc.gz").read_bytes())
    secret = tmp_path / "secret.txt"
    secret.write_text("root:TOPSECRET\n")
    man = _manifest(tmp_path / "warc.paths.gz", ["warc/a.warc.gz", f"file://{secret}", str(secret), "../secret.txt"])
    stats = run_pool([man], tmp_path / "pool", PoolConfig(workers=1), progress=False)
    assert stats["warcs_done"] == 1 and len(stats["failures"]) == 3
    assert not any(f["retryable"] for f in stats["failures"])
    for name in ("failures.json", "stats.json"):
        assert "TOPSECRET" not in (tmp_path / "pool" / name).read_text()


def test_direct_inputs_need_an_allowed_scheme_and_folders_expand(shared_data, tmp_path):
    paths, failures = resolve_inputs(["ftp://example.org/a.warc.gz", str(shared_data / "warc")])
    assert [f["reason"] for f in failures] == ["URL scheme ftp:// is not in pool.allow_schemes (https, http, s3, gs, hf)"]
    assert paths == sorted(str(p) for p in (shared_data / "warc").rglob("*.warc.gz"))
    assert host_kind("example.org") is None and host_kind("8.8.8.8") is None and host_kind("127.0.0.2") == "loopback"


@pytest.mark.parametrize("key,value", [
    ("synth.pages", 1e23), ("synth.pages", 10**12), ("recall.fasttext.bucket", 10**11),
    ("recall.fasttext.bucket", 40_000_000), ("pool.max_record_bytes", 1 << 40), ("pool.workers", 10**6),
    ("dedup.partition_rows", 10**12), ("corpus.target_bytes", 1 << 50), ("train.steps", 10**12),
    ("tokenize.task_mib", 10**9), ("pool.allow_schemes", ["file"]), ("pool.allow_manifest_targets", ["anything"]),
])
def test_every_resource_a_config_asks_for_is_bounded(key, value):
    with pytest.raises(ConfigError) as info:
        load_config(CONFIG, {key: value})
    section = key.rsplit(".", 1)[0]
    assert key in str(info.value) or (key == "recall.fasttext.bucket" and "recall.fasttext.bucket" in str(info.value)
                                      ) or section in str(info.value), str(info.value)
