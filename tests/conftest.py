"""Shared fixtures: real weights and photos from ../shared (via the same search path the product uses)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from animegan import Engine, Settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PHOTOS = Path(os.environ.get("ANIMEGAN_TEST_PHOTOS") or SHARED / "photos")
WEIGHTS_PATH = os.environ.get("ANIMEGAN_WEIGHTS_PATH") or str(SHARED / "weights")
ARTIFACTS = REPO / "test-artifacts"


def make_settings(tmp: Path, **env: str) -> Settings:
    """Settings for tests: the shared weights on the search path, caches under ``tmp``."""
    base = {"ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH, "ANIMEGAN_DOWNLOAD_DIR": str(tmp / "dl"),
            "ANIMEGAN_CACHE_DIR": str(tmp / "cache"), "ANIMEGAN_THREADS": "2",
            "ANIMEGAN_MODEL_CACHE_DIR": os.environ.get("ANIMEGAN_TEST_MODEL_CACHE") or str(tmp / "models")}
    return Settings.from_env({**base, **env})


def engine_with_own_cache(settings: Settings, folder: Path) -> Engine:
    """An engine with its own model cache in ``folder``, so reduced-precision builds never change what ``auto``
    picks in other tests (the session's fp32 exports are copied in: they are re-verified against their records)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in settings.model_cache_dir.glob("*-onnx*-r*.*") if settings.model_cache_dir.is_dir() else []:
        if "int8" not in f.name and f.suffix in (".onnx", ".json"):
            shutil.copy2(f, folder / f.name)
    return Engine(settings.with_(model_cache_dir=folder))


@pytest.fixture(scope="session", autouse=True)
def process_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The model cache of every app server and CLI process the tests start: one per session, never ``~/.cache``."""
    path = tmp_path_factory.mktemp("process-models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANIMEGAN_MODEL_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("settings"))


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Engine:
    return Engine(settings)


@pytest.fixture(scope="session")
def photos() -> Path:
    if not PHOTOS.is_dir():
        pytest.fail(f"test photos not found at {PHOTOS}; set ANIMEGAN_TEST_PHOTOS")
    return PHOTOS


@pytest.fixture()
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A per-test folder under test-artifacts/ for images a person may want to look at."""
    path = ARTIFACTS / request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
    path.mkdir(parents=True, exist_ok=True)
    return path


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two float images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-references", action="store_true", help="rewrite tests/references/*.png from the current output")


@pytest.fixture(scope="session")
def update_references(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-references"))
