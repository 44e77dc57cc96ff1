from pathlib import Path

import pytest

from pipeline.core.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]


def test_default_yaml_matches_builtin_defaults():
    from_file = load_config(REPO / "configs" / "default.yaml")
    builtin = load_config(None)
    assert from_file.model_dump() == builtin.model_dump()
    assert from_file.synth.pages == 12000 and from_file.workdir == "out"


def _write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, "synth:\n  pagez: 10\n"))
    assert "synth.pagez: unknown key" in str(e.value)
    assert str(tmp_path / "c.yaml") in str(e.value)


def test_unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match="dedupe: unknown key"):
        load_config(_write(tmp_path, "dedupe: {}\n"))


def test_bad_value_is_named_with_the_value(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, "synth:\n  math_fraction: 1.5\n  pages: lots\n"))
    msg = str(e.value)
    assert "synth.math_fraction" in msg and "1.5" in msg
    assert "synth.pages" in msg and "'lots'" in msg


def test_nested_section_errors_and_cross_field_rule(tmp_path):
    with pytest.raises(ConfigError, match=r"synth.benchmarks.gsm8k"):
        load_config(_write(tmp_path, "synth:\n  benchmarks:\n    gsm8k: 0\n"))
    with pytest.raises(ConfigError, match="math_domains must be smaller than domains"):
        load_config(_write(tmp_path, "synth:\n  domains: 30\n  math_domains: 30\n"))


def test_bad_yaml_missing_file_and_wrong_top_level(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "synth: [unclosed\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(_write(tmp_path, "- a\n- b\n"))


def test_dotted_overrides_are_validated():
    cfg = load_config(None, {"synth.pages": 50, "workdir": "/tmp/x"})
    assert cfg.synth.pages == 50 and cfg.workdir == "/tmp/x"
    with pytest.raises(ConfigError, match="synth.pages"):
        load_config(None, {"synth.pages": -1})
