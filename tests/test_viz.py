"""Picture helpers: grids with labels and titles."""

import numpy as np
import pytest
from PIL import Image

from semvis.viz import SERIES_COLOURS, labelled_grid, line_chart


def test_a_long_title_widens_the_sheet_instead_of_being_cut() -> None:
    cell = Image.new("RGB", (10, 10), "red")
    narrow = labelled_grid([[cell]], (10, 10), title="t")
    wide = labelled_grid([[cell]], (10, 10), title="a title far wider than one ten-pixel cell")
    assert narrow.width == 18 and wide.width > 200
    ink = np.asarray(wide.convert("L"))[:28] < 128  # the title band
    assert ink[:, wide.width - 40 :].any()  # text reaches the right part of the sheet
    assert np.asarray(wide)[28 + 4 + 5, 4 + 5].tolist() == [255, 0, 0]  # the cell stays where it was


def test_line_chart_puts_points_where_the_axes_say() -> None:
    chart = line_chart({"a": [(0, 0), (10, 1)], "b": [(5, 0.5)]}, "x", "y", size=(400, 300))
    pixels = np.asarray(chart)
    # the plot area is x 70…380, y 30…250 with 5 % room: (10, 1) sits near its top-right corner
    u = round(70 + (10 + 0.5) / 11 * 310)
    v = round(250 - (1 + 0.05) / 1.1 * 220)
    assert pixels[v, u].tolist() == list(SERIES_COLOURS[0])
    u, v = round(70 + 5.5 / 11 * 310), round(250 - 0.55 / 1.1 * 220)
    assert pixels[v, u].tolist() == list(SERIES_COLOURS[1])


def test_line_chart_refuses_empty_data() -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        line_chart({"a": []}, "x", "y")
