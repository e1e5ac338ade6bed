"""lab.inspect: per-call summary table, parameter counts, shape errors that name the layer."""

from __future__ import annotations

import ast
from collections import OrderedDict

import pytest
import torch
from torch import nn

from lab.errors import LabError
from lab.inspect import MAX_INPUT_NUMEL, count_params, example_inputs, forward_report, render_shape, summary


def mlp() -> nn.Sequential:
    """The tutorial's 5.1.2 network."""
    return nn.Sequential(OrderedDict(fc1=nn.Linear(784, 256), relu1=nn.ReLU(), fc2=nn.Linear(256, 10)))


def test_summary_rows_follow_forward_order_with_analytic_counts():
    table = summary(mlp(), [(2, 784)])
    assert list(table.name) == ["fc1", "relu1", "fc2"]
    assert list(table.type) == ["Linear", "ReLU", "Linear"]
    assert list(table.output_shape) == ["(2, 256)", "(2, 256)", "(2, 10)"]
    assert list(table.params) == [784 * 256 + 256, 0, 256 * 10 + 10]
    assert {"name", "type", "output_shape", "params", "trainable"} <= set(table.columns)


def test_count_params_total_and_trainable_after_freezing():
    net = mlp()
    net.fc1.requires_grad_(False)
    assert count_params(net) == (203530, 2570)
    table = summary(net, [(1, 784)])
    assert list(table.trainable) == [0, 0, 2570]


def test_shared_parameter_counts_once():
    lin = nn.Linear(4, 4)
    net = nn.Sequential(lin, nn.ReLU(), lin)
    assert count_params(net) == (20, 20)
    assert list(summary(net, [(1, 4)]).name) == ["0", "1", "0"]  # two calls of the same module: two rows


def test_container_rows_come_before_children_and_sum_them():
    net = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)), nn.Flatten())
    table = summary(net, [(1, 3, 4, 4)])
    assert list(table.name) == ["0", "0.0", "0.1", "1"]
    assert list(table.depth) == [1, 2, 2, 1]
    assert table.params[0] == table.params[1] + table.params[2] == 3 * 8 * 9 + 8 + 16
    assert table.output_shape.iloc[-1] == "(1, 128)"


@pytest.mark.parametrize(
    ("net", "shape", "expected"),
    [
        (
            nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(128, 10)),
            (1, 784),
            "Layer '2' (Linear) expects input (*, 128) but got (1, 256)",
        ),
        (
            nn.Sequential(nn.Conv2d(3, 8, 3)),
            (1, 4, 8, 8),
            "Layer '0' (Conv2d) expects input (N, 3, H, W) but got (1, 4, 8, 8)",
        ),
        (
            nn.Sequential(nn.Flatten(), nn.BatchNorm1d(5)),
            (2, 3),
            "Layer '1' (BatchNorm1d) expects input (N, 5) or (N, 5, L) but got (2, 3)",
        ),
        (nn.Sequential(nn.LayerNorm(6)), (2, 5), "Layer '0' (LayerNorm) expects input (*, 6) but got (2, 5)"),
    ],
)
def test_shape_error_names_layer_and_both_shapes(net, shape, expected):
    with pytest.raises(LabError) as info:
        summary(net, [shape])
    assert str(info.value).startswith(expected)


def test_nested_failure_names_innermost_layer():
    net = nn.Sequential(OrderedDict(block=nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3)))))
    with pytest.raises(LabError, match=r"Layer 'block\.conv' \(Conv2d\)"):
        summary(net, [(1, 2, 8, 8)])


def test_modes_restored_and_eval_used():
    net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.9), nn.BatchNorm1d(8))
    net.train()
    net[2].eval()  # a frozen BatchNorm inside a training model keeps its own mode
    before = net[2].running_mean.clone()
    report = forward_report(net, [(4, 8)])
    again = forward_report(net, [(4, 8)])
    assert torch.equal(report.output, again.output)  # Dropout off: deterministic
    assert net.training and net[0].training and net[1].training and not net[2].training
    assert torch.equal(net[2].running_mean, before)  # no statistics updated


def test_hooks_removed_after_failure():
    net = nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(LabError):
        summary(net, [(1, 4)])
    assert not net[0]._forward_hooks and not net[0]._forward_pre_hooks


@pytest.mark.parametrize(
    "shapes",
    [[(0, 784)], [(1, -3)], [()], [(1, 2, 3, 4, 5, 6, 7)], [(MAX_INPUT_NUMEL + 1,)], [], [(1.5, 2)], "1x784"],
)
def test_bad_input_shapes_raise(shapes):
    with pytest.raises(LabError):
        summary(mlp(), shapes)


def test_render_shape_handles_containers():
    x = torch.zeros(1, 10)
    text = render_shape((x, [x[0]], {"out": x}, None))
    assert ast.literal_eval(text) == [(1, 10), [(10,)], {"out": (1, 10)}, None]
    assert render_shape(3) == "<int>"


def test_embedding_gets_integer_indices():
    net = nn.Sequential(nn.Embedding(50, 4), nn.Flatten(), nn.Linear(12, 2))
    (x,) = example_inputs(net, [(2, 3)])
    assert x.dtype == torch.long and 0 <= int(x.min()) and int(x.max()) < 50
    assert summary(net, [(2, 3)]).output_shape.iloc[-1] == "(2, 2)"


def test_meta_device_model_gives_shapes_without_memory():
    with torch.device("meta"):
        net = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 3))
    table = summary(net, [(2, 4096)])
    assert table.output_shape.iloc[-1] == "(2, 3)"


def test_multiple_inputs_bilinear():
    net = nn.Bilinear(3, 5, 2)
    report = forward_report(net, [(4, 3), (4, 5)])
    assert report.output.shape == (4, 2)
    assert list(report.table.name) == ["Bilinear"]  # a bare layer is its own row
    assert report.table.input_shape[0] == "(4, 3), (4, 5)"
    with pytest.raises(LabError, match="could not run|Bilinear"):
        summary(net, [(4, 3)])
