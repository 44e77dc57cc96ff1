"""The mixture stand-ins (code, web text): deterministic, in the jsonl layout the tokenizer reads."""
import ast
import hashlib
import json

from pipeline.synth.mixture import generate_mixture_standins


def test_standins_are_deterministic_and_well_formed(tmp_path):
    a = generate_mixture_standins(tmp_path / "a", docs=40, seed=5)
    generate_mixture_standins(tmp_path / "b", docs=40, seed=5)
    for name in ("code", "cc_text"):
        ha = hashlib.sha256((tmp_path / "a" / f"{name}.jsonl").read_bytes()).hexdigest()
        assert ha == hashlib.sha256((tmp_path / "b" / f"{name}.jsonl").read_bytes()).hexdigest()
    code = [json.loads(line) for line in (tmp_path / "a" / "code.jsonl").read_text().splitlines()]
    web = [json.loads(line) for line in (tmp_path / "a" / "cc_text.jsonl").read_text().splitlines()]
    assert len(code) == len(web) == 40 and a["docs"] == 40
    python = [c for c in code if c["path"].endswith(".py")]
    assert python and all(ast.parse(c["text"]) for c in python)  # real, parseable Python
    assert len({c["text"] for c in code}) == 40 and len({w["text"] for w in web}) == 40
    assert any("\u4e00" <= ch <= "\u9fff" for w in web for ch in w["text"])  # some Chinese prose
