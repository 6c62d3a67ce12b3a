"""Token bucket: burst then the sustained rate, shared fairly by threads (virtual clock, no sleeping)."""

from __future__ import annotations

import threading
import time

from cspkit.workflows.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:  # sleeping moves nobody's clock: waits are only accounted
        pass


def test_burst_then_sustained_rate():
    t = FakeTime()
    bucket = TokenBucket(60, burst=3, clock=t.clock, sleep=t.sleep)   # one per second
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, 1.0, 2.0]   # 3 from the bucket, then reservations 1 s apart
    t.now = 10.0                                 # 10 s later: 10 refilled, capped at 3, minus the 2 owed → 1
    assert bucket.acquire() == 0.0


def test_any_sixty_seconds_hold_at_most_burst_plus_rate():
    t = FakeTime()
    bucket = TokenBucket(475, clock=t.clock, sleep=t.sleep)
    assert bucket.capacity == 10   # 2 % of 475, rounded
    sends = []
    for _ in range(2000):
        wait = bucket.acquire()
        sends.append(t.now + wait)
    sends.sort()
    worst = max(sum(1 for s in sends[i:] if s < start + 60) for i, start in enumerate(sends[:600]))
    # 10 at t=0, then one every 60/475 s: the 475th of those lands at t=60.0, outside [0, 60)
    assert worst == 10 + 474


def test_threads_share_one_bucket():
    t = FakeTime()
    bucket = TokenBucket(600, burst=1, clock=t.clock, sleep=t.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            w = bucket.acquire()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert bucket.acquired == 100
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.1, 6) for i in range(100)]


def test_fan_out_keeps_order_collects_cspkit_errors_and_stops_on_a_bug():
    import pytest

    from cspkit.errors import CspkitError
    from cspkit.workflows.ordering import fan_out

    def work(n: int) -> int:
        if n == 3:
            raise CspkitError("customer 3 failed")
        return n * 10

    results = fan_out(work, range(6), workers=3)
    assert [(i, r) for i, r, _ in results] == [(0, 0), (1, 10), (2, 20), (3, None), (4, 40), (5, 50)]
    assert str(results[3][2]) == "customer 3 failed"

    started: list[int] = []

    def buggy(n: int) -> int:
        started.append(n)
        if n == 0:
            raise ZeroDivisionError("bug")
        time.sleep(0.01)  # slow enough that the main thread sees the bug long before 200 items ran
        return n

    with pytest.raises(ZeroDivisionError):
        fan_out(buggy, range(200), workers=2)
    assert len(started) < 100  # the rest was cancelled
