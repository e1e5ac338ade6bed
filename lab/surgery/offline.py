"""torchvision builders run offline: on the meta device, every download refused where it would start, warnings kept.

For the `pretrained=True` pitfall (5.4.2): the tutorial's call runs exactly as torchvision runs it, up to the download,
and stops there with the URL it asked for. Nothing reaches the network or the disk (torch.hub's folder is never
created), and nothing is allocated (meta tensors have shapes, no memory).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import torch
import torch.hub
from torchvision.models import _api as tv_api

from lab.pitfall import Outcome

__all__ = ["DownloadRefused", "offline", "refused_url"]


class DownloadRefused(RuntimeError):
    """What torchvision meets, in the pitfall, where it would download: the URL it asked for."""


def _refuse(url: str, *args: object, **kwargs: object) -> None:
    raise DownloadRefused(url)


def refused_url(outcome: Outcome) -> str:
    """The URL a refused download asked for ("" when the outcome is not a refused download)."""
    return outcome.error.partition("DownloadRefused: ")[2]


_LOCK = threading.Lock()  # the patches are process-wide: one pitfall at a time holds them


@contextmanager
def offline() -> Iterator[list[warnings.WarningMessage]]:
    """Build torchvision models on the meta device (no memory, no init) with every download refused, recording
    warnings: a builder runs exactly as it would, up to the download, and stops there. Nothing touches the network
    or the disk (torch.hub's folder is never created)."""
    with _LOCK, mock.patch.object(tv_api, "load_state_dict_from_url", _refuse), \
            mock.patch.object(torch.hub, "load_state_dict_from_url", _refuse), \
            mock.patch.object(torch.hub, "download_url_to_file", _refuse), \
            warnings.catch_warnings(record=True) as caught, torch.device("meta"):  # fmt: skip
        warnings.simplefilter("always")
        yield caught
