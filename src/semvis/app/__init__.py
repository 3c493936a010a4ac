"""The colorization web app (``semvis serve``): a JSON API and a static page to repaint semantic maps.

:func:`~semvis.app.server.create_app` takes the models as objects (a segmenter function, its
:class:`~semvis.data.LabelSpec` and a colorizer);
:func:`~semvis.colorize.pipeline.load_colorization_models` builds them from weight files, the
bundled ones by default. :class:`~semvis.app.search.IndexSearcher` opens a hash index for the
page's search tab. Needs the ``web`` extra (FastAPI, uvicorn).
"""

from semvis.app.search import IndexSearcher
from semvis.app.server import create_app

__all__ = ["IndexSearcher", "create_app"]
