"""Config loading, overrides and error messages that name the field and the file."""

from __future__ import annotations

import pytest

from soar_kit.config import RunConfig, load_config
from soar_kit.errors import ConfigError


def test_defaults_validate_and_round_trip_through_toml(tmp_path):
    config = RunConfig()
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert load_config(path) == config


def test_toml_and_yaml_files_with_overrides(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(
        'seed = 3\n[student.rl]\nlr = 0.5\n[domain]\nname = "code"\n[domain.options]\nstyle = "x"\n'
    )
    config = load_config(toml, ["student.rl.lr=1e-5", "meta.g=8", "model.name=./my model"])
    assert config.seed == 3
    assert config.student.rl.lr == 1e-5
    assert config.meta.g == 8
    assert config.model.name == "./my model"
    assert config.domain.options == {"style": "x"}
    yaml = tmp_path / "run.yaml"
    yaml.write_text("meta:\n  n: 5\n  reward: learnability\n")
    config = load_config(yaml)
    assert (config.meta.n, config.meta.reward) == (5, "learnability")


def test_setting_one_field_keeps_the_sections_other_defaults(tmp_path):
    """student.rl and teacher.rl are built by factories with their own lr, group and budget;
    setting one field of them (flag or file) must not reset the rest to plain RLConfig's."""
    defaults = RunConfig()
    flag = load_config(None, ["student.rl.steps=20", "teacher.rl.lr=1e-4"])
    toml = tmp_path / "run.toml"
    toml.write_text("[student.rl]\nsteps = 20\n[teacher.rl]\nlr = 1e-4\n")
    for config in (flag, load_config(toml)):
        assert config.student.rl == defaults.student.rl.model_copy(update={"steps": 20})
        assert config.teacher.rl == defaults.teacher.rl.model_copy(update={"lr": 1e-4})
    sampling = load_config(None, ["teacher.rl.sampling.temperature=0.7"]).teacher.rl.sampling
    assert (sampling.temperature, sampling.max_new_tokens) == (0.7, 192)


def test_effective_config_with_options_round_trips(tmp_path):
    config = load_config(None, ['domain.options={"a": 1, "b": "two"}', "teacher.rl.kl=0.5"])
    path = tmp_path / "again.toml"
    path.write_text(config.to_toml())
    assert load_config(path) == config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[student.rl]\nlr = -1\n", "student.rl.lr: Input should be greater than 0 (got -1)"),
        ("[studnet]\nlr = 1\n", "studnet: unknown field"),
        ("[meta]\ng = 'many'\n", "meta.g: Input should be a valid integer"),
        ("[meta]\ng = 1\n", "meta.g: Input should be greater than or equal to 2"),
    ],
)
def test_validation_errors_name_field_and_file(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    assert "\n" not in message


def test_unreadable_or_unparsable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file .*missing\.toml"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("seed = = 1")
    with pytest.raises(ConfigError, match=r"broken\.toml: cannot parse"):
        load_config(broken)
    other = tmp_path / "c.ini"
    other.write_text("x")
    with pytest.raises(ConfigError, match=r"unknown format '\.ini'"):
        load_config(other)


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(None, ["student.rl.lr"])
    with pytest.raises(ConfigError, match="command line: seed: Input should be a valid integer"):
        load_config(None, ["seed.x=1"])
    with pytest.raises(ConfigError, match="'seed' is not a section"):
        load_config(None, ["seed=1", "seed.x=1"])
    with pytest.raises(
        ConfigError, match=r"command line: meta\.tau: Input should be a valid number"
    ):
        load_config(None, ["meta.tau=abc"])


def test_docs_field_reference_is_current():
    from pathlib import Path

    from soar_kit.config import reference_markdown

    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert docs.endswith(reference_markdown()), (
        "docs/configuration.md is stale: regenerate its table with "
        "soar_kit.config.reference_markdown()"
    )


def test_the_paper_preset_carries_table_3_and_names_itself(tmp_path, monkeypatch):
    from pathlib import Path

    from soar_kit.commands.cli import build_config, config_origin
    from soar_kit.config import preset_names
    from soar_kit.errors import ConfigError

    assert "paper-llama-3b" in preset_names()
    c = build_config(Path("paper-llama-3b"), ())
    assert (c.student.rl.lr, c.teacher.rl.lr, c.student.rl.kl, c.teacher.rl.kl) == (
        1e-5,
        1e-5,
        0.001,
        0.001,
    )
    assert (c.student.rl.batch_size, c.student.rl.group_size, c.student.rl.steps) == (8, 32, 10)
    assert (c.student.rl.sampling.max_new_tokens, c.teacher.rl.sampling.max_new_tokens) == (
        1024,
        512,
    )
    assert (c.meta.outer_steps, c.meta.g, c.meta.n, c.meta.r, c.meta.qr_size) == (200, 4, 64, 4, 64)
    assert (c.meta.qr_samples, c.meta.tau, c.meta.window, c.hardset.k) == (0, 0.01, 3, 128)
    assert build_config(Path("paper-llama-3b"), ("meta.n=8",)).meta.n == 8  # --set still wins
    line, warn = config_origin(Path("paper-llama-3b"), c.model.name)
    assert line.startswith("config: preset paper-llama-3b (the paper's settings") and not warn
    # a real model on the toy defaults is said, never silent; soar-mini on them is normal
    line, warn = config_origin(None, "smollm2-135m")
    assert warn and "sized for soar-mini" in line and "smollm2-135m" in line
    assert "use --config smollm2-cpu" in line  # the preset written for that model
    assert "use a --config" in config_origin(None, "my/model")[0]
    assert config_origin(None, "soar-mini")[1] is False
    # an existing file of the same name wins over the preset; a missing one names the presets
    monkeypatch.chdir(tmp_path)
    assert build_config(Path("paper-llama-3b.toml"), ()).meta.n == 64  # the preset
    (tmp_path / "paper-llama-3b.toml").write_text("[meta]\nn = 3\n")
    assert build_config(Path("paper-llama-3b.toml"), ()).meta.n == 3
    with pytest.raises(ConfigError, match=r"nope.toml does not exist \(shipped presets: .*paper"):
        build_config(Path("nope.toml"), ())


def test_the_smollm2_preset_loads_and_names_itself():
    from pathlib import Path

    from soar_kit.commands.cli import build_config, config_origin

    c = build_config(Path("smollm2-cpu"), ())
    assert c.model.name == "smollm2-135m"
    assert c.domain.options == {
        "format": "plain",
        "prompt": "paper",
        "open_turn": True,
        "examples": 5,
    }
    assert (c.student.rl.lr, c.teacher.rl.lr, c.teacher.rl.sampling.temperature) == (
        1e-5,
        1e-5,
        0.7,
    )
    line, warn = config_origin(Path("smollm2-cpu"), c.model.name)
    assert line.startswith("config: preset smollm2-cpu (SmolLM2-135M-Instruct") and not warn
