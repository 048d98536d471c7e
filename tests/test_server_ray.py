"""The server as a Ray Serve application: a real local Ray instance, two replicas, a real PostgreSQL store.

The OpenAI SDK tests of test_server_speech.py run here unchanged against the deployment: their ``server``
fixture is replaced by one that yields the Ray endpoint.
"""

import concurrent.futures
import os
import signal
import threading
import time

import httpx
import pytest
import torch
from server_live import free_port, voice_form
# the SDK tests and their fixtures, collected again here against Ray Serve (``server`` below replaces theirs)
from test_server_speech import (TRANSCRIPT, client, reference, test_every_format_decodes_to_the_expected_length,  # noqa: F401
                                test_extensions_and_speed_reach_the_model, test_health_ready_and_metrics,
                                test_models_lists_the_served_model,
                                test_seeded_output_equals_luxtts_generate_sample_for_sample,
                                test_sse_events_carry_the_audio_then_usage,
                                test_streaming_response_arrives_in_pieces_and_joins_to_the_whole, voice)

from luxtts.server.settings import ServerSettings

REPLICA = "x-luxtts-replica"
TIMEOUT = 90  # a client's limit: a request that hangs fails the test instead of the test run hanging


@pytest.fixture(scope="module")
def ray_instance():
    import ray
    from ray import serve

    ray.init(num_cpus=3, include_dashboard=False, logging_level="WARNING", log_to_driver=False,
             configure_logging=False)
    yield
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def server(ray_instance, folder, postgres_server):
    """Two replicas on this machine behind Serve's proxy on a free port, voices in a real PostgreSQL."""
    from ray import serve

    from luxtts.server.ray_app import APP_NAME, RayOptions, application

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": 60})
    # The replicas compute with the test process's thread count: the seeded-equality tests compare them sample for
    # sample with LuxTTS.generate run here, and audio differs by ~5e-8 between 1 and 2 threads.
    settings = ServerSettings(model=str(folder), device="cpu", port=port, max_queue=8, threads=torch.get_num_threads(),
                              voices_db=postgres_server.create_database())
    options = RayOptions(replicas=2, health_check_period_s=1, health_check_timeout_s=20, cpus_per_replica=1)
    serve.run(application(settings, options), name=APP_NAME, route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(url + "/ready", timeout=TIMEOUT).status_code == 200
    # both replicas serve speech once before any test: the SDK tests' /metrics check may reach either
    assert httpx.post(url + "/v1/audio/voices", **voice_form("warm", TRANSCRIPT), timeout=TIMEOUT).status_code == 200
    served = set()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(10):
            responses = list(pool.map(lambda i: _speak(url, "warm", "Warm up."), range(4)))
            assert all(r.status_code == 200 for r in responses)
            served |= {r.headers[REPLICA] for r in responses}
            if len(served) == 2:
                break
    assert len(served) == 2
    yield url, settings
    serve.delete(APP_NAME)


def _speak(url: str, voice_name: str, text: str = "Hello there.") -> httpx.Response:
    return httpx.post(url + "/v1/audio/speech", json={"model": "luxtts", "voice": voice_name, "input": text,
                                                       "response_format": "pcm", "seed": 1}, timeout=TIMEOUT)


def _pid(replica: str) -> int:
    return int(replica.split("/", 1)[0].rsplit(":", 1)[1])


def test_requests_spread_over_both_replicas_and_share_voices(server):
    url = server[0]
    made = httpx.post(url + "/v1/audio/voices", **voice_form("shared", TRANSCRIPT), timeout=TIMEOUT)
    assert made.status_code == 200, made.text
    maker = made.headers[REPLICA]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: _speak(url, "shared", f"Request number {i}."), range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert all(len(r.content) > 1000 for r in responses)
    replicas = {r.headers[REPLICA] for r in responses}
    assert len(replicas) == 2, replicas
    # the voice made through one replica is found and spoken through the other (one PostgreSQL library)
    others = [r for r in responses if r.headers[REPLICA] != maker]
    assert others
    for _ in range(40):
        got = httpx.get(url + "/v1/audio/voices/" + made.json()["id"], timeout=TIMEOUT)
        assert got.status_code == 200 and got.json()["name"] == "shared"
        if got.headers[REPLICA] != maker:
            break
    else:
        raise AssertionError("every GET went to the replica that made the voice")


def test_killed_replica_fails_only_its_requests_and_is_replaced(server):
    from ray import serve

    from luxtts.server.ray_app import APP_NAME, DEPLOYMENT_NAME

    url = server[0]
    made = httpx.post(url + "/v1/audio/voices", **voice_form("survivor", TRANSCRIPT), timeout=TIMEOUT)
    assert made.status_code == 200, made.text
    results = []  # (started, finished, status or exception name, replica or None)
    lock = threading.Lock()
    first_done = threading.Event()

    def load_client(i: int) -> None:
        for j in range(3):
            t0 = time.monotonic()
            try:
                r = _speak(url, "survivor", f"Client {i} asks for sentence {j}.")
                outcome, replica = r.status_code, r.headers.get(REPLICA)
            except httpx.TimeoutException:
                outcome, replica = "timeout", None
            except httpx.TransportError as exc:  # a stream cut when its replica died
                outcome, replica = type(exc).__name__, None
            with lock:
                results.append((t0, time.monotonic(), outcome, replica))
                if len(results) >= 10:
                    first_done.set()

    threads = [threading.Thread(target=load_client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    assert first_done.wait(TIMEOUT)
    with lock:
        victim = next(r[3] for r in results if r[3])
    os.kill(_pid(victim), signal.SIGKILL)
    killed_at = time.monotonic()
    for t in threads:
        t.join(TIMEOUT * 4 + 30)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert len(results) == 60
    outcomes = [r[2] for r in results]
    assert "timeout" not in outcomes
    errors = [r for r in results if r[2] != 200]
    # only requests that were in progress on the killed replica fail: at most its max_ongoing_requests
    assert len(errors) <= server[1].max_queue, errors
    for started, finished, outcome, replica in errors:
        assert replica is None or outcome >= 500
        assert finished >= killed_at  # nothing failed before the kill
    served_after = {r[3] for r in results if r[2] == 200 and r[0] > killed_at}
    assert victim not in served_after

    # Serve starts a replacement; it serves, and every voice is still there
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = serve.status().applications[APP_NAME].deployments[DEPLOYMENT_NAME]
        if status.status == "HEALTHY" and status.replica_states.get("RUNNING", 0) == 2:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"no replacement replica: {status}")
    seen = set()
    for _ in range(40):
        r = _speak(url, "survivor")
        assert r.status_code == 200
        seen.add(r.headers[REPLICA])
        if len(seen) == 2:
            break
    assert len(seen) == 2 and victim not in seen
    names = {v["name"] for v in httpx.get(url + "/v1/audio/voices", timeout=TIMEOUT).json()["data"]}
    assert {"survivor", "shared"} <= names
    print(f"\nkill test: {len(results)} requests, {len(errors)} failed "
          f"({sorted(set(map(str, (e[2] for e in errors))))}); replicas after: {sorted(seen)}")


def test_options_are_checked_with_clear_messages():
    from luxtts.errors import InvalidOptionError
    from luxtts.server.ray_app import RayOptions, parse_autoscale

    assert parse_autoscale("1:4") == (1, 4)
    for bad in ("4", "a:b", "1:"):
        with pytest.raises(InvalidOptionError, match="MIN:MAX"):
            parse_autoscale(bad)
    with pytest.raises(InvalidOptionError, match="MIN:MAX"):
        RayOptions(autoscale=(3, 1))
    with pytest.raises(InvalidOptionError, match="replicas"):
        RayOptions(replicas=0)
    with pytest.raises(InvalidOptionError, match="gpus_per_replica"):
        RayOptions(gpus_per_replica=1.5)
    assert RayOptions(autoscale=(0, 3)).max_replicas == 3


def test_sqlite_is_refused_for_replicas_on_several_nodes(tmp_path):
    from luxtts.errors import LuxTTSError
    from luxtts.server.ray_app import RayOptions, check_store_for_cluster

    sqlite = ServerSettings(voices_db=str(tmp_path / "v.db"))
    with pytest.raises(LuxTTSError, match="postgresql://"):
        check_store_for_cluster(sqlite, RayOptions(replicas=2), nodes=3)
    with pytest.raises(LuxTTSError, match="3 nodes"):
        check_store_for_cluster(sqlite, RayOptions(autoscale=(1, 4)), nodes=3)
    check_store_for_cluster(sqlite, RayOptions(replicas=4), nodes=1)  # one machine: one WAL file, shared
    check_store_for_cluster(sqlite, RayOptions(replicas=1), nodes=3)
    check_store_for_cluster(ServerSettings(voices_db="postgresql://u@db.example/luxtts"), RayOptions(replicas=8),
                            nodes=3)


def test_serve_config_file_builds_the_application(ray_instance):
    from importlib import resources

    import yaml
    from ray.serve import Application

    from luxtts.errors import InvalidOptionError
    from luxtts.server.ray_app import build_app

    config = yaml.safe_load(resources.files("luxtts.server").joinpath("ray_serve.yaml").read_text())
    (app,) = config["applications"]
    module, _, name = app["import_path"].partition(":")
    assert f"{module}:{name}" == "luxtts.server.ray_app:build_app"
    assert isinstance(build_app(app["args"]), Application)
    with pytest.raises(InvalidOptionError, match="unknown luxtts args.*replicaz"):
        build_app({"replicaz": 2})


def test_serve_without_ray_imports_no_ray_and_refuses_ray_options(capsys):
    import subprocess
    import sys
    from pathlib import Path

    import luxtts

    code = ("import sys, luxtts, luxtts.cli, luxtts.server.cli, luxtts.server.app; "
            "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray imported'")
    root = str(Path(luxtts.__file__).parents[1])
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": root})
    from luxtts.cli import main

    assert main(["serve", "--replicas", "2", "--model", "x"]) != 0
    assert "--replicas need --ray" in capsys.readouterr().err


def test_a_model_that_cannot_load_fails_the_deployment_with_its_message(ray_instance, tmp_path):
    from ray import serve

    from luxtts.server.ray_app import RayOptions, application, deployment_problem

    settings = ServerSettings(model=str(tmp_path / "no-such-model"), device="cpu", voices_db=str(tmp_path / "v.db"))
    try:
        with pytest.raises(RuntimeError, match="Deploying application broken failed"):
            serve.run(application(settings, RayOptions(replicas=1)), name="broken", route_prefix="/broken")
        problem = deployment_problem("broken")
        assert "could not load model" in problem and "no-such-model" in problem, problem
    finally:
        serve.delete("broken")


def test_health_check_fails_without_a_scheduler_thread_or_model(tts, tmp_path):
    from types import SimpleNamespace

    from luxtts.server.ray_app import LuxTTSDeployment
    from luxtts.server.state import ServerState

    state = ServerState(ServerSettings(voices_db=str(tmp_path / "v.db")), tts)
    replica = SimpleNamespace(_state=state, replica="test")
    replica.health_problem = lambda: LuxTTSDeployment.health_problem(replica)
    assert LuxTTSDeployment.health_problem(replica) == "the voice store is closed"
    state.start()
    try:
        assert LuxTTSDeployment.health_problem(replica) is None
        state.scheduler.stop()
        assert "scheduler" in LuxTTSDeployment.health_problem(replica)
        with pytest.raises(RuntimeError, match="replica test unhealthy: the scheduler"):
            LuxTTSDeployment.check_health(replica)
        state.tts = None
        assert LuxTTSDeployment.health_problem(replica) == "no model loaded"
    finally:
        state.stop()
