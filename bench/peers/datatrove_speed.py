"""Runs inside datatrove's own virtualenv: WarcReader -> Trafilatura on the given WARC files, one task.

argv: OUTPUT_JSON [--texts TEXTS_JSONL] WARC [WARC ...]. Prints nothing on stdout; writes wall time, CPU
time of this process and its children (datatrove runs trafilatura in a sandbox subprocess) and document
counts; with --texts, each document's {"url", "text"} too (written after the timing). No peak RSS: the sandbox
child's ru_maxrss carries its parents' (Linux keeps it across fork and exec).
"""
import json
import os
import resource
import shutil
import sys
import tempfile
import time


def main():
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    out_json, warcs = sys.argv[1], sys.argv[2:]
    texts_out = None
    if warcs[:1] == ["--texts"]:
        texts_out, warcs = warcs[1], warcs[2:]
    texts = []
    work = tempfile.mkdtemp(prefix="dt-bench-")
    src = os.path.join(work, "in")
    os.makedirs(src)
    for w in warcs:  # datatrove reads a folder: link the files in
        os.symlink(os.path.abspath(w), os.path.join(src, os.path.basename(w)))
    counted = {"docs": 0, "chars": 0}

    def count(data, rank=0, world_size=1):
        for doc in data:
            counted["docs"] += 1
            counted["chars"] += len(doc.text)
            if texts_out:
                texts.append((doc.metadata.get("url"), doc.text))
            yield doc

    executor = LocalPipelineExecutor(
        pipeline=[WarcReader(src, glob_pattern="*.warc.gz"), Trafilatura(favour_precision=True, timeout=10.0), count],
        tasks=1, workers=1, logging_dir=os.path.join(work, "logs"), skip_completed=False,
    )
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    executor.run()
    wall = time.perf_counter() - t0
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
           + child1.ru_utime + child1.ru_stime - child0.ru_utime - child0.ru_stime)
    with open(out_json, "w") as fh:
        json.dump({"wall_s": wall, "cpu_s": cpu, **counted}, fh)
    if texts_out:
        with open(texts_out, "w") as fh:
            for url, text in texts:
                fh.write(json.dumps({"url": url, "text": text}) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
