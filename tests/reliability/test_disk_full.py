"""A full disk: a logging process with a file-size limit (RLIMIT_FSIZE), and one on a small tmpfs.

The write-behind keeps the rows and retries; ``flush`` (at once, not after its timeout) and synchronous
writes raise a StoreError (``StoreFull``) that names the problem; the file stays sound (``PRAGMA integrity_check``), what was committed before
is intact, and logging works again once space returns."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import vigil as om
from tests.reliability.conftest import REPO, child_env, integrity_check

COMMON = textwrap.dedent("""
    import os, resource, signal, sys, time
    import vigil as om
    from vigil.errors import StoreError
    from vigil.store import default_stores

    def report(what, exc):
        print(f"{what}: {type(exc).__name__}: {exc}", flush=True)

    exp = om.runtime.experiment("full")
    exp.start()
    for i in range(1, 101):
        exp.log_metric("m", float(i), step=i)
    exp.flush()
    print("committed 100", flush=True)
    writer = default_stores().writer
""")

RLIMIT = COMMON + textwrap.dedent("""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit fails with EFBIG
    home = os.environ["VIGIL_HOME"]
    biggest = max(os.path.getsize(os.path.join(home, f)) for f in os.listdir(home) if f.startswith("vigil.db"))
    resource.setrlimit(resource.RLIMIT_FSIZE, (biggest + 64 * 1024, resource.RLIM_INFINITY))
    last = 20_100
    for i in range(101, last + 1):
        exp.log_metric("m", float(i), step=i)        # never raises: the rows wait in memory
    started = time.monotonic()
    try:
        writer.flush()                                 # default timeout (120 s): a full store answers at once
        print("flushed while full", flush=True)
    except StoreError as exc:
        report("flush", exc)
    print(f"flush_s {time.monotonic() - started:.1f}", flush=True)
    try:
        exp.log_artifact(b"x" * 200_000, "big")
        print("artifact written while full", flush=True)
    except StoreError as exc:
        report("artifact", exc)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # space returns
    exp.log_metric("m", float(last + 1), step=last + 1)
    exp.flush()
    exp.stop()
    print(f"done pending {writer.pending} retries {writer.retries} dropped {writer.dropped}", flush=True)
""")

TMPFS = COMMON + textwrap.dedent("""
    i = 100
    while writer.last_error is None and i < 2_000_000:
        for _ in range(2000):
            i += 1
            exp.log_metric("m", float(i), step=i)
        time.sleep(0.1)
    print(f"full after {i}", flush=True)
    try:
        writer.flush(timeout_s=10)
        print("flushed while full", flush=True)
    except StoreError as exc:
        report("flush", exc)
    try:
        om.runtime.experiment("other").start()
        print("started a run while full", flush=True)
    except StoreError as exc:
        report("sync", exc)
    sys.stdin.readline()                              # the disk was grown
    i += 1
    exp.log_metric("m", float(i), step=i)
    exp.flush()
    exp.stop()
    print(f"done last {i} retries {writer.retries} dropped {writer.dropped}", flush=True)
""")


def run_child(script: str, home, stdin: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(home), cwd=REPO)


def lines_of(out: str) -> dict[str, str]:
    return {line.split(":", 1)[0].split(" ", 1)[0]: line for line in out.splitlines()}


def check_store(home, last: int) -> None:
    assert integrity_check(home / "vigil.db") == "ok"
    om.reload()
    exp = om.runtime.experiment("full")
    steps = sorted(exp.data(run="all", key="m")["step"].astype(int))
    assert steps[:100] == list(range(1, 101)), "events committed before the disk filled were damaged"
    assert steps == list(range(1, last + 1)), "events lost or stored twice"
    assert exp.status(1) == "STOPPED"


def test_file_size_limit_is_a_clear_error_and_logging_resumes(vigil_home):
    proc = run_child(RLIMIT, vigil_home)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = lines_of(out)
    print(out)
    assert "flushed" not in lines and "flush" in lines, out
    assert "StoreFull" in lines["flush"] and "file-size limit" in lines["flush"], lines["flush"]
    assert "disk may be full" in lines["flush"] and "kept in memory and retried" in lines["flush"]
    assert float(lines["flush_s"].split()[1]) < 30, "flush waited for its timeout on a full store"
    assert "artifact" in lines and "StoreError" in lines["artifact"], out
    assert lines["done"].startswith("done pending 0 ") and lines["done"].endswith("dropped 0"), out
    check_store(vigil_home, 20_101)


@pytest.fixture
def small_disk(vigil_home):
    """VIGIL_HOME on a 2 MB tmpfs (root only); grown with ``remount`` by the test."""
    vigil_home.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(vigil_home)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield vigil_home
    finally:
        om.reload()  # close this process's stores on the mount
        subprocess.run(["umount", "-l", str(vigil_home)], check=False)


def test_tmpfs_full_is_a_clear_error_and_logging_resumes_when_space_returns(small_disk):
    proc = run_child(TMPFS, small_disk)
    try:
        out = []
        while not (out and out[-1].startswith(("full after", "Traceback"))):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            out.append(line.strip())
        out += [proc.stdout.readline().strip(), proc.stdout.readline().strip()]
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        rest, err = proc.communicate("grown\n", timeout=120)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == 0, err
    lines = lines_of("\n".join(out) + "\n" + rest)
    print(lines)
    # StoreFull (a StoreError) at once; a flush whose last retry freed a little space may time out instead
    assert "flush" in lines and "Store" in lines["flush"] and "disk" in lines["flush"], lines
    assert "sync" in lines and "StoreFull" in lines["sync"] and "disk" in lines["sync"], lines
    last = int(lines["done"].split()[2])
    assert lines["done"].endswith("dropped 0")
    check_store(small_disk, last)
