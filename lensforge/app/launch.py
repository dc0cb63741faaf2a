"""`lensforge app`: start the Streamlit server on the curator app, bound to localhost unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
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
    proc = subprocess.Popen(command(host=host, port=port), env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached both; let Streamlit shut down cleanly
        proc.terminate()
        return proc.wait()
