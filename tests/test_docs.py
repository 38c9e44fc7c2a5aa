"""The docs keep up with the code: every env var documented, the README's test command is CI's."""

from __future__ import annotations

from pathlib import Path

from spanhive import environment_variables

ROOT = Path(__file__).resolve().parent.parent


def test_every_environment_variable_is_documented_with_a_docstring() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text()
    names = [n for n in vars(environment_variables) if n.isupper() and not n.startswith("_")]
    assert len(names) >= 18
    source = (ROOT / "src" / "spanhive" / "environment_variables.py").read_text()
    for name in names:
        assert f"`{name}`" in docs, name
        assert f'{name} = "{name}"\n"""' in source, f"{name} needs a docstring"


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """The one test command in .ci/run (besides installing a browser) is the README's, to the letter."""
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if "tox" in line]
    assert len(ci) == 1
    assert f"\n{ci[0]}\n" in (ROOT / "README.md").read_text()
