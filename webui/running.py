"""The requests the app runs: each tracked while it runs, cancelled when its client goes away or the server stops,
its engine error translated for the user in one place; and how the process ends after a stop."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import gradio as gr

from animegan import AnimeGANError, JobCancelledError, cancel_model_runs

log = logging.getLogger("animegan.app")

STOPPING_MESSAGE = "the request was cancelled: the server is stopping"
CANCELLED_MESSAGE = "the request was cancelled by its client"
CLIENT_GONE_MESSAGE = "the request was cancelled: its client went away"
GENERIC_ERROR = "Something went wrong on our side while processing this request. It has been logged; please try again."
EXIT_TIMEOUT_S = 0.5
"""How long the process may take to end after a stop before it is ended without its exit handlers."""

T = TypeVar("T")


class Report(Protocol):
    """The engine's progress callback."""

    def __call__(self, fraction: float, message: str) -> None: ...


class Job:
    """One running request: the browser session it came from, and why it was cancelled (None while it is wanted)."""

    def __init__(self, session: str | None) -> None:
        self.session = session
        self.cancelled: str | None = None

    def cancel(self, reason: str) -> None:
        self.cancelled = self.cancelled or reason

    def reporter(self, progress: gr.Progress) -> Report:
        """The engine's progress callback, shown as Gradio's progress bar; once the request is cancelled, its next
        call raises JobCancelledError, which ends the work (Gradio cannot stop a running thread)."""

        def report(fraction: float, message: str) -> None:
            if self.cancelled:
                raise JobCancelledError(self.cancelled)
            progress(fraction, desc=message[:1].upper() + message[1:])

        return report


class Requests:
    """The requests running now in one app, and whether it is stopping; stills, batches and videos run on the
    CPU slot's threads, one per job the slot admits."""

    def __init__(self, concurrency: int) -> None:
        self.stopping = threading.Event()
        self._jobs: set[Job] = set()
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="animegan-job")

    def count(self) -> int:
        with self._lock:
            return len(self._jobs)

    @contextlib.contextmanager
    def tracked(self, name: str, session: str | None = None) -> Iterator[Job]:
        """One request, counted while it runs. The app's one error translation: engine errors become their
        message, anything else a generic one (or the stop's, when a stop cancelled its model call)."""
        job = Job(session)
        with self._lock:
            self._jobs.add(job)
        if self.stopping.is_set():
            job.cancel(STOPPING_MESSAGE)
        try:
            yield job
        except gr.Error:
            raise
        except AnimeGANError as err:
            log.info("%s refused: %s", name, err)
            raise gr.Error(str(err), print_exception=False) from err
        except Exception as err:
            if self.stopping.is_set():
                log.info("%s cancelled: the server is stopping", name)
                raise gr.Error(STOPPING_MESSAGE, print_exception=False) from err
            log.exception("unexpected error in %s", name)
            raise gr.Error(GENERIC_ERROR, print_exception=False) from err
        finally:
            with self._lock:
                self._jobs.discard(job)

    async def run(self, name: str, request: gr.Request | None, progress: gr.Progress, work: Callable[[Report], T]) -> T:
        """``work(report)`` on one of the CPU slot's threads, as a tracked request.

        When its client cancels the event, Gradio cancels this coroutine: the work then stops at its next
        progress step, and only then is the slot given to the next user.
        """
        with self.tracked(name, request.session_hash if request else None) as job:
            return await self._on_thread(name, job, progress, work)

    async def run_each(self, name: str, request: gr.Request | None, progress: gr.Progress,
                       works: Iterable[Callable[[Report], T]]) -> AsyncIterator[T]:
        """Each of ``works`` in turn on one of the CPU slot's threads, as one tracked request, yielding each result
        when it is ready; a cancel (its client's, a closed page or a stop) ends it as in :meth:`run`."""
        with self.tracked(name, request.session_hash if request else None) as job:
            for work in works:
                yield await self._on_thread(name, job, progress, work)

    async def _on_thread(self, name: str, job: Job, progress: gr.Progress, work: Callable[[Report], T]) -> T:
        context = contextvars.copy_context()  # Gradio's progress bar finds its event there
        future = asyncio.get_running_loop().run_in_executor(self._threads, context.run, work, job.reporter(progress))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancel(CANCELLED_MESSAGE)
            await asyncio.wait([future])
            log.info("%s stopped: %s", name, future.exception() or "it had just finished")
            raise

    def client_left(self, request: gr.Request) -> None:
        """Gradio's unload event: a page was closed or reloaded (or an API client ended), so nobody waits for its
        requests any more; each stops at its next step instead of keeping the CPU slot."""
        with self._lock:
            for job in self._jobs:
                if request.session_hash and job.session == request.session_hash:
                    job.cancel(CLIENT_GONE_MESSAGE)

    def stop(self, grace_s: float) -> bool:
        """Cancel every request, running or starting from now on (also inside its onnxruntime or OpenVINO model
        call); True once none runs, False if one still does after ``grace_s`` (a PyTorch call cannot be cancelled)."""
        self.stopping.set()
        with self._lock:
            for job in self._jobs:
                job.cancel(STOPPING_MESSAGE)
        cancel_model_runs()
        deadline = time.monotonic() + grace_s
        while self.count() and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.count()


class QuickExit:
    """How ``python app.py`` ends after a stop.

    Registered as an exit handler before any other the app adds, it runs after all of them (Ray's, Gradio's share
    tunnel), then flushes the output and ends the process: the interpreter's teardown, which garbage-collects every
    loaded model and library (seconds on a busy machine), is skipped. It does nothing until :meth:`arm` is called.
    """

    def __init__(self) -> None:
        self._armed = threading.Event()
        self._handlers_started = threading.Event()
        atexit.register(self._end)

    def arm(self, timeout_s: float = EXIT_TIMEOUT_S) -> None:
        """End quickly at the exit. Before the exit handlers, Python waits for its threads; should one not end
        within ``timeout_s`` (a request left in a PyTorch call, or the server still closing), the process ends then."""
        self._armed.set()
        atexit.register(self._handlers_started.set)  # registered last, so it runs first
        threading.Thread(target=self._end_unless_exiting, args=(timeout_s,), name="quick-exit", daemon=True).start()

    def _end_unless_exiting(self, timeout_s: float) -> None:
        if not self._handlers_started.wait(timeout_s):
            log.warning("still waiting for a thread %.1f s after the stop; ending without the exit handlers", timeout_s)
            self._end()

    def _end(self) -> None:
        if self._armed.is_set():
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
