"""What Gradio refuses before our callbacks run, worded for a person (issue 12, item 6): raw HTTP and gradio_client.

A made-up file path must not be read, nor named back with the server's folders; a wrongly typed value gets one
sentence naming the field; a malformed payload gets one sentence naming the endpoint. `ui.common.LabBlocks` words
all three.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.request

import pytest

pytestmark = pytest.mark.api

SERVER_INSIDES = (os.getcwd(), tempfile.gettempdir(), "allowed_paths", "Traceback", "preprocess", "pydantic")


def raw_call(app_url: str, api_name: str, data: list) -> tuple[str, dict]:
    """POST the payload to Gradio's call route and read the result stream: (event kind, its JSON)."""
    body = json.dumps({"data": data}).encode()
    request = urllib.request.Request(f"{app_url}gradio_api/call/{api_name}", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 - the test's own local app
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{app_url}gradio_api/call/{api_name}/{event_id}", timeout=120) as r:  # noqa: S310
        lines = r.read().decode().strip().splitlines()
    kind = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("event:"))
    payload = json.loads(next(line.split(":", 1)[1] for line in lines if line.startswith("data:")))
    return kind, payload


def assert_clean(message: str) -> None:
    assert message and len(message) < 300
    for inside in SERVER_INSIDES:
        assert inside not in message, f"{inside!r} in {message!r}"


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "app.py", os.path.abspath("app.py"), "../../../etc/hostname", f"{tempfile.gettempdir()}/x.pt",
     "/proc/self/environ", "~/.bashrc", "C:\\Windows\\win.ini", ""],
)
def test_a_made_up_file_path_is_refused_without_naming_folders(app_url, path):
    kind, payload = raw_call(app_url, "checkpoints_load",
                             [{"path": path, "meta": {"_type": "gradio.FileData"}}, "Default: small CNN"])
    assert kind == "error"
    assert_clean(payload["error"])
    assert "not uploaded" in payload["error"] or "do not fit" in payload["error"]


@pytest.mark.parametrize("api_name", ["unet_load_weights", "unet_segment_upload"])
def test_made_up_paths_for_other_file_fields(app_url, client, api_name):
    fields = {p["parameter_name"] for p in client.view_api(return_format="dict", print_info=False)
              ["named_endpoints"][f"/{api_name}"]["parameters"]}
    data = {"files": [[{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}]],
            "upload": [None, {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, 0.5, "shipped small U-Net"]}
    kind, payload = raw_call(app_url, api_name, data["files"] if "files" in fields else data["upload"])
    assert kind == "error", payload
    assert_clean(payload["error"])


@pytest.mark.parametrize(
    "data",
    [[], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], [{"nonsense": True}, "x"], ["a" * 10_000], [None]],
)
def test_malformed_payloads_get_one_sentence(app_url, data):
    kind, payload = raw_call(app_url, "checkpoints_load", data)
    assert kind == "error"
    assert_clean(payload["error"])


@pytest.mark.parametrize("field, value", [("classes", "abc"), ("classes", [1, 2]), ("dropout", {"a": 1}),
                                          ("size", "224; rm -rf /")])
def test_wrong_types_name_the_field(client, field, value):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(api_name="/surgery_apply", weights=None, **{field: value})
    message = str(info.value)
    assert_clean(message)
    assert "Field '" in message or "must be" in message or "got" in message
