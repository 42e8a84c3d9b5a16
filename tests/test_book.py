"""The book: chapter conventions, the papermill runner, the Jupyter Book build, the
rendered pages in a real browser, and the Colab launch links."""

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from ist_core.book import build_book, live_grid, run_book
from ist_core.chapters import (
    BookError,
    chapter_parameters,
    chapter_paths,
    find_root,
    read_chapter,
    repository_url,
    sync_notebooks,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# figures each built chapter must show (a floor, so adding figures keeps the test valid)
MIN_FIGURES = {"intro": 0, "data": 7, "causal": 3, "ist": 5, "baselines": 4, "stargan": 3,
               "evaluation": 1}


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


# ---------------------------------------------------------------- chapter conventions


def test_toc_lists_intro_first_and_every_chapter_exists():
    paths = chapter_paths(ROOT)
    assert [p.relative_to(ROOT).as_posix() for p in paths[:2]] == ["book/intro.md", "book/data.md"]
    assert find_root(ROOT) == ROOT


def test_every_chapter_has_an_in_sync_output_free_ipynb_twin():
    assert sync_notebooks(ROOT, check=True) == [], "run ist_core.chapters.sync_notebooks()"
    for md in chapter_paths(ROOT):
        nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
        nbformat.validate(nb)
        for cell in code_cells(nb):
            assert cell.outputs == [] and cell.execution_count is None, md.name


def test_sync_notice_an_edited_chapter(tmp_path):
    book = make_book(tmp_path, {"one": "x = 1"})
    assert sync_notebooks(book) == [book / "book" / "one.ipynb"]
    assert sync_notebooks(book, check=True) == []
    md = book / "book" / "one.md"
    md.write_text(md.read_text().replace("x = 1", "x = 2"))
    assert sync_notebooks(book, check=True) == [book / "book" / "one.ipynb"]


def test_install_cell_names_the_repository_only_through_the_config():
    """The chapters hold a marker, not a URL; the notebooks made from them carry the URL
    they are given, and the committed ones carry _config.yml's."""
    for md in chapter_paths(ROOT):
        first = code_cells(read_chapter(md, url="https://example.org/owner/fork"))[0]
        assert 'if "google.colab" in sys.modules:' in first.source, md.name
        assert 'repository = "https://example.org/owner/fork"' in first.source, md.name
        assert "%pip install" in first.source and "git+{repository}" in first.source
        assert "remove-input" in first.metadata.get("tags", []), f"{md.name}: install cell shown"
        assert "github.com" not in md.read_text(), f"{md.name} writes a repository URL itself"
        committed = code_cells(nbformat.read(md.with_suffix(".ipynb"), 4))[0].source
        url = CONFIG["repository"]["url"]
        assert re.findall(r'repository = "([^"]+)"', committed) == [url], md.name


def test_repository_url_from_environment_then_github_actions_then_config(tmp_path):
    book = make_book(tmp_path / "b", {"one": "x = 1"})
    config = yaml.safe_load((book / "_config.yml").read_text())
    config["repository"] = {"url": "https://example.org/upstream/book/", "branch": "main"}
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    actions = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "someone/fork"}
    assert repository_url(book, environ={}) == "https://example.org/upstream/book"
    assert repository_url(book, environ=actions) == "https://github.com/someone/fork"
    assert repository_url(book, environ={**actions, "IST_REPOSITORY_URL": "https://git.example/x/"}) \
        == "https://git.example/x"
    del config["repository"]
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    with pytest.raises(BookError, match="repository.url"):
        repository_url(book, environ={})


