"""Image build step: install and verify the weights, build every derived model, pre-render the style previews.

Weight files already in the build context's ``weights/`` are used as they are; the rest are downloaded from their
public sources (or ``ANIMEGAN_WEIGHTS_MIRROR``) and verified. Fails the build (exit 1) with the manifest's own fix-it
message when a style's, the face pass's or the default upscaler's file cannot be had; any other upscaler that cannot
be had is reported and left out. Every model is built here (the image runs without torch); the backends are measured
on the user's CPU at first use, not on the build machine's.
The log is one line per model (and per optional feature), plus the warnings that matter; it is also kept
in the image as ``$ANIMEGAN_MODEL_CACHE_DIR/prepare.log`` (what was built and why each style runs as it does).
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

from animegan import DEFAULT_UPSCALER, UPSCALERS, AnimeGANError, Engine, get_settings, style_previews
from animegan.install import Installer
from animegan.prepare import prepare

log = logging.getLogger("animegan.build")


def quiet_libraries(log_file: Path) -> None:
    """Only warnings and errors from the libraries: the exporters and quantizers log hundreds of INFO lines."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(log_file, mode="w")])
    log.setLevel(logging.INFO)
    # PyTorch's exporter warns about its own internals (deprecations, TorchScript fallbacks) on every export
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def install_weights(engine: Engine) -> bool:
    """Download every weight file not yet here; False (logged) when a file that is not optional failed."""
    optional = {UPSCALERS.get(u).weights for u in UPSCALERS.ids() if u != DEFAULT_UPSCALER}
    ok = True
    for result in Installer(engine.weights).install_all(["all"]):
        if result.outcome != "failed":
            if result.outcome != "present":
                log.info("%-16s %s (%s)", result.entry.id, result.outcome, result.message or result.path)
            continue
        if result.entry.file in optional:
            log.warning("%-16s left out: %s", result.entry.id, result.message)
        else:
            log.error("%-16s %s", result.entry.id, result.message)
            ok = False
    return ok


def main() -> int:
    try:
        settings = get_settings()
    except AnimeGANError as err:  # a malformed ANIMEGAN_* variable
        print(f"ERROR {err}", file=sys.stderr)
        return 1
    quiet_libraries(settings.model_cache_dir / "prepare.log")
    start = time.monotonic()
    try:
        engine = Engine(settings)
        if "--download" in sys.argv and not install_weights(engine):
            return 1
        missing = [s for s in engine.styles() if not s.available]
        for s in missing:
            log.error("style %r: %s", s.item.id, s.reason)
        if missing:
            log.error("the build could not install them (see `weights --download` above): check the network, pass "
                      "--build-arg ANIMEGAN_WEIGHTS_MIRROR=..., or put the files into weights/ of the build context")
            return 1
        for name, feature in engine.features().items():
            log.info("%-16s %s", name, "available" if feature.available else f"unavailable ({feature.reason})")
        for row in prepare(engine, measure=False, every_upscaler=True):  # measured on the user's CPU, at first use
            (log.warning if row.failed else log.info)("%-16s %s", row.name, row.note)
        previews = style_previews(engine.settings)
    except AnimeGANError as err:
        log.error("%s", err)
        return 1
    log.info("weights verified; %d style previews ready in %s (%.0f s)", len(previews), engine.settings.preview_dir,
             time.monotonic() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
