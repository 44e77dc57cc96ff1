"""The one input resolver: files named by paths, folders or globs, local or any fsspec URL.

Stages that read files a user names (dedup's and decontam's overrides, recall's seed, the Megatron
sources) resolve them here; the pool's WARC inputs add Common Crawl manifests and an input policy on top
(:mod:`pipeline.commoncrawl`).
"""
from __future__ import annotations

import glob as _glob
import os
import posixpath
from typing import Iterable

from pipeline.core import storage


class InputNotFound(FileNotFoundError):
    """A named input matches nothing; the message names it."""


def _has_glob(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def expand_files(inputs: Iterable[str | os.PathLike], suffixes: tuple[str, ...] = (".parquet",), *,
                 folder_subdirs: tuple[str, ...] = (), recursive: bool = False,
                 storage_options: dict | None = None, what: str = "input") -> list[str]:
    """Every file the inputs name, in input order, each item's files sorted, duplicates dropped.

    An item is a file (taken whatever its suffix), a folder (its files ending in one of ``suffixes``;
    below it with ``recursive``; when it has none and one of ``folder_subdirs`` exists, that sub-folder's:
    a stage folder stands for its rows) or a glob (matches ending in one of ``suffixes``). Names starting
    with ``.`` or ``_`` (temporaries, markers) are never data. Raises :class:`InputNotFound` for an item
    that names nothing.
    """
    out: list[str] = []
    seen: set[str] = set()
    for item in inputs:
        item = str(item)
        found = _expand_one(item, suffixes, folder_subdirs, recursive, storage_options)
        if found is None:
            raise InputNotFound(f"{what} not found: {item}")
        for f in found:
            if posixpath.basename(f).startswith((".", "_")) or f in seen:
                continue
            seen.add(f)
            out.append(f)
    return out


def _expand_one(item: str, suffixes, folder_subdirs, recursive, storage_options) -> list[str] | None:
    if not storage.is_url(item):
        p = storage.local_path(item)
        if p.is_dir():
            files = storage.list_files(p, "", recursive=recursive)
            files = [f for f in files if f.endswith(suffixes)]
            if not files:
                for sub in folder_subdirs:
                    if (p / sub).is_dir():
                        return [f for f in storage.list_files(p / sub, "", recursive=recursive) if f.endswith(suffixes)]
            return files
        if _has_glob(item):
            return sorted(f for f in _glob.glob(item, recursive=True) if f.endswith(suffixes) and os.path.isfile(f))
        return [item] if p.exists() else None
    fs, inner = storage.filesystem(item, storage_options)
    if _has_glob(inner):
        return sorted(fs.unstrip_protocol(f) for f in fs.glob(inner) if f.endswith(suffixes))
    if fs.isdir(inner):
        files = [f for f in storage.list_files(item, "", storage_options, recursive=recursive) if f.endswith(suffixes)]
        if not files:
            for sub in folder_subdirs:
                sub_url = storage.join(item, sub)
                listed = storage.list_files(sub_url, "", storage_options, recursive=recursive)
                if listed:
                    return [f for f in listed if f.endswith(suffixes)]
        return files
    return [item] if fs.exists(inner) else None
