"""The value codec: what crosses natively, by reference, as code, by pickle, and what is
refused — checked both in-process (encode+decode) and through a real interpreter."""

from __future__ import annotations

import fractions
import math
import pickle

import helpers
import manygil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from manygil import _native

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=False)
    | st.complex_numbers(allow_nan=False)
    | st.text()
    | st.binary()
)
hashables = st.recursive(
    scalars, lambda c: st.tuples(c, c) | st.frozensets(c, max_size=3), max_leaves=8
)
values = st.recursive(
    scalars | st.builds(bytearray, st.binary()),
    lambda c: (
        st.lists(c, max_size=4)
        | st.tuples(c, c)
        | st.dictionaries(hashables, c, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
    ),
    max_leaves=20,
)


def same(a, b):
    """Equal, and of exactly the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@given(values)
@settings(max_examples=300, deadline=None)
def test_roundtrip_in_process_keeps_values_and_types(v):
    assert same(_native.roundtrip(v), v)


@given(values)
@settings(max_examples=60, deadline=None)
def test_roundtrip_through_an_interpreter(shared_interp, v):
    assert same(shared_interp.call(helpers.identity, v), v)


@pytest.fixture(scope="module")
def shared_interp():
    i = manygil.create()
    yield i
    i.close()


def test_native_values_are_shareable_and_others_are_not():
    assert manygil.is_shareable((1, "a", b"b", None, 2.5, [1], {"k": {1, 2}}))
    assert not manygil.is_shareable(helpers.Point(1, 2))
    assert not manygil.is_shareable(helpers.identity)
    assert not manygil.is_shareable([1, object()])


def test_big_ints_and_special_floats():
    for v in (2**64, -(2**64), 2**1000 + 1, -(2**63) - 1, 2**63):
        assert _native.roundtrip(v) == v
    assert math.isnan(_native.roundtrip(float("nan")))
    assert _native.roundtrip(float("-inf")) == float("-inf")


def test_lone_surrogates_survive():
    s = "a\ud800b\udfff"
    assert _native.roundtrip(s) == s


def test_subclasses_keep_their_type_through_pickle(interp):
    import collections

    od = collections.OrderedDict(a=1)
    back = interp.call(helpers.identity, od)
    assert type(back) is collections.OrderedDict and back == od
    assert interp.call(helpers.identity, fractions.Fraction(1, 3)) == fractions.Fraction(1, 3)


def test_instances_of_module_classes_travel_by_pickle(interp):
    assert interp.call(helpers.identity, helpers.Point(1, 2)) == helpers.Point(1, 2)


def test_functions_and_classes_travel_by_reference(interp):
    assert interp.call(helpers.identity, math.sqrt) is math.sqrt
    assert interp.call(helpers.identity, helpers.Point) is helpers.Point
    assert interp.call(helpers.identity, helpers.fib) is helpers.fib


def test_closure_free_lambda_is_shipped_as_code(interp):
    assert interp.call(lambda x, y=10: x * y, 4) == 40
    assert interp.call(helpers.PI_LAMBDA) == math.pi, "globals are the function's module"


def test_closure_travels_by_value(interp):
    z = 3

    def inner():
        return z

    assert interp.call(inner) == 3


def test_unpicklable_argument_names_its_type_and_nothing_is_sent(interp):
    import threading

    before = interp.call(helpers.main_dict_keys)
    with pytest.raises(manygil.NotShareableError, match=r"_thread\.lock") as e:
        interp.call(helpers.identity, threading.Lock())
    assert isinstance(e.value.__cause__, Exception), "pickle's error is the cause"
    assert interp.call(helpers.main_dict_keys) == before


def test_local_class_instance_comes_back_by_value(interp):
    assert type(interp.call(helpers.make_local_class_instance)).__name__ == "Local"


def test_unpicklable_result_is_reported(interp):
    with pytest.raises(manygil.ExecutionFailed, match="NotShareableError"):
        interp.call(helpers.make_generator)


def test_too_deep_nesting_is_a_clear_error_not_a_crash():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(manygil.NotShareableError, match="deeper than"):
        _native.roundtrip(deep)


def test_reference_cycles_fall_back_to_pickle():
    a = [1]
    a.append(a)
    b = _native.roundtrip(a)
    assert b[0] == 1 and b[1] is b


def test_moderate_nesting_works():
    v = []
    for _ in range(400):
        v = [v]
    assert _native.roundtrip(v) == v


def test_pickle_protocol_5_is_the_fallback():
    from manygil._wire import pickle as _pickle

    assert _pickle.dumps(helpers.Point(1, 2))[0][:2] == pickle.dumps(None, 5)[:2]
