"""docs/studio.png: the studio in Debian's chromium (Playwright), drawing a sneaker's outline with
the bundled fashion-mnist model, a prompt and 8 results.

    python -m scripts.studio_screenshot
"""

from __future__ import annotations

import shutil
import socket
import threading
import time

from bench.report import ROOT


def main() -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from ganstudio.serve.app import Settings, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox", "--headless"],
            )
            page = browser.new_page(viewport={"width": 1180, "height": 860})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.getElementById('model').options.length > 0")
            box = page.locator("#canvas").bounding_box()
            # a sneaker's side view: sole, toe, opening and heel
            outline = [
                (30, 170),
                (226, 170),
                (230, 140),
                (170, 120),
                (120, 80),
                (80, 80),
                (60, 110),
                (30, 120),
                (30, 170),
            ]
            page.mouse.move(
                box["x"] + outline[0][0] * box["width"] / 256, box["y"] + outline[0][1] * box["height"] / 256
            )
            page.mouse.down()
            for x, y in outline[1:]:
                page.mouse.move(
                    box["x"] + x * box["width"] / 256, box["y"] + y * box["height"] / 256, steps=8
                )
            page.mouse.up()
            page.get_by_label("Prompt").fill("white sneakers")
            page.get_by_label("Count").fill("8")
            page.get_by_label("Seed").fill("1")
            page.get_by_role("button", name="Generate").click()
            page.wait_for_selector("#gallery li:nth-child(8)")
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(ROOT / "docs" / "studio.png"), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(ROOT / "docs" / "studio.png")


if __name__ == "__main__":
    main()
