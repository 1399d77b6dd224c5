"""Page builds are limited per user (per address without login): a reload loop gets 429 after
its burst, fast and without a document being built, while others keep loading. The limiter's
arithmetic with a clock of the test's own; the server over real HTTP on loopback."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from batteryviz.ratelimit import RateLimiter
from batteryviz.serve import ServeConfig

from ..dashboard_support import running_server


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_bucket_allows_its_burst_then_one_per_interval():
    clock = Clock()
    limiter = RateLimiter(rate=0.5, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(2.0)  # the next token in 1 / rate seconds
    assert limiter.take("b") == 0.0  # other keys have their own bucket
    clock.now += 2.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 60.0
    assert [limiter.take("a") for _ in range(3)] == [
        0.0,
        0.0,
        0.0,
    ]  # refilled, never beyond the burst
    assert limiter.take("a") > 0


def test_the_table_of_keys_stays_bounded():
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=2, max_keys=50, clock=clock)
    for k in range(1000):
        limiter.take(f"address-{k}")
    assert len(limiter._buckets) <= 51
    assert limiter.take("address-999") == 0.0  # a recent key kept its one remaining token


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, r.read().decode(), dict(r.headers), time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers), time.perf_counter() - started


@pytest.fixture
def limited_server(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERYVIZ_PAGES_PER_MINUTE", "6")
    monkeypatch.setenv("BATTERYVIZ_PAGE_BURST", "3")
    config = ServeConfig(workspace=str(tmp_path / "ws"))
    with running_server(config, use_xheaders=True) as url:
        yield url


def test_a_reload_loop_is_refused_after_its_burst_and_others_still_load(limited_server):
    url = limited_server
    flooder = {"X-Real-Ip": "10.0.0.7"}
    statuses = [_get(f"{url}/", flooder)[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    status, body, headers, elapsed = _get(f"{url}/", flooder)
    assert status == 429
    assert "Too many page loads" in body and int(headers["Retry-After"]) >= 1
    assert "<html" not in body.lower()  # refused before a document was built
    status, body, _, _ = _get(f"{url}/", {"X-Real-Ip": "10.0.0.8"})
    assert status == 200 and "<title>batteryviz</title>" in body
    # liveness and static files are not pages: never limited
    assert _get(f"{url}/liveness", flooder)[0] == 200
