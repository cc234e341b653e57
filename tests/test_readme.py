"""The README's two fresh-machine commands are what CI runs, verbatim."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    """The commands in the README's first fenced bash block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_opens_with_install_and_test_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert "pip install" in commands[0] and "lupustrial " in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_commands_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in _readme_commands():
        assert command in ci, f".ci/run does not run the README command: {command}"


def test_readme_documents_the_adam_schemas_as_declared() -> None:
    from lupustrial.data import schema_markdown

    assert schema_markdown().rstrip() in (ROOT / "README.md").read_text(encoding="utf-8")
