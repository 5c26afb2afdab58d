"""How Medic's processes run: on uvloop where it is installed (Linux, macOS), where the API answers
each webhook with less CPU than on the standard event loop and the worker's hand-offs from the
Temporal core are cheaper; and with the garbage collector tuned for a long-running service."""

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["freeze_startup_objects", "loop_factory", "run"]

# Python's default (700, 10, 10) runs a full collection every time the heap grew by a quarter. During
# a storm the worker's heap (the incidents it holds) grows fast, and each full collection walked all of
# it: 8 of them, 40-240 ms each, in a 5-second storm, and the API's (43-96 ms) stalled every request in
# flight. Fewer, larger young collections leave far fewer survivors to promote, so the full ones
# become rare; garbage without cycles is freed at once by reference counting either way.
GC_THRESHOLDS = (10_000, 20, 20)

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # noqa: PLC0415 - optional: the standard loop where it is missing
    except ImportError:
        return None
    return uvloop.new_event_loop


def freeze_startup_objects() -> None:
    """Move everything built so far (modules, schemas, the app) out of the collector's sight: it lives
    as long as the process, and walking it on every full collection was most of their cost."""
    gc.collect()
    gc.freeze()


def run(main: Coroutine[Any, Any, T]) -> T:
    gc.set_threshold(*GC_THRESHOLDS)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
