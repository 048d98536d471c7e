"""``luxtts serve --ray`` as a user runs it: its own local Ray instance, two replicas, Ctrl-C stops it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from server_live import free_port, voice_form

import luxtts


def test_serve_ray_command_serves_through_two_replicas_and_stops_on_ctrl_c(folder, tmp_path):
    port = free_port()
    root = str(Path(luxtts.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": root, "LUXTTS_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "luxtts", "serve", "--ray", "--replicas", "2", "--model",
                             str(folder), "--device", "cpu", "--port", str(port), "--voices-db", "voices.db"],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
            try:
                if httpx.get(url + "/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "luxtts serve --ray did not become ready"
            time.sleep(0.5)
        from golden_model import pipeline_cases

        made = httpx.post(url + "/v1/audio/voices", **voice_form("alice", pipeline_cases()[0]["prompt_text"]),
                          timeout=90)
        assert made.status_code == 200, made.text
        spoken = httpx.post(url + "/v1/audio/speech", json={"model": "luxtts", "voice": "alice",
                                                              "input": "Hello there!", "response_format": "wav"},
                            timeout=90)
        assert spoken.status_code == 200 and spoken.content[:4] == b"RIFF"
        assert spoken.headers["x-luxtts-replica"]
        # the relative --voices-db is the file in the folder the command ran in, for every replica
        assert (tmp_path / "voices.db").is_file()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
    assert "stopped" in (tmp_path / "serve.log").read_text(errors="replace")
