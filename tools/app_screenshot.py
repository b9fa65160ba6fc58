"""Render docs/app.png for the README: the real app in headless Chromium, an example photo stylized.

    .venv/bin/python tools/app_screenshot.py [--style shinkai]

Starts ``app.py`` on a free loopback port, uploads ``examples/astronaut.png``, runs the style and
saves a screenshot of the page. Needs Debian's chromium (``make system``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from animegan.ports import free_port

REPO = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="Shinkai", help="label of the style thumbnail to click")
    parser.add_argument("--photo", type=Path, default=REPO / "examples" / "astronaut.png")
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "app.png")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                              cwd=REPO, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        for _ in range(480):
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#run-btn", timeout=120_000)
            page.set_input_files("#photo input[type=file]", str(args.photo))
            page.wait_for_selector("#photo img", timeout=30_000)
            page.locator("#style-gallery button.thumbnail-item", has_text=args.style).first.click()
            page.wait_for_timeout(1500)
            page.click("#run-btn")
            page.wait_for_function("document.querySelectorAll('#result img').length >= 2", timeout=600_000)
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.output))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    Image.open(args.output).convert("RGB").quantize(256).save(args.output, optimize=True)
    print(args.output)


if __name__ == "__main__":
    main()
