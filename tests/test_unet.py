"""lab.unet: parity with the tutorial's code, shapes for every depth and odd sizes, inspection, the builder's view and
code panel (run standalone), and both 5.2 pitfalls run live."""

from __future__ import annotations

import ast
import inspect

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lab import unet
from lab.errors import LabError, render
from lab.pitfall import Pitfall
from lab.unet import UNet, blocks
from lab.unet import tutorial as tutorial
from tests.conftest import run_code
from tests.unet_panels import printed_number, run_standalone


# ------------------------------------------------------------------------------------------- the tutorial's U-Net
@pytest.mark.parametrize("bilinear", [True, False])
def test_state_dict_matches_the_tutorial(bilinear):
    ours = UNet(3, 2, bilinear).state_dict()
    theirs = tutorial.UNet(3, 2, bilinear).state_dict()
    assert list(ours) == list(theirs)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


@pytest.mark.parametrize("bilinear", [True, False])
def test_tutorial_checkpoint_loads_and_computes_the_same(bilinear):
    ref = tutorial.UNet(3, 2, bilinear)
    ours = UNet(3, 2, bilinear)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.eval(), ours.eval()
    x = torch.randn(1, 3, 35, 33)  # odd sizes exercise Up's padding
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_tutorial_default_has_17_26_million_parameters():
    # the figure Pytorch-UNet's README gives for UNet(3, 2, bilinear=True): pins the blocks to the tutorial's
    assert unet.unet_param_count() == 17_263_042
    assert sum(p.numel() for p in tutorial.UNet(3, 2, True).parameters()) == 17_263_042


def test_the_printed_blocks_are_plain_torch():
    """The blocks' module is what the code panels print: nothing from the lab in it, and the lab's UNet is the
    printed UNet plus checks (same name, so print(model) reads the same)."""
    tree = ast.parse(inspect.getsource(blocks))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert modules <= {"__future__"} and imported <= {"annotations", "torch", "torch.nn", "torch.nn.functional"}
    assert issubclass(UNet, blocks.UNet) and UNet.__name__ == blocks.UNet.__name__ == "UNet"
    assert str(UNet(1, 1, True, 2, 1)) == str(blocks.UNet(1, 1, True, 2, 1))


# ------------------------------------------------------------------------------------------- shapes and checks
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
    with pytest.raises(LabError, match=f"at least 2\\*\\*{depth} = {2**depth}") as info:
        model(torch.randn(1, 3, 2**depth - 1, 2**depth))
    assert f"2**{depth} = {2**depth}" in render(info.value, "zh")


def test_wrong_channel_count_is_refused():
    with pytest.raises(LabError, match=r"expected \(N, 3, H, W\)"):
        UNet(base_channels=4, depth=2)(torch.randn(1, 1, 16, 16))


@pytest.mark.parametrize(
    "kwargs, field",
    [({"depth": 0}, "depth"), ({"depth": 7}, "depth"), ({"base_channels": 3}, "base_channels"),
     ({"base_channels": 1}, "base_channels"), ({"n_classes": 0}, "n_classes"), ({"n_channels": 1.5}, "n_channels"),
     ({"bilinear": "yes"}, "bilinear")],
)  # fmt: skip
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(LabError, match=field) as info:
        UNet(**kwargs)
    assert info.value.params["field"] == f"unet.{field}"  # worded in the visitor's language by the page


def test_odd_base_channels_say_why():
    with pytest.raises(LabError, match="an even whole number from 2 to 256 .the decoder halves channels."):
        UNet(base_channels=63)


def test_whole_numbers_from_a_form_are_accepted():
    model = UNet(3.0, "2", True, 8.0, 2)  # gr.Number sends floats; a JSON client may send strings
    assert model.config() == {"n_channels": 3, "n_classes": 2, "bilinear": True, "base_channels": 8, "depth": 2}


@pytest.mark.parametrize("bilinear", [True, False])
@pytest.mark.parametrize("base, depth", [(64, 4), (16, 3), (8, 5)])
def test_meta_param_count_equals_the_real_one(base, depth, bilinear):
    real = sum(p.numel() for p in UNet(3, 2, bilinear, base, depth).parameters())
    assert unet.unet_param_count(3, 2, bilinear, base, depth) == real


def test_too_many_parameters_are_refused_before_allocating():
    with torch.device("meta"), pytest.raises(LabError, match="parameters; at most 100 M"):
        UNet(3, 2, True, 256, 6)


