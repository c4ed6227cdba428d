"""course/sandbox.py with the real tools: what a submission's process can and cannot do inside.

Each backend that works here is tested (unshare always: CI has util-linux; bubblewrap where installed).
A class folder with a gradebook, solutions and two students lies beside the scratch copy of one
submission; a process inside must not read any of it, nor the repository, nor write the environment,
nor reach the network, nor outlive the sandbox; the limits stop it and say so. Commands are small
shell and Python lines, so every test takes a second or two.
"""
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from course import sandbox

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ["unshare", "bwrap"]


def test_unshare_works_here():
    assert "unshare" in sandbox.available(), "util-linux unshare with user namespaces is the fallback CI relies on"


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param not in sandbox.available():
        pytest.skip(f"{request.param} is not installed or does not work here")
    return request.param


@pytest.fixture
def classroom(tmp_path):
    """A class folder: gradebook, solutions, two students' submissions; and a scratch copy of bob's."""
    root = tmp_path / "class"
    (root / "solutions" / "01_fedavg").mkdir(parents=True)
    (root / "solutions" / "01_fedavg" / "fedavg.ipynb").write_text("SOLUTION")
    (root / "gradebook.db").write_text("GRADEBOOK")
    for student in ("alice", "bob"):
        (root / "submitted" / student / "01_fedavg").mkdir(parents=True)
        (root / "submitted" / student / "01_fedavg" / "fedavg.ipynb").write_text(f"{student}'s notebook")
    scratch = tmp_path / "scratch"
    shutil.copytree(root / "submitted" / "bob" / "01_fedavg", scratch)
    return root, scratch


def inside(code, scratch, backend, **limits):
    return sandbox.run(["python", "-c", code], scratch, sandbox.Limits(**limits), backend=backend)


def test_a_submission_sees_only_its_own_copy_and_the_environment(classroom, backend):
    root, scratch = classroom
    secrets = [root / "gradebook.db", root / "solutions" / "01_fedavg" / "fedavg.ipynb",
               root / "submitted" / "alice" / "01_fedavg" / "fedavg.ipynb", REPO / "course" / "sandbox.py",
               REPO / "solutions" / "01_fedavg" / "fedavg.ipynb", REPO / "nbgrader_config.py"]
    code = ("import os\n"
            f"for path in {[str(p) for p in secrets]!r}:\n"
            "    print(path, 'SEEN' if os.path.exists(path) else 'hidden')\n"
            "print(open('/submission/fedavg.ipynb').read())\n"
            "import fedlab, torch; print('fedlab', fedlab.__version__)")
    result = inside(code, scratch, backend)
    assert result.returncode == 0, result.output
    assert "SEEN" not in result.output and result.output.count("hidden") == len(secrets), result.output
    assert "bob's notebook" in result.output and "fedlab " in result.output


def test_the_environment_is_read_only_and_the_scratch_copy_writable(classroom, backend):
    _, scratch = classroom
    import fedlab
    targets = [Path(sys.prefix).resolve() / "planted.py", Path(fedlab.__file__).resolve().parent / "planted.py",
               Path("/usr/planted"), Path("/planted")]
    code = ("import sys\n"
            f"for path in {[str(p) for p in targets]!r}:\n"
            "    try:\n"
            "        open(path, 'w').write('x'); print(path, 'WRITTEN')\n"
            "    except OSError as err:\n"
            "        print(path, 'refused', err.strerror)\n"
            "open('/submission/result.json', 'w').write('{}')\n")
    result = inside(code, scratch, backend)
    assert result.returncode == 0, result.output
    assert "WRITTEN" not in result.output and result.output.count("refused") == len(targets), result.output
    assert not any(p.exists() for p in targets)
    assert (scratch / "result.json").read_text() == "{}"


def test_no_network_not_even_the_graders_loopback(classroom, backend):
    _, scratch = classroom
    with socket.socket() as server:  # a service of the grading machine on its loopback
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = ("import socket\n"
                f"for host, port in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('pypi.org', 443)]:\n"
                "    try:\n"
                "        socket.create_connection((host, port), timeout=2).close(); print(host, 'REACHED')\n"
                "    except OSError as err:\n"
                "        print(host, 'unreachable', type(err).__name__)\n")
        result = inside(code, scratch, backend)
    assert result.output.count("unreachable") == 3 and "REACHED" not in result.output, result.output


def test_detached_processes_die_with_the_sandbox(classroom, backend):
    _, scratch = classroom
    marker = "987654.321"  # an argv no other process has
    code = ("import os, subprocess\n"
            f"subprocess.Popen(['setsid', 'sleep', '{marker}'], start_new_session=True)\n"
            "if os.fork() == 0:\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
            "    os._exit(0)\n"
            "import time; time.sleep(0.5); print('leaving')\n")
    result = inside(code, scratch, backend)
    assert "leaving" in result.output, result.output
    survivors = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout
    assert survivors == "", f"processes outlived the sandbox: {survivors}"


def test_wall_time_output_and_cpu_limits_stop_it_and_say_so(classroom, backend):
    _, scratch = classroom
    slow = inside("import time; print('started', flush=True); time.sleep(60)", scratch, backend, wall_s=2)
    assert slow.timed_out and slow.wall_s < 10 and "started" in slow.output
    assert "wall time limit" in slow.report() and "wall time limit of 2 s" in slow.output

    loud = inside("import sys; sys.stdout.write('x' * 5_000_000)", scratch, backend, output_bytes=1000)
    assert loud.truncated and len(loud.output) < 1200 and "truncated" in loud.report()
    assert "4999000 more bytes dropped" in loud.output

    busy = inside("while True: pass", scratch, backend, cpu_s=1)
    assert busy.returncode != 0 and not busy.timed_out and busy.wall_s < 10


def test_a_fork_bomb_stops_at_the_process_limit(classroom, backend):
    """Processes inside are limited in number: the bomb's forks fail, the rest of the machine is untouched.
    Bounded at 400 so that a sandbox without the limit fails the test instead of the machine."""
    _, scratch = classroom
    code = ("import os, time\n"
            "started = 0\n"
            "for _ in range(400):\n"
            "    try:\n"
            "        pid = os.fork()\n"
            "    except OSError as err:\n"
            "        print('refused', err.strerror); break\n"
            "    if pid == 0:\n"
            "        time.sleep(30); os._exit(0)\n"
            "    started += 1\n"
            "print('started', started, flush=True)\n")
    result = inside(code, scratch, backend, processes=50, wall_s=20)
    assert "refused" in result.output, result.output
    started = int(result.output.split("started ")[1].split()[0])
    assert started < 50, result.output


def test_without_a_tool_grading_refuses_and_says_how_to_get_one(classroom, monkeypatch, tmp_path):
    _, scratch = classroom
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # neither bwrap nor unshare can be found
    sandbox.available.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="install bubblewrap") as info:
            sandbox.run(["true"], scratch)
        assert "--unsandboxed" in str(info.value) and "user namespaces" in str(info.value)
    finally:
        monkeypatch.undo()
        sandbox.available.cache_clear()


def test_unsandboxed_is_only_what_the_caller_asks_for(classroom):
    root, scratch = classroom
    result = sandbox.run(["python", "-c", f"print(open({str(root / 'gradebook.db')!r}).read())"], scratch,
                         unsandboxed=True)
    assert result.backend == "unsandboxed" and "GRADEBOOK" in result.output  # nothing is hidden from it
