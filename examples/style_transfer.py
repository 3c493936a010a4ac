"""Neural style transfer from Python: the bundled cat photo in the style of van Gogh's Starry Night.

Run with ``python examples/style_transfer.py [OUT.png]`` (about a minute on two CPU cores).
The same as ``semvis stylize CONTENT STYLE -o OUT.png --scales 128,256 --steps 150``.
"""

import sys
from pathlib import Path

from semvis.assets import sample_path
from semvis.data import save_image
from semvis.style import StyleConfig, stylize

config = StyleConfig(
    ratio=1e-3,  # α/β of eq. 7 (the paper's default; 1e-4 paints more strongly)
    scales=(128, 256),  # coarse to fine: 128 px first, then 256 px (the output size)
    steps=150,  # evaluations of eq. 7 over both scales
    preserve_color=None,  # or "luminance" / "histogram" to keep the photo's colours
)
result = stylize(sample_path("chelsea"), [sample_path("starry_night")], config)
out = Path(sys.argv[1] if len(sys.argv) > 1 else "chelsea_starry_night.png")
save_image(result.image, out)
last = result.history[-1]
print(f"wrote {out}: {len(result.history)} steps in {result.seconds:.0f} s, eq. 7 = {last.total:.3g}")
