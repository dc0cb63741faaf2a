"""Room on CPython's frame stack for import-heavy work, so the interpreter stops mapping and unmapping it.

CPython (3.11 on) keeps Python frames on a per-thread data stack made of 16 KiB chunks. A call that does
not fit in the current chunk gets a fresh one from the operating system (`mmap`), and the chunk is given
back (`munmap`) as soon as that call returns. Code whose calls hover around a chunk's end therefore maps,
faults in and unmaps the same 16 KiB over and over. Importing Great Expectations does this ~36,000 times and
importing transformers and TRL ~17,500 times (counted with `strace -e mmap`); on a virtual machine where a
page fault is dear, that was ~0.6-0.8 s of GE's ~3.3-4 s import.

`call_with_room` runs a function under one frame that reserves ~2 MiB of that stack: CPython gives the frame
a 4 MiB chunk, and every call the function makes fits in the rest of it, so no chunk is mapped or unmapped
until it returns. The frame is an ordinary one whose code object claims a large evaluation stack
(`co_stacksize`); the slots are never written, so the pages behind them are only touched as deep as the calls
really go. Elsewhere (another interpreter, or a CPython that allocates differently) it is a plain call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Slots of 8 bytes: ~2 MiB, so the chunk CPython allocates for the frame is 4 MiB with ~2 MiB free above it
# (GE's import, the deepest work measured, uses well under that).
ROOM_SLOTS = 262_144


def call_with_room(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)`, with room reserved on the interpreter's frame stack for all the calls it makes."""
    return fn(*args, **kwargs)


if sys.implementation.name == "cpython" and sys.version_info >= (3, 11):
    # This function's own frame is the one that claims the room (see above).
    call_with_room.__code__ = call_with_room.__code__.replace(
        co_stacksize=call_with_room.__code__.co_stacksize + ROOM_SLOTS
    )
