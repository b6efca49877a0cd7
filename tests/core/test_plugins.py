"""Plugin discovery and isolation of broken plugins, on real (throwaway) installed distributions."""

from __future__ import annotations

from fakedist import install_fake_dist

from soar_kit.plugins import PluginManager

GOOD_DOMAIN = """
    import random
    from soar_kit import hookimpl
    from soar_kit.contracts.domain import ConformanceCases, Domain, ProblemSet
    from soar_kit.contracts.records import Problem, Verdict

    class Echo(Domain):
        name = "echo"
        description = "repeat the question"
        def teacher_prompt(self, rng): return "Q:"
        def parse_teacher_output(self, text, *, problem_id):
            if not text.strip():
                raise self.reject("empty")
            return Problem(id=problem_id, question=text, answer=text, domain="echo")
        def student_prompt(self, p): return p.question
        def verify(self, p, c): return Verdict(correct=c == p.answer, reward=float(c == p.answer))
        def problem_sets(self):
            return {"one": ProblemSet("one", "", lambda s, n: [
                Problem(id="e1", question="hi", answer="hi", domain="echo")])}
        def conformance_cases(self):
            p = Problem(id="e1", question="hi", answer="hi", domain="echo")
            return ConformanceCases(["hi"], [""], [(p, "hi")], [(p, "ho")])

    @hookimpl
    def soarkit_register_domains(register):
        register(Echo())
"""


def test_builtins_load_cleanly():
    manager = PluginManager(load_entry_points=False)
    assert manager.errors == []
    rewards = manager.collect("reward")
    assert {"grounded", "learnability", "rzero"} <= set(rewards)
    assert all(r.origin.distribution == "soar-kit" for r in rewards.values())


def test_entry_point_domain_is_discovered_with_its_distribution(plugin_dir):
    install_fake_dist(
        plugin_dir, "soarkit-echo", "1.2.3", {"echo_plugin": GOOD_DOMAIN}, {"echo": "echo_plugin"}
    )
    manager = PluginManager()
    item = manager.collect("domain")["echo"]
    assert (item.origin.distribution, item.origin.version) == ("soarkit-echo", "1.2.3")
    assert manager.domain("echo").name == "echo"


def test_restricting_plugins_by_name(plugin_dir):
    install_fake_dist(
        plugin_dir, "soarkit-echo", "1.0", {"echo_plugin": GOOD_DOMAIN}, {"echo": "echo_plugin"}
    )
    assert "echo" not in PluginManager(only=[]).collect("domain")
    assert "echo" not in PluginManager(only=["something-else"]).collect("domain")
    assert "echo" in PluginManager(only=["soarkit-echo"]).collect("domain")
    assert "echo" in PluginManager(only=["echo"]).collect("domain")


def test_broken_plugins_are_named_and_the_rest_keep_working(plugin_dir):
    install_fake_dist(
        plugin_dir, "soarkit-echo", "1.0", {"echo_plugin": GOOD_DOMAIN}, {"echo": "echo_plugin"}
    )
    install_fake_dist(
        plugin_dir,
        "broken-import",
        "0.1",
        {"broken_mod": "import nonexistent_xyz\n"},
        {"broken": "broken_mod"},
    )
    install_fake_dist(
        plugin_dir,
        "wrong-type",
        "0.2",
        {
            "wrong_mod": """
            from soar_kit import hookimpl
            @hookimpl
            def soarkit_register_domains(register):
                register("not a domain")
        """
        },
        {"wrong": "wrong_mod"},
    )
    install_fake_dist(
        plugin_dir,
        "dup-reward",
        "0.3",
        {
            "dup_mod": """
            from soar_kit import hookimpl
            from soarkit_plugins.rewards import GroundedReward
            @hookimpl
            def soarkit_register_reward_schemes(register):
                register(GroundedReward())
        """
        },
        {"dup": "dup_mod"},
    )
    install_fake_dist(
        plugin_dir,
        "typo-hook",
        "0.4",
        {
            "typo_mod": """
            from soar_kit import hookimpl
            @hookimpl
            def soarkit_register_domain(register):
                pass
        """
        },
        {"typo": "typo_mod"},
    )
    install_fake_dist(
        plugin_dir,
        "raises",
        "0.5",
        {
            "raises_mod": """
            from soar_kit import hookimpl
            @hookimpl
            def soarkit_register_trainers(register):
                raise RuntimeError("boom")
        """
        },
        {"raises": "raises_mod"},
    )
    manager = PluginManager()
    domains = manager.collect("domain")
    rewards = manager.collect("reward")
    manager.collect("trainer")
    assert "echo" in domains  # the good plugin still works
    assert rewards["grounded"].origin.distribution == "soar-kit"  # built-in wins, not replaced
    errors = "\n".join(manager.errors)
    assert len(manager.errors) == 5, errors
    for expected in (
        "distribution 'broken-import', entry point 'soar_kit:broken'",
        "ModuleNotFoundError",
        "distribution 'wrong-type'",
        "expected an instance of soar_kit.contracts.domain.Domain, got str",
        "distribution 'dup-reward'",
        "reward 'grounded', which plugin 'rewards' (distribution 'soar-kit') already provides",
        "distribution 'typo-hook'",
        "unknown hook(s) soarkit_register_domain",
        "distribution 'raises'",
        "RuntimeError: boom",
    ):
        assert expected in errors
    assert all("\n" not in line for line in manager.errors)  # one line each


def test_unknown_name_lists_available(plugin_dir):
    manager = PluginManager(load_entry_points=False)
    try:
        manager.get("reward", "nope")
    except Exception as exc:
        assert "unknown reward 'nope'" in str(exc)
        assert "grounded" in str(exc) and "learnability" in str(exc)
    else:
        raise AssertionError("expected an error")