# ------------------------------------------------------------------------------------------- the builder's view
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
    assert table["gflops"].tolist() == [round(f / 1e9, 4) for f in table["flops"]]
    assert table.loc[table["block"] == "down3", "side"].item() == "bottom"


def test_block_table_flops_of_inc_are_analytic():
    # inc = conv 3->64 and conv 64->64, 3x3, on 256x256: 2 * MACs
    table = unet.block_table()
    assert table.loc[0, "flops"] == 2 * 256 * 256 * 9 * (3 * 64 + 64 * 64)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"base_channels": 256, "depth": 5}, "parameters; at most 100 M"),
        ({"height": 1025}, "Input height is 1025; a whole number from 16 to 1,024 is accepted"),
        ({"width": 15, "depth": 4}, "Input width is 15; a whole number from 16 to 1,024 is accepted"),
    ],
)
def test_check_build_refuses_before_allocating(kwargs, message):
    cfg = {"n_channels": 3, "n_classes": 2, "bilinear": True, "base_channels": 64, "depth": 4,
           "height": 256, "width": 256, **kwargs}  # fmt: skip
    for fn in (unet.block_table, unet.builder_view, unet.to_code):
        with pytest.raises(LabError, match=message):
            fn(**cfg)


def test_u_figure_draws_every_block_and_the_skips():
    table = unet.block_table(base_channels=8, depth=3, height=64, width=64)
    fig = unet.u_figure(table, "title", labels={"skip": "跳跃连接：拼接", "params": "个参数"})
    text = " ".join(t for trace in fig.data if trace.text is not None for t in trace.text)
    for row in table.itertuples():
        assert row.block in text and f"{row.out_channels} ch" in text
    named = [a for a in fig.layout.annotations if a.text == "跳跃连接：拼接"]  # named once: a phone is narrow
    lines = [trace for trace in fig.data if trace.hovertext == "跳跃连接：拼接"]  # one skip line per level
    assert len(named) == 1 and len(lines) == 3 and fig.layout.title.text == "title"
    assert any("个参数" in (trace.hovertemplate or "") for trace in fig.data)
    # encoder drawn left of the decoder on the same level
    xs = {b: trace.x[i] for trace in fig.data if trace.mode == "markers+text"
          for i, b in enumerate(t.split("<b>")[1].split("</b>")[0] for t in trace.text)}  # fmt: skip
    assert xs["inc"] < xs["down3"] < xs["up3"] < xs["outc"]


def test_builder_view_is_the_whole_view():
    view = unet.builder_view(1, 3, False, 6, 2, 37, 40, title="t")
    assert view.config == {"n_channels": 1, "n_classes": 3, "bilinear": False, "base_channels": 6, "depth": 2}
    assert (view.height, view.width, view.output_shape) == (37, 40, (1, 3, 37, 40))
    assert view.params == view.table["params"].sum() == unet.unet_param_count(1, 3, False, 6, 2)
    assert view.flops == view.table["flops"].sum() and view.gflops == view.flops / 1e9
    assert view.printed == str(UNet(1, 3, False, 6, 2))
    assert view.code == unet.to_code(1, 3, False, 6, 2, 37, 40)


# ------------------------------------------------------------------------------------------- the code panel
def test_code_panel_prints_the_blocks_the_lab_runs():
    code = unet.to_code()
    for block in (blocks.DoubleConv, blocks.Down, blocks.Up, blocks.OutConv, blocks.UNet):
        assert inspect.getsource(block).strip() in code  # the very source, not a copy
    assert "from lab" not in code and "import lab" not in code and "fmt: skip" not in code


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
    assert "output shape (1, 3, 37, 40)" in printed


def test_code_panel_runs_standalone_and_prints_what_the_builder_shows():
    """`python -I` in an empty folder: the same print(model), parameter count, GFLOPs and output shape."""
    view = unet.builder_view(3, 2, True, 64, 4, 256, 256)
    out = run_standalone(view.code)
    assert view.printed in out
    assert printed_number(out, r"([\d,]+) parameters") == view.params == 17_263_042
    assert printed_number(out, r"([\d.]+) GFLOPs") == pytest.approx(view.gflops, abs=0.005)
    assert f"output shape {view.output_shape}" in out


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


