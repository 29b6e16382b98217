"""What every version view of one transport shares (hubspot/transport.py): the run's retry budget, Ctrl-C, and
the worker pool that runs a call's chunks concurrently."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any


class Shared:
    def __init__(self) -> None:
        self.budget_lock = threading.Lock()
        self.retries_spent = 0
        self.pool: ThreadPoolExecutor | None = None
        self.pool_lock = threading.Lock()
        self.cancel: threading.Event | None = None

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], concurrency: int) -> list[Future[Any]]:
        """Run fn over items on up to `concurrency` threads; stops scheduling at the first exception."""
        if len(items) <= 1 or concurrency == 1:
            futures: list[Future[Any]] = []
            for item in items:
                fut: Future[Any] = Future()
                try:
                    fut.set_result(fn(item))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller like the pool does
                    fut.set_exception(exc)
                    futures.append(fut)
                    break
                futures.append(fut)
            return futures
        pool = self._workers(concurrency)
        futures = [pool.submit(fn, item) for item in items]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() is not None for f in done):
            for f in pending:
                f.cancel()  # in-flight chunks finish; queued ones never start
        wait(futures)
        return futures

    def close(self) -> None:
        with self.pool_lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _workers(self, concurrency: int) -> ThreadPoolExecutor:
        """One pool for the client's life: threads are reused, not started per call (a million-row sync makes
        hundreds of calls). Two callers' chunks at once, as the engine overlaps two batches."""
        with self.pool_lock:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=2 * concurrency, thread_name_prefix="hubspot")
            return self.pool
