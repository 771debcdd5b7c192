"""``kernels.atomic.fetch_add``: every number handed out exactly once, from any number of threads."""
import numpy as np
import pytest
from numba import njit, prange
from numba.core.errors import TypingError

from fastnn.kernels.atomic import fetch_add


@njit(parallel=True)
def _take_all(counter, n_items, taken, calls):
    for worker in prange(calls.shape[0]):
        item = fetch_add(counter, 1)
        calls[worker] += 1
        while item < n_items:
            taken[item] += 1
            item = fetch_add(counter, 1)
            calls[worker] += 1


@pytest.mark.parametrize("n_workers", [1, 2, 7])
def test_every_item_is_taken_once(n_workers):
    """A lost update would hand an item out twice and leave the counter below the number
    of calls."""
    n_items = 100_000
    counter = np.zeros(1, np.int64)
    taken = np.zeros(n_items, np.int64)
    calls = np.zeros(n_workers, np.int64)
    _take_all(counter, n_items, taken, calls)
    assert (taken == 1).all()
    assert counter[0] == calls.sum() == n_items + n_workers


def test_returns_the_value_before_and_adds_any_integer():
    @njit
    def twice(counter, step):
        return fetch_add(counter, step), fetch_add(counter, np.int32(step))

    counter = np.array([5, 0], np.int64)
    assert twice(counter, 3) == (5, 8)
    np.testing.assert_array_equal(counter, [11, 0])


@pytest.mark.parametrize("counter", [np.zeros(1, np.int32), np.zeros((1, 1), np.int64)])
def test_wrong_counter_types_fail_to_compile(counter):
    @njit
    def bump(c):
        return fetch_add(c, 1)

    with pytest.raises(TypingError, match="fetch_add: counter must be"):
        bump(counter)
