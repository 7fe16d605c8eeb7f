"""The pytest plugin, run in its own pytest processes as a user's test suite would load it.

Each test writes a small test module and runs pytest on it in a subprocess: the plugin
must come from the installed package's ``pytest11`` entry point, not from this suite.
"""

from __future__ import annotations

import pytest

# Each test starts a pytest process of its own.
pytestmark = pytest.mark.slow


def run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_flags=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")


def test_the_fixture_sets_flags_for_one_test_and_resets_after(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        def test_first(vexil_flags):
            vexil_flags.set("new-ui", True)
            vexil_flags.set_flag("plan-banner", {
                "type": "string",
                "variations": {"pro": "for pros", "free": "for everyone"},
                "rules": [{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
                           "serve": "pro"}],
                "default": "free",
            })
            assert vexil_flags.variation("new-ui", {"key": "u"}, False) is True
            assert vexil_flags.variation("plan-banner", {"key": "u", "plan": "pro"}) == "for pros"
            assert vexil_flags.variation("plan-banner", {"key": "u"}) == "for everyone"

        def test_second_starts_clean(vexil_flags):
            assert vexil_flags.variation("new-ui", {"key": "u"}, False) is False
            assert vexil_flags.evaluations[0].detail.error is not None
        """,
    )
    result.assert_outcomes(passed=2)


def test_a_marker_sets_the_first_values_and_the_closest_wins(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        pytestmark = pytest.mark.vexil_flags({"color": "red", "size": 3})

        @pytest.mark.vexil_flags({"color": "blue"}, beta=True)
        def test_marked(vexil_flags):
            context = {"key": "u"}
            assert vexil_flags.variation("color", context) == "blue"
            assert vexil_flags.variation("size", context) == 3
            assert vexil_flags.variation("beta", context) is True
            assert [e.key for e in vexil_flags.evaluations] == ["color", "size", "beta"]
        """,
    )
    result.assert_outcomes(passed=1)


def test_integrations_use_the_fixture_while_a_test_runs(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        from vexil import Client
        from vexil.integrations._base import current_client

        own = Client.for_testing({"new-ui": False})

        def test_during(vexil_flags):
            vexil_flags.set("new-ui", True)
            assert current_client(own) is vexil_flags
            assert current_client(own).variation("new-ui", {"key": "u"}) is True

        def test_without_the_fixture():
            assert current_client(own) is own
            assert current_client(own).variation("new-ui", {"key": "u"}) is False
        """,
    )
    result.assert_outcomes(passed=2)


def test_a_wrong_marker_is_a_clear_error(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.vexil_flags(["new-ui"])
        def test_wrong(vexil_flags):
            pass
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*vexil_flags takes one dict of flag values*"])


def test_a_bad_value_names_the_flag(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.vexil_flags({"when": object()})
        def test_wrong(vexil_flags):
            pass
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*when: a test flag's value must be*"])
