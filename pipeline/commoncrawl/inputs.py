"""Which WARC files the pool reads: inputs a user names, Common Crawl manifests, and the input policy.

A user's inputs (``pool.inputs``, ``extract --input``, the manifests of ``pool.crawls``) are paths, folders,
globs or URLs; a manifest (``warc.paths.gz``) lists a crawl's WARC files relative to a base URL. Files,
folders and globs resolve through :func:`pipeline.core.inputs.expand_files`, the project's one resolver;
this module adds what is particular to Common Crawl: the manifests, the WARC suffixes, absolute local
paths (they become every row's ``warc_path``) and the policy on what a manifest entry may name.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import random
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import fsspec

from pipeline.commoncrawl.warc import WARC_SUFFIXES, quote_prefix
from pipeline.core.inputs import InputNotFound, expand_files

MANIFEST_RE = re.compile(r"(^|/)[^/]*\.paths(\.gz)?$")
#: What a glob may match besides WARC files: manifests.
MANIFEST_SUFFIXES = (".paths", ".paths.gz")
#: Schemes whose URLs are never globs (``?`` starts a query there) and never listed.
_HTTP_SCHEMES = ("http", "https")


def expand_warc_inputs(inputs: Iterable[str], storage_options: dict | None = None) -> list[str]:
    """Expand globs (local, or on an object store such as ``s3://bucket/crawl/*.warc.gz``) and local folders
    (to the WARC files inside them, recursively, in name order) into files; other URLs pass through as given.
    In the order given, without repeats.

    Local paths are made absolute here because they become every row's ``warc_path``: a path relative to where
    a job ran (or to Ray's upload dir) opens nothing anywhere else. An empty folder, a glob matching nothing and
    a missing file stay as given, to be reported as failures.
    """
    out: list[str] = []
    for item in inputs:
        item = str(item)
        if "://" in item:
            scheme = item.split("://", 1)[0].lower()
            if scheme in _HTTP_SCHEMES or scheme == "file" or not any(ch in item for ch in "*?["):
                out.append(item)
                continue
            try:
                out.extend(expand_files([item], WARC_SUFFIXES + MANIFEST_SUFFIXES, storage_options=storage_options,
                                        what="WARC input") or [item])
            except (InputNotFound, OSError):
                out.append(item)
            continue
        item = os.path.expanduser(item)
        suffixes = WARC_SUFFIXES if os.path.isdir(item) else WARC_SUFFIXES + MANIFEST_SUFFIXES
        try:
            found = expand_files([item], suffixes, recursive=True, what="WARC input")
        except InputNotFound:
            found = []
        if found:
            out.extend(os.path.abspath(f) for f in found)
        else:
            out.append(os.path.abspath(item))
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]

def is_manifest(path: str) -> bool:
    return bool(MANIFEST_RE.search(path))


#: URL schemes an input or manifest entry may use unless ``pool.allow_schemes`` says otherwise.
DEFAULT_SCHEMES = ("https", "http", "s3", "gs", "hf")
#: What a manifest entry may point at only when listed in ``pool.allow_manifest_targets``.
MANIFEST_TARGETS = ("local", "loopback", "private", "link_local")


#: A crawl's warc.paths.gz holds ~100,000 entries of ~140 characters; far larger is not a manifest.
MAX_MANIFEST_ENTRIES = 10_000_000
MAX_MANIFEST_LINE = 4096


class ManifestError(ValueError):
    """A manifest that is not one (too long a line, too many entries)."""


class InputRefused(ValueError):
    """An input or manifest entry the input policy does not allow; the message says which key allows it."""


def host_kind(host: str) -> str | None:
    """``loopback``, ``link_local`` or ``private`` for a host that is one (IP literals in any form the C
    library accepts, such as ``127.1`` or ``0x7f000001``, and ``localhost`` names); None otherwise.
    DNS names are not resolved."""
    import ipaddress
    import socket

    h = host.strip().strip("[]").rstrip(".").lower()
    if h in ("localhost", "ip6-localhost", "ip6-loopback") or h.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(h.split("%")[0])
    except ValueError:
        if not re.fullmatch(r"[0-9a-fx.]+", h) or not re.search(r"\d", h):
            return None
        try:
            ip = ipaddress.ip_address(socket.inet_aton(h))
        except OSError:
            return None
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_private or ip.is_reserved or ip.is_unspecified or ip.is_multicast:
        return "private"
    return None


@dataclass(frozen=True)
class InputPolicy:
    """Which inputs the pool reads (``pool.allow_schemes``, ``pool.allow_manifest_targets``).

    The inputs a user lists (``pool.inputs``, ``extract --input``, ``pool.cc_base_url``) are trusted
    apart from their scheme; a manifest's entries are data from elsewhere, so they resolve under the
    manifest's base and may not name local files, loopback, private or link-local hosts unless allowed.
    """

    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    manifest_targets: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, pool_cfg) -> "InputPolicy":
        return cls(tuple(getattr(pool_cfg, "allow_schemes", DEFAULT_SCHEMES)),
                   tuple(getattr(pool_cfg, "allow_manifest_targets", ())))

    def check_input(self, item: str) -> None:
        scheme = item.split("://", 1)[0].lower() if "://" in item else None
        if scheme is not None and scheme != "file" and scheme not in self.schemes:
            raise InputRefused(f"URL scheme {quote_prefix(scheme, 16)}:// is not in pool.allow_schemes "
                               f"({', '.join(self.schemes)})")

    def _need(self, target: str, what: str) -> None:
        if target not in self.manifest_targets:
            raise InputRefused(f"manifest entry {what}: refused (add {target} to pool.allow_manifest_targets "
                               "to read it)")

    def check_entry(self, entry: str) -> None:
        """Raise InputRefused for an entry with a scheme the policy refuses or a host it does not allow."""
        if any(ord(c) < 32 or ord(c) == 127 for c in entry):
            raise InputRefused("manifest entry holds control characters")
        if "://" not in entry:
            if entry.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", entry):
                self._need("local", "is an absolute local path")
            return
        scheme, rest = entry.split("://", 1)
        scheme = scheme.lower()
        if scheme == "file":
            self._need("local", "is a file:// URL")
            return
        if scheme not in self.schemes:
            raise InputRefused(f"manifest entry: URL scheme {quote_prefix(scheme, 16)}:// is not in "
                               f"pool.allow_schemes ({', '.join(self.schemes)})")
        if scheme in ("http", "https"):
            from urllib.parse import urlsplit

            try:
                host = urlsplit(entry).hostname or ""
            except ValueError:
                raise InputRefused("manifest entry is not a valid URL") from None
            kind = host_kind(host)
            if kind is not None:
                self._need(kind, f"names a {kind.replace('_', '-')} host")


def _has_dotdot(entry: str) -> bool:
    return any(part == ".." for part in re.split(r"[/\\]", entry.split("://", 1)[-1]))


def read_manifest(path: str, base_url: str, storage_options: dict | None = None,
                  policy: InputPolicy | None = None) -> tuple[list[str], list[dict]]:
    """(WARC locations, refused entries) of a Common Crawl ``warc.paths.gz`` (or plain ``.paths``) manifest.

    Entries are relative: ``crawl-data/...`` entries are joined to ``base_url``
    (``https://data.commoncrawl.org/`` or ``s3://commoncrawl/``) unless the file exists beside a local
    manifest (a mirrored crawl or the mini-CC); other relative entries resolve beside the manifest. An entry
    may not climb out of that base (``..``); absolute paths, ``file://``, loopback/private/link-local hosts
    and schemes outside ``pool.allow_schemes`` are refused unless ``policy`` allows them.
    """
    policy = policy or InputPolicy()
    compression = "gzip" if path.endswith(".gz") else None
    entries = []
    with fsspec.open(path, "rt", compression=compression, encoding="utf-8", **(storage_options or {})) as fh:
        for lineno, line in enumerate(iter(lambda: fh.readline(MAX_MANIFEST_LINE + 1), ""), 1):
            if len(line) > MAX_MANIFEST_LINE:
                raise ManifestError(f"line {lineno} is longer than {MAX_MANIFEST_LINE} characters")
            if line.strip() and not line.startswith("#"):
                entries.append(line.strip())
                if len(entries) > MAX_MANIFEST_ENTRIES:
                    raise ManifestError(f"more than {MAX_MANIFEST_ENTRIES:,} entries")
    local_dir = None if "://" in path else Path(path).resolve().parent
    out: list[str] = []
    refused: list[dict] = []
    for entry in entries:
        try:
            policy.check_entry(entry)
            if _has_dotdot(entry):
                raise InputRefused("manifest entry climbs out of the manifest's base (..)")
        except InputRefused as exc:
            refused.append({"path": f"{quote_prefix(path, 200)}: {quote_prefix(entry, 80)}", "reason": str(exc),
                            "records_read": 0, "retryable": False})
            continue
        if "://" in entry:
            out.append(entry)
        elif entry.startswith("/"):
            out.append(entry)  # allowed as local by the policy
        elif local_dir is not None and (local_dir / entry).exists():
            out.append(str(local_dir / entry))
        else:
            base = base_url if entry.startswith("crawl-data/") or local_dir is not None else path.rsplit("/", 1)[0] + "/"
            out.append(base.rstrip("/") + "/" + entry)
    return out, refused


def resolve_inputs(inputs: Iterable[str], *, limit: int | None = None, sample: int | None = None, seed: int = 0,
                   base_url: str = "https://data.commoncrawl.org/",
                   storage_options: dict | None = None,
                   policy: InputPolicy | None = None) -> tuple[list[str], list[dict]]:
    """(WARC paths in a stable order, failures). Expands globs, local folders (:func:`expand_warc_inputs`)
    and manifests.

    ``limit`` keeps the first N entries of each manifest, ``sample`` a seeded random
    N of them (in manifest order). A manifest that cannot be read is a failure; so is an input
    or manifest entry that ``policy`` refuses (not retryable).
    """
    policy = policy or InputPolicy()
    paths: list[str] = []
    failures: list[dict] = []
    for item in expand_warc_inputs(list(inputs), storage_options):
        try:
            policy.check_input(item)
        except InputRefused as exc:
            failures.append({"path": quote_prefix(item, 200), "reason": str(exc), "records_read": 0,
                             "retryable": False})
            continue
        if not is_manifest(item):
            paths.append(item)
            continue
        try:
            entries, refused = read_manifest(item, base_url, storage_options, policy)
        except ManifestError as exc:
            failures.append({"path": quote_prefix(item, 200), "reason": f"not a manifest: {exc}", "records_read": 0,
                             "retryable": False})
            continue
        except (UnicodeDecodeError, zlib.error, gzip.BadGzipFile, EOFError) as exc:
            failures.append({"path": quote_prefix(item, 200), "reason": f"manifest damaged: {type(exc).__name__}",
                             "records_read": 0, "retryable": False})
            continue
        except OSError as exc:
            failures.append({"path": quote_prefix(item, 200), "reason": f"manifest unreadable: {type(exc).__name__}: "
                             f"{quote_prefix(str(exc), 200)}", "records_read": 0, "retryable": True})
            continue
        failures.extend(refused)
        if sample is not None and sample < len(entries):
            keep = set(random.Random(seed).sample(range(len(entries)), sample))
            entries = [e for i, e in enumerate(entries) if i in keep]
        if limit is not None:
            entries = entries[:limit]
        paths.extend(entries)
    seen: set[str] = set()
    return [p for p in paths if not (p in seen or seen.add(p))], failures


def warc_key(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"\.(warc|arc)(\.gz)?$", "", name) or "warc"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:120]
    return f"{stem}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"


def open_input(path: str, storage_options: dict | None = None):
    """A streaming binary handle for a local path or any fsspec URL (never read whole)."""
    opts = dict(storage_options or {})
    if path.startswith(("http://", "https://")):
        opts.setdefault("block_size", 0)  # stream the response; do not depend on Range support
    return fsspec.open(path, "rb", **opts)
