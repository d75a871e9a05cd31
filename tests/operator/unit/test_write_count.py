"""The "pass done for <name>: N writes" line counts that pass's writes only, even while the
passes of many Portals interleave (each Portal's loop is its own asyncio task)."""

from __future__ import annotations

import asyncio
from typing import Any

from dokportal_operator.kube import Kube, counting_writes


class _Client:
    """Stands in for lightkube's AsyncClient: every patch yields to the other tasks first."""

    async def patch(self, resource: Any, name: str, obj: Any, **_: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return dict(obj)


def _secret(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "ns"}}


async def test_each_task_counts_its_own_writes() -> None:
    kube = Kube(_Client())  # type: ignore[arg-type]

    async def one_pass(writes: int) -> int:
        with counting_writes() as count:
            for n in range(writes):
                await kube.apply(_secret(f"s{n}"))
        return count.n

    assert list(await asyncio.gather(one_pass(3), one_pass(0), one_pass(5))) == [3, 0, 5]
    assert kube.writes == 8  # the process-wide total stays
