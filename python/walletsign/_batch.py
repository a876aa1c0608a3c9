"""Batches and the async client: Python's side of the core's pools
(wsig_pool_*, csrc/pool.c). Only plumbing lives here (asyncio futures,
progress bars); the calls, their retries, waits and the shared rate limit
are the core's, run on its worker threads without the GIL."""

import asyncio
import functools
import warnings
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

from . import _walletsign

DEFAULT_CONCURRENCY = 8


def progress_reporter(progress: Any, total: int) -> Tuple[Optional[Callable], Callable]:
    """(report(done, total) or None, close()) for a batch's progress=: False
    or None (nothing), True (a tqdm.auto bar: a widget in a notebook, text in
    a terminal; nothing, with a warning, if tqdm is not installed), or a
    callable given (done, total)."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        try:
            from tqdm.std import TqdmWarning
            with warnings.catch_warnings():
                # A notebook without ipywidgets gets the text bar, without
                # tqdm's warning about it (docs/quickstart-python.md).
                warnings.simplefilter("ignore", TqdmWarning)
                from tqdm.auto import tqdm
        except ImportError:
            warnings.warn("progress=True needs tqdm (Debian: python3-tqdm); no progress shown",
                          RuntimeWarning, stacklevel=3)
            return None, lambda: None
        bar = tqdm(total=total, unit="call", desc="walletsign")

        def report(done: int, _total: int) -> None:
            bar.update(done - bar.n)
        return report, bar.close
    if callable(progress):
        return progress, lambda: None
    raise TypeError("progress must be True, False or a callable(done, total)")


def run_many(client: "_walletsign.Client", kind: str, items: Iterable, concurrency: int,
             progress: Any, return_exceptions: bool) -> List[Any]:
    items = list(items)
    pool = client._pool(concurrency)
    report, close = progress_reporter(progress, len(items))
    try:
        return pool.run_many(kind, items, concurrency, report, return_exceptions)
    finally:
        close()


class Client(_walletsign.Client):
    __doc__ = _walletsign.Client.__doc__
    __slots__ = ()
    __module__ = "walletsign"

    def query_many(self, items: Iterable[Tuple[str, Any]], *,
                   concurrency: int = DEFAULT_CONCURRENCY, progress: Any = False,
                   return_exceptions: bool = True) -> List[Any]:
        """Run many queries, `concurrency` at once, on the core's worker
        threads (the GIL is released while they run). items: (name, payload)
        pairs. Returns the answers in input order; a failed item's place holds
        its exception (or, with return_exceptions=False, the first failure in
        input order is raised and the rest cancelled). The key's rate limit
        holds across the batch (one bucket for the client and its workers).
        progress: True for a tqdm bar, or a callable given (done, total).
        Ctrl-C cancels every item (each within 50 ms) and raises
        KeyboardInterrupt; the client stays usable."""
        return run_many(self, "query", items, concurrency, progress, return_exceptions)

    def command_many(self, items: Iterable[Tuple[str, Any, str]], *,
                     concurrency: int = DEFAULT_CONCURRENCY, progress: Any = False,
                     return_exceptions: bool = True) -> List[Any]:
        """As query_many, for commands: items are (name, payload,
        idempotency_key) triples, and every item needs its key (ValueError
        before anything is sent), so running the batch again after a failure
        or an interruption never runs a command twice."""
        return run_many(self, "command", items, concurrency, progress, return_exceptions)


def _settle(fut: "asyncio.Future", job: Any) -> None:
    """On the loop (the completion port's drain): the finished job's answer
    or error into its future."""
    if fut.done():          # cancelled meanwhile: the job was cancelled too
        return
    try:
        value = job.result()
    except Exception as exc:  # noqa: BLE001 - every error of the call goes to the awaiter
        fut.set_exception(exc)
    else:
        fut.set_result(value)


class AsyncClient:
    """The asyncio client: ``await c.query(...)``, ``command``, ``call``,
    ``request``, ``query_many``, ``command_many``; ``async with`` or
    ``await c.aclose()``. It takes Client's options (timeout,
    attempt_timeout, retries, rate_limit, ... : see Client) and
    ``workers``: how many calls run at once (default 8).

    Each call runs on the core's worker threads (csrc/pool.c), with the
    same rules as Client (signing, retries, 429 waits, the deadline); the
    event loop only receives the finished answer. Cancelling the awaiting
    task aborts the call (a transfer in progress is closed within 50 ms).
    All calls of one AsyncClient share one rate-limit bucket (the key's).
    Use one AsyncClient from one event loop at a time (a later loop, e.g. a
    second asyncio.run, takes it over)."""

    def __init__(self, base_url: str, auth: Any, *, workers: int = DEFAULT_CONCURRENCY,
                 **options: Any):
        self._client = Client(base_url, auth, **options)
        try:
            self._pool = self._client._pool(workers)
            # Finished calls reach the loop through an eventfd the loop
            # watches: the core's workers never wait for the GIL.
            self._port = _walletsign._Completions()
            self._pool.deliver_to(self._port)
        except BaseException:
            self._client.close()
            raise
        self._workers = workers
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    @classmethod
    def from_env(cls, environ: Any = None, **options: Any) -> "AsyncClient":
        """As Client.from_env, for an AsyncClient."""
        c = Client.from_env(environ)
        base_url, auth = c.base_url, c.auth
        c.close()
        return cls(base_url, auth, **options)

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return self._client.base_url

    @property
    def auth(self) -> Any:
        """The auth that signs every request."""
        return self._client.auth

    @property
    def closed(self) -> bool:
        """True after close() or aclose()."""
        return self._client.closed

    def __repr__(self) -> str:
        return "<walletsign.AsyncClient %r, %d workers%s>" % (
            self.base_url, self._workers, " closed" if self.closed else "")

    def _watch(self, loop: "asyncio.AbstractEventLoop") -> None:
        """Have this loop drain the completion port (one loop at a time: a
        client used from a new loop, e.g. a second asyncio.run, moves)."""
        self._unwatch()
        loop.add_reader(self._port.fileno(), self._port.drain)
        self._loop = loop

    def _unwatch(self) -> None:
        """Stop the loop that watched the completion port (if still open)."""
        old, self._loop = self._loop, None
        if old is not None and not old.is_closed():
            old.remove_reader(self._port.fileno())

    async def _run(self, submit: Callable, *args: Any, **kwargs: Any) -> Any:
        """Submit one job to the pool and await its future; cancelling the
        awaiting task cancels the job."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._watch(loop)
        fut = loop.create_future()
        job = submit(*args, callback=functools.partial(_settle, fut), **kwargs)
        try:
            return await fut
        except asyncio.CancelledError:
            job.cancel()    # the core aborts the transfer (walletsign.h, wsig_job_cancel)
            raise

    async def query(self, name: str, payload: Any = None) -> Any:
        """As Client.query."""
        return await self._run(self._pool.submit_query, name, payload)

    async def command(self, name: str, payload: Any = None, *,
                      idempotency_key: Optional[str] = None) -> Any:
        """As Client.command."""
        return await self._run(self._pool.submit_command, name, payload, idempotency_key)

    async def call(self, method: str, path: str, params: Any = None) -> Any:
        """As Client.call."""
        return await self._run(self._pool.submit_call, method, path, params)

    async def request(self, method: str, path: str, *, json: Any = None, body: Any = None,
                      headers: Any = None) -> Any:
        """As Client.request."""
        return await self._run(self._pool.submit_request, method, path, json=json, body=body,
                               headers=headers)

    async def _many(self, run_one: Callable, items: Sequence, concurrency: int, progress: Any,
                    return_exceptions: bool) -> List[Any]:
        """The items through run_one, at most `concurrency` at once, in order."""
        if concurrency > self._workers:
            self._pool.set_workers(concurrency)
            self._workers = concurrency
        limit = asyncio.Semaphore(concurrency)
        report, close = progress_reporter(progress, len(items))
        done = 0

        async def one(item: Any) -> Any:
            nonlocal done
            async with limit:
                try:
                    return await run_one(*item)
                finally:
                    done += 1
                    if report:
                        report(done, len(items))
        tasks = [asyncio.ensure_future(one(item)) for item in items]
        try:
            if report:
                report(0, len(items))
            return await asyncio.gather(*tasks, return_exceptions=return_exceptions)
        finally:
            for t in tasks:
                t.cancel()  # after the first failure (return_exceptions=False), or if cancelled
            await asyncio.gather(*tasks, return_exceptions=True)
            close()

    async def query_many(self, items: Iterable[Tuple[str, Any]], *,
                         concurrency: int = DEFAULT_CONCURRENCY, progress: Any = False,
                         return_exceptions: bool = True) -> List[Any]:
        """As Client.query_many."""
        items = list(items)
        self._pool.check_items("query", items)   # the core's judgement, before any is sent
        return await self._many(self.query, items, concurrency, progress, return_exceptions)

    async def command_many(self, items: Iterable[Tuple[str, Any, str]], *,
                           concurrency: int = DEFAULT_CONCURRENCY, progress: Any = False,
                           return_exceptions: bool = True) -> List[Any]:
        """As Client.command_many: every item needs its idempotency key."""
        items = list(items)
        self._pool.check_items("command", items)

        async def command(name: str, payload: Any, key: str) -> Any:
            return await self.command(name, payload, idempotency_key=key)
        return await self._many(command, items, concurrency, progress, return_exceptions)

    async def aclose(self) -> None:
        """Abort what runs, stop the workers and close the connections."""
        # Joining the workers waits up to 50 ms for aborted transfers: off the loop.
        await asyncio.get_running_loop().run_in_executor(None, self._client.close)
        self._port.drain()        # the calls still awaited end as aborted
        self._unwatch()

    def close(self) -> None:
        """aclose() for code outside the event loop (it blocks up to ~50 ms)."""
        self._client.close()
        self._unwatch()
        self._port.discard()

    async def __aenter__(self) -> "AsyncClient":
        """Use the client as an async context manager."""
        return self

    async def __aexit__(self, *exc: Any) -> None:
        """aclose() the client."""
        await self.aclose()
