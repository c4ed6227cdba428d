"""Run one command for one submission in a sandbox made by an existing tool: bubblewrap, else ``unshare``.

Used by the safe autograde (course/safe_grade.py): the notebook's kernel and the judge's responder run
here. The sandbox sees the system and the Python environment read-only, fedlab and the data cache
read-only, and a writable scratch copy of the one submission at ``/submission``; nothing else of the
class folder or the repository (no gradebook, no ``solutions/``, no other submission, no ``course/``).
It has no network (loopback only, for a kernel's sockets), its own PID namespace (every process
started inside, detached or not, dies when the command ends), no capabilities, and limits on CPU time,
memory, file size, processes (a fork bomb stops at its limit), wall time and output bytes.
"""
import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

INSIDE = "/submission"  # where the scratch copy of the submission is seen inside
CACHE = "/cache"        # where the data cache is seen inside (files read-only)
SYSTEM = ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda"]
HOW_TO_GET_ONE = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install "
                  "bubblewrap`), or enable unprivileged user namespaces for util-linux `unshare` "
                  "(`sysctl -w kernel.unprivileged_userns_clone=1`, and on Ubuntu 24.04 "
                  "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`); or grade inside a Docker/Podman "
                  "container started with `--network none --read-only`, with only the submission mounted. "
                  "Grading without a sandbox (--unsandboxed) lets a submission read and change everything "
                  "the grader can.")


class SandboxUnavailable(RuntimeError):
    """Neither bubblewrap nor ``unshare`` can make a sandbox on this machine."""


@dataclass
class Limits:
    """What one sandboxed command may use; the defaults fit one quick-mode notebook of the course."""
    wall_s: float = 600
    cpu_s: int = 600
    memory_mb: int = 6144       # address space: torch maps much more than it uses
    output_bytes: int = 1_000_000
    file_mb: int = 512          # the largest file it may write
    scratch_mb: int = 256       # /tmp and the sandbox's own root
    processes: int = 512        # processes and threads it may add to the grader's own (a kernel uses ~40)


@dataclass
class Result:
    returncode: int       # negative: killed by that signal
    output: str           # stdout and stderr together, at most Limits.output_bytes of it
    truncated: bool       # output went over Limits.output_bytes; the rest was dropped
    timed_out: bool       # the wall time ran out and everything inside was killed
    wall_s: float
    backend: str          # "bwrap", "unshare" or "unsandboxed"

    def report(self) -> str:
        """What went wrong, in a line, or ''."""
        notes = []
        if self.timed_out:
            notes.append("stopped: wall time limit reached")
        if self.truncated:
            notes.append("output truncated at the sandbox's limit")
        if self.returncode and not self.timed_out:
            notes.append(f"exit status {self.returncode}")
        return "; ".join(notes)


