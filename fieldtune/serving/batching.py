"""Dynamic batching: requests that arrive together share one model call.

Each request puts its inputs on an asyncio queue with a future. One collector takes the first waiting
request, then whatever else arrives within `max_wait_s` (or is already queued), up to `max_batch`
inputs, and runs the model once, in a worker thread so the event loop keeps accepting requests. While
the model runs, new requests queue up and form the next batch: under load, batches fill without
waiting; a lone request waits at most `max_wait_s`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# What one more model call costs, in padded tokens of a batch. Fitted on the demo MiniLM, 1 torch thread
# (benchmarks/RESULTS.md, issue 32): at 28 (the cost of one 30-token text alone over its share of a
# batch) its 12-note batches of 23-38 tokens split in two and ran 4% slower than one call; at 64 they stay
# one call, and a batch holding one four-note text is still cut (2.5x less CPU than one padded call).
CALL_COST_TOKENS = 64


@dataclass
class _Pending:
    items: list[Any]
    future: asyncio.Future


@dataclass
class BatchStats:
    """What the server reports in /metadata: requests answered, model calls, largest batch."""

    requests: int = 0
    inputs: int = 0
    model_calls: int = 0
    largest_batch: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)  # model call size -> how many calls

    def as_dict(self) -> dict:
        return {
            "requests": self.requests, "inputs": self.inputs, "model_calls": self.model_calls,
            "largest_batch": self.largest_batch,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
        }  # fmt: skip


class Batcher:
    """Batch `submit`ted inputs into calls of `run(items) -> results` (one result per item, in order).

    Args:
        run: the model call; runs in one worker thread, one call at a time.
        max_batch: most inputs in one call (a request with more is refused before it is queued).
        max_wait_s: how long the first input of a batch waits for others.
    """

    def __init__(self, run: Callable[[list[Any]], list[Any]], max_batch: int, max_wait_s: float) -> None:
        self.run, self.max_batch, self.max_wait_s = run, max_batch, max_wait_s
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task | None = None
        self._carry: _Pending | None = None  # a request that did not fit the last batch: first in the next
        self._getter: asyncio.Future | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fieldtune-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        for task in (self._task, self._getter):
            if task is not None:
                task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, items: list[Any]) -> list[Any]:
        """The results for `items` (at most `max_batch`), computed in a batch with other requests'."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not awaited")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(list(items), future))
        return await future

    async def _get(self, timeout: float | None) -> _Pending | None:
        """The next queued request, or None after `timeout`; the waiting `get` is kept for the next call,
        never cancelled (a cancelled `Queue.get` can drop the item it was handed)."""
        assert self._queue is not None
        if self._getter is None:
            self._getter = asyncio.ensure_future(self._queue.get())
        done, _ = await asyncio.wait({self._getter}, timeout=timeout)
        if not done:
            return None
        pending, self._getter = self._getter.result(), None
        return pending

    async def _next_batch(self) -> list[_Pending]:
        assert self._queue is not None
        first = self._carry or await self._get(None)
        assert first is not None
        self._carry = None
        batch, size = [first], len(first.items)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch:
            if self._getter is None and not self._queue.empty():
                pending: _Pending | None = self._queue.get_nowait()
            else:
                timeout = deadline - loop.time()
                pending = await self._get(timeout) if timeout > 0 else None
            if pending is None:
                break
            if size + len(pending.items) > self.max_batch:
                self._carry = pending
                break
            batch.append(pending)
            size += len(pending.items)
        return batch

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            batch = [p for p in batch if not p.future.done()]  # a client that went away: not computed
            items = [item for p in batch for item in p.items]
            if not items:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self.run, items)
            except Exception as e:  # handed to each waiting request, which answers with it
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(e)
                continue
            self._count(len(batch), len(items))
            start = 0
            for p in batch:
                if not p.future.done():
                    p.future.set_result(results[start : start + len(p.items)])
                start += len(p.items)

    def _count(self, requests: int, inputs: int) -> None:
        s = self.stats
        s.requests, s.inputs, s.model_calls = s.requests + requests, s.inputs + inputs, s.model_calls + 1
        s.largest_batch = max(s.largest_batch, inputs)
        s.batch_sizes[inputs] = s.batch_sizes.get(inputs, 0) + 1


def length_groups(lengths: Sequence[int], call_cost: float = CALL_COST_TOKENS) -> list[list[int]]:
    """The indices of a batch's texts grouped into model calls, each padded to its own longest: sorted by
    token length and cut where the padding saved outweighs one more call (a call costs `call_cost` +
    texts x longest tokens; the cheapest cuts, by dynamic programming over the distinct lengths)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    ends = [k + 1 for k in range(len(order)) if k + 1 == len(order) or lengths[order[k + 1]] != lengths[order[k]]]  # fmt: skip
    best, cut = {0: 0.0}, {}  # best[end]: the cheapest cost of order[:end]; cut[end]: its last group's start
    for j in ends:
        longest = lengths[order[j - 1]]
        best[j], cut[j] = min((best[i] + call_cost + (j - i) * longest, i) for i in [0, *ends] if i < j)
    groups, j = [], len(order)
    while j:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]
