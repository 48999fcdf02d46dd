"""The Dask plumbing the engine needs: a client, passes over partitions, tree reductions.

Kept apart from the EM driver so the driver reads as the in-memory loop does. Every task
is a pure function of its arguments (a partition index, the layout, the parameters), so
a task lost with its worker is simply run again elsewhere and gives the same result.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import InputError

#: Partial results summed per reduction task: the driver receives one sum, and no task
#: holds more than this many partials at a time.
FAN_IN = 8

#: Task arguments larger than this many bytes are scattered to the workers once.
BROADCAST_ABOVE = 100_000


def require_dask() -> None:
    """Raise InputError saying how to install the extra when Dask is missing."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise InputError('the Dask engine needs dask and distributed: pip install '
                         '"consensus[dask]"') from None


@contextmanager
def connect(scheduler: Any = None) -> Iterator[Any]:
    """A ``distributed.Client``: the one given, one to ``scheduler`` (an address such as
    ``tcp://host:8786``, or a scheduler file path ending in .json), the client already
    active in this process, or else a local cluster for the duration of the block."""
    require_dask()
    from distributed import Client, LocalCluster, get_client

    if scheduler is not None and hasattr(scheduler, "submit"):
        yield scheduler
        return
    if scheduler is not None:
        kind = "scheduler_file" if str(scheduler).endswith(".json") else "address"
        client = Client(**{kind: str(scheduler)})
        try:
            yield client
        finally:
            client.close()
        return
    try:
        yield get_client()
        return
    except ValueError:  # no client in this process
        pass
    with LocalCluster(threads_per_worker=1) as cluster, Client(cluster) as client:
        yield client


@dataclass
class Passes:
    """Runs one function over every partition and sums the results on the cluster.

    Records each pass's wall time (``timings``, by name, in order) so a caller can see
    where the time goes.
    """

    client: Any
    n_partitions: int
    retries: int = 2
    timings: list[tuple[str, float]] = field(default_factory=list)

    def broadcast(self, value: Any) -> Any:
        """Send ``value`` to every worker once; tasks then take it by reference."""
        return self.client.scatter(value, broadcast=True, hash=False)

    def shared(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Arguments every task takes, large ones sent to the workers once rather than
        with each task (parameters of 5,000 annotators weigh 160 KB)."""
        return {name: self.broadcast(value) if array_bytes(value) > BROADCAST_ABOVE else value
                for name, value in kwargs.items()}


    def map(self, name: str, func: Callable[..., Any], *iterables: Sequence[Any],
            **kwargs: Any) -> list[Any]:
        """``func(*items, **kwargs)`` for every tuple of items, gathered in order."""
        start = time.perf_counter()
        futures = self.client.map(func, *[list(i) for i in iterables], retries=self.retries,
                                  pure=False, **self.shared(kwargs))
        results = self.client.gather(futures)
        self.timings.append((name, time.perf_counter() - start))
        return list(results)

    def reduce(self, name: str, func: Callable[..., Any], combine: Callable[[list[Any]], Any],
               **kwargs: Any) -> Any:
        """``combine`` of ``func(index, **kwargs)`` over all partitions, as a tree of
        reduction tasks on the workers; only the final sum reaches the driver."""
        start = time.perf_counter()
        level = self.client.map(func, range(self.n_partitions), retries=self.retries,
                                pure=False, **self.shared(kwargs))
        while len(level) > 1:
            level = [self.client.submit(combine, level[i:i + FAN_IN], retries=self.retries,
                                        pure=False)
                     for i in range(0, len(level), FAN_IN)]
        result = level[0].result()
        self.timings.append((name, time.perf_counter() - start))
        return result


def array_bytes(value: Any) -> int:
    """Bytes of the numpy arrays in ``value`` (itself, or the fields of a dataclass)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(array_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return int(getattr(value, "nbytes", 0))
