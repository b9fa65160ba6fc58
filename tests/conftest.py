"""Shared fixtures: real weights and photos from ../shared (via the same search path the product uses).

A style whose weights ../shared holds only as upstream originals (CartoonGAN Hosoda: 94 ``.npy`` tensors) gets
its file from the product's own converter, once, into :data:`CONVERTED`, which is on the tests' search path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from animegan import Engine, Settings
from animegan.weights import SourceFile, WeightStore, sha256_of

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PHOTOS = Path(os.environ.get("ANIMEGAN_TEST_PHOTOS") or SHARED / "photos")
ARTIFACTS = REPO / "test-artifacts"
SHIPPED_PATH = os.environ.get("ANIMEGAN_WEIGHTS_PATH") or str(SHARED / "weights")
CONVERTED = ARTIFACTS / "converted-weights"
"""Weights converted from the originals in ../shared (as ``DIR/<kind>/FILE``); kept between runs, as the store
verifies every copy against the SHA-256 the manifest pins for its conversion."""
WEIGHTS_PATH = os.pathsep.join([SHIPPED_PATH, str(CONVERTED)])
"""The tests' weight search path (``ANIMEGAN_WEIGHTS_PATH`` of every engine, CLI and app they start)."""


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


def convert_shared_originals(shipped: str, folder: Path) -> list[Path]:
    """Convert into ``folder/<kind>/`` every manifest entry that ``shipped`` (a search path) lacks and whose
    upstream files ../shared holds (found by name under ``<kind>/original/``, checked by SHA-256). Returns the
    files written; an entry whose originals are absent is left missing (its tests then say so)."""
    from animegan.convert import CONVERSIONS

    base = Settings()
    store = WeightStore(base.with_(weights_path=(*base.weights_path, *map(Path, shipped.split(os.pathsep)), folder)))
    written = []
    for entry in store.entries.values():
        present = [p for p in store.candidates(entry) if p.is_file()]
        if any(not p.is_relative_to(folder) or sha256_of(p) in entry.accepted for p in present):
            continue  # shipped (verified where it is used), or converted before
        originals = SHARED / "weights" / entry.kind / "original"
        for source in entry.sources:
            inputs = {f.role: _original(originals, f) for f in source.files}
            if source.convert is None or not all(inputs.values()):
                continue
            dst = folder / entry.kind / entry.file
            CONVERSIONS[source.convert]({role: path for role, path in inputs.items() if path}, dst)
            written.append(dst)
            break
    return written


def _original(folder: Path, f: SourceFile) -> Path | None:
    found = list(folder.rglob(Path(f.url).name)) if folder.is_dir() else []
    return next((p for p in found if p.stat().st_size == f.bytes and sha256_of(p) == f.sha256), None)


@pytest.fixture(scope="session", autouse=True)
def converted_weights(request: pytest.FixtureRequest) -> list[Path]:
    """:func:`convert_shared_originals` into :data:`CONVERTED` before the first test that may use weights."""
    if all(Path(str(item.path)).is_relative_to(REPO / "tests" / "unit") for item in request.session.items):
        return []  # unit tests use no weights
    return convert_shared_originals(SHIPPED_PATH, CONVERTED)


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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-references", action="store_true", help="rewrite tests/references/*.png from the current output")


@pytest.fixture(scope="session")
def update_references(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-references"))
