"""The project's own files install what it needs: pyproject and environment.yml agree."""

import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        names |= {_name(r) for r in extra}
    return names - {project["name"]}  # extras that include other extras


def _environment() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(d) for d in dep["pip"] if not d.startswith("-")}
        else:
            names.add(CONDA_TO_PYPI.get(_name(dep), _name(dep)))
    return names - {"python", "pip"}


def test_environment_mirrors_pyproject():
    assert _environment() == _pyproject(), (
        f"only in pyproject: {sorted(_pyproject() - _environment())}; "
        f"only in environment.yml: {sorted(_environment() - _pyproject())}"
    )


def test_dependencies_are_ranges_not_pins():
    text = (ROOT / "pyproject.toml").read_text()
    assert "==" not in text, "declare version ranges, not pins"


def test_ist_help_on_every_subcommand(capsys):
    out = subprocess.run([sys.executable, "-m", "ist_core.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("usage: ist")
    from ist_core.cli import build_parser

    commands = [["data"], ["data", "describe"], ["data", "fetch"], ["diagnose"], ["splits"],
                ["train", "encoder"], ["train", "ist"], ["train", "predictor"], ["train", "ood"],
                ["transfer"], ["run"], ["book"], ["book", "run"], ["book", "build"],
                ["book", "sync"]]
    for cmd in commands:
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args([*cmd, "--help"])
        assert exit_.value.code == 0, cmd
        assert capsys.readouterr().out.startswith(f"usage: ist {' '.join(cmd)}"), cmd
