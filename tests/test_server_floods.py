"""The floods of benchmarks/attack_server.py at the suite's size, against a real `luxtts serve` process:
48 parallel 20 MiB junk uploads (its memory stays bounded and /health answers throughout), and 2,000 half-open
connections (/health answers within 1 s, speech still works, the server closes them all)."""

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UPLOADS = 48
UPLOAD_MB = 20
CONNECTIONS = 2000
# The goal of issue 20: an upload flood costs at most this much over the idle server.
RSS_GROWTH_MB = 300
HEALTH_SECONDS = 1.0
HEADER_TIMEOUT = 2.0


def _attack():
    spec = importlib.util.spec_from_file_location("attack_server", REPO / "benchmarks" / "attack_server.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def attack():
    module = _attack()
    module.raise_own_file_limit(CONNECTIONS + 256)
    return module


def test_an_upload_flood_costs_bounded_memory_and_health_answers(attack, folder, tmp_path):
    with attack.serve(folder, tmp_path) as (url, pid):
        result = asyncio.run(attack.upload_flood(url, pid, UPLOADS, UPLOAD_MB * attack.MIB))
    report = "\n".join(result.lines())
    assert result.rss_peak - result.rss_idle <= RSS_GROWTH_MB, report
    assert result.health_failures == 0 and result.health_checks > 0, report
    assert result.health_worst < HEALTH_SECONDS, report
    # junk is refused as undecodable (400) or, beyond --max-uploads, with 429: never a 5xx or a reset
    assert set(result.answers) <= {"400", "429"} and sum(result.answers.values()) == UPLOADS, report
    assert result.answers.get("429", 0) > 0, report


def test_half_open_connections_do_not_lock_out_health_or_speech(attack, folder, tmp_path):
    with attack.serve(folder, tmp_path, "--header-timeout", str(HEADER_TIMEOUT)) as (url, pid):
        attack.create_voice(url, "v")
        result = asyncio.run(attack.half_open_flood(url, pid, CONNECTIONS, "v", hold=HEADER_TIMEOUT + 3))
    report = "\n".join(result.lines())
    assert result.health_failures == 0 and result.health_worst < HEALTH_SECONDS, report
    assert result.extra["speech during the flood ok"] is True, report
    assert result.extra["connects refused"] == 0, report
    # every half-open connection is closed: the oldest to make room under --max-connections, the rest at the
    # header timeout
    assert result.extra["closed by the server"] == f"{CONNECTIONS} of {CONNECTIONS}", report
    assert result.files_peak <= 1000 + 64, report  # --max-connections' default, plus the server's own files
