"""Writing one chunk while the engine settles the next.

A run settles its claims chunk by chunk and hands each chunk to a sink (write the ledger part,
add to the summary, compare with the hospitals' figures).  Polars and pyarrow release the GIL,
so the sink of chunk k can run in a second thread while the engine computes chunk k + 1: on a
machine with two cores that is the difference between using one and using both.

``background(sink)`` runs the sink's calls in one thread, in the order they were made, with at
most ``depth`` chunks waiting (memory holds the chunk being settled, the one being written and
``depth`` more).  Whatever the sink raises reaches the caller at its next hand-over or when the
block ends; after a failure the calls still waiting are dropped, and the block never ends while
the thread is still writing, so an abort that follows (delete the temporary files) never races
a write.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

#: Set to 0 to run every sink call in the calling thread (debugging, profiling).
OVERLAP_ENV = "MEDCLAIM_OVERLAP"


class BackgroundSink:
    """A sink whose calls run in one background thread, in order (see the module docstring)."""

    def __init__(self, sink: Callable[[Any], None], depth: int = 1):
        self.sink, self.depth = sink, depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medclaim-sink")
        self._pending: deque[Future] = deque()
        self._failed = threading.Event()

    def _run(self, fn: Callable[..., None], args: tuple) -> None:
        if self._failed.is_set():  # an earlier call failed: the rest would build on a broken state
            return
        try:
            fn(*args)
        except BaseException:
            self._failed.set()
            raise

    def _wait(self, keep: int) -> None:
        while len(self._pending) > keep:
            self._pending.popleft().result()  # re-raises what the call raised

    def __call__(self, chunk: Any) -> None:
        self.then(self.sink, chunk)

    def then(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` in the sink's thread after every call handed over before it."""
        self._wait(self.depth)
        self._pending.append(self._pool.submit(self._run, fn, args))

    def drain(self) -> None:
        """Wait for every call handed over; raise the first failure."""
        self._wait(0)

    def stop(self) -> None:
        """After a failure elsewhere: drop the calls not started, wait for the one running."""
        self._failed.set()
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._pending.clear()


def enabled() -> bool:
    return os.environ.get(OVERLAP_ENV, "1").strip() not in {"0", "no", "false", "off"}


@contextmanager
def background(sink: Callable[[Any], None] | None) -> Iterator[Callable[[Any], None] | None]:
    """``sink`` run in a background thread for the duration of the block (see the module
    docstring); ``None``, a sink already in the background, or ``MEDCLAIM_OVERLAP=0``: as is."""
    if sink is None or isinstance(sink, BackgroundSink) or not enabled():
        yield sink
        return
    bg = BackgroundSink(sink)
    try:
        yield bg
        bg.drain()
    except BaseException:
        bg.stop()
        raise
    bg.stop()


def then(sink: Callable[[Any], None] | None, fn: Callable[[], None]) -> None:
    """Call ``fn`` once every chunk handed to ``sink`` so far has been through it."""
    if isinstance(sink, BackgroundSink):
        sink.then(fn)
    else:
        fn()


_DONE = object()


def ahead(items: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """``items``, produced in a background thread up to ``depth`` ahead of the consumer (reading
    the next batch of a file while this one is parsed): at most the
    item in use and ``depth`` more exist at a time.  Items and errors arrive in order; when the
    consumer stops early the producer is stopped before its next item."""
    if not enabled():
        yield from items
        return
    import queue

    q: queue.Queue = queue.Queue()
    slots = threading.Semaphore(depth)  # one per item produced and not yet taken
    stop = threading.Event()

    def slot() -> bool:
        while not stop.is_set():
            if slots.acquire(timeout=0.1):
                return True
        return False

    def produce() -> None:
        it = iter(items)
        try:
            while slot():
                try:
                    item = next(it)
                except StopIteration:
                    q.put((_DONE, None))
                    return
                q.put((item, None))
            close = getattr(it, "close", None)  # stopped early: a generator closes its file
            if close is not None:
                close()
        except BaseException as exc:  # handed to the consumer, raised there
            q.put((_DONE, exc))

    thread = threading.Thread(target=produce, name="medclaim-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            slots.release()  # taken: the producer may start on the next one
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
            item = None  # (not kept alive while waiting for the next)
    finally:
        stop.set()
        thread.join()


def in_order(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = 2) -> Iterator[Any]:
    """``fn(item)`` of each item, worked out by up to ``workers`` threads at a time and yielded
    in the items' order (settling two chunks at once).  While the consumer uses one result, at
    most ``workers - 1`` more are being worked out; the rest start when it asks for the next.
    Errors arrive in order; when the consumer stops early the items not started are dropped and
    the running ones finished first.  ``MEDCLAIM_OVERLAP=0``, one worker or one item: in the
    caller's thread."""
    items = list(items)
    if not enabled() or workers <= 1 or len(items) <= 1:
        for item in items:
            yield fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medclaim-work")
    pending: deque[Future] = deque()
    waiting = iter(items)
    try:
        while True:
            while len(pending) < workers:
                item = next(waiting, _DONE)
                if item is _DONE:
                    break
                pending.append(pool.submit(fn, item))
            if not pending:
                return
            result = pending.popleft().result()
            yield result
            result = None  # (not kept alive while waiting for the next)
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def soon(fn: Callable[..., Any], *args: Any, name: str = "medclaim-soon") -> Future:
    """``fn(*args)`` started now in a thread of its own; the caller takes its result, or its error,
    from the returned Future when it needs it (writing the next accumulator while the run is
    summarised).  ``MEDCLAIM_OVERLAP=0``: run here, now."""
    if not enabled():
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:  # (an interruption is raised here and now)
            done.set_exception(exc)
        return done
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)
