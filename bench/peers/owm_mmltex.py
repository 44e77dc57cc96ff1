"""Runs inside OpenWebMath's own virtualenv (openwebmath-text-extract, resiliparse<0.15, warcio).

argv: WARC OUT_JSONL. OpenWebMath's MathML converter alone, apart from its page pipeline: every ``<math>``
of each HTML response, found and serialised with resiliparse as OpenWebMath's ``extract_math`` does, through
its ``mml_to_latex`` (the mmltex XSLT run by lxml). Writes {"url", "text"} lines, ``text`` holding each
conversion between ``$`` in document order (a conversion that raises counts as none).
"""
import json
import re
import sys

from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree
from text_extract.latex_processing import mml_to_latex
from warcio.archiveiterator import ArchiveIterator


def conversions(html: str) -> list[str]:
    out = []
    for math in HTMLTree.parse(html).document.query_selector_all("math"):
        mathml = math.html
        if "xmlns:mml" in mathml:  # as extract_math prepares a prefixed formula
            mathml = re.sub(r'xmlns:mml=".*?"', "", mathml.replace("mml:", ""))
        try:
            latex = mml_to_latex(mathml)
        except Exception:
            continue
        latex = re.sub(r"\s+", " ", latex.replace("$", "")).strip()  # as its wrap_math: one line, no $
        if latex:
            out.append(latex)
    return out


def main():
    warc, out_jsonl = sys.argv[1:3]
    with open(warc, "rb") as fh, open(out_jsonl, "w") as dst:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response" and rec.http_headers and rec.http_headers.get_statuscode() == "200":
                url = rec.rec_headers.get_header("WARC-Target-URI")
                payload = rec.content_stream().read()
                text = " ".join(f"${t}$" for t in conversions(bytes_to_str(payload, detect_encoding(payload))))
                dst.write(json.dumps({"url": url, "text": text}) + "\n")


if __name__ == "__main__":
    main()
