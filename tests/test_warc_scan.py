"""Every real WARC in ../shared/data/warc is read with warcio and each record is accounted for."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from pipeline.warc import clean_target_uri, expand_inputs, scan_warc


def _expected_counts(shared_data):
    """Per-file record counts by WARC-Type, as SOURCES.md lists them (counted there by an independent parser)."""
    expected = {}
    for line in (shared_data / "SOURCES.md").read_text().splitlines():
        m = re.match(r"\| `(warc/[^`]+)` \|.*\| (\d+) records: ([^|]+) \|", line)
        if m:
            types = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(3)))
            expected[m.group(1)] = (int(m.group(2)), types)
    return expected


def test_every_shared_warc_is_read_and_every_record_counted(shared_data):
    expected = _expected_counts(shared_data)
    files = sorted(p.relative_to(shared_data).as_posix() for p in (shared_data / "warc").rglob("*.gz"))
    assert files and set(files) == set(expected), "SOURCES.md and the folder disagree"
    for rel in files:
        scan = scan_warc(str(shared_data / rel))
        total, types = expected[rel]
        assert scan.error is None, (rel, scan.error)
        assert scan.records == total and dict(scan.by_type) == types, rel


def test_odd_files_clueweb_revisit_and_wget_uris(shared_data):
    clue = scan_warc(str(shared_data / "warc/resiliparse_clueweb09-quirk.warc.gz"))
    assert clue.by_type["response"] == 29 and clue.content_types["text/html"] == 29  # WARC/0.18, bad dates
    cc = scan_warc(str(shared_data / "warc/resiliparse_CC-MAIN-2020-34_sample.warc.gz"))
    assert cc.by_type["request"] == cc.by_type["response"] + 1  # ends in a request with no response
    ex = scan_warc(str(shared_data / "warc/warcio_example.warc.gz"))
    assert ex.by_type["revisit"] == 1
    assert clean_target_uri("<http://example.com/a>") == "http://example.com/a"
    assert clean_target_uri(" http://example.com/ ") == "http://example.com/"


def test_bad_inputs_are_reported_not_raised(tmp_path):
    garbage = tmp_path / "garbage.warc.gz"
    garbage.write_bytes(b"\x00not a warc at all" * 100)
    assert scan_warc(str(garbage)).error
    assert scan_warc(str(tmp_path / "missing.warc.gz")).error == "file not found"
    plain = tmp_path / "notes.txt"
    plain.write_text("hello\n")
    assert scan_warc(str(plain)).error


def test_expand_inputs_globs_and_keeps_urls(tmp_path):
    for n in ("b.warc.gz", "a.warc.gz"):
        (tmp_path / n).write_bytes(b"")
    got = expand_inputs([str(tmp_path / "*.warc.gz"), "s3://commoncrawl/x.warc.gz", str(tmp_path / "a.warc.gz")])
    assert got == [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz"), "s3://commoncrawl/x.warc.gz"]


def test_expand_inputs_makes_local_paths_absolute_and_opens_folders(tmp_path, monkeypatch):
    (tmp_path / "crawl").mkdir()
    for n in ("b.warc.gz", "a.warc", "notes.txt", "_SUCCESS", ".a.warc.gz.tmp-1"):
        (tmp_path / "crawl" / n).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    # rows carry these as warc_path: absolute, so a row opens from any working directory
    assert expand_inputs(["crawl"]) == [str(tmp_path / "crawl" / "a.warc"), str(tmp_path / "crawl" / "b.warc.gz")]
    assert expand_inputs(["crawl/b.warc.gz", "crawl/*.warc"]) == [str(tmp_path / "crawl" / "b.warc.gz"),
                                                                 str(tmp_path / "crawl" / "a.warc")]
    assert expand_inputs(["https://data.commoncrawl.org/x.warc.gz"]) == ["https://data.commoncrawl.org/x.warc.gz"]


def test_scan_cli_exit_status_names_damaged_files(minicc, shared_data):
    ok = subprocess.run([sys.executable, "-m", "pipeline", "scan", str(shared_data / "warc" / "*.warc.gz")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "resiliparse_clueweb09-quirk.warc.gz: 30 records" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "pipeline", "scan", str(minicc / "warc" / "*.warc.gz")],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stdout.count("FAILED") == 2


@pytest.mark.parametrize("cmd", [[], ["run"], ["synth"], ["scan"]])
def test_every_command_has_help(cmd):
    out = subprocess.run([sys.executable, "-m", "pipeline", *cmd, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage:" in out.stdout
