"""docs/studio.png: the studio in Debian's chromium (Playwright), drawing a sneaker's outline with
the bundled fashion-mnist model, a prompt and 8 results; with --edit, docs/studio-edit.png: the
Edit tab with a bundled model's image brought in, variations, a slider moved and a morph; with
--history, docs/studio-history.png: a day's images searched, one a favourite, some ticked for the
zip; with --verify, docs/studio-verify.png: a generated image re-saved as JPEG (metadata gone, the
watermark left) checked in the Verify tab; with --words, docs/studio-words.png: a prompt's
describing words and what each did, one note a line.

    python -m scripts.studio_screenshot
    python -m scripts.studio_screenshot --edit --model emoji --prompt "a red apple" --towards "a green apple"
    python -m scripts.studio_screenshot --history
    python -m scripts.studio_screenshot --verify
    python -m scripts.studio_screenshot --words
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from bench.report import ROOT


def edit_tab(page, model: str, prompt: str, towards: str, direction: str) -> None:
    """Generate with `prompt`, open the first image in the Edit tab, vary it, move a slider, keep
    it and morph it towards an image drawn for `towards`."""
    from ganstudio import GenerationPipeline

    target = Path(tempfile.mkdtemp()) / "towards.png"
    GenerationPipeline.from_pretrained(model)(n=1, seed=3, prompt=towards).images[0].save(target)
    page.select_option("#model", model)
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Count").fill("4")
    page.get_by_label("Seed").fill("1")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#gallery li:nth-child(4)")
    page.locator("#gallery li").first.get_by_role("button", name="Edit").click()
    page.wait_for_selector("#edit-recon[src]", timeout=900_000)  # the encoder is fitted once per model
    page.get_by_label("How many").fill("6")
    page.get_by_role("button", name="Vary").click()
    page.wait_for_selector("#edit-gallery li:nth-child(6)", timeout=120_000)
    page.select_option("#edit-direction", direction)
    page.locator("#edit-strength").fill("1.5")
    page.wait_for_selector("#edit-preview[src]", timeout=300_000)
    page.get_by_role("button", name="Keep this edit").click()
    page.wait_for_selector("#edit-gallery li:nth-child(7)", timeout=120_000)
    page.set_input_files("#morph-file", str(target))
    page.get_by_label("Frames").fill("8")
    page.get_by_role("button", name="Morph", exact=True).click()
    page.wait_for_selector("#morph-strip:not([hidden])", timeout=300_000)


def history_tab(page) -> None:
    """Three generations, then the History tab: a search, one favourite, two images ticked."""
    for prompt, label in (
        ("a white sneaker", "sneaker"),
        ("a dark ankle boot", "ankle boot"),
        ("a bag", "bag"),
    ):
        page.select_option("#model", "fashion-mnist")
        page.get_by_label("Prompt").fill(prompt)
        page.get_by_label("Count").fill("4")
        page.get_by_label("Seed", exact=True).fill("2")
        page.get_by_role("button", name="Generate").click()
        page.wait_for_selector(f"#gallery li:nth-child(4) img[alt*='{label}']")
    page.get_by_role("button", name="History").click()
    page.wait_for_selector("#history-list li:nth-child(12)")
    page.locator("#history-list li").nth(1).locator(".star").click()
    page.wait_for_selector("#history-list li .star[aria-pressed=true]")
    for i in (1, 2):
        page.locator("#history-list .pick").nth(i).check()


def verify_tab(page) -> None:
    """A bundled model's image re-saved by plain Pillow as JPEG, checked in the Verify tab."""
    from PIL import Image

    from ganstudio import GenerationPipeline

    folder = Path(tempfile.mkdtemp())
    GenerationPipeline.from_pretrained("fashion-mnist")(n=1, seed=4, label="sneaker").images[0].save(
        folder / "marked.png"
    )
    Image.open(folder / "marked.png").convert("RGB").save(folder / "resaved.jpg", quality=75)
    page.get_by_role("button", name="Verify").first.click()
    page.set_input_files("#verify-file", str(folder / "resaved.jpg"))
    page.locator("#verify-form").get_by_role("button", name="Verify").click()
    page.wait_for_selector("#verify-result:has-text('watermark')")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edit", action="store_true", help="the Edit tab (docs/studio-edit.png)")
    parser.add_argument("--history", action="store_true", help="the History tab (docs/studio-history.png)")
    parser.add_argument("--verify", action="store_true", help="the Verify tab (docs/studio-verify.png)")
    parser.add_argument(
        "--words", action="store_true", help="describing words and their notes (docs/studio-words.png)"
    )
    parser.add_argument("--model", default="emoji")
    parser.add_argument("--prompt", default="a red apple")
    parser.add_argument("--towards", default="a green apple")
    parser.add_argument("--direction", default="brightness")
    args = parser.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from ganstudio.serve.app import Settings, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(runs_dir=Path(tempfile.mkdtemp()) / "runs")  # a history of its own
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
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
            page.wait_for_selector("#model option", state="attached")  # the page's CSP forbids eval
            shot = next((name for name in ("edit", "history", "verify") if getattr(args, name)), None)
            if args.words:  # what the words did, one note a line, under the message
                page.select_option("#model", "fashion-mnist")
                page.get_by_label("Prompt").fill("a small red leather bag")
                page.get_by_label("Count").fill("8")
                page.get_by_label("Seed", exact=True).fill("1")
                page.get_by_role("button", name="Generate").click()
                page.wait_for_selector("#gallery li:nth-child(8)")
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(ROOT / "docs" / "studio-words.png"), full_page=True)
                browser.close()
                return
            if shot is not None:
                if shot == "edit":
                    edit_tab(page, args.model, args.prompt, args.towards, args.direction)
                else:
                    {"history": history_tab, "verify": verify_tab}[shot](page)
                page.screenshot(path=str(ROOT / "docs" / f"studio-{shot}.png"), full_page=True)
                browser.close()
                return
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
        print("written under", ROOT / "docs")


if __name__ == "__main__":
    main()
