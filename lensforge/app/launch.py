"""`lensforge app`: start the Streamlit server on the curator app, bound to localhost unless told otherwise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from lensforge.workspace import HOME_ENV, USER_ENV, Workspace

MAIN = Path(__file__).resolve().with_name("main.py")


def command(*, host: str = "127.0.0.1", port: int = 8501) -> list[str]:
    """The `streamlit run` command line (headless: the user opens the printed URL themselves)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def launch(
    ws: Workspace | str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8501, user: str | None = None
) -> int:
    """Run the app against `ws` until the server stops; returns its exit status.

    The workspace travels as $LENSFORGE_HOME, the same variable the CLI reads, so the app and a CLI
    command started from the same shell work on the same catalog. `user` (the CLI's --user) becomes
    the sidebar's default reviewer through $LENSFORGE_USER.
    """
    root = ws.root if isinstance(ws, Workspace) else Path(ws).expanduser().resolve()
    env = {**os.environ, HOME_ENV: str(root)}
    if user:
        env[USER_ENV] = user
    proc = subprocess.Popen(command(host=host, port=port), env=env, preexec_fn=_die_with_parent)
    handled = (signal.SIGTERM, signal.SIGHUP)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) or a closed terminal (SIGHUP) on `lensforge app` must stop the server it started,
        # not leave it serving the workspace with nobody to stop it.
        previous = {sig: signal.signal(sig, _raise_stop) for sig in handled}
    try:
        return proc.wait()
    except (KeyboardInterrupt, _Stop):  # Ctrl-C reached both; a signal reached only us: stop the child either way
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)  # a second `kill` while the server shuts down changes nothing
        return stop_child(proc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGHUP, so `launch` stops the server before returning."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def stop_child(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """Ask the server to shut down (SIGTERM), then kill it if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, have the kernel send SIGTERM if `lensforge app` dies (even SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
