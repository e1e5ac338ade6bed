"""Hardening (issue 9): every gradio endpoint of the launched lab, driven through gradio_client with hostile values.

The endpoints are discovered from the app itself (`client.view_api`), so a tab that lands later is fuzzed too.
Per endpoint: one call with the defaults, then `MUTATIONS` calls that each replace one parameter with a hostile
value of the kind its component takes (numbers: huge, negative, 1e308, 2**63, a string; text: hostile
expressions, 100 kB, unicode; choices: values not offered; files: a shell script). Values are drawn with a
seeded RNG (`LAB_FUZZ_SEED`, default 0) so CI is reproducible and a local run can explore other seeds.

Allowed outcomes: a result, or an AppError with a message of at most `MAX_MESSAGE` characters that is not the
lab's internal-error text. Where the value's JSON type does not match the component (a string sent to a gr.Number),
Gradio's preprocess refuses it before our callback runs; `ui.common.LabBlocks` words that refusal as one sentence
naming the field and the value ("Field 'Classes' got 'abc', which it does not accept; ..."), which is accepted
only for such a mismatch and counted; Gradio's generic "has not enabled verbose error reporting" text is never
accepted (finding F7). No call may take longer than `HANG_S`. Known bugs are skipped in the sweep and pinned by
strict xfail tests below, so they flip when fixed. Counts go to bench/results/fuzz_counts.md.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from test_fuzz_lab import PAYLOADS, write_counts

from lab.errors import shown

pytestmark = pytest.mark.api

SEED = int(os.environ.get("LAB_FUZZ_SEED", "0"))
MUTATIONS = int(os.environ.get("LAB_FUZZ_MUTATIONS", "2"))  # hostile calls per endpoint, besides the defaults
HANG_S = 60
INTERNAL = "An internal error happened"
GRADIO_GENERIC = "has not enabled verbose error reporting"  # what a client got before show_error=True (F7)
GRADIO_PREPROCESS = "which it does not accept"  # ui.common.LabBlocks' sentence for a wrongly typed value
MAX_MESSAGE = 2000  # as tests/test_fuzz_lab.py: a longer message echoes a 100 kB input back (F6)
PWNED = Path("/tmp/pwned")

# Cheap, bounded overrides so a defaults call never trains for long (the hostile value still replaces one of them).
BASE = {
    "/train_start": {"steps": 2, "time_limit": 5.0, "base_channels": 4, "depth": 2, "batch": 2},
}
SKIP: dict[str, str] = {}


def known(name: str, key: str, value) -> str | None:
    """The finding id when this mutation hits a known bug (the sweep skips it; an xfail test below pins it).

    None now: F10 (/surgery_apply hidden=None) is fixed and swept again."""
    return None


NUMBERS = [-1, 0, 1e308, -1e308, 10**12, 2**63, 1.5, None, "abc", "", [1]]
TEXTS = [*PAYLOADS[:8], "", " ", "x" * 100_000, "é∑ð🙂\u202e", "[1, 2]", '{"a": 1e999}', "null", "{", None, 123]
CHOICES = ["__not_a_choice__", "", None, 123, ["x"]]
CHECKS = ["yes", None, 2]


def _kind(param: dict) -> str:
    comp = param["component"]
    if comp in ("Number", "Slider"):
        return "number"
    if comp in ("Textbox", "Code"):
        return "text"
    if comp in ("Dropdown", "Radio"):
        return "choice"
    if comp == "Checkbox":
        return "check"
    if comp in ("File", "UploadButton", "Image"):
        return "file"
    return "other"


def _mismatch(param: dict, value) -> bool:
    """Whether `value`'s JSON type cannot be the component's (Gradio's preprocess refuses those itself)."""
    kind = _kind(param)
    if value is None and kind != "number":
        return False
    if kind == "number":  # a Slider is never empty; a Number may be
        return isinstance(value, (str, list, bool)) or (value is None and param["component"] == "Slider")
    if kind == "text":
        return not isinstance(value, str)
    if kind == "check":
        return not isinstance(value, bool)
    if kind == "choice":
        multi = param["python_type"]["type"].startswith("list")
        return isinstance(value, list) != multi
    return kind in ("file", "other")


def _hostile(param: dict, rng: random.Random, script: str):
    kind = _kind(param)
    if kind == "file":
        from gradio_client import handle_file

        return rng.choice([None, handle_file(script)])
    pool = {"number": NUMBERS, "text": TEXTS, "choice": CHOICES, "check": CHECKS}.get(kind, [None, "x", 1])
    return rng.choice(pool)


API_COUNTS: Counter[str] = Counter()  # endpoint -> calls, over every test of this module
API_REFUSED: Counter[str] = Counter()  # endpoint -> Gradio's preprocess refusals of a wrongly typed value (F7)


@pytest.fixture(scope="module", autouse=True)
def counts_file():
    start = time.perf_counter()
    yield
    counts = Counter({f"{k} (Gradio's preprocess refusal: {API_REFUSED[k]})" if API_REFUSED[k] else k: v
                      for k, v in API_COUNTS.items()})
    write_counts(f"gradio endpoints (tests/test_fuzz_api.py, seed {SEED}, {MUTATIONS} mutations per endpoint, plus "
                 "every text/number field with null, empty, 100 kB, 1e308, -1)", counts, time.perf_counter() - start)


class Sweep:
    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.failures: list[str] = []
        self.slow: list[tuple[float, str]] = []
        self.skipped: Counter[str] = Counter()


def _call(client, sweep: Sweep, name: str, params: list[dict], values: dict, mutated: str | None) -> None:
    from gradio_client.exceptions import AppError

    sweep.counts[name] += 1
    API_COUNTS[name] += 1
    where = f"{name}({mutated}={shown(values.get(mutated))})" if mutated else f"{name}(defaults)"
    start = time.perf_counter()
    message = None
    try:
        client.submit(api_name=name, **values).result(timeout=HANG_S)
    except AppError as exc:
        message = str(exc)
    except TimeoutError:
        sweep.failures.append(f"{where}: no answer within {HANG_S} s")
    except Exception as exc:  # noqa: BLE001 - anything else from the client is a failure to report
        sweep.failures.append(f"{where}: {type(exc).__name__}: {str(exc)[:200]}")
    took = time.perf_counter() - start
    sweep.slow.append((took, where))
    if PWNED.exists():
        sweep.failures.append(f"{where}: /tmp/pwned was created")
    if message is None:
        return
    if not message.strip():
        sweep.failures.append(f"{where}: AppError without a message")
    elif INTERNAL in message:
        sweep.failures.append(f"{where}: internal error (a bug behind the callback) after {took:.1f} s")
    elif GRADIO_GENERIC in message:
        sweep.failures.append(f"{where}: Gradio's generic error (is app.demo still a ui.common.LabBlocks?)")
    elif len(message) > MAX_MESSAGE:
        sweep.failures.append(f"{where}: a {len(message)}-character message (it echoes the value: F6)")
    elif GRADIO_PREPROCESS in message:
        param = next((p for p in params if p["parameter_name"] == mutated), None)
        if param is not None and _mismatch(param, values[mutated]):
            sweep.refused[name] += 1
            API_REFUSED[name] += 1
        else:
            sweep.failures.append(f"{where}: Gradio's preprocess refused a value of the right type: {message[:300]}")


@pytest.fixture(scope="module")
def endpoints(client) -> dict[str, list[dict]]:
    info = client.view_api(return_format="dict", print_info=False)
    return {name: ep["parameters"] for name, ep in info["named_endpoints"].items()}


def test_every_endpoint_survives_hostile_values(client, endpoints, tmp_path):
    PWNED.unlink(missing_ok=True)
    script = tmp_path / "script.png"
    script.write_text("#!/bin/sh\ntouch /tmp/pwned\n")
    rng = random.Random(SEED)
    sweep = Sweep()
    start = time.perf_counter()
    for name, params in sorted(endpoints.items()):
        if name in SKIP:
            continue
        defaults = {p["parameter_name"]: p.get("parameter_default") for p in params}
        defaults.update({k: v for k, v in BASE.get(name, {}).items() if k in defaults})
        _call(client, sweep, name, params, defaults, None)
        for _ in range(MUTATIONS if params else 0):
            param = rng.choice(params)
            key = param["parameter_name"]
            value = _hostile(param, rng, str(script))
            if known(name, key, value):
                sweep.skipped[known(name, key, value)] += 1
                continue
            _call(client, sweep, name, params, dict(defaults, **{key: value}), key)
    seconds = time.perf_counter() - start
    slowest = ", ".join(f"{w} {t:.1f}s" for t, w in sorted(sweep.slow, reverse=True)[:5])
    print(f"{sum(sweep.counts.values())} calls in {seconds:.0f} s; known bugs skipped: {dict(sweep.skipped)}; "
          f"slowest: {slowest}")
    assert not sweep.failures, f"{len(sweep.failures)} endpoint calls failed:\n" + "\n".join(sweep.failures)
    assert len(sweep.counts) == len(endpoints) - len(SKIP), "an endpoint was not exercised"


@pytest.mark.parametrize("kind, value", [("text", None), ("text", ""), ("text", "x" * 100_000), ("number", None),
                                         ("number", 1e308), ("number", -1)],
                         ids=["text-null", "text-empty", "text-100kB", "number-null", "number-1e308", "number-minus-1"])
def test_every_field_of_a_kind_takes(client, endpoints, kind, value):
    """Systematic, not sampled: each text (Textbox/Code) or number (Number/Slider) parameter of every endpoint gets
    the value, the others their defaults; None to a Slider is Gradio's own (named) refusal (F7), counted as such."""
    sweep = Sweep()
    for name, params in sorted(endpoints.items()):
        defaults = {p["parameter_name"]: p.get("parameter_default") for p in params}
        defaults.update({k: v for k, v in BASE.get(name, {}).items() if k in defaults})
        for param in params:
            key = param["parameter_name"]
            if _kind(param) != kind or name in SKIP:
                continue
            if known(name, key, value):
                sweep.skipped[known(name, key, value)] += 1
                continue
            _call(client, sweep, name, params, dict(defaults, **{key: value}), key)
    print(f"{sum(sweep.counts.values())} {kind} fields; Gradio's preprocess refusals: {sum(sweep.refused.values())}; "
          f"known bugs skipped: {dict(sweep.skipped)}")
    assert sweep.counts, f"no endpoint has a {kind} field"
    assert not sweep.failures, f"{len(sweep.failures)} endpoint calls failed:\n" + "\n".join(sweep.failures)


@pytest.mark.parametrize("api_name", ["/checkpoints_model_info", "/checkpoints_save", "/checkpoints_pitfall"])
def test_checkpoints_choice_of_wrong_type(client, api_name):
    """F9 (fixed): a non-string model choice is a sentence, not an internal error."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(choice=["x"], api_name=api_name)
    assert INTERNAL not in str(info.value)


def test_choice_outside_the_offered_ones_is_a_sentence(client):
    """A Dropdown value the page never offers reaches the lab as a sentence, not an internal error."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(name="NoSuchLR", api_name="/schedules_curve")
    assert INTERNAL not in str(info.value) and GRADIO_GENERIC not in str(info.value)


@pytest.mark.parametrize("api_name, field", [
    pytest.param("/compose_build", "input_shape", id="compose-input_shape"),  # F10 fixed there
    pytest.param("/surgery_apply", "hidden", id="surgery-hidden"),  # F10 fixed: null is refused with a sentence
])
def test_null_text_field(client, api_name, field):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(api_name=api_name, **{field: None}, **({"weights": None} if "surgery" in api_name else {}))
    assert INTERNAL not in str(info.value)


@pytest.mark.parametrize("field, value", [("classes", "abc"), ("classes", [1]), ("dropout", None)])
def test_wrongly_typed_value_gets_gradio_s_named_refusal(client, field, value):
    """F7: a value Gradio's preprocess refuses gets one sentence naming the field and the value (ui.common.LabBlocks),
    not Gradio's generic "has not enabled verbose error reporting" text nor its own message; the callback never runs."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(api_name="/surgery_apply", weights=None, **{field: value})
    message = str(info.value)
    assert GRADIO_PREPROCESS in message and GRADIO_GENERIC not in message and INTERNAL not in message
    assert "Field '" in message and repr(value) in message and len(message) <= MAX_MESSAGE
    assert "preprocess" not in message and "type `" not in message
