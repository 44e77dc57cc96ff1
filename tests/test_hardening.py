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

from pipeline.core.config import ConfigError, load_config
from pipeline.commoncrawl.inputs import InputPolicy, host_kind, resolve_inputs

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
    from pipeline.core.config import PoolConfig
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


# --- artefacts verified before they are published ---------------------------------------------------

def _small_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=True)


def _train_file(path: Path) -> None:
    import random

    from classifiers import model as ftm
    from classifiers.text import normalize

    rng = random.Random(5)
    math = ["let $x^{%d} + y = %d$ so the integral of f(x) dx equals %d" % (rng.randrange(9), i, i) for i in range(60)]
    news = ["the council met on %s to discuss the road and the budget %d" % (rng.choice("MTWF"), i) for i in range(60)]
    ftm.write_fasttext_file(path, [ftm.Example(str(i), normalize(t), int(i < 60)) for i, t in enumerate(math + news)],
                            shuffle_seed=1)


def test_model_saved_on_a_full_disk_is_never_published(tmp_path, ray_session):
    """fastText's save_model ignores ENOSPC: on a 2 MiB tmpfs the ~5 MiB model is cut short, the check finds it,
    nothing is published; on a disk with room the same training publishes a vouched-for model."""
    from classifiers import model as ftm
    from pipeline.core.config import FastTextParams

    _train_file(tmp_path / "train.txt")
    params = FastTextParams(dim=64, bucket=20_000, epoch=5, min_count=1)
    full = tmp_path / "full"
    if not _small_tmpfs(full, "2m"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        with pytest.raises(Exception) as info:
            ftm.train_isolated(tmp_path / "train.txt", full / "model.bin", params, seed=1)
        assert "not published" in str(info.value) and "free" in str(info.value)
        assert not (full / "model.bin").exists() and not ftm.is_verified(full / "model.bin")
        assert [p.name for p in full.iterdir()] == []  # the temporary file is gone too
    finally:
        _umount(full)
    ftm.train_isolated(tmp_path / "train.txt", tmp_path / "model.bin", params, seed=1)
    assert ftm.is_verified(tmp_path / "model.bin")
    # a model cut short afterwards (or published by an older version) is not trusted
    blob = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(blob[: len(blob) - 4096])
    assert not ftm.is_verified(tmp_path / "model.bin")
    with pytest.raises(OSError):
        ftm.load_verified(tmp_path / "model.bin")


def test_markers_vouch_for_their_outputs(tmp_path):
    import pyarrow as pa

    from pipeline.core.io import OutputCheckFailed, is_complete, mark_complete, write_parquet_atomic

    write_parquet_atomic(tmp_path / "a.parquet", pa.table({"x": list(range(100))}))
    mark_complete(tmp_path, {"rows": 100}, outputs=["a.parquet"])
    marker = json.loads((tmp_path / "_SUCCESS").read_text())
    assert marker["_vouches_for"]["a.parquet"]["rows"] == 100 and is_complete(tmp_path)
    blob = (tmp_path / "a.parquet").read_bytes()
    (tmp_path / "a.parquet").write_bytes(blob[:-10])  # cut short after the marker: the unit is redone
    assert not is_complete(tmp_path)
    (tmp_path / "a.parquet").unlink()
    assert not is_complete(tmp_path)
    small = tmp_path / "small"
    if not _small_tmpfs(small, "64k"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        with pytest.raises(OSError) as info:
            write_parquet_atomic(small / "b.parquet", pa.table({"x": [str(i) * 50 for i in range(20_000)]}),
                                 compression="none")
        assert "b.parquet" in str(info.value) or isinstance(info.value, OutputCheckFailed) or \
            "No space" in str(info.value)
        assert list(small.iterdir()) == []
    finally:
        _umount(small)


# --- Ray on loopback, shut down with its driver -----------------------------------------------------------

def _listening(procs) -> set[tuple[str, str, int]]:
    import psutil

    out = set()
    for p in procs:
        try:
            for c in p.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    out.add((p.name(), c.laddr.ip, c.laddr.port))
        except psutil.Error:
            pass
    return out


def test_a_runs_own_ray_listens_on_loopback_only_and_dies_with_its_driver_on_sigterm(shared_data, tmp_path):
    """`extract` without RAY_ADDRESS starts its own Ray: every socket of the driver, GCS, raylet, agents and workers
    listens on 127.0.0.1; SIGTERM to the driver shuts all of them down."""
    import signal
    import time

    import psutil

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_AUTH_MODE"] = "disabled"
    inputs = [str(shared_data / "warc")] * 1
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "extract", "--workers", "1", "-i", *inputs,
                             "-o", str(tmp_path / "pool")], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    driver = psutil.Process(proc.pid)
    seen: dict[int, psutil.Process] = {}
    sockets: set = set()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            kids = driver.children(recursive=True)
            seen.update({k.pid: k for k in kids})
            sockets |= _listening([driver, *kids])
            names = set()
            for k in kids:
                try:
                    names.add(k.name())
                except psutil.Error:
                    pass
            if {"gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names and \
                    any(n.startswith("ray::") and "Agent" not in n for n in names):  # a worker too
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before its Ray could be inspected"
        sockets |= _listening([driver, *driver.children(recursive=True)])
        off_loopback = {s for s in sockets if s[1] not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")}
        assert sockets and not off_loopback, off_loopback
        assert {"gcs_server", "raylet"} <= {s[0] for s in sockets}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) != 0
        gone_by = time.monotonic() + 30
        while time.monotonic() < gone_by and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                                   for p in seen.values()):
            time.sleep(0.2)
        left = [(p.pid, p.name()) for p in seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not left, left
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in seen.values():  # only what this test's driver started
            try:
                p.kill()
            except psutil.Error:
                pass


def test_tokenizer_is_checked_before_publish_and_trusted_only_as_vouched(tmp_path):
    from pipeline.core.io import is_vouched
    from training.tokenizer import train_bpe_tokenizer

    texts = ["Let $x^2 + y^2 = 1$ and solve for x.", "求 x 的值", "def f(n): return n * 2"] * 50
    train_bpe_tokenizer(texts, tmp_path / "tok", vocab_size=300)
    assert is_vouched(tmp_path / "tok")
    with open(tmp_path / "tok" / "tokenizer.json", "ab") as fh:
        fh.write(b" ")
    assert not is_vouched(tmp_path / "tok")  # changed after the check: the megatron stage trains it again
    full = tmp_path / "full"
    if not _small_tmpfs(full, "4k"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        with pytest.raises(OSError):
            train_bpe_tokenizer(texts, full / "tok", vocab_size=300)
        assert not (full / "tok").exists() and not is_vouched(full / "tok")
    finally:
        _umount(full)
