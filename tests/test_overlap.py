"""Writing one chunk while the engine settles the next (medclaim.overlap): order, errors, stop."""

from __future__ import annotations

import threading
import time

import pytest

from medclaim.overlap import BackgroundSink, ahead, background, in_order, then


def test_background_sink_runs_calls_in_order_in_another_thread():
    seen, threads = [], set()

    def sink(x):
        time.sleep(0.001 * (x % 3))  # uneven work must not reorder
        seen.append(x)
        threads.add(threading.get_ident())

    with background(sink) as bg:
        assert isinstance(bg, BackgroundSink)
        for i in range(30):
            bg(i)
        then(bg, lambda: seen.append("sealed"))
    assert seen == [*range(30), "sealed"]  # everything ran before the block ended
    assert threading.get_ident() not in threads


def test_a_sink_failure_reaches_the_caller_and_later_calls_are_dropped():
    seen = []

    def sink(x):
        if x == 3:
            raise OSError("disk full")
        seen.append(x)

    with pytest.raises(OSError, match="disk full"):
        with background(sink) as bg:
            for i in range(10):
                bg(i)
    assert seen == [0, 1, 2]  # nothing after the failed call ran


def test_the_block_never_ends_while_a_write_is_running():
    """An abort after a failure elsewhere (e.g. Ctrl-C in the engine) must not race a write."""
    state = {"running": False, "finished": 0}

    def sink(x):
        state["running"] = True
        time.sleep(0.05)
        state["finished"] += 1
        state["running"] = False

    with pytest.raises(KeyboardInterrupt):
        with background(sink) as bg:
            bg(1)
            bg(2)
            raise KeyboardInterrupt
    assert not state["running"]
    assert state["finished"] >= 1


def test_overlap_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("MEDCLAIM_OVERLAP", "0")
    seen = []
    with background(seen.append) as bg:
        assert not isinstance(bg, BackgroundSink)
        bg(1)
        then(bg, lambda: seen.append(2))
        assert seen == [1, 2]  # ran in place


def test_ahead_keeps_order_and_raises_where_the_source_failed():
    def source():
        yield from range(5)
        raise ValueError("damaged page")

    got = []
    with pytest.raises(ValueError, match="damaged page"):
        for x in ahead(source()):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_ahead_stops_and_closes_the_source_when_the_consumer_stops():
    closed = threading.Event()

    def source():
        try:
            for i in range(1000):
                yield i
        finally:
            closed.set()

    it = ahead(source())
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert closed.wait(2)


def test_ahead_keeps_at_most_one_item_beyond_the_one_in_use():
    """A spilled bucket is ~1.5M claims: reading ahead must hold one more, never a queue of them."""
    produced = []

    def source():
        for i in range(20):
            produced.append(i)
            yield i

    for taken, x in enumerate(ahead(source())):
        time.sleep(0.002)  # the consumer is the slow side: the producer would run ahead if it could
        assert len(produced) - taken <= 2  # this one and the next


def test_in_order_works_two_at_a_time_and_hands_results_over_in_order():
    running, most, lock = [0], [0], threading.Lock()

    def work(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.002 * (x % 3))  # uneven work must not reorder
        with lock:
            running[0] -= 1
        return x * 10

    assert list(in_order(work, range(20), workers=2)) == [x * 10 for x in range(20)]
    assert most[0] == 2  # two items were being worked on at once, never more


def test_in_order_raises_in_order_and_stops_taking_items():
    started = []

    def work(x):
        started.append(x)
        if x == 3:
            raise ValueError("engine failed")
        return x

    got = []
    with pytest.raises(ValueError, match="engine failed"):
        for x in in_order(work, range(100), workers=2):
            got.append(x)
    assert got == [0, 1, 2]  # the results before the failure, none after
    assert max(started) <= 4  # no item beyond the failure and the one beside it was started


def test_in_order_keeps_at_most_one_result_beyond_the_one_in_use():
    """Each result is a settled chunk (wide, hundreds of MB): no queue of them."""
    done = []

    def work(x):
        done.append(x)
        return x

    for taken, x in enumerate(in_order(work, range(20), workers=2)):
        time.sleep(0.003)  # the consumer is the slow side
        assert len(done) - taken <= 2  # this one and the next


def test_in_order_runs_in_place_when_overlap_is_off(monkeypatch):
    monkeypatch.setenv("MEDCLAIM_OVERLAP", "0")
    threads = set()
    assert list(in_order(lambda x: threads.add(threading.get_ident()) or x, range(5))) == [0, 1, 2, 3, 4]
    assert threads == {threading.get_ident()}