def test_a_fork_builds_a_book_that_points_at_the_fork(tmp_path, monkeypatch):
    """IST_REPOSITORY_URL reaches the launch buttons and the executed install cell; the
    committed notebook keeps _config.yml's URL; the footer names commit and profile."""
    install = ('import sys\nif "google.colab" in sys.modules:\n'
               '    repository = "{repository_url}"\n    print(repository)')
    book = make_book(tmp_path / "b", {"one": install})
    config = yaml.safe_load((book / "_config.yml").read_text())
    config.update({"repository": {"url": "https://github.com/upstream/book", "branch": "main",
                                  "path_to_book": ""},
                   "launch_buttons": {"colab_url": "https://colab.research.google.com"}})
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    sync_notebooks(book)
    monkeypatch.setenv("IST_REPOSITORY_URL", "https://github.com/someone/fork")
    html = run_book("tiny", root=book)
    page = (html / "book" / "one.html").read_text()
    assert "https://colab.research.google.com/github/someone/fork/blob/main/book/one.ipynb" in page
    assert "upstream" not in page
    executed = nbformat.read(book / "_build" / "src" / "book" / "one.ipynb", 4)
    assert 'repository = "https://github.com/someone/fork"' in code_cells(executed)[-1].source
    committed = nbformat.read(book / "book" / "one.ipynb", 4)
    assert 'repository = "https://github.com/upstream/book"' in code_cells(committed)[-1].source
    footer = re.sub(r"<[^>]+>", "", page)
    from ist_core.results import commit_id

    assert f"Built from commit {commit_id()}" in footer and "chapters run at profile tiny" in footer


def test_second_cell_is_the_parameters_cell_with_profile_quick():
    for md in chapter_paths(ROOT):
        second = code_cells(read_chapter(md))[1]
        assert "parameters" in second.metadata.get("tags", []), md.name
        params = chapter_parameters(md)
        assert params["profile"] == "quick", md.name


def test_config_builds_from_staging_without_executing():
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    assert {".venv", "**/.venv", "_build"} <= set(CONFIG["exclude_patterns"])
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


# ---------------------------------------------------------------- the runner on a tiny book


