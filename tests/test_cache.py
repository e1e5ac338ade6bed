"""The server-wide cache of views that do not depend on the visitor (issue 17): hits equal uncached calls, a changed
input misses, the cache stays under its cap, nothing mutable or uploaded is shared between sessions."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pandas as pd
import pytest
import torch

from lab.cache import Memo, approx_bytes
from ui import cache as C


def test_a_hit_returns_what_the_computation_returned_and_a_changed_key_misses():
    memo, calls = Memo(), []

    def compute(x):
        calls.append(x)
        return pd.DataFrame({"x": [x, x + 1]})

    first = memo.get(("f", 1), lambda: compute(1))
    again = memo.get(("f", 1), lambda: compute(1))
    other = memo.get(("f", 2), lambda: compute(2))
    assert calls == [1, 2]
    assert again is first and other["x"].tolist() == [2, 3]
    assert (memo.stats.hits, memo.stats.misses) == (1, 2)


def test_the_memo_stays_under_its_caps_least_recent_first():
    memo = Memo(max_entries=3, max_bytes=10**9)
    for i in range(10):
        memo.get(i, lambda i=i: i)
    assert len(memo) == 3 and all(i in memo for i in (7, 8, 9))
    memo.get(7, lambda: -1)  # 7 becomes the most recent: 8 goes first
    memo.get(10, lambda: 10)
    assert 8 not in memo and 7 in memo

    by_bytes = Memo(max_entries=1000, max_bytes=4 * 2**20)
    for i in range(40):
        by_bytes.get(i, lambda: torch.zeros(2**16))  # 256 KiB each
    assert by_bytes.stats.bytes <= 4 * 2**20 and len(by_bytes) < 40
    assert by_bytes.stats.bytes == sum(approx_bytes(torch.zeros(2**16)) for _ in range(len(by_bytes)))


def test_a_value_larger_than_a_quarter_of_the_cap_is_returned_not_kept():
    memo = Memo(max_bytes=2**20)
    value = memo.get("big", lambda: torch.zeros(2**20))
    assert value.numel() == 2**20 and "big" not in memo


def test_failures_are_not_stored():
    memo, calls = Memo(), []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first call fails")
        return "ok"

    with pytest.raises(ValueError):
        memo.get("k", flaky)
    assert memo.get("k", flaky) == "ok" and len(calls) == 2


def test_single_flight_many_askers_one_computation():
    memo, calls, gate = Memo(), [], threading.Event()

    def slow():
        calls.append(1)
        gate.wait(5)
        return "view"

    results = []
    threads = [threading.Thread(target=lambda: results.append(memo.get("k", slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == ["view"] * 8 and len(calls) == 1


def test_a_caller_that_may_not_wait_computes_its_own():
    memo, gate, calls = Memo(), threading.Event(), []

    def slow():
        calls.append("owner")
        gate.wait(5)
        return "owner's"

    owner = threading.Thread(target=lambda: memo.get("k", slow))
    owner.start()
    time.sleep(0.1)
    assert memo.get("k", lambda: "mine", wait=False) == "mine"
    gate.set()
    owner.join(5)
    assert memo.get("k", lambda: "again") == "owner's"


@dataclass(frozen=True)
class Words:
    title: str
    axis: str


@dataclass
class Mutable:
    title: str


def test_only_plain_arguments_make_a_key():
    def f(*args, **kwargs):
        return args

    assert C.plain_key(f, ("resnet50", 10, 0.5, True, None, (1, 2)), {"words": Words("a", "b")}) is not None
    assert C.plain_key(f, (1,), {}) != C.plain_key(f, (1.0,), {})  # equal numbers, different types, two keys
    assert C.plain_key(f, (torch.nn.Linear(2, 2),), {}) is None  # a model is never a key
    assert C.plain_key(f, ([1, 2],), {}) is None  # a list may change under the key
    assert C.plain_key(f, (Mutable("x"),), {}) is None
    assert C.plain_key(f, (), {"models": {}}) is None


def test_cached_hits_equal_an_uncached_call_and_a_changed_input_misses():
    calls = []

    def view(arch: str, classes: int) -> dict:
        calls.append((arch, classes))
        torch.manual_seed(0)
        return {"arch": arch, "weights": torch.randn(classes)}

    fast = C.cached(view)
    C.MEMO.clear()
    first, hit = fast("resnet18", 10), fast("resnet18", 10)
    assert hit is first and calls == [("resnet18", 10)]
    assert torch.equal(hit["weights"], view("resnet18", 10)["weights"])  # the same as an uncached call
    fast("resnet18", 11)
    assert calls[-1] == ("resnet18", 11)


def test_an_upload_path_or_a_session_value_is_never_stored():
    calls = []

    def load(path: object) -> str:
        calls.append(path)
        return f"read {path}"

    fast = C.cached(load)
    C.MEMO.clear()
    fast(["/tmp/upload.pt"])
    fast(["/tmp/upload.pt"])
    assert len(calls) == 2 and len(C.MEMO) == 0  # computed each time, never kept


def test_heavy_work_holds_at_most_two_slots_and_nests_without_deadlock():
    running, peak, lock = [0], [0], threading.Lock()

    @C.heavy
    def work():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        nested()  # a heavy call inside heavy work takes no second slot
        with lock:
            running[0] -= 1

    @C.heavy
    def nested():
        assert C.held()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak[0] == C.HEAVY_LIMIT and not C.held()


def test_a_generator_holds_its_slot_until_it_is_done():
    @C.heavy
    def stream():
        yield C.held()
        yield C.held()

    assert list(stream()) == [True, True] and not C.held()


# ------------------------------------------------------------------------------------------- through the tabs


def _surgery(weights=None, models=None):
    from ui import surgery

    return surgery.run_surgery("resnet18", weights, True, "32", 0.0, 4, False, 1, False, False, 1, 64, models)[-1]


def test_two_sessions_share_a_cached_model_read_only_and_saving_it_changes_nothing(tmp_path):
    from lab import checkpoints as ck
    from ui import checkpoints as ck_tab

    C.MEMO.clear()
    first, second = _surgery(), _surgery()  # two sessions asking for the same surgery
    model = C.resolve(first["surgery"])  # a session holds the recipe; the cache holds the model
    assert C.resolve(second["surgery"]) is model and first is not second  # one model, each session its own dict
    assert isinstance(first["surgery"], C.Held)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    training = model.training
    ck_tab.run_save(second, "surgery", "checkpoint", ".pt", "ddp", False)  # wraps its own copy
    ck_tab.run_cases(second, "surgery", "dataparallel", "multi-single")
    other = ck.save(ck.randomized_copy(model), tmp_path / "other.pt")
    *_, loaded = ck_tab.run_upload(str(other), second, "surgery")  # loads into its own copy
    assert loaded[ck_tab.LOADED] is not model and not hasattr(model, "module") and model.training == training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_uploaded_file_is_never_served_from_the_cache(tmp_path):
    from lab import surgery as S

    C.MEMO.clear()
    path = tmp_path / "weights.pt"
    torch.save(S.resnet("resnet18").state_dict(), path)
    one, two = _surgery(str(path)), _surgery(str(path))
    assert isinstance(one["surgery"], torch.nn.Module)  # an upload's model is the session's own
    assert one["surgery"] is not two["surgery"]  # computed for each session
    assert not any(str(path) in repr(key) for key in C.MEMO._items)  # and never stored


def test_a_model_counts_by_its_weights():
    model = torch.nn.Linear(1000, 1000)  # 1,001,000 float32 parameters
    assert 4_004_000 <= approx_bytes(model) <= 4_010_000
    assert approx_bytes({"model": model}) >= 4_004_000  # inside a result, too
