"""How the `lensforge` command ends (lensforge.cli.leave): exit handlers run, output flushed, status kept, and
Python's teardown skipped unless another thread is still working. Each case runs in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# An object in a reference cycle whose finaliser writes to stderr: Python's teardown collects it (and so writes),
# a process that leaves without the teardown does not.
PRELUDE = """
import atexit, sys, threading, time
from pathlib import Path
from lensforge.cli.leave import leave

class Noisy:
    def __del__(self):
        sys.stderr.write("torn down\\n")

cycle = Noisy()
cycle.me = cycle
del cycle
"""


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )


def test_leave_runs_the_exit_handlers_flushes_and_keeps_the_status_without_a_teardown(tmp_path: Path) -> None:
    # stdout is a pipe here, so block-buffered: 100K characters written and never flushed by the code itself.
    done = _python("atexit.register(lambda: print('handler ran'))\nsys.stdout.write('x' * 100_000)\nleave(3)", tmp_path)
    assert done.returncode == 3
    assert done.stdout == "x" * 100_000 + "handler ran\n"
    assert "torn down" not in done.stderr


def test_without_leave_python_tears_down_so_the_check_above_can_fail(tmp_path: Path) -> None:
    done = _python("raise SystemExit(3)", tmp_path)
    assert done.returncode == 3
    assert "torn down" in done.stderr


def test_leave_waits_for_a_thread_still_working_as_python_does(tmp_path: Path) -> None:
    code = (
        "def work():\n"
        "    time.sleep(0.5)\n"
        "    Path('finished').write_text('yes')\n"
        "threading.Thread(target=work).start()\n"
        "leave(0)\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0
    assert (tmp_path / "finished").read_text() == "yes"
    assert "torn down" in done.stderr  # the usual shutdown, which waits for the thread


def test_the_command_leaves_with_its_status_and_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "lensforge.cli", "-w", str(tmp_path / "ws")]
    ok = subprocess.run([*cmd, "catalog", "list", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().startswith("[") and ok.stdout.strip().endswith("]")
    bad = subprocess.run([*cmd, "ingest", "xx/nothing@1"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


def test_the_console_script_is_the_entry_that_leaves() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["lensforge"] == "lensforge.cli:run"
    assert "run()" in (ROOT / "lensforge" / "cli" / "__main__.py").read_text(encoding="utf-8")
