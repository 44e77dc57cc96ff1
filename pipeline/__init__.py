"""mathcorpus: build a DeepSeekMath-style math pre-training corpus from Common Crawl.

Orchestration, WARC reading, extraction, the CLI and sharding live here; the
other stages are the top-level packages ``classifiers``, ``dedup``,
``decontam`` and ``training``.
"""

__version__ = "0.1.0"
