"""A student's whole way, taken as a student takes it, in a fresh environment without the repository.

The instructor builds a wheel and releases with it as the install source (a local file URL stands in for
the course's URL). The student opens the released notebook in a fresh virtual environment that has
fedlab's dependencies but not fedlab: its setup cell installs the stamped requirement. The student answers
it, runs it in quick mode in a folder outside the repository, and packs it; the instructor collects the
archive with ``nbgrader zip_collect`` and grades it with ``python -m course autograde``: full marks.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

import fedlab
from course.classroom import COURSE, Classroom
from course.submissions import answered
from course.tasks import max_autograded

pytestmark = pytest.mark.slow  # minutes: `make test-slow` (CI runs it after `make test`)

ASSIGNMENT, NOTEBOOK = "01_fedavg", "fedavg"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The course's wheel, built as an instructor would (``pip wheel --no-deps .``)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    str(COURSE), "-w", str(out)], check=True, capture_output=True)
    built, = out.glob("fedlab_course-*.whl")
    with zipfile.ZipFile(built) as zf:
        assert {name.split("/")[0] for name in zf.namelist()} == {"fedlab", built.name.split("-py3")[0] + ".dist-info"}
    return built


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A new virtual environment with fedlab's dependencies (those of this one, linked) and no fedlab."""
    root = tmp_path_factory.mktemp("student")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    deps = root / "deps"  # everything installed here except this checkout's own fedlab-course
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if not entry.name.startswith(("fedlab", "__editable__")):
            (deps / entry.name).symlink_to(entry)
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "course-dependencies.pth").write_text(f"{deps}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(JUPYTER_DATA_DIR=str(root / "jupyter"), PATH=os.pathsep.join([str(python.parent), "/usr/bin", "/bin"]),
               FEDLAB_DATA="synthetic", FEDLAB_CACHE=str(fedlab.data.cache_dir()), FEDLAB_QUICK="1")
    missing = subprocess.run([python, "-c", "import fedlab"], env=env, capture_output=True, text=True, cwd=root)
    assert "No module named 'fedlab'" in missing.stderr
    return python, env, root


@pytest.fixture(scope="module")
def plain_release(tmp_path_factory):
    """The assignment released with no install source set (the course's default)."""
    klass = Classroom.create(tmp_path_factory.mktemp("plain") / "class")
    klass.release(ASSIGNMENT)
    return klass.released(ASSIGNMENT)[NOTEBOOK]


def setup_cell(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")


def test_without_an_install_source_the_setup_cell_says_so(plain_release, fresh, tmp_path):
    python, env, _ = fresh
    assert plain_release.metadata.fedlab["release"] == fedlab.__version__
    run = subprocess.run([python, "-c", setup_cell(plain_release).source], env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode != 0 and "your instructor has not set an install source" in run.stderr


def test_a_different_installed_version_is_named(plain_release, capsys):
    source = setup_cell(plain_release).source
    cut = source.index("if FEDLAB_RELEASE")
    head = source[:cut].replace(f"FEDLAB_RELEASE = {fedlab.__version__!r}", "FEDLAB_RELEASE = '0.0.1'")
    exec(head + source[cut:].split("\n\n")[0], {})  # the version check, with fedlab installed here
    assert f"fedlab {fedlab.__version__} is installed, but this notebook was released with fedlab 0.0.1" \
        in capsys.readouterr().out


def test_from_release_to_grade_in_a_fresh_environment(wheel, fresh, tmp_path):
    python, env, root = fresh
    spec = f"fedlab-course @ {wheel.as_uri()}"
    klass = Classroom.create(tmp_path / "class")
    klass.release(ASSIGNMENT, install_from=spec)
    released = klass.released(ASSIGNMENT)[NOTEBOOK]
    assert f"FEDLAB_INSTALL = {spec!r}" in setup_cell(released).source

    # the student: a folder of their own, the release answered, run top to bottom in quick mode
    work = root / "work"
    work.mkdir()
    solved = answered(released, klass.source(ASSIGNMENT)[NOTEBOOK])
    nbformat.write(solved, work / f"{NOTEBOOK}.ipynb")
    run = subprocess.run([python, "-m", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                          "--ExecutePreprocessor.timeout=600", f"{NOTEBOOK}.ipynb"],
                         env=env, cwd=work, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    shown = "\n".join(o.get("text", "") for c in nbformat.read(work / f"{NOTEBOOK}.ipynb", as_version=4).cells
                      if c.cell_type == "code" for o in c.get("outputs", []))
    assert "PASSED iid_sampler" in shown
    where = subprocess.run([python, "-c", "import fedlab; print(fedlab.__file__)"], env=env, capture_output=True,
                           text=True, cwd=work).stdout
    assert str(root / "venv") in where and str(COURSE) not in where  # the installed wheel, not this checkout

    pack = subprocess.run([python, "-m", "fedlab", "pack", f"{NOTEBOOK}.ipynb", "--student", "alice", "--no-validate"],
                          env=env, cwd=work, capture_output=True, text=True)
    assert pack.returncode == 0, pack.stderr[-3000:]
    archive = work / f"{ASSIGNMENT}-alice.zip"
    with zipfile.ZipFile(archive) as zf:
        assert f"alice+{NOTEBOOK}.ipynb" in zf.namelist()
    assert "is missing" in pack.stdout  # a quick run saves no history, and pack says so

    # the instructor: zip_collect from downloaded/, then the course's autograde command
    inbox = klass.root / "downloaded" / ASSIGNMENT / "archive"
    inbox.mkdir(parents=True)
    shutil.copy(archive, inbox)
    klass.nbgrader("zip_collect", ASSIGNMENT)
    assert (klass.root / "submitted" / "alice" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()
    graded = subprocess.run([sys.executable, "-m", "course", "autograde", ASSIGNMENT, "--class-dir", str(klass.root)],
                            cwd=COURSE, capture_output=True, text=True,
                            env=dict(os.environ, FEDLAB_DATA="synthetic"))
    assert graded.returncode == 0, graded.stdout + graded.stderr[-3000:]
    full = max_autograded(klass.source(ASSIGNMENT)[NOTEBOOK])
    row, = [g for g in klass.grades() if g.student == "alice"]
    assert row.score == full and f"{full:g} / {full:g}" in graded.stdout
