"""`lensforge app` owns the Streamlit server it starts: stopping the command stops the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_lensforge_app_stops_the_streamlit_server(tmp_path, sig):
    port = _free_port()
    env = {**os.environ, "LENSFORGE_HOME": str(tmp_path / "ws")}
    cmd = [sys.executable, "-c", "from lensforge.cli import main; main()", "app", "--port", str(port)]
    parent = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while not _listening(port):
            assert parent.poll() is None, "lensforge app exited before serving"
            assert time.monotonic() < deadline, "the server did not start within 90 s"
            time.sleep(0.2)
        children = psutil.Process(parent.pid).children(recursive=True)
        assert children, "the server runs in a child process"
        parent.send_signal(sig)  # what `kill PID` sends (SIGHUP: the terminal closed)
        parent.wait(timeout=30)
        _gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"still running after {sig.name}: {[p.pid for p in alive]}"
        assert not _listening(port)
    finally:  # whatever happened, leave nothing this test started running
        for proc in [*children, psutil.Process(parent.pid)] if parent.poll() is None else children:
            if proc.is_running():
                proc.kill()
