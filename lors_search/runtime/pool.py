"""Worker leases (`lors/pool`): a Tune trial borrows one worker for its whole life (its rungs reuse the
merged weights and decoded hypotheses) and gives it back at the end. Leases are keyed by Tune trial id, so
a retried trial gets its worker again, and the driver's callback releases the lease of a trial that ASHA
stopped (its function never returns)."""

from __future__ import annotations

import asyncio


class WorkerPool:
    """An async actor: `acquire(trial_id)` waits for a free worker and returns its index."""

    def __init__(self, workers: int) -> None:
        self._free = list(range(workers))
        self._leases: dict[str, int] = {}
        self._changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def acquire(self, trial_id: str) -> int:
        changed = self._condition()
        async with changed:
            if trial_id in self._leases:
                return self._leases[trial_id]
            await changed.wait_for(lambda: bool(self._free))
            index = self._free.pop(0)
            self._leases[trial_id] = index
            return index

    async def release(self, trial_id: str) -> bool:
        changed = self._condition()
        async with changed:
            index = self._leases.pop(trial_id, None)
            if index is None:
                return False
            self._free.append(index)
            self._free.sort()
            changed.notify_all()
            return True

    async def leases(self) -> dict[str, int]:
        return dict(self._leases)
