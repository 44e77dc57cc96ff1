"""Every real WARC in ../shared/data/warc is read with warcio and each record is accounted for."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from pipeline.commoncrawl.inputs import expand_warc_inputs
from pipeline.commoncrawl.warc import clean_target_uri, scan_warc


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


def test_expand_warc_inputs_globs_and_keeps_urls(tmp_path):
    for n in ("b.warc.gz", "a.warc.gz"):
        (tmp_path / n).write_bytes(b"")
    got = expand_warc_inputs([str(tmp_path / "*.warc.gz"), "s3://commoncrawl/x.warc.gz", str(tmp_path / "a.warc.gz")])
    assert got == [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz"), "s3://commoncrawl/x.warc.gz"]


def test_expand_warc_inputs_makes_local_paths_absolute_and_opens_folders(tmp_path, monkeypatch):
    (tmp_path / "crawl").mkdir()
    for n in ("b.warc.gz", "a.warc", "notes.txt", "_SUCCESS", ".a.warc.gz.tmp-1"):
        (tmp_path / "crawl" / n).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    # rows carry these as warc_path: absolute, so a row opens from any working directory
    assert expand_warc_inputs(["crawl"]) == [str(tmp_path / "crawl" / "a.warc"), str(tmp_path / "crawl" / "b.warc.gz")]
    assert expand_warc_inputs(["crawl/b.warc.gz", "crawl/*.warc"]) == [str(tmp_path / "crawl" / "b.warc.gz"),
                                                                 str(tmp_path / "crawl" / "a.warc")]
    assert expand_warc_inputs(["https://data.commoncrawl.org/x.warc.gz"]) == ["https://data.commoncrawl.org/x.warc.gz"]


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


# --- damaged files: never a silent loss ----------------------------------------------------------------

def _sweep_positions(blob: bytes, ends: list[int], stride: int) -> list[int]:
    """Every ``stride``-th cut, plus every cut within 12 bytes of a record end (gzip trailers, separators)."""
    near = {c for e in ends for c in range(e - 12, e + 12) if 0 < c < len(blob)}
    return sorted(near | set(range(1, len(blob), stride)))


@pytest.mark.parametrize("form", ["gzip", "plain"])
def test_truncation_sweep_detects_every_cut_and_keeps_the_records_before_it(shared_data, form):
    """A real WARC cut inside a record is always an error naming the offset, and the records before the cut
    are read unchanged; a cut at a record boundary is the shorter, valid file (bench/bench_truncation.py
    runs every byte position)."""
    import gzip as gz_mod

    from bench.bench_truncation import gzip_member_ends, plain_record_ends, read_all

    blob = (shared_data / "warc" / "warcio_example.warc.gz").read_bytes()
    if form == "plain":
        blob = gz_mod.decompress(blob)
    full, err = read_all(blob)
    assert err is None and len(full) == 6
    ends = gzip_member_ends(blob) if form == "gzip" else plain_record_ends(blob, full)
    assert len(ends) == 6
    detected = 0
    cuts = _sweep_positions(blob, ends, stride=9)
    for cut in cuts:
        got, err = read_all(blob[:cut])
        before = sum(1 for e in ends if e <= cut)
        if cut in ends:
            assert err is None and got == full[:before], cut
            continue
        assert err is not None, f"cut at {cut} read as a complete file"
        assert "byte " in err or cut < 4, (cut, err)
        assert got == full[:before] or got == full[:before + 1], cut  # the cut record only when it was whole
        detected += 1
    assert detected >= len(cuts) - len(ends)


def _record(uri: str, body: bytes, declared: int | None = None) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
    n = len(http) if declared is None else declared
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-02-21T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{abs(hash(uri)):032x}>\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {n}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


@pytest.mark.parametrize("gzipped", [False, True])
def test_wrong_content_length_is_damage_after_the_good_records(gzipped):
    import gzip as gz_mod
    import io

    from pipeline.commoncrawl.warc import WarcReadError, iter_warc

    good = [_record(f"http://a.example/{i}", b"<p>page %d</p>" % i) for i in range(3)]
    body = b"<p>the damaged one</p>"
    true_len = len(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body)
    for declared in (true_len - 5, true_len + 5):
        parts = good + [_record("http://a.example/bad", body, declared), _record("http://a.example/after", b"x")]
        blob = b"".join(gz_mod.compress(p) for p in parts) if gzipped else b"".join(parts)
        read = []
        with pytest.raises(WarcReadError) as info:
            for e in iter_warc(io.BytesIO(blob), "t.warc"):
                read.append(e.target_uri)
        assert read == [f"http://a.example/{i}" for i in range(3)], declared
        assert info.value.records_read == 3 and not info.value.retryable
        assert "record 4" in info.value.reason and "byte " in info.value.reason


def test_empty_and_non_warc_files_are_failures_without_their_contents(tmp_path):
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    assert "no WARC record" in scan_warc(str(empty)).error
    gz_empty = tmp_path / "gzempty.warc.gz"
    import gzip as gz_mod

    gz_empty.write_bytes(gz_mod.compress(b""))
    assert "no WARC record" in scan_warc(str(gz_empty)).error
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:$6$SECRETSALT$hash:19000:0:99999:7:::\n\x1b[31mred\x1b[0m\n")
    err = scan_warc(str(secret)).error
    assert err and "root" not in err and "SECRET" not in err and "\x1b" not in err


def test_quote_prefix_escapes_and_shortens():
    from pipeline.commoncrawl.warc import quote_prefix

    q = quote_prefix(b"\x1b[31mred\x00" + b"a" * 100, 16)
    assert "\x1b" not in q and "\x00" not in q and q.startswith("\\x1b[31mred\\x00") and q.endswith("...")
    assert all(32 <= ord(c) < 127 for c in quote_prefix("naïve\u202e\n"))


def test_directory_is_not_a_warc(tmp_path):
    assert scan_warc(str(tmp_path)).error == "a directory, not a WARC file"
