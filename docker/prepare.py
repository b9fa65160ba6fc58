"""Image build step: verify the weights baked into the image, build the fast models, pre-render the style previews.

Fails the build (exit 1) with the manifest's own fix-it message when a style's weight file is missing
or corrupt. Face and upscale weights are optional: their absence only disables those options.
"""

from __future__ import annotations

import logging
import sys

from animegan import AnimeGANError, Engine, get_settings, style_previews
from animegan.prepare import prepare


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        engine = Engine(get_settings())
        missing = [s for s in engine.styles() if not s.available]
        for s in missing:
            logging.error("style %r: %s", s.spec.id, s.reason)
        if missing:
            logging.error("copy the weight files into weights/ (e.g. `cp -r ../shared/weights/* weights/`) before `docker build`")
            return 1
        for name, feature in engine.features().items():
            logging.info("%s: %s", name, "available" if feature.available else f"unavailable ({feature.reason})")
        for row in prepare(engine):
            (logging.warning if row.failed else logging.info)("%r: %s", row.name, row.note)
        previews = style_previews(engine.settings)
    except AnimeGANError as err:
        logging.error("%s", err)
        return 1
    logging.info("weights verified; %d style previews ready in %s", len(previews), engine.settings.preview_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
