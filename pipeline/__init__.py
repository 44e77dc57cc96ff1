"""mathcorpus: build a DeepSeekMath-style math pre-training corpus from Common Crawl.

``pipeline.core`` is the base every stage builds on (schemas, I/O on fsspec URLs, stats, the executor,
config); ``pipeline.commoncrawl`` reads WARCs and manifests, ``pipeline.extraction`` turns HTML into
text, ``pipeline.synth`` generates the mini-CC. The pool stage, sharding, the orchestrator (``run``),
the CLI and the report live here; the other stages are the top-level packages ``classifiers``,
``dedup``, ``decontam`` and ``training``.
"""

__version__ = "0.1.0"
