"""The codec's memo (issue 14, item 6): each container or bytes object is encoded once,
shared sub-objects keep their identity across the trip, and the work is bounded by the
input's size, not by its expansion."""

from __future__ import annotations

import helpers
import manygil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from manygil import _native


@pytest.fixture(scope="module")
def shared_interp():
    i = manygil.create()
    yield i
    i.close()


def through(interp, obj):
    """``obj`` sent to ``interp`` and back (encoded and decoded twice each way)."""
    return interp.call(helpers.identity, obj)


def test_shared_containers_and_bytes_keep_their_identity(interp):
    inner = [1, 2]
    d = {"a": inner}
    t = (inner, "x")
    b = b"payload"
    ba = bytearray(b"mutable")
    original = [inner, inner, d, d, t, t, b, b, ba, ba, {"again": d}]
    for r in (_native.roundtrip(original), through(interp, original)):
        assert r == original
        assert r[0] is r[1] and r[2] is r[3] and r[4] is r[5]
        assert r[6] is r[7] and r[8] is r[9]
        assert r[2]["a"] is r[0] and r[4][0] is r[0] and r[10]["again"] is r[2]
        r[0].append(3)  # one list, seen from everywhere it was referenced
        assert r[2]["a"] == [1, 2, 3] and r[4][0] == [1, 2, 3]


def test_distinct_equal_objects_stay_distinct(interp):
    a, b = [1], [1]
    r = through(interp, [a, b])
    assert r == [[1], [1]] and r[0] is not r[1]


def test_exponential_dag_is_encoded_once_per_object(interp):
    # 25 lists whose expansion has 2**24 leaves (pickle: 161 bytes).
    x = [1]
    for _ in range(24):
        x = [x, x]
    assert manygil.is_shareable(x)
    r = through(interp, x)
    for _ in range(24):
        assert r[0] is r[1]
        r = r[0]
    assert r == [1]


def test_large_bytes_repeated_cross_once_and_stay_one_object(interp):
    big = bytes(range(256)) * 4096  # 1 MiB: above the zero-copy threshold
    r = through(interp, [big, big, big])
    assert r[0] is r[1] is r[2]
    assert r[0] == big


def test_a_self_containing_list_still_crosses_by_pickle(interp):
    x = [1]
    x.append(x)
    r = through(interp, x)
    assert r[0] == 1 and r[1] is r


def test_map_items_sharing_an_object_still_run(interp):
    shared = [1, 2, 3]
    with manygil.Pool(1) as p:
        assert list(p.map(len, [shared] * 5, chunksize=5)) == [3] * 5


# --- fuzz: random graphs with shared sub-objects -----------------------------------------

leaves = (
    st.none()
    | st.integers()
    | st.text(max_size=4)
    | st.binary(max_size=4)
    | st.floats(allow_nan=False)
)


@st.composite
def graphs(draw):
    """A tree of lists, dicts, tuples and bytearrays in which later nodes may reuse any
    earlier *complete* node (a DAG, never a cycle)."""
    done = []

    def node(depth):
        kind = draw(st.integers(0, 5 if depth < 5 else 1))
        if kind == 0:
            return draw(leaves)
        if kind == 1:
            return draw(st.sampled_from(done)) if done else draw(leaves)
        n = draw(st.integers(0, 3))
        if kind == 2:
            obj = [node(depth + 1) for _ in range(n)]
        elif kind == 3:
            obj = {f"k{i}": node(depth + 1) for i in range(n)}
        elif kind == 4:
            obj = tuple(node(depth + 1) for _ in range(n + 1))
        else:
            obj = bytearray(draw(st.binary(max_size=4)))
        done.append(obj)
        return obj

    return node(0)


def shape(x, ids):
    """``x``'s structure, with every list/dict/bytearray/non-empty tuple met again replaced
    by the number of its first occurrence: equal shapes mean equal values and aliasing."""
    if isinstance(x, (list, dict, bytearray)) or (type(x) is tuple and x):
        if id(x) in ids:
            return ("again", ids[id(x)])
        ids[id(x)] = len(ids)
    if type(x) is list:
        return ("list", [shape(v, ids) for v in x])
    if type(x) is dict:
        return ("dict", [(k, shape(v, ids)) for k, v in x.items()])
    if type(x) is tuple:
        return ("tuple", [shape(v, ids) for v in x])
    return (type(x).__name__, x)


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_fuzz_shared_sub_objects_round_trip_with_their_aliasing(shared_interp, g):
    assert shape(_native.roundtrip(g), {}) == shape(g, {})
    assert shape(through(shared_interp, g), {}) == shape(g, {})


# --- one nesting limit (issue 14, item 12) ------------------------------------------------


def nested_lists(levels):
    x = []
    for _ in range(levels - 1):
        x = [x]
    return x


def test_512_levels_cross_on_every_version(shared_interp):
    x = nested_lists(512)
    assert through(shared_interp, x) == x  # as a call argument and a result
    with manygil.Pool(1) as p:
        assert list(p.map(helpers.identity, [x, x], chunksize=2)) == [x, x]


@pytest.mark.parametrize("levels", [513, 5000])
def test_deeper_nesting_is_refused_naming_the_type_limit_and_path(shared_interp, levels):
    with pytest.raises(manygil.NotShareableError) as e:
        through(shared_interp, {"data": nested_lists(levels)})
    msg = str(e.value)
    assert "dict object nests containers deeper than 512 levels" in msg
    assert "x['data'][0][0]" in msg and "a list starts level 513" in msg
    with pytest.raises(manygil.NotShareableError, match="^list object nests"):
        _native.roundtrip(nested_lists(levels))
    with manygil.Pool(1) as p:
        with pytest.raises(manygil.NotShareableError, match=r"list object nests .* at x\[0\]"):
            list(p.map(len, [nested_lists(levels)]))


def test_an_unpicklable_cycle_names_the_cycle_and_keeps_pickles_error():
    import threading

    x = []
    x.append(x)
    x.append(threading.Lock())
    with pytest.raises(manygil.NotShareableError) as e:
        _native.roundtrip(x)
    assert isinstance(e.value.__cause__, TypeError)
