"""Text deduplication: exact hashes and MinHash-LSH near-duplicates."""