# ------------------------------------------------------------------------------------------- pitfalls
def test_paper_vs_code_reproduces_572_to_388():
    df = unet.paper_vs_code(572, 4)
    first, last = df.iloc[0], df.iloc[-1]
    assert (first.side, first.level, first.paper_in, first.paper_out) == ("encoder", 0, 572, 568)
    assert (last.side, last.level, last.paper_out, last.code_in, last.code_out) == ("decoder", 0, 388, 572, 572)
    assert (last.paper_skip, last.paper_in) == (568, 392)  # the figure crops 568 -> 392
    assert df.loc[df.side == "decoder", "code_up"].tolist() == [70, 142, 286, 572]  # then padded to 71, 143


def test_figure_vs_code_runs_both_us():
    pitfall = unet.figure_vs_code(572, 4)
    assert isinstance(pitfall, Pitfall) and pitfall.id == "unet.figure_vs_code" and pitfall.section == "5.2.1"
    assert pitfall.wrong.value == "(1, 2, 388, 388)" and pitfall.right.value == "(1, 2, 572, 572)"
    assert pitfall.facts == {"size": 572, "depth": 4, "paper_out": 388, "lost": 184, "min_size": 188}
    assert "class PaperUNet(nn.Module)" in pitfall.wrong_code and "padding=" not in pitfall.wrong_code
    assert "fmt: skip" not in pitfall.wrong_code + pitfall.right_code
    assert "UNet(n_channels=1" in pitfall.right_code
    # the paper's U really is what the table says: its output side is the table's last paper_out
    assert int(pitfall.table["paper_out"].iloc[-1]) == 388


def test_paper_u_breaks_below_its_minimum_size():
    """The arithmetic rule (paper_min_size) matches the real layers: one pixel less and PaperUNet cannot run."""
    from lab.unet.pitfalls import PaperUNet

    for depth in (2, 4):
        low = unet.paper_min_size(depth)
        with torch.device("meta"):
            assert PaperUNet(1, 2, depth, base_channels=2)(torch.empty(1, 1, low, low)).shape[-1] >= 1
            with pytest.raises(RuntimeError):
                PaperUNet(1, 2, depth, base_channels=2)(torch.empty(1, 1, low - 1, low - 1))


def test_paper_vs_code_refuses_sizes_the_unpadded_u_cannot_take():
    with pytest.raises(LabError, match="shrinks to nothing by encoder level 4 at depth 4") as info:
        unet.paper_vs_code(100, 4)
    assert "编码器第 4 层" in render(info.value, "zh")


def test_pitfall_names_the_exact_sizes_it_takes():
    with pytest.raises(LabError, match="use 764 to 4,096 px for depth 6"):
        unet.paper_vs_code(572, 6)  # the default size at the deepest U
    with pytest.raises(LabError, match="Pitfall input size is 4097; a whole number from 764 to 4,096 is accepted"):
        unet.paper_vs_code(4097, 6)
    assert unet.paper_vs_code(764, 6)["paper_out"].iloc[-1] == 4


def test_skip_concat_runs_both_on_the_same_feature_maps():
    pitfall = unet.skip_concat()
    assert pitfall.id == "unet.skip_concat" and pitfall.section == "5.2.1"
    facts = pitfall.facts
    assert (facts["block"], facts["channels"], facts["cat_channels"], facts["add_channels"], facts["expects"]) == (
        "up3", 16, 32, 16, 32)  # the shipped U-Net: base 16, depth 3
    assert pitfall.wrong.error.startswith("RuntimeError") and "32 channels, but got 16" in pitfall.wrong.error
    assert pitfall.right.value == "(1, 16, 256, 256)"
    table = pitfall.table.set_index("tensor")
    x2, up, cat, add = (table.iloc[i] for i in range(4))
    assert cat["shape"] == "(1, 32, 256, 256)" and add["shape"] == "(1, 16, 256, 256)"
    # concatenation keeps both maps' values side by side; the addition mixes them into one
    assert cat.value_0 == x2.value_0 and cat.value_c == up.value_0 and x2.value_0 != 0 and up.value_0 != 0
    assert add.value_0 == pytest.approx(x2.value_0 + up.value_0, abs=2e-4)
    assert "def up_with_residual" in pitfall.wrong_code and "torch.cat([x2, x1], dim=1)" in pitfall.right_code


def test_run_pitfalls_gives_both():
    assert [p.id for p in unet.run_pitfalls(572, 4)] == ["unet.figure_vs_code", "unet.skip_concat"]
