"""A CPU-bound pure-Python function for examples/cpu_bound.rs."""

import _interpreters


def count_primes(lo: int, hi: int) -> tuple[int, int]:
    """How many primes lie in [lo, hi), by trial division; and the id of the interpreter
    that counted them."""
    count = 0
    for n in range(max(lo, 2), hi):
        if n % 2 == 0:
            count += n == 2
            continue
        d = 3
        while d * d <= n:
            if n % d == 0:
                break
            d += 2
        else:
            count += 1
    return count, _interpreters.get_current()[0]
