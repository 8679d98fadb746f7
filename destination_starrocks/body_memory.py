"""Load bodies whose memory is written again after their load, instead of being freed and faulted in anew.

Contract (what buffer.py and writer.py use):
- `BodyPool.take(expected) -> bytearray`: memory for the next body of a stream whose last body had `expected`
  bytes: a body whose load is over when one of about that size is free, else a new empty bytearray. A
  taken body may hold stale bytes past what its new owner writes; the owner cuts them off when it seals.
- `BodyPool.lend(body) -> memoryview`: the sealed body as the batch carries it; the pool keeps the bytearray.
- `BodyPool.idle_bytes() -> int`: memory of free bodies kept for reuse (the writer's memory budget counts it);
  `BodyPool.shed()` lets them go (the writer, when buffered rows need the memory).

Why: a 128 MiB body is a fresh mmap from the C allocator, and every 4 KiB page of it costs a page fault and
the kernel's zeroing the first time a row lands on it (`perf record -e page-faults` on the `bulk` bench: 95%
of the connector's 142,800 faults under PyByteArray_Resize; about 2.8 us each on this VM). Freed after its
load, the next body faults all over again. Written again, the pages are already there.

When a body is free: while its batch (a retry, a transaction's chunk list, a log) still holds the memoryview
that `lend` returned, the bytearray cannot be resized (CPython raises BufferError for a bytearray with
exports: Objects/bytearrayobject.c `_canresize`). The pool tests exactly that, so it never hands out memory
that anything still reads. No library keeps a reusable buffer per owner with that guarantee: `io.BytesIO` and
`bytearray` free their memory when cleared, and a list of mmaps costs a method call per row to fill.
"""

from __future__ import annotations

# Free bodies kept beyond those in use: one, the largest (the next body of a big stream reuses it).
KEEP_FREE = 1
# A free body goes to a stream whose last body was at least half its size (or when it is small): a small
# stream given a 128 MiB body would hold all of it for a few rows. Below this, size does not matter.
SMALL_BODY_BYTES = 1 << 20
MAX_LENT = 8  # bodies followed at most; older ones are left to the allocator when their loads end


class BodyPool:
    """The bodies lent to batches, and which of them are free again."""

    def __init__(self) -> None:
        self._lent: list[bytearray] = []

    def take(self, expected: int) -> bytearray:
        free = self._free()
        limit = 2 * max(expected, SMALL_BODY_BYTES)
        for body in free:
            if len(body) <= limit:
                self._forget(body)
                return body
        return bytearray()

    def lend(self, body: bytearray) -> memoryview:
        lent = self._lent
        if not any(b is body for b in lent):
            lent.append(body)
            if len(lent) > MAX_LENT:
                del lent[0]
        return memoryview(body)

    def idle_bytes(self) -> int:
        return sum(len(body) for body in self._free())

    def shed(self) -> None:
        """Let go of the free bodies (memory is short: buffered rows come before a body kept for later)."""
        for body in self._free():
            self._forget(body)

    def _free(self) -> list[bytearray]:
        """The lent bodies nothing holds a view of any more, keeping at most KEEP_FREE of them (the largest)."""
        free = [body for body in self._lent if _unshared(body)]
        free.sort(key=len, reverse=True)
        for body in free[KEEP_FREE:]:
            self._forget(body)  # no longer followed: freed with its last reference
        return free[:KEEP_FREE]

    def _forget(self, body: bytearray) -> None:
        self._lent = [b for b in self._lent if b is not body]  # by identity: `==` compares the bytes


def _unshared(body: bytearray) -> bool:
    """True when no memoryview of `body` is alive: only then can it be resized (see the module's docstring)."""
    try:
        body.append(0)
    except BufferError:
        return False
    del body[-1]
    return True
