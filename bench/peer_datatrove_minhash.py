"""The datatrove side of bench/bench_dedup.py; runs in datatrove's own virtualenv.

Not a benchmark on its own (``make bench`` runs ``bench_*.py`` only). It must not
import this project: datatrove pins older trafilatura and xxhash than we do.

    sig  --input FILE.parquet --out DIR [--buckets 14 --hashes 8 --repeat 3]
         time MinhashDedupSignature.run on the documents, held in memory
    full --input DIR --out DIR --tasks N --workers N [--buckets 14 --hashes 8]
         datatrove's four minhash stages; reports each clustered doc's cluster id
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _config(args):
    from datatrove.pipeline.dedup.minhash import MinhashConfig

    return MinhashConfig(n_grams=5, num_buckets=args.buckets, hashes_per_bucket=args.hashes)


def cmd_sig(args) -> dict:
    import pyarrow.parquet as pq
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    table = pq.read_table(args.input, columns=["id", "text"])
    docs = [Document(text=t, id=i) for i, t in zip(table.column("id").to_pylist(), table.column("text").to_pylist())]
    times, cpu = [], []
    for rep in range(args.repeat):
        step = MinhashDedupSignature(output_folder=str(Path(args.out) / f"rep{rep}"), config=_config(args))
        t0, c0 = time.perf_counter(), time.process_time()
        step.run(iter(docs), rank=0, world_size=1)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"docs": len(docs), "seconds": times, "cpu_seconds": cpu}


def cmd_full(args) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                                  MinhashDedupSignature)
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = _config(args)
    out = Path(args.out)

    def reader():
        return ParquetReader(args.input, text_key="text", id_key="id", glob_pattern="*.parquet")

    stages = [
        ("signatures", [reader(), MinhashDedupSignature(output_folder=str(out / "sigs"), config=cfg)], args.tasks),
        ("buckets", [MinhashDedupBuckets(input_folder=str(out / "sigs"), output_folder=str(out / "buckets"),
                                         config=cfg)], cfg.num_buckets),
        ("cluster", [MinhashDedupCluster(input_folder=str(out / "buckets"), output_folder=str(out / "remove_ids"),
                                         config=cfg, save_cluster_id=True)], 1),
        ("filter", [reader(), MinhashDedupFilter(input_folder=str(out / "remove_ids"), load_cluster_ids=True,
                                                 exclusion_writer=JsonlWriter(str(out / "removed"))),
                    JsonlWriter(str(out / "kept"))], args.tasks),
    ]
    seconds = {}
    for name, pipeline, tasks in stages:
        t0 = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(args.workers, tasks),
                              logging_dir=str(out / "logs" / name)).run()
        seconds[name] = time.perf_counter() - t0
    # Cluster membership straight from stage 3's files: (doc index, cluster) per rank. The filter
    # stage only attaches cluster ids on ranks that also remove something, so its output misses some.
    import struct

    import pyarrow.parquet as pq

    files = sorted(Path(args.input).glob("*.parquet"))
    assert len(files) == args.tasks, "one input file per task, so rank r reads file r"
    clusters = {}
    for rank, f in enumerate(files):
        ids = pq.read_table(f, columns=["id"]).column("id").to_pylist()
        path = out / "remove_ids" / f"{rank:06d}.clusters"
        if path.exists():
            data = path.read_bytes()
            for idx, cluster in struct.iter_unpack("<2I", data):
                clusters[ids[idx]] = cluster
    return {"seconds": seconds, "clusters": clusters}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sig", "full"])
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--buckets", type=int, default=14)
    p.add_argument("--hashes", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tasks", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    res = cmd_sig(args) if args.mode == "sig" else cmd_full(args)
    print("RESULT " + json.dumps(res))


if __name__ == "__main__":  # datatrove's executor spawns processes that re-import this file
    main()