def make_book(root: Path, chapters: dict[str, str], params: str = 'profile = "quick"\nseed = 0') -> Path:
    """A book in ``root`` with one chapter per entry; each chapter runs the given code."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "_config.yml").write_text(
        "title: test\nexecute:\n  execute_notebooks: 'off'\nonly_build_toc_files: true\n"
        "exclude_patterns: [_build]\n"
    )
    names = list(chapters)
    toc = f"format: jb-book\nroot: book/{names[0]}\n"
    if len(names) > 1:
        toc += "chapters:\n" + "".join(f"  - file: book/{n}\n" for n in names[1:])
    (root / "_toc.yml").write_text(toc)
    (root / "book").mkdir(exist_ok=True)
    for name, code in chapters.items():
        (root / "book" / f"{name}.md").write_text(
            "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
            "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
            f"# Chapter {name}\n\n```{{code-cell}} ipython3\n:tags: [parameters]\n\n{params}\n```\n\n"
            f"```{{code-cell}} ipython3\n{code}\n```\n"
        )
    return root


def test_failing_chapter_fails_the_run_and_names_the_chapter(tmp_path, capsys):
    book = make_book(tmp_path / "b", {
        "fine": "print('fine ran')",
        "broken": "raise ValueError('the fold has no test cells')",
        "after": "print('never')",
    })
    with pytest.raises(BookError) as err:
        run_book("tiny", root=book, build=False)
    message = str(err.value)
    assert "chapter 'broken'" in message and "book/broken.md" in message
    assert "ValueError: the fold has no test cells" in message
    out = capsys.readouterr().out
    assert "fine done in" in out and "[3/3]" not in out  # progress per chapter; stops at the failure
    assert not (book / "_build" / "src" / "book" / "broken.ipynb").exists()


def _meet(folder: Path, me: str, other: str) -> str:
    """Chapter code that leaves a mark in ``folder``, then waits for chapter ``other``'s: it
    finishes only when the two chapters run at the same time."""
    return (f"import pathlib, time\nhere = pathlib.Path({str(folder)!r})\n"
            f"(here / {me!r}).touch()\nfor _ in range(600):\n"
            f"    if (here / {other!r}).exists():\n        break\n    time.sleep(0.1)\n"
            f"else:\n    raise TimeoutError('{other} never ran beside {me}')\nprint('met', {other!r})\n"
            "import os\nprint('threads', os.environ.get('OMP_NUM_THREADS'))")


def test_chapters_run_jobs_at_a_time_and_a_failure_stops_the_later_ones(tmp_path, capsys,
                                                                        monkeypatch):
    meet = tmp_path / "meet"
    meet.mkdir()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # kernels beside each other get one each
    book = make_book(tmp_path / "b", {"one": _meet(meet, "one", "two"),
                                     "two": _meet(meet, "two", "one")})
    stage = run_book("tiny", root=book, build=False, jobs=2)
    for name, other in (("one", "two"), ("two", "one")):
        nb = nbformat.read(stage / "book" / f"{name}.ipynb", as_version=4)
        printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert f"met {other}" in printed and "threads 1" in printed
    out = capsys.readouterr().out
    assert out.index("[2/2] two") < out.index("one done in")  # both started before either ended
    book = make_book(tmp_path / "c", {
        # "fine" outlasts "broken" whichever kernel starts first: it waits for its mark
        "fine": _meet(meet, "fine", "broken") + "\nimport time\ntime.sleep(5)",
        "broken": f"import pathlib\n(pathlib.Path({str(meet)!r}) / 'broken').touch()\n"
                  "raise ValueError('the fold has no test cells')",
        "after": "print('never')",
    })
    with pytest.raises(BookError, match="chapter 'broken'.*ValueError: the fold has no test"):
        run_book("tiny", root=book, build=False, jobs=2)
    out = capsys.readouterr().out
    assert "fine done in" in out and "[3/3]" not in out  # the running one ends, no later one starts
    assert not (book / "_build" / "src" / "book" / "broken.ipynb").exists()
    with pytest.raises(BookError, match="jobs=0"):
        run_book("tiny", root=book, build=False, jobs=0)


def test_parameters_are_injected_and_typed_from_the_default(tmp_path):
    book = make_book(tmp_path / "b", {
        "typed": "assert profile == 'tiny' and seed == 3 and isinstance(seed, int), (profile, seed)",
    })
    stage = run_book("tiny", parameters={"seed": "3"}, root=book, build=False)
    nb = nbformat.read(stage / "book" / "typed.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "seed = 3" in injected[0].source
    with pytest.raises(BookError, match=r"expects int \(default 0\)"):
        run_book("tiny", parameters={"seed": "three"}, root=book, build=False)


def test_chapters_train_in_the_builds_own_runs_folder_not_in_make_results(tmp_path, monkeypatch):
    """A chapter's live re-run must be trained, not read back from the grid it checks."""
    monkeypatch.delenv("IST_RUNS_DIR", raising=False)
    book = make_book(tmp_path / "b", {
        "where": "import os\nfrom ist_core.train import runs_dir\nprint('RUNS', runs_dir())",
    })
    stage = run_book("tiny", root=book, build=False)
    nb = nbformat.read(stage / "book" / "where.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"RUNS {book / '_build' / 'runs'}" in printed
    assert "IST_RUNS_DIR" not in os.environ  # restored after the run
    monkeypatch.setenv("IST_RUNS_DIR", str(tmp_path / "mine"))
    stage = run_book("tiny", root=book, build=False)
    nb = nbformat.read(stage / "book" / "where.ipynb", as_version=4)
    assert f"RUNS {tmp_path / 'mine'}" in "".join(
        o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_live_grid_is_each_chapters_live_runs_once():
    ist = {"profile": "tiny", "dataset": "synthetic-grid", "live_methods": ["baseline", "ist"],
           "level": "2", "fold": 0, "seed": 0}
    evaluation = {"profile": "tiny", "datasets": ["synthetic-grid", "synthetic-lincs"],
                  "live_methods": ["baseline", "mixstyle"], "level": "2", "fold": 0, "seed": 0}
    other_fold = {**ist, "live_methods": ["baseline"], "fold": 1}
    stargan = {**ist, "live_networks": ["stargan2"]}
    grid, networks = live_grid([ist, {"profile": "tiny", "seed": 0}, evaluation, other_fold,
                                stargan])
    assert [(r.dataset, r.method, r.level, r.fold, r.seed) for r in grid.runs] == [
        ("synthetic-grid", "baseline", "2", 0, 0), ("synthetic-grid", "ist", "2", 0, 0),
        ("synthetic-grid", "mixstyle", "2", 0, 0), ("synthetic-grid", "baseline", "2", 1, 0)]
    assert [(r.dataset, r.method, r.level, r.fold) for r in networks] == [
        ("synthetic-grid", "stargan2", "2", 0)]
    assert grid.profile == "tiny"
    # a chapter that uses only a generator still has it trained first
    grid, networks = live_grid([{**stargan, "live_methods": []}])
    assert grid.runs == () and [r.method for r in networks] == ["stargan2"]
    assert live_grid([{"profile": "tiny", "seed": 0}, {**ist, "live_methods": []}]) is None
    with pytest.raises(ValueError, match="unknown method"):
        live_grid([{**ist, "live_methods": ["nope"]}])


def test_the_chapters_live_runs_are_trained_before_the_first_chapter(tmp_path, monkeypatch, capsys):
    """The runner trains each live run on one thread, as `make results` trains it; a
    chapter that trained it itself would do so on the kernel's threads."""
    monkeypatch.delenv("IST_RUNS_DIR", raising=False)
    params = ('profile = "quick"\ndataset = "synthetic-grid"\nlevel = "iid"\nfold = 0\nseed = 0\n'
              'live_methods = ["baseline"]\nworkers = 1')
    check = ("from ist_core.experiments import plan\n"
             "grid = plan(dataset, live_methods, levels=[level], profile=profile)\n"
             "assert (grid.folder(grid.runs[0]) / 'metrics.json').is_file(), 'not trained first'")
    book = make_book(tmp_path / "b", {"first": check}, params=params)
    run_book("tiny", root=book, build=False)
    out = capsys.readouterr().out
    assert "[0/1] the chapters' live runs first: 1 run(s), 1 worker(s)" in out
    assert out.index("live runs done") < out.index("[1/1] first")
    assert list((book / "_build" / "runs").rglob("baseline/iid*/seed0/metrics.json"))


def test_unknown_profile_or_parameter_is_refused_before_anything_runs(tmp_path):
    book = make_book(tmp_path / "b", {"one": "x = 1"})
    with pytest.raises(BookError, match=r"unknown profile 'huge'.*tiny.*quick.*paper"):
        run_book("huge", root=book, build=False)
    with pytest.raises(BookError, match=r"unknown parameter\(s\) \['lr'\].*one: profile, seed"):
        run_book("tiny", parameters={"lr": 0.1}, root=book, build=False)
    with pytest.raises(BookError, match="no chapter 'two'"):
        run_book("tiny", chapters=["two"], root=book, build=False)
    assert not (book / "_build" / "executed").exists()


def test_a_chapter_without_parameters_cell_is_refused(tmp_path):
    book = make_book(tmp_path / "b", {"one": "x = 1"}, params="x = 0")
    with pytest.raises(BookError, match="must define `profile`"):
        run_book("tiny", root=book, build=False)


def test_the_real_book_refuses_unknown_parameters_naming_valid_ones():
    with pytest.raises(BookError, match=r"unknown parameter\(s\) \['datset'\].*data: profile, dataset, seed"):
        run_book("tiny", parameters={"datset": "grid"}, root=ROOT, build=False)


def test_build_before_run_says_what_to_do(tmp_path):
    from ist_core.book import build_book

    book = make_book(tmp_path / "b", {"one": "x = 1"})
    with pytest.raises(BookError, match="have not been run"):
        build_book(book)


@pytest.mark.slow
def test_a_warning_fails_the_build_and_is_shown(tmp_path):
    from ist_core.book import build_book

    book = make_book(tmp_path / "b", {"one": "x = 1"})
    md = book / "book" / "one.md"
    md.write_text(md.read_text() + "\nSee {ref}`no-such-label`.\n")
    run_book("tiny", root=book, build=False)
    with pytest.raises(BookError, match="(?s)warnings are errors.*no-such-label"):
        build_book(book)


# ---------------------------------------------------------------- the whole book at `tiny`


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every committed notebook executed at `tiny` as on Colab (see ``tests/colab.py``),
    then the HTML built from them (warnings are errors)."""
    from colab import run_chapters

    out = tmp_path_factory.mktemp("book")
    notebooks = [md.with_suffix(".ipynb") for md in chapter_paths(ROOT)]
    # one seed for Table 1 (the grid itself is tested in test_experiments.py); two timed
    # steps per generator (the rates are measured in benchmarks/, not in tests)
    executed = run_chapters(out / "colab", notebooks, profile="tiny",
                            extra={"evaluation": {"seeds": [0]}, "stargan": {"rate_steps": 2}})
    stage = out / "_build" / "src"
    for md in chapter_paths(ROOT):
        target = stage / md.relative_to(ROOT).with_suffix(".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(executed / f"{md.stem}.ipynb", target)
    (stage / "profile.txt").write_text("tiny\n")
    return out / "_build", build_book(ROOT, out_dir=out), out / "colab"


@pytest.mark.slow
def test_whole_book_runs_as_on_colab_and_builds_at_tiny(built):
    build_dir, html, colab = built
    # the chapters ran on the installed package, from outside the repository
    assert ROOT not in Path((colab / "imported_from.txt").read_text()).parents
    for md in chapter_paths(ROOT):  # the install cell is kept in the notebook, not shown
        page = (html / md.relative_to(ROOT).with_suffix(".html")).read_text()
        assert "google.colab" not in page, md.name
        assert "chapters run at profile <code>tiny</code>" in page, md.name
    # ... and still found the result summaries stored in the repository (shipped inside it)
    evaluation = (build_dir / "src" / "book" / "evaluation.ipynb").read_text()
    assert "Table 1, paper profile (stored)" in evaluation
    assert html == build_dir / "html"
    for md in chapter_paths(ROOT):
        page = html / md.relative_to(ROOT).with_suffix(".html")
        assert page.is_file(), page
        executed = nbformat.read(build_dir / "src" / md.relative_to(ROOT).with_suffix(".ipynb"), 4)
        for cell in code_cells(executed):
            for output in cell.outputs:
                assert output.output_type != "error", (md.name, cell.source)
                # a warning printed into the rendered book is a bug to fix, not to show
                assert output.get("name") != "stderr", (md.name, cell.source, output.get("text"))
    assert (html / "index.html").is_file()


@pytest.mark.slow
def test_colab_links_name_notebooks_in_the_repository(built):
    _, html, _ = built
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    prefix = f"{CONFIG['launch_buttons']['colab_url']}/github/{repo}/blob/{CONFIG['repository']['branch']}/"
    for md in chapter_paths(ROOT):
        page = (html / md.relative_to(ROOT).with_suffix(".html")).read_text()
        links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page))
        assert links, f"no Colab launch button on {md.name}"
        for link in links:
            assert link.startswith(prefix), link
            target = ROOT / link.removeprefix(prefix)
            assert target.suffix == ".ipynb" and target.is_file(), f"{link} names no notebook in the tree"


def chromium_or_skip() -> str:
    """Chromium's path; skip with the reason when absent, except on CI where it must exist."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem is None and not Path(path).is_file():
        problem = f"no Chromium at {path} (apt-get install chromium, or set CHROMIUM)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)
    return path


# MathJax comes from its CDN (Jupyter Book 1's default); offline its request fails, so
# the browser check tolerates exactly that request and nothing else (see DEVELOPERS.md)
TOLERATED_REQUESTS = ("https://cdn.jsdelivr.net/npm/mathjax@",)


def _internal_target(page_path: Path, href: str, html_root: Path) -> tuple[Path, str] | None:
    """The local file and anchor an internal link names (None for external links)."""
    from urllib.parse import unquote, urlparse

    url = urlparse(href)
    if url.scheme in ("http", "https", "mailto", "javascript"):
        return None
    path = Path(unquote(url.path)) if url.scheme == "file" else \
        (page_path.parent / unquote(url.path)).resolve() if url.path else page_path
    if path.is_dir():
        path = path / "index.html"
    return path, url.fragment


@pytest.mark.slow
def test_built_pages_pass_a_browser_check(built):
    """Every page in headless Chromium: figures load, no console error, no request
    except the tolerated MathJax one, every internal link and anchor leads somewhere;
    external links are listed, not fetched."""
    _, html, _ = built
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)  # pages, not theme parts
    anchors: dict[Path, set] = {}

    def ids(path: Path) -> set:
        if path not in anchors:
            anchors[path] = set(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))
        return anchors[path]

    external, problems = set(), []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors, blocked = [], []
            page.on("console", lambda m: errors.append((m.text, m.location.get("url", "")))
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append((str(e), "")))

            def route(r):
                if r.request.url.startswith("file://"):
                    return r.continue_()
                blocked.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            for path in pages:
                redirect = re.search(r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"',
                                     path.read_text(errors="replace"), re.I)
                if redirect:  # e.g. index.html: only its target must exist
                    if not (path.parent / redirect.group(1)).is_file():
                        problems.append(f"{path.name}: redirects to a missing {redirect.group(1)}")
                    continue
                source = path.read_text(errors="replace")
                if 'class="math' in source and not re.search(r'<script[^>]+mathjax', source):
                    problems.append(f"{path.name}: equations but no MathJax: they show as raw TeX")
                errors.clear()
                blocked.clear()
                page.goto(path.as_uri(), wait_until="load")
                name = path.relative_to(html)
                bad = [u for u in blocked if not u.startswith(TOLERATED_REQUESTS)]
                problems += [f"{name}: request to {u}" for u in bad]
                # a refused request logs a console error; only the tolerated ones may
                problems += [f"{name}: console error: {text} ({where})" for text, where in errors
                             if not where.startswith(TOLERATED_REQUESTS)]
                sizes = page.eval_on_selector_all(
                    "article img", "els => els.map(e => [e.complete, e.naturalWidth, e.src])")
                problems += [f"{name}: image did not load: {src}"
                             for done, width, src in sizes if not (done and width > 0)]
                if path.parent.name == "book":
                    floor = MIN_FIGURES.get(path.stem, 0)
                    if len(sizes) < floor:
                        problems.append(f"{name}: {len(sizes)} figures, expected >= {floor}")
                    text = page.locator("article").inner_text()
                    if "Traceback" in text or "An Exception was encountered" in text:
                        problems.append(f"{name}: an error is shown on the page")
                for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                    target = _internal_target(path, href, html)
                    if target is None:
                        external.add(href)
                        continue
                    file, anchor = target
                    if not file.is_file():
                        problems.append(f"{name}: link to a missing page {href}")
                    elif anchor and file.suffix == ".html" and anchor not in ids(file):
                        problems.append(f"{name}: link to a missing anchor {href}")
        finally:
            browser.close()
    print(f"{len(pages)} pages checked; external links (listed, not fetched): {sorted(external)}")
    assert not problems, "\n".join(problems)
    assert any(u.startswith("https://colab.research.google.com/") for u in external)


def test_papermill_command_line_runs_a_paired_notebook_from_the_repository_root(tmp_path):
    """What the README shows: papermill's own command on a committed notebook."""
    import subprocess
    import sys

    out = tmp_path / "intro.ipynb"
    env = {**os.environ, "IST_RUNS_DIR": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, "-m", "papermill", "book/intro.ipynb", str(out),
                           "-p", "profile", "tiny", "--no-progress-bar"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    executed = nbformat.read(out, 4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'profile = "tiny"' in injected[0].source
    assert not [o for c in code_cells(executed) for o in c.outputs if o.output_type == "error"]


def test_chapter_parameters_are_read_as_papermill_reads_them(tmp_path):
    book = make_book(tmp_path / "b", {"one": "x = 1"},
                     params='profile = "quick"  # which\nseed = 3\nlr: float = 0.5\n'
                            'levels = ["2", "3"]\nflag = False\nroot = Path(".")')
    params = chapter_parameters(book / "book" / "one.md")
    assert params == {"profile": "quick", "seed": 3, "lr": 0.5, "levels": ["2", "3"],
                      "flag": False, "root": None}
