"""Room on CPython's frame stack: calls near a 16 KiB chunk's end stop mapping a fresh chunk each time."""

from __future__ import annotations

import resource

import pytest

from lensforge.datastack import call_with_room

CALLS = 2000


def _leaf(a: int = 0, b: int = 0, c: int = 0, d: int = 0) -> int:
    return a


def _faults_at(depth: int) -> int:
    """Page faults of CALLS calls made `depth` frames below here."""
    if depth == 0:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(CALLS):
            _leaf()
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return _faults_at(depth - 1)


def worst_faults() -> int:
    """The most page faults CALLS calls cost at any depth spanning more than one chunk from here: at a chunk's
    end, each call gets a freshly mapped chunk (a fault at least) where the interpreter remaps them."""
    return max(_faults_at(depth) for depth in range(400))


def test_calls_at_a_chunk_edge_fault_once_with_room_instead_of_once_a_call():
    plain = worst_faults()
    if plain < CALLS:
        pytest.skip(f"this interpreter keeps its frame-stack chunks ({plain} faults for {CALLS} calls at the edge)")
    assert call_with_room(worst_faults) < CALLS // 20
    assert worst_faults() >= CALLS  # nothing lasting: room is only for the call


def test_the_call_is_the_functions_own():
    assert call_with_room(divmod, 17, 5) == (3, 2)
    assert call_with_room(dict, a=1) == {"a": 1}
    with pytest.raises(ZeroDivisionError):
        call_with_room(divmod, 1, 0)
