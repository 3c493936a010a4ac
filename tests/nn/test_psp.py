import pytest
import torch
import torch.nn.functional as F

from semvis.nn.psp import PyramidPooling, windows_to_bins


def test_paper_windows_on_the_28x28_map_give_1024_channels() -> None:
    psp = PyramidPooling.from_windows(512, 28, (28, 14, 9, 7)).eval()
    assert psp.bins == (1, 2, 3, 4)
    assert [b.conv.conv.out_channels for b in psp.branches] == [128] * 4
    x = torch.randn(2, 512, 28, 28)
    y = psp(x)
    assert y.shape == (2, 1024, 28, 28) and psp.out_channels == 1024
    assert torch.equal(y[:, :512], x)  # the input passes through unchanged


def test_output_bins_as_in_pspnet_and_custom_branch_width() -> None:
    psp = PyramidPooling(64, bins=(1, 2, 3, 6), branch_channels=8).eval()
    assert psp(torch.randn(1, 64, 30, 20)).shape == (1, 64 + 4 * 8, 30, 20)


def test_each_branch_averages_its_bins() -> None:
    torch.manual_seed(0)
    psp = PyramidPooling.from_windows(4, 28).eval()
    x = torch.randn(1, 4, 28, 28)
    # adaptive bins on 28 pixels: 1 → [0, 28); 2 → 14 each; 3 → 10 wide, overlapping by one; 4 → 7 each
    edges = {
        1: [(0, 28)],
        2: [(0, 14), (14, 28)],
        3: [(0, 10), (9, 19), (18, 28)],
        4: [(0, 7), (7, 14), (14, 21), (21, 28)],
    }
    for branch in psp.branches:
        pooled = branch.pool(x)
        for i, (r0, r1) in enumerate(edges[branch.bins]):
            for j, (c0, c1) in enumerate(edges[branch.bins]):
                torch.testing.assert_close(pooled[0, :, i, j], x[0, :, r0:r1, c0:c1].mean(dim=(1, 2)))
        # the branch is conv-BN-ReLU of those bin averages, upsampled bilinearly
        expected = F.interpolate(branch.conv(pooled), size=(28, 28), mode="bilinear", align_corners=False)
        torch.testing.assert_close(branch(x), expected)


def test_a_block_constant_map_pools_to_its_blocks_and_the_global_branch_is_constant() -> None:
    blocks = torch.randn(1, 3, 4, 4)
    x = blocks.repeat_interleave(7, dim=2).repeat_interleave(7, dim=3)  # constant within each 7×7 window
    psp = PyramidPooling.from_windows(3, 28, (28, 7)).eval()
    coarse, fine = psp.branches
    torch.testing.assert_close(fine.pool(x), blocks)
    torch.testing.assert_close(coarse.pool(x), blocks.mean(dim=(2, 3), keepdim=True))
    out = coarse(x)
    assert torch.allclose(out, out[:, :, :1, :1].expand_as(out))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0}, "in_channels"),
        ({"in_channels": 8, "bins": ()}, "positive integers"),
        ({"in_channels": 8, "bins": (1, 0)}, "positive integers"),
        ({"in_channels": 8, "bins": (1.5,)}, "positive integers"),
        ({"in_channels": 8, "bins": (2, 2)}, "distinct"),
        ({"in_channels": 2, "bins": (1, 2, 3)}, "branch_channels"),
        ({"in_channels": 8, "branch_channels": 0}, "branch_channels"),
    ],
)
def test_invalid_pyramids_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PyramidPooling(**kwargs)


def test_windows_must_fit_and_tile_the_map() -> None:
    assert windows_to_bins(28, (28, 14, 9, 7)) == (1, 2, 3, 4)
    assert windows_to_bins(60, (60, 30, 20, 10)) == (1, 2, 3, 6)  # PSPNet's 60×60 map
    with pytest.raises(ValueError, match="1..28"):
        windows_to_bins(28, (29,))
    with pytest.raises(ValueError, match="does not tile"):
        windows_to_bins(28, (10,))  # 2 bins would be 14 pixels wide
    with pytest.raises(ValueError, match="input_size"):
        windows_to_bins(0, (1,))
    with pytest.raises(ValueError, match="N×C×H×W"):
        PyramidPooling(4)(torch.randn(4, 8, 8))
