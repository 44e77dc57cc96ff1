"""Tokenise text sources into Megatron indexed datasets (``{prefix}_text_document.bin/.idx``), on Ray.

Contract (what Megatron-LM's ``--data-path`` and megatron-core's ``IndexedDataset`` read):

* ``.bin``: every kept document's token ids, end to end, in input order, each document followed by the
  tokenizer's EOD (``eos_token_id``); dtype ``uint16`` when the vocabulary has fewer than 65,500 tokens, else
  ``int32`` (megatron-core's ``DType.optimal_dtype``).
* ``.idx``: megatron-core's index (one sequence per document; document boundaries), written by megatron-core's
  own ``IndexedDatasetBuilder``: we use the library rather than writing the format by hand.
* A document whose text tokenises to nothing is not written (Megatron's ``preprocess_data.py`` does the same);
  it lands in the drop log with reason ``empty_after_tokenization``.

How it runs: the inputs (Parquet files with a ``text`` column, or jsonl files with a ``text`` key) are cut into
units (a range of Parquet row groups, or a byte range of a jsonl file), each unit is one Ray task that writes its
part's tokens and document lengths, and the driver merges the parts in unit order into one ``.bin`` and writes the
``.idx`` with ``IndexedDatasetBuilder``.
The unit cut and the merge order depend only on the inputs, so the result is byte-identical for any worker count.
Parts are kept under a folder named by a hash of the plan, so a rerun after a crash redoes only missing parts.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.io import write_json_atomic, write_parquet_atomic
from pipeline.core.schema import DROP_LOG_SCHEMA

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz")
FOLDER_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz")  # .json inside a folder is metadata (manifest.json)
EMPTY_REASON = "empty_after_tokenization"
#: token ids of a vocabulary smaller than this fit uint16 (megatron-core's threshold)
UINT16_VOCAB_LIMIT = 65_500


def megatron_indexed():
    """megatron-core's ``indexed_dataset`` module, imported without its CPU-only warnings and per-file INFO logs
    (it imports on CPU; no apex or Transformer Engine needed)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(Transformer Engine|Apex).*")
        from megatron.core.datasets import indexed_dataset
    logging.getLogger("megatron.core.datasets.indexed_dataset").setLevel(logging.WARNING)
    return indexed_dataset


def token_dtype(vocab: int) -> type:
    """uint16 below 65,500 tokens, else int32: the same rule as megatron-core's ``DType.optimal_dtype``."""
    return np.uint16 if vocab < UINT16_VOCAB_LIMIT else np.int32


def dataset_prefix(folder: str | Path, name: str) -> Path:
    """``<folder>/<name>_text_document``: the path prefix Megatron's ``--data-path`` takes."""
    return Path(folder) / f"{name}_text_document"


# --- inputs and units ----------------------------------------------------------

def expand_inputs(paths: list[str]) -> list[str]:
    """Files under ``paths`` (files, folders or globs; any fsspec URL), sorted, text formats only."""
    out: list[str] = []
    for path in paths:
        fs, root = fsspec.core.url_to_fs(path)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        proto = "" if protocol in ("file", "local") else f"{protocol}://"
        if fs.isdir(root):
            # A folder's data files only: not a corpus's manifest.json, markers or temporary files.
            found = [f for f in fs.find(root) if f.endswith(FOLDER_SUFFIXES) and not Path(f).name.startswith((".", "_"))]
        elif any(c in root for c in "*?["):
            found = [f for f in fs.glob(root) if f.endswith(TEXT_SUFFIXES)]
        elif fs.exists(root):
            found = [root]
        else:
            raise FileNotFoundError(f"input not found: {path}")
        out.extend(proto + f for f in sorted(found))
    return out


@dataclass(frozen=True)
class Unit:
    """One Ray task's share of the input: row groups [start, stop) of a Parquet file, or bytes [start, stop)
    of a jsonl file (a line belongs to the unit its first byte lies in)."""

    path: str
    kind: str  # "parquet" or "jsonl"
    start: int
    stop: int


