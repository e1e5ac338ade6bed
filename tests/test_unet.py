"""lab.unet: parity with the tutorial's code, shapes for every depth and odd sizes, inspection, code panel, pitfall."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lab import unet
from lab.errors import LabError
from lab.unet import UNet
from tests import tutorial_unet as tutorial
from tests.conftest import run_code


@pytest.mark.parametrize("bilinear", [True, False])
def test_state_dict_matches_the_tutorial(bilinear):
    ours = UNet(3, 2, bilinear).state_dict()
    theirs = tutorial.UNet(3, 2, bilinear).state_dict()
    assert list(ours) == list(theirs)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


@pytest.mark.parametrize("bilinear", [True, False])
def test_tutorial_checkpoint_loads_and_computes_the_same(bilinear):
    # narrow copies keep this fast; the keys are the tutorial's at any width
    ref = tutorial.UNet(3, 2, bilinear)
    ours = UNet(3, 2, bilinear)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.eval(), ours.eval()
    x = torch.randn(1, 3, 35, 33)  # odd sizes exercise Up's padding
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("bilinear", [True, False])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_output_has_the_input_size_for_odd_sizes(depth, bilinear):
    model = UNet(2, 3, bilinear, base_channels=4, depth=depth).eval()
    m = 2**depth
    with torch.no_grad():
        for h, w in [(m, m), (m + 1, 2 * m + 3), (3 * m - 1, m)]:
            assert model(torch.randn(2, 2, h, w)).shape == (2, 3, h, w)


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_smaller_than_two_to_the_depth_is_refused(depth):
    model = UNet(3, 1, base_channels=4, depth=depth)
    with pytest.raises(LabError, match=f"at least 2\\*\\*{depth} = {2**depth}"):
        model(torch.randn(1, 3, 2**depth - 1, 2**depth))


def test_wrong_channel_count_is_refused():
    with pytest.raises(LabError, match=r"expected \(N, 3, H, W\)"):
        UNet(base_channels=4, depth=2)(torch.randn(1, 1, 16, 16))


@pytest.mark.parametrize(
    "kwargs, field",
    [({"depth": 0}, "depth"), ({"depth": 7}, "depth"), ({"base_channels": 3}, "base_channels"),
     ({"base_channels": 1}, "base_channels"), ({"n_classes": 0}, "n_classes"), ({"n_channels": 1.5}, "n_channels")],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(LabError, match=field):
        UNet(**kwargs)


@pytest.mark.parametrize("bilinear", [True, False])
@pytest.mark.parametrize("base, depth", [(64, 4), (16, 3), (8, 5)])
def test_meta_param_count_equals_the_real_one(base, depth, bilinear):
    real = sum(p.numel() for p in UNet(3, 2, bilinear, base, depth).parameters())
    assert unet.unet_param_count(3, 2, bilinear, base, depth) == real


def test_tutorial_default_has_17_26_million_parameters():
    # the figure Pytorch-UNet's README gives for UNet(3, 2, bilinear=True)
    assert unet.unet_param_count() == 17_263_042


@pytest.mark.parametrize("bilinear", [True, False])
def test_block_table_matches_a_real_forward(bilinear):
    cfg = {"n_channels": 3, "n_classes": 2, "bilinear": bilinear, "base_channels": 8, "depth": 3}
    table = unet.block_table(**cfg, height=45, width=64)
    model = UNet(**cfg).eval()
    shapes = {}
    for name in table["block"]:
        getattr(model, name).register_forward_hook(lambda m, i, o, n=name: shapes.__setitem__(n, list(o.shape)))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(1, 3, 45, 64))
    assert list(table["block"]) == ["inc", "down1", "down2", "down3", "up1", "up2", "up3", "outc"]
    assert table["output_shape"].tolist() == [str(shapes[n]) for n in table["block"]]
    assert table["params"].sum() == sum(p.numel() for p in model.parameters())
    assert table["flops"].sum() == counter.get_total_flops()
    assert table.loc[table["block"] == "down3", "side"].item() == "bottom"


def test_block_table_flops_of_inc_are_analytic():
    # inc = conv 3->64 and conv 64->64, 3x3, on 256x256: 2 * MACs
    table = unet.block_table()
    assert table.loc[0, "flops"] == 2 * 256 * 256 * 9 * (3 * 64 + 64 * 64)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"base_channels": 256, "depth": 5}, "parameters; at most 100 M"),
        ({"height": 1025}, "above 1024"),
        ({"width": 15, "depth": 4}, "smaller than 2\\*\\*depth = 16"),
    ],
)
def test_check_build_refuses_before_allocating(kwargs, message):
    cfg = {"n_channels": 3, "n_classes": 2, "bilinear": True, "base_channels": 64, "depth": 4,
           "height": 256, "width": 256, **kwargs}
    with pytest.raises(LabError, match=message):
        unet.block_table(**cfg)


def test_u_figure_draws_every_block_and_the_skips():
    table = unet.block_table(base_channels=8, depth=3, height=64, width=64)
    fig = unet.u_figure(table)
    text = " ".join(t for trace in fig.data if trace.text is not None for t in trace.text)
    for row in table.itertuples():
        assert row.block in text and f"{row.out_channels} ch" in text
    skips = [a for a in fig.layout.annotations if a.text == "skip: concat"]
    assert len(skips) == 3
    # encoder drawn left of the decoder on the same level
    xs = {b: trace.x[i] for trace in fig.data if trace.mode == "markers+text"
          for i, b in enumerate(t.split("<b>")[1].split("</b>")[0] for t in trace.text)}
    assert xs["inc"] < xs["down3"] < xs["up3"] < xs["outc"]


@pytest.mark.parametrize("bilinear", [True, False])
def test_code_panel_builds_the_same_model(bilinear, capsys):
    cfg = {"n_channels": 1, "n_classes": 3, "bilinear": bilinear, "base_channels": 6, "depth": 2}
    ns = run_code(unet.to_code(**cfg, height=37, width=40))
    printed = capsys.readouterr().out
    ours = UNet(**cfg).state_dict()
    theirs = ns["model"].state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    table = unet.block_table(**cfg, height=37, width=40)
    assert ns["params"] == table["params"].sum()
    assert ns["flops"] == table["flops"].sum()
    assert tuple(ns["out"].shape) == (1, 3, 37, 40)
    assert "output shape (1, 3, 37, 40)" in printed


def test_paper_vs_code_reproduces_572_to_388():
    df = unet.paper_vs_code(572, 4)
    assert df["paper: in -> out"].iloc[0] == "572 -> 568"
    assert df["paper: in -> out"].iloc[-1].endswith("-> 388")
    assert df["code: in -> out"].iloc[-1] == "572 -> 572"
    assert "crops skip 568 -> 392" in df["skip handling"].iloc[-1]


def test_paper_vs_code_refuses_sizes_the_unpadded_u_cannot_take():
    with pytest.raises(LabError, match="shrinks to nothing"):
        unet.paper_vs_code(100, 4)


@pytest.mark.parametrize("depth", [1, 4, 6])
def test_inspection_at_exactly_two_to_the_depth(depth):
    """At 2**depth px the bottom map is 1 x 1: training-mode BatchNorm refuses a batch of one there, so the
    meta-device analysis and the code panel run the U in eval mode (issue 12: an internal error before)."""
    side = 2**depth
    table = unet.block_table(1, 1, True, 2, depth, side, side)
    assert table["out_hw"].iloc[-1] == f"{side}x{side}"
    assert table.loc[table["block"] == f"down{depth}", "out_hw"].item() == "1x1"
    ns = run_code(unet.to_code(1, 1, True, 2, depth, side, side))
    assert tuple(ns["out"].shape) == (1, 1, side, side)


def test_pitfall_names_the_exact_sizes_it_takes():
    with pytest.raises(LabError, match="use 764 to 4096 px for depth 6"):
        unet.paper_vs_code(572, 6)  # the default size at the deepest U
    assert unet.paper_vs_code(764, 6)["paper: in -> out"].iloc[-1].endswith("-> 4")