def _works(command) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.lru_cache(maxsize=None)
def available() -> tuple:
    """The sandbox tools that work here, best first: ``["bwrap", "unshare"]``, either, or none."""
    found = []
    if shutil.which("bwrap") and _works(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                                         "--proc", "/proc", "--dev", "/dev", "true"]):
        found.append("bwrap")
    if shutil.which("unshare") and shutil.which("pivot_root") and _works(
            ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount", "--net", "true"]):
        found.append("unshare")
    return tuple(found)


def environment() -> list:
    """Folders (and files) of the installed environment the sandbox sees read-only, at their own paths.

    The interpreter and its environment, and the folder fedlab is imported from; never the course's
    repository as a whole (the folder holding fedlab is bound with fedlab alone in it).
    """
    import fedlab

    paths = {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths.add(str(Path(sys.executable).resolve().parent.parent))
    paths.add(str(Path(fedlab.__file__).resolve().parent))
    return sorted(paths)


def _cache_files() -> list:
    """The data cache's files: each is bound read-only under /cache, in a folder fedlab may write to."""
    from fedlab import data

    root = data.cache_dir()
    return [(str(p), f"{CACHE}/{p.relative_to(root)}") for p in sorted(root.rglob("*")) if p.is_file()]


def inside_env(extra=None) -> dict:
    """The environment variables of a sandboxed command: nothing of the grader's but what it needs."""
    import fedlab

    env = {"PATH": f"{Path(sys.prefix).resolve() / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": INSIDE,
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYTHONSAFEPATH": "1",
           "PYTHONPATH": str(Path(fedlab.__file__).resolve().parent.parent), "FEDLAB_CACHE": CACHE,
           "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
           "JUPYTER_PLATFORM_DIRS": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    for name in ("FEDLAB_DATA", "FEDLAB_QUICK", "NBGRADER_EXECUTION"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def _tasks() -> int:
    """Processes and threads this user runs now: RLIMIT_NPROC counts them all, from the kernel's side."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:  # gone meanwhile
            continue
        if int(fields.get("Uid", "-1").split()[0]) == os.getuid():
            count += int(fields.get("Threads", "1"))
    return count


def _limits(limits: Limits) -> list:
    return ["prlimit", f"--cpu={limits.cpu_s}", f"--as={limits.memory_mb * 2**20}",
            f"--fsize={limits.file_mb * 2**20}", f"--nproc={_tasks() + limits.processes}", "--core=0", "--"]


PIDS_HIERARCHIES = [Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")]  # cgroup v1's pids, v2's root


@contextlib.contextmanager
def _pids_group(limits: Limits):
    """A pids cgroup of ``limits.processes`` tasks for a grader running as root, where it can make one.

    RLIMIT_NPROC never binds root (the kernel exempts uid 0), so as root the process limit needs a cgroup;
    for any other user prlimit's --nproc holds it. Yields a command prefix that moves the sandbox into it.
    """
    group = None
    if os.getuid() == 0:
        for parent in PIDS_HIERARCHIES:
            try:
                candidate = parent / f"fedlab-sandbox-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
                candidate.mkdir()
            except OSError:
                continue
            if (candidate / "pids.max").exists():
                (candidate / "pids.max").write_text(str(limits.processes))
                group = candidate
                break
            candidate.rmdir()
    try:
        yield [] if group is None else \
            ["sh", "-c", f'echo $$ > {shlex.quote(str(group / "cgroup.procs"))} && exec "$@"', "sh"]
    finally:
        for _ in range(100) if group else ():  # empty once everything inside is gone
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.05)


def _bwrap(command, scratch, limits, env, ro):
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--size", str(limits.scratch_mb * 2**20), "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    for path in SYSTEM + ro:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--size", str(16 * 2**20), "--tmpfs", CACHE]
    for src, dst in _cache_files():
        args += ["--ro-bind", src, dst]
    args += ["--bind", str(scratch), INSIDE, "--remount-ro", "/", "--chdir", INSIDE, "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args + ["--", *_limits(limits), *command]


def _unshare(command, scratch, limits, env, ro, root):
    """unshare's namespaces; the script inside builds the root from binds, then drops every capability."""
    q = shlex.quote
    lines = ["set -eu", f"R={q(str(root))}", f'mount -t tmpfs -o mode=755,size={limits.scratch_mb}m sandbox "$R"']
    for path in SYSTEM + ro:
        if os.path.islink(path):
            lines.append(f'mkdir -p "$R"{q(str(Path(path).parent))}; ln -s {q(os.readlink(path))} "$R"{q(path)}')
        elif os.path.exists(path):
            make = f'mkdir -p "$R"{q(path)}' if os.path.isdir(path) else \
                f'mkdir -p "$R"{q(str(Path(path).parent))}; touch "$R"{q(path)}'
            lines.append(f'{make}; mount --bind {q(path)} "$R"{q(path)}; mount -o remount,bind,ro "$R"{q(path)}')
    lines.append(f'mkdir -p "$R{CACHE}"; mount -t tmpfs -o size=16m cache "$R{CACHE}"')
    for src, dst in _cache_files():
        lines.append(f'mkdir -p "$R"{q(str(Path(dst).parent))}; touch "$R"{q(dst)}; '
                     f'mount --bind {q(src)} "$R"{q(dst)}; mount -o remount,bind,ro "$R"{q(dst)}')
    lines += ['mkdir -p "$R/proc" "$R/dev" "$R/tmp" "$R"' + INSIDE,
              'mount -t proc proc "$R/proc"',
              'for d in null zero random urandom full; do touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done',
              'ln -s /proc/self/fd "$R/dev/fd"',
              f'mount -t tmpfs -o size={limits.scratch_mb}m tmp "$R/tmp"',
              f'mount --bind {q(str(scratch))} "$R"{INSIDE}',
              "ip link set lo up",
              'cd "$R"; mkdir .old; pivot_root . .old; umount -l /.old; rmdir /.old; mount -o remount,ro /',
              f"cd {INSIDE}",
              "exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- " +
              " ".join(q(a) for a in _limits(limits)) + " env -i " +
              " ".join(q(f"{k}={v}") for k, v in env.items()) + " " + " ".join(q(a) for a in command)]
    return ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount", "--net",
            "--ipc", "--uts", "sh", "-c", "\n".join(lines)]


def run(command: list, scratch: Path, limits: Limits = Limits(), env=None, unsandboxed: bool = False,
        backend=None, bind=()) -> Result:
    """Run ``command`` inside a sandbox whose only writable folder is ``scratch`` (seen as /submission).

    ``env``: extra environment variables. ``bind``: further host paths seen read-only at their own path
    (the judge's responder). ``backend``: "bwrap" or "unshare" (default: the best that works here).
    ``unsandboxed=True`` runs it directly in ``scratch`` with the same limits and nothing else; only the
    instructor's explicit ``--unsandboxed`` asks for that. A SandboxUnavailable says how to get a sandbox.
    """
    scratch = Path(scratch).resolve()
    if not scratch.is_dir():
        raise ValueError(f"run(scratch={str(scratch)!r}): pass an existing folder holding the submission's copy")
    ro = environment() + [str(Path(p).resolve()) for p in bind]
    if unsandboxed:
        backend = "unsandboxed"
        from fedlab import data

        outside = dict(inside_env(env), HOME=str(scratch), FEDLAB_CACHE=str(data.cache_dir()))
        args = [*_limits(limits), "env", "-i", *(f"{k}={v}" for k, v in outside.items()), *command]
    else:
        found = available()
        backend = backend or (found[0] if found else None)
        if backend not in found:
            raise SandboxUnavailable(f"no sandbox {'(' + backend + ') ' if backend else ''}works on this machine, "
                                     f"so submissions cannot be graded safely: {HOW_TO_GET_ONE}")
        if not all(os.path.exists(p) for p in ro):
            raise ValueError(f"run(bind={list(bind)!r}): every path must exist")
    with tempfile.TemporaryDirectory(prefix="sandbox-root-") as root, _pids_group(limits) as enter:
        if backend == "bwrap":
            args = _bwrap(command, scratch, limits, inside_env(env), ro)
        elif backend == "unshare":
            args = _unshare(command, scratch, limits, inside_env(env), ro, root)
        return _supervise(enter + args, scratch, limits, backend)


def _supervise(args, cwd, limits, backend) -> Result:
    """Run ``args`` in its own session; keep at most ``output_bytes`` of its output; kill it all at the wall time."""
    start = time.monotonic()
    proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    kept, dropped = bytearray(), [0]

    def drain():
        while chunk := proc.stdout.read1(65536):
            room = limits.output_bytes - len(kept)
            kept.extend(chunk[:max(room, 0)])
            dropped[0] += max(len(chunk) - max(room, 0), 0)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=limits.wall_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    try:  # the session's leader is the sandbox tool: killing its group ends the namespace and all in it
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    reader.join(timeout=10)
    output = kept.decode("utf-8", errors="replace")
    if dropped[0]:
        output += f"\n[sandbox: output truncated, {dropped[0]} more bytes dropped (limit {limits.output_bytes})]\n"
    if timed_out:
        output += f"\n[sandbox: stopped after the wall time limit of {limits.wall_s:g} s]\n"
    return Result(proc.returncode, output, bool(dropped[0]), timed_out, time.monotonic() - start, backend)
