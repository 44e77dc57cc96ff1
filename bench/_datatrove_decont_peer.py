"""Peer side of bench_decontam.py: datatrove's NGramsDecontFilter, run in its own venv.

Usage (the benchmark calls it): PEER_PYTHON _datatrove_decont_peer.py WORK_DIR N [N_CLEAN]

WORK_DIR holds ``bench_texts.jsonl`` (benchmark, item_id, field, text) and
``pages.jsonl`` (id, text). The index is built with datatrove's own n-gram hashing
(``NGramsDecontIndexer.compute_hashes``: simplify_text, the English word
tokenizer (nltk word_tokenize), the configured hash of each space-joined n-gram) from the same local benchmark texts, since
the indexer's ``run`` would fetch the tasks from the Hugging Face hub. Each
benchmark text is indexed as a label on its own, so both tools index the same
n-grams sources. Then every page goes through ``NGramsDecontFilter.filter`` on one
core; the filter loads the index on its first call, which is timed apart.

nltk's word_tokenize needs Punkt sentence parameters that are normally downloaded;
offline we give it an empty ``punkt_tab/english`` model (no abbreviations or
collocations), which runs the same algorithm. datatrove strips punctuation before
tokenising, so sentence splitting has little to do either way.

Writes ``datatrove_result.json``: seconds (the first N_CLEAN pages and the rest apart),
flagged ids with task and n-gram.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _offline_punkt(root: Path) -> None:
    d = root / "tokenizers" / "punkt_tab" / "english"
    d.mkdir(parents=True, exist_ok=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        (d / name).touch()
    os.environ["NLTK_DATA"] = str(root)


def main() -> None:
    work, n = Path(sys.argv[1]), int(sys.argv[2])
    _offline_punkt(work / "nltk_data")
    import nltk

    nltk.data.path.insert(0, str(work / "nltk_data"))
    import numpy as np
    from datatrove.data import Document
    from datatrove.pipeline.decont import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer

    config = NGramsDecontConfig(n_grams=n, find_query_ngrams=True, find_overlap_ngrams=False)
    index_dir = work / "datatrove_index"
    index_dir.mkdir(exist_ok=True)
    filt = NGramsDecontFilter(index_folder=str(index_dir), config=config)
    # compute_hashes only reads .config, .tokenizer and .hash_func, which the filter holds
    # too: calling it with the filter hashes the benchmarks exactly as the filter hashes
    # pages, and avoids the indexer's constructor check for lighteval (only its
    # hub-loading run() needs it).
    t0 = time.perf_counter()
    per_task: dict[str, set[int]] = {}
    with open(work / "bench_texts.jsonl", encoding="utf-8") as fh:
        for line in fh:
            t = json.loads(line)
            per_task.setdefault(t["benchmark"], set()).update(NGramsDecontIndexer.compute_hashes(filt, t["text"]))
    for task, hashes in per_task.items():
        np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(index_dir / f"{task}.index.hashes")
    index_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    filt.load_index_hashes()
    load_s = time.perf_counter() - t0
    docs = []
    with open(work / "pages.jsonl", encoding="utf-8") as fh:
        for line in fh:
            p = json.loads(line)
            docs.append(Document(text=p["text"], id=p["id"]))
    flagged = []
    split = int(sys.argv[3]) if len(sys.argv) > 3 else len(docs)  # pages before it are the clean ones
    part_s = []
    for part in (docs[:split], docs[split:]):
        t0 = time.perf_counter()
        for doc in part:
            res = filt.filter(doc)
            if res is not True:
                flagged.append([doc.id, doc.metadata.get("contaminated_task"), doc.metadata.get("contaminated_ngram")])
        part_s.append(time.perf_counter() - t0)
    out = {"index_seconds": index_s, "load_seconds": load_s, "scan_seconds": sum(part_s),
           "clean_seconds": part_s[0], "planted_seconds": part_s[1], "pages": len(docs),
           "flagged": flagged, "ngrams": sum(len(h) for h in per_task.values())}
    (work / "datatrove_result.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
