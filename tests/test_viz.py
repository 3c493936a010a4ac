"""Picture helpers: grids with labels and titles."""

import numpy as np
from PIL import Image

from semvis.viz import labelled_grid


def test_a_long_title_widens_the_sheet_instead_of_being_cut() -> None:
    cell = Image.new("RGB", (10, 10), "red")
    narrow = labelled_grid([[cell]], (10, 10), title="t")
    wide = labelled_grid([[cell]], (10, 10), title="a title far wider than one ten-pixel cell")
    assert narrow.width == 18 and wide.width > 200
    ink = np.asarray(wide.convert("L"))[:28] < 128  # the title band
    assert ink[:, wide.width - 40 :].any()  # text reaches the right part of the sheet
    assert np.asarray(wide)[28 + 4 + 5, 4 + 5].tolist() == [255, 0, 0]  # the cell stays where it was