def plan_units(files: list[str], target_bytes: int) -> list[Unit]:
    units: list[Unit] = []
    for path in files:
        if path.endswith(".parquet"):
            with fsspec.open(path, "rb") as fh:
                meta = pq.ParquetFile(fh).metadata
            start, acc = 0, 0
            for rg in range(meta.num_row_groups):
                acc += meta.row_group(rg).total_byte_size
                if acc >= target_bytes:
                    units.append(Unit(path, "parquet", start, rg + 1))
                    start, acc = rg + 1, 0
            if start < meta.num_row_groups:
                units.append(Unit(path, "parquet", start, meta.num_row_groups))
        elif path.endswith(".gz"):  # not seekable: one unit
            units.append(Unit(path, "jsonl", 0, -1))
        else:
            fs, root = fsspec.core.url_to_fs(path)
            size = fs.size(root)
            for start in range(0, max(size, 1), target_bytes):
                units.append(Unit(path, "jsonl", start, min(start + target_bytes, size)))
    return units


def iter_unit(unit: Unit, text_column: str, batch_docs: int) -> Iterator[tuple[list[str], list, list]]:
    """Yield (texts, ids, urls) batches of one unit; ids/urls are None where the input has none."""
    if unit.kind == "parquet":
        with fsspec.open(unit.path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            names = pf.schema_arrow.names
            if text_column not in names:
                raise ValueError(f"{unit.path}: no column {text_column!r} (columns: {names})")
            cols = [c for c in (text_column, "id", "url") if c in names]
            for batch in pf.iter_batches(batch_size=batch_docs, row_groups=range(unit.start, unit.stop), columns=cols):
                n = batch.num_rows
                texts = batch.column(text_column).to_pylist()
                ids = batch.column("id").to_pylist() if "id" in cols else [None] * n
                urls = batch.column("url").to_pylist() if "url" in cols else [None] * n
                yield texts, ids, urls
        return
    texts, ids, urls = [], [], []
    for line in _jsonl_lines(unit):
        if not line.strip():
            continue
        rec = json.loads(line)
        if text_column not in rec:
            raise ValueError(f"{unit.path}: a record has no key {text_column!r}")
        texts.append(rec[text_column])
        ids.append(rec.get("id"))
        urls.append(rec.get("url"))
        if len(texts) == batch_docs:
            yield texts, ids, urls
            texts, ids, urls = [], [], []
    if texts:
        yield texts, ids, urls


def _jsonl_lines(unit: Unit) -> Iterator[str]:
    compression = "infer" if unit.path.endswith(".gz") else None
    with fsspec.open(unit.path, "rb", compression=compression) as fh:
        if unit.stop < 0:
            for raw in fh:
                yield raw.decode("utf-8")
            return
        if unit.start > 0:
            fh.seek(unit.start - 1)
            fh.readline()  # finish the line the previous unit owns (or just its newline)
        while fh.tell() < unit.stop:
            raw = fh.readline()
            if not raw:
                break
            yield raw.decode("utf-8")


# --- the pure core: texts in, token ids out ------------------------------------

@dataclass(frozen=True)
class TokenizerSpec:
    """What a worker needs to tokenise exactly as the driver's Hugging Face tokenizer does. For a fast tokenizer
    it is the serialised Rust backend that transformers itself encodes with (workers then skip importing
    transformers); for a slow one, the folder to load with transformers."""

    eod: int
    dtype: str
    backend_json: str | None = None
    folder: str | None = None

    @classmethod
    def from_folder(cls, tokenizer_dir: str | Path) -> "TokenizerSpec":
        from training.tokenizer import load_tokenizer, vocab_size

        tok = load_tokenizer(tokenizer_dir)
        backend = getattr(tok, "backend_tokenizer", None)
        return cls(eod=tok.eos_token_id, dtype=np.dtype(token_dtype(vocab_size(tok))).name,
                   backend_json=backend.to_str() if backend is not None else None,
                   folder=None if backend is not None else str(tokenizer_dir))

    def encoder(self):
        if self.backend_json is not None:
            from tokenizers import Tokenizer

            return Tokenizer.from_str(self.backend_json)
        from training.tokenizer import load_tokenizer

        return load_tokenizer(self.folder)


def encode_texts(tok, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
    """Token ids of each text, without EOD: a ``tokenizers.Tokenizer`` (or a fast HF tokenizer's backend) encodes
    the batch in Rust; a slow HF tokenizer is called as Megatron-LM calls it."""
    backend = tok if hasattr(tok, "encode_batch_fast") else getattr(tok, "backend_tokenizer", None)
    if backend is not None:
        return [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=add_special_tokens)]
    return tok(texts, add_special_tokens=add_special_tokens)["input_ids"]


def documents_with_eod(tok, eod: int, texts: list[str], add_special_tokens: bool = False) -> list[list[int] | None]:
    """Each text's ids with EOD appended, or None for a text that tokenises to nothing (to be dropped)."""
    return [ids + [eod] if ids else None for ids in encode_texts(tok, texts, add_special_tokens)]


# --- one unit -> one part: tokens (.bin) and document lengths (.lengths.npy) ------

@dataclass
class PartResult:
    prefix: str
    docs_in: int = 0
    docs: int = 0
    tokens: int = 0
    text_bytes: int = 0
    seconds: float = 0.0
    drops: list | None = None


def tokenize_unit(unit: Unit, spec: TokenizerSpec, part_prefix: str, text_column: str = "text",
                  batch_docs: int = 512, add_special_tokens: bool = False) -> PartResult:
    """Tokenise one unit into ``part_prefix.bin`` (token ids, the dataset's dtype, EOD after each document) and
    ``part_prefix.lengths.npy`` (tokens per document), renamed into place, lengths last. Workers write plain
    arrays so they never import megatron-core (seconds per process); the driver builds the index."""
    # One thread: the comparison with Megatron-LM is per worker, and rayon would oversubscribe the CPUs.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    t0 = time.perf_counter()
    tok = spec.encoder()
    dtype = np.dtype(spec.dtype)
    res = PartResult(prefix=part_prefix, drops=[])
    lengths: list[int] = []
    tmp = f"{part_prefix}.tmp-{os.getpid()}"
    with open(tmp + ".bin", "wb") as out:
        for texts, ids, urls in iter_unit(unit, text_column, batch_docs):
            res.docs_in += len(texts)
            texts = [t if isinstance(t, str) else "" for t in texts]
            docs = documents_with_eod(tok, spec.eod, texts, add_special_tokens)
            kept = []
            for doc, text, doc_id, url in zip(docs, texts, ids, urls):
                res.text_bytes += len(text.encode("utf-8"))
                if doc is None:
                    res.drops.append({"stage": "megatron", "reason": EMPTY_REASON, "detail": unit.path,
                                      "id": doc_id, "url": url})
                    continue
                kept.append(doc)
                lengths.append(len(doc))
            if kept:
                out.write(np.array(list(itertools.chain.from_iterable(kept)), dtype=dtype).tobytes())
    res.docs, res.tokens = len(lengths), int(sum(lengths))
    res.seconds = time.perf_counter() - t0
    np.save(tmp + ".lengths.npy", np.asarray(lengths, dtype=np.int32))
    write_json_atomic(part_prefix + ".json", asdict(res))  # stats and drops, for a resumed merge
    os.replace(tmp + ".bin", part_prefix + ".bin")
    os.replace(tmp + ".lengths.npy", part_prefix + ".lengths.npy")  # last: it means the part is complete
    return res


#: a part's files (tokens, document lengths, stats and drops)
PART_FILES = (".bin", ".lengths.npy", ".json")


def _tokenize_job(job: tuple) -> dict:
    """One unit of :func:`tokenize_to_megatron` on the executor (its result as a dict, for its unit marker). A
    part whose prefix is a URL is tokenised into a local temporary folder, then published there."""
    import tempfile

    from pipeline.core import storage

    _, unit, spec, prefix, text_column, batch_docs, special = job
    if not storage.is_url(prefix):
        return asdict(tokenize_unit(unit, spec, prefix, text_column, batch_docs, special))
    with tempfile.TemporaryDirectory(prefix="part-") as tmp:
        local = str(Path(tmp) / storage.name(prefix))
        res = tokenize_unit(unit, spec, local, text_column, batch_docs, special)
        for ext in PART_FILES:
            storage.upload(local + ext, prefix + ext)
    res.prefix = prefix
    return asdict(res)


def merge_parts(part_prefixes: list[str], prefix: Path, dtype: str) -> None:
    """Concatenate the parts, in order, into ``prefix.bin`` and write ``prefix.idx`` with megatron-core's
    ``IndexedDatasetBuilder`` (one sequence per document). Its ``add_index`` merges parts that already have an
    ``.idx``; ours have plain length arrays, so the same bookkeeping is done here on the builder's public lists."""
    import shutil

    builder_cls = megatron_indexed().IndexedDatasetBuilder
    tmp = f"{prefix}.tmp-{os.getpid()}"
    builder = builder_cls(tmp + ".bin", dtype=np.dtype(dtype).type)
    for part in part_prefixes:
        lengths = np.load(part + ".lengths.npy")
        with open(part + ".bin", "rb") as fh:
            shutil.copyfileobj(fh, builder.data_file, 1 << 24)
        first = len(builder.sequence_lengths)
        builder.sequence_lengths.extend(lengths.tolist())
        builder.document_indices.extend(range(first + 1, first + len(lengths) + 1))
    builder.finalize(tmp + ".idx")
    os.replace(tmp + ".bin", f"{prefix}.bin")
    os.replace(tmp + ".idx", f"{prefix}.idx")


# --- the Ray wrapper -------------------------------------------------------------

@dataclass
class TokenizeStats:
    source: str
    prefix: str
    files: int
    units: int
    docs_in: int
    docs: int
    dropped: int
    tokens: int
    text_bytes: int
    dtype: str
    seconds: float
    tokens_per_s: float


def tokenize_to_megatron(paths: list[str], tokenizer_dir: str | Path, out_folder: str | Path, name: str,
                         workers: int = 2, text_column: str = "text", batch_docs: int = 512,
                         task_bytes: int = 32 << 20, add_special_tokens: bool = False,
                         progress: bool = True, parts_root: str | None = None) -> TokenizeStats:
    """Tokenise every file under ``paths`` into ``<out_folder>/<name>_text_document.bin/.idx`` with
    ``workers`` Ray tasks in flight; deterministic and independent of ``workers``.

    ``parts_root`` (a folder URL, the run's ``megatron/`` on an object store): workers publish their parts
    under ``<parts_root>/parts/`` instead of ``out_folder`` (a local folder of the driver, which the nodes of
    a cluster do not share), with their unit markers there, so a rerun resumes from them; the driver fetches
    the parts to merge them."""
    import shutil

    t0 = time.perf_counter()
    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    files = expand_inputs(paths)
    if not files:
        raise FileNotFoundError(f"source {name}: no .parquet or .jsonl files under {paths}")
    total = sum(fsspec.core.url_to_fs(f)[0].size(fsspec.core.url_to_fs(f)[1]) for f in files)
    # at least ~4 units per worker so the last task does not run alone
    units = plan_units(files, max(1, min(task_bytes, total // (4 * max(workers, 1)) + 1)))
    tokenizer_dir = str(Path(tokenizer_dir).resolve())
    spec = TokenizerSpec.from_folder(tokenizer_dir)
    plan = json.dumps({"units": [asdict(u) for u in units], "tokenizer": _tokenizer_fingerprint(tokenizer_dir),
                       "text_column": text_column, "special": add_special_tokens}, sort_keys=True)
    parts_dir = out_folder / "parts" / f"{name}-{hashlib.sha1(plan.encode()).hexdigest()[:12]}"
    parts_dir.mkdir(parents=True, exist_ok=True)
    prefixes = [str(parts_dir / f"part-{i:05d}") for i in range(len(units))]
    from pipeline.core import storage

    parts_store = storage.join(parts_root, "parts", parts_dir.name) if parts_root else None
    published = [storage.join(parts_store, f"part-{i:05d}") if parts_store else None for i in range(len(units))]

    from pipeline.core.executor import current

    jobs = [(i, units[i], spec, published[i] or prefixes[i], text_column, batch_docs, add_special_tokens)
            for i in range(len(units))]
    # A part's unit marker (parts/<plan>/_units/) is written once its files are in place: a rerun after a
    # crash tokenises only the parts without one. The plan's hash names the folder, so it is the fingerprint.
    done = current(workers).map(
        f"tokenize {name}", _tokenize_job, jobs, key=lambda j: f"part-{j[0]:05d}", workers=workers,
        markers=storage.join(parts_store or str(parts_dir), "_units"), fingerprint=parts_dir.name, progress=progress, unit_name="part",
        describe=lambda j, r: f"{r['docs']} docs, {r['tokens']} tokens")
    cached = sum(r.cached for r in done)
    if cached:
        log.info("source %s: %d of %d parts already tokenised, reused them", name, cached, len(units))
    results = {i: PartResult(**r.result) for i, r in enumerate(done)}
    for local, remote in zip(prefixes, published):
        if remote:  # the driver merges local files: fetch each part (streamed)
            for ext in PART_FILES:
                with storage.open_file(remote + ext, "rb") as src, open(local + ext, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 24)

    prefix = dataset_prefix(out_folder, name)
    merge_parts(prefixes, prefix, spec.dtype)  # unit order: independent of which task finished first
    drops = [d for i in range(len(units)) for d in (results[i].drops or [])]
    if drops:
        rows = {f.name: [d.get(f.name) for d in drops] for f in DROP_LOG_SCHEMA}
        write_parquet_atomic(out_folder / "drops" / f"{name}.parquet", pa.table(rows, schema=DROP_LOG_SCHEMA))
    merged = megatron_indexed().IndexedDataset(str(prefix))
    tokens, docs = int(merged.sequence_lengths.sum()), len(merged)
    parts = [results[i] for i in range(len(units))]
    if sum(r.docs for r in parts) != docs or sum(r.tokens for r in parts) != tokens:
        raise RuntimeError(f"source {name}: merged dataset disagrees with its parts")
    shutil.rmtree(parts_dir)
    if parts_store:
        storage.remove(parts_store, recursive=True)
    seconds = time.perf_counter() - t0
    stats = TokenizeStats(
        source=name, prefix=str(prefix), files=len(files), units=len(units), docs_in=sum(r.docs_in for r in parts),
        docs=docs, dropped=len(drops), tokens=tokens, text_bytes=sum(r.text_bytes for r in parts),
        dtype=spec.dtype, seconds=round(seconds, 3), tokens_per_s=round(tokens / max(seconds, 1e-9), 1),
    )
    write_json_atomic(out_folder / f"{name}_stats.json", asdict(stats))
    log.info("source %s: %d docs, %d tokens (%s) in %.1f s, %d dropped -> %s.{bin,idx}", name, docs, tokens,
             stats.dtype, seconds, len(drops), prefix)
    return stats


def _tokenizer_fingerprint(tokenizer_dir: str) -> str:
    h = hashlib.sha1()
    for f in sorted(Path(tokenizer_dir).glob("*")):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()
