"""Runs inside OpenWebMath's own virtualenv (openwebmath-text-extract, resiliparse<0.15).

Reads JSON lines {"id", "html"} from argv[1], writes {"id", "text", "seconds"} to argv[2].
OpenWebMath samples its options per page from configs/randomized_all.yaml; the benchmark
takes the most likely value of each option so that runs are repeatable.
"""
import json
import sys
import time
from pathlib import Path

import yaml
from text_extract.extract import extract_text


def most_likely(node):
    if isinstance(node, dict):
        return {k: most_likely(v) for k, v in node.items()}
    if isinstance(node, list) and node and all(isinstance(x, list) and len(x) == 2 for x in node):
        return max(node, key=lambda pv: pv[0])[1]
    return node


def load_config() -> dict:
    import text_extract

    cfg_path = Path(text_extract.__file__).parent / "configs" / "randomized_all.yaml"
    return most_likely(yaml.safe_load(cfg_path.read_text()))


def main():
    config = load_config()
    with open(sys.argv[1]) as src, open(sys.argv[2], "w") as dst:
        for line in src:
            doc = json.loads(line)
            t0 = time.perf_counter()
            try:
                out = extract_text(doc["html"], config, fast=True)
                text = out[0] if isinstance(out, tuple) else (out or "")
            except Exception as exc:  # a page the peer cannot handle counts as no text
                text = ""
                print(f"owm failed on {doc['id']}: {type(exc).__name__}: {exc}", file=sys.stderr)
            dst.write(json.dumps({"id": doc["id"], "text": text or "", "seconds": time.perf_counter() - t0}) + "\n")


if __name__ == "__main__":
    main()
