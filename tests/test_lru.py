"""plumsim.accel.lru: the one bounded cache and the weight-array cache key."""

from __future__ import annotations

import gc

import numpy as np

from plumsim.accel.lru import LRUMemo, weights_key
from plumsim.workload.layer import Layer, LayerShape


def _layer(codes):
    K = codes.shape[0]
    return Layer(name="l", kind="conv", shape=LayerShape(N=1, G=1, C=codes.shape[1], K=K, R=1, S=1, X=4, Y=4),
                 scheme="ternary", codes=codes, scale=np.ones(K, np.float32), sign=np.ones(K, np.int8))


def test_memo_bounds_items_and_bytes_and_keeps_the_newest():
    m = LRUMemo(3)
    for i in range(5):
        m.get_or_compute(i, lambda i=i: i * 10)
    assert len(m) == 3 and m.get_or_compute(4, lambda: -1) == 40 and m.get_or_compute(0, lambda: -1) == -1
    b = LRUMemo(100, max_bytes=1000, sizeof=lambda v: v.nbytes)
    for i in range(10):
        b.get_or_compute(i, lambda: np.zeros(50))   # 400 bytes each: two fit
    assert len(b) == 2 and b.nbytes == 800
    b.get_or_compute("big", lambda: np.zeros(1000))  # larger than the bound: kept alone
    assert len(b) == 1 and b.nbytes == 8000


def test_writable_weights_edited_in_place_change_the_key():
    codes = np.zeros((4, 3, 1, 1), np.int8)
    lyr = _layer(codes)
    k0 = weights_key(lyr)
    codes[1, 2, 0, 0] = 1
    assert weights_key(lyr) != k0


def test_frozen_weights_keyed_by_lifetime_token_never_reused():
    codes = np.ones((4, 3, 1, 1), np.int8)
    codes.flags.writeable = False
    lyr = _layer(codes)
    k0 = weights_key(lyr)
    assert weights_key(lyr) == k0  # O(1) path: same object, same key
    keys = {k0}
    del lyr, codes
    gc.collect()
    for _ in range(50):   # new arrays (often at a freed id) never get an old key
        c = np.ones((4, 3, 1, 1), np.int8)
        c.flags.writeable = False
        k = weights_key(_layer(c))
        assert k not in keys
        keys.add(k)
        del c
        gc.collect()


def test_a_read_only_view_of_a_writable_base_is_not_frozen():
    base = np.zeros(12, np.int8)
    view = base.reshape(4, 3, 1, 1)
    view.flags.writeable = False
    lyr = _layer(view)
    k0 = weights_key(lyr)
    base[5] = 1   # still writable through the base: the key must see it
    assert weights_key(lyr) != k0
