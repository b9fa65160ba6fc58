"""One real two-node Ray cluster on 127.0.0.1 for the cluster tests (token authentication on), stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import WEIGHTS_PATH

pytest.importorskip("ray", reason="the cluster tests need requirements-ray.txt (make setup installs it)")

from animegan.cluster.nodes import LocalNodes

SOURCES = ("city_tokyo_street.jpg", "group_8_kids.jpg", "landscape_fuji_autumn_1365x2048.jpg", "still_coffee_cup.png",
           "profile_kimono_three_women.jpg", "lowlight_night_river_dicm25.jpg", "portrait_old_man_test2.jpg",
           "city_railway_crossing.jpg", "group_dinner_6_faces.jpg", "gray_cameraman_L.png", "alpha_children_rgba.png",
           "oldphoto_family_3_faces.png")


class Cluster(LocalNodes):
    """The session's nodes, plus the environment a driver (CLI, app) needs to join them."""

    def driver_env(self, tmp: Path) -> dict[str, str]:
        return {**self.node_env(), "ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH, "ANIMEGAN_THREADS": "2",
                "ANIMEGAN_CACHE_DIR": str(tmp / "cache"), "ANIMEGAN_DOWNLOAD_DIR": str(tmp / "dl"),
                "PYTHONUNBUFFERED": "1", **({"ANIMEGAN_MODEL_CACHE_DIR": os.environ["ANIMEGAN_TEST_MODEL_CACHE"]}
                                            if os.environ.get("ANIMEGAN_TEST_MODEL_CACHE") else {})}

    def ensure_two_nodes(self) -> None:
        """A test that killed the worker node leaves one node: start a new worker for the next test."""
        if len(self.alive()) < 2:
            self.add_worker()


@pytest.fixture(scope="package")
def ray_cluster() -> Iterator[Cluster]:
    """Stopped after the last cluster test: its idle daemons would otherwise take CPU from every later test."""
    cluster = Cluster(env={"ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH}, start_timeout=240.0)
    try:
        cluster.start(workers=1)
        yield cluster
    finally:
        cluster.stop()


def derived_photos(photos: Path, folder: Path, count: int, side: int = 224) -> list[Path]:
    """``count`` distinct small images: crops of the shared photos at different places and sizes, as JPEG and PNG
    (grey and alpha ones kept as they are)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        im = Image.open(photos / SOURCES[i % len(SOURCES)])
        im.load()
        w, h = im.size
        s = 0.55 + 0.3 * ((i * 7) % 10) / 10
        cw, ch = int(w * s), int(h * s)
        x, y = (i * 97) % max(1, w - cw), (i * 61) % max(1, h - ch)
        crop = im.crop((x, y, x + cw, y + ch))
        crop.thumbnail((side - 3 * (i % 9), side - 3 * (i % 9)), Image.Resampling.LANCZOS)
        ext = ".jpg" if i % 2 and crop.mode in ("RGB", "L") else ".png"
        paths.append(folder / f"photo{i:02d}{ext}")
        crop.save(paths[-1])
    return paths
