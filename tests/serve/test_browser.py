"""The studio in a real browser: Debian's chromium driven by Playwright (never a browser
download) draws on the canvas, types a prompt, generates, sees the images, downloads one and
checks its marks."""

import json
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from ganstudio.provenance import read_provenance, verify
from tests.serve.conftest import two_class_folder

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


class Server:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def draw_and_generate(page, url: str, prompt: str, count: int = 4) -> None:
    page.goto(url)
    page.wait_for_selector(
        "#model option", state="attached"
    )  # selectors, not eval: the page's CSP forbids it
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    for x, y in ((200, 40), (200, 200), (40, 200), (40, 40)):
        page.mouse.move(box["x"] + x * box["width"] / 256, box["y"] + y * box["height"] / 256, steps=5)
    page.mouse.up()
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Count").fill(str(count))
    page.get_by_label("Seed").fill("7")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector(f"#gallery li:nth-child({count})")


def test_draw_type_generate_download(served_model, tmp_path):
    from ganstudio.serve.app import Settings, create_app

    app = create_app(Settings(models=[str(served_model)], runs_dir=tmp_path / "runs", max_n=16))
    with Server(app) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        draw_and_generate(page, url, "a big square")
        items = page.locator("#gallery li")
        assert items.count() == 4
        assert "with sketch" in items.first.inner_text() and "marked AI-generated" in items.first.inner_text()
        with page.expect_download() as download:
            items.first.get_by_role("link", name="Download").click()
        path = tmp_path / "download.png"
        download.value.save_as(path)
        report = read_provenance(path)
        assert report["ai_generated"] and report["record"]["prompt"] == "a big square"
        assert report["record"]["sketch"] == "drawing" and report["record"]["seed"] in (7, 8, 9, 10)
        assert page.locator("#prompt").get_attribute("placeholder") == "what to draw, e.g. square, dot"
        items.first.get_by_role("button", name="More like this").click()
        page.wait_for_selector("#gallery li:nth-child(8)")
        small = items.first.locator("img").evaluate("img => img.naturalWidth")
        items.first.get_by_role("button", name="4× larger").click()  # the same seed, four times larger
        page.wait_for_selector("#gallery li:nth-child(9)")
        assert items.first.locator("img").evaluate("img => img.naturalWidth") == 4 * small
        items.nth(1).get_by_role("button", name="Redraw part").click()  # paint a mask, redraw under it
        box = page.locator("#redraw-canvas").bounding_box()
        page.mouse.move(box["x"] + 20, box["y"] + 20)
        page.mouse.down()
        page.mouse.move(box["x"] + 120, box["y"] + 120, steps=5)
        page.mouse.up()
        page.get_by_role("button", name="Redraw", exact=True).click()
        page.wait_for_selector("#gallery li:nth-child(13)")
        assert "redrawn" in page.locator("#message").inner_text()
        assert items.first.locator("img").evaluate("img => img.naturalWidth") == small
        assert items.first.get_by_role("button", name="More like this").is_hidden()
        page.get_by_label("Count").fill("40")  # over this server's limit: the message says so
        page.get_by_role("button", name="Generate").click()
        page.wait_for_selector("#message.error")
        assert "at most 16 images" in page.locator("#message").inner_text()
        assert not errors, errors
        browser.close()


PAYLOAD = '<img src=x onerror="window.__pwned=1">'


def test_class_and_attribute_names_are_shown_as_text_never_run(tmp_path):
    """A model trained from a zip whose labels are HTML: the studio shows the names as text, no
    script runs (the page's CSP would also refuse inline handlers), and the page still works."""
    import json

    from tests.serve.conftest import tiny_model

    (tmp_path / "model").mkdir()
    folder = tiny_model(tmp_path / "model")
    info = json.loads((folder / "dataset.json").read_text())
    info["class_names"] = [PAYLOAD, "<b>bold</b>"]
    info["attributes"] = {PAYLOAD: info["attributes"]["brightness"]}
    (folder / "dataset.json").write_text(json.dumps(info))
    raw = json.loads((folder / "config.json").read_text())
    raw["cond"]["attribute_names"] = [PAYLOAD]
    (folder / "config.json").write_text(json.dumps(raw))

    from ganstudio.serve.app import Settings, create_app

    app = create_app(Settings(models=[str(folder)], runs_dir=tmp_path / "runs"))
    with Server(app) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        page = browser.new_page()
        errors, dialogs = [], []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url)
        page.wait_for_selector("#label option:nth-child(3)", state="attached")
        options = page.locator("#label option").all_inner_texts()
        assert options[1:] == [PAYLOAD, "<b>bold</b>"]  # the names, as text
        assert PAYLOAD in page.locator("#attributes").inner_text()
        assert page.locator("#attributes img, #label b").count() == 0  # never parsed as markup
        page.select_option("#label", PAYLOAD)
        page.get_by_label("Count").fill("2")
        page.get_by_role("button", name="Generate").click()
        page.wait_for_selector("#gallery li:nth-child(2)")
        assert PAYLOAD in page.locator("#gallery li").first.inner_text()
        page.wait_for_timeout(300)  # time for an onerror handler to fire, were it markup
        assert page.evaluate("window.__pwned") is None
        assert not dialogs and not errors, (dialogs, errors)
        browser.close()


def test_history_tab_lists_favourites_and_recalls_settings(served_model, tmp_path):
    from ganstudio.serve.app import Settings, create_app

    app = create_app(Settings(models=[str(served_model)], runs_dir=tmp_path / "runs"))
    with Server(app) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        draw_and_generate(page, url, "a big square", count=2)
        page.reload()  # the history outlives the page
        page.wait_for_selector("#model option", state="attached")
        page.get_by_role("button", name="History").click()
        page.wait_for_selector("#history-list li:nth-child(2)")
        first = page.locator("#history-list li").first
        first.locator(".star").click()
        page.wait_for_selector("#history-list li .star[aria-pressed=true]")
        page.get_by_label("Favourites alone").check()
        page.get_by_role("button", name="Search").click()
        page.wait_for_selector("#history-list li:nth-child(2)", state="detached")  # one left
        assert page.locator("#history-list img").first.evaluate("img => img.naturalWidth") > 0
        page.get_by_label("Favourites alone").uncheck()
        page.get_by_role("button", name="Search").click()
        page.wait_for_selector("#history-list li:nth-child(2)")
        for box in page.locator("#history-list .pick").all():
            box.check()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download selected (zip)").click()
        archive = zipfile.ZipFile(download.value.path())
        names = archive.namelist()
        assert len(names) == 5 and "records.json" in names, names  # two images, their drawings, records
        records = json.loads(archive.read("records.json"))
        assert {r["params"]["prompt"] for r in records} == {"a big square"}
        for name in names:
            if not name.endswith(("records.json", "-sketch.png")):  # each image is the marked file, signed
                report = verify(archive.read(name))
                assert report["metadata"]["ai_generated"] and report["c2pa"]["state"] in ("valid", "trusted")
        page.wait_for_selector("#history-list li .sketch-thumb:not([hidden])")  # the drawing is kept
        darkest = (
            "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; "
            "let m = 255; for (let i = 0; i < d.length; i += 4) m = Math.min(m, d[i]); return m; }"
        )
        assert page.locator("#canvas").evaluate(darkest) > 200  # blank after the reload
        page.locator("#history-list li").first.get_by_role("button", name="Use settings").click()
        assert page.locator("#prompt").input_value() == "a big square"
        assert not page.locator("#create").is_hidden()
        for _ in range(50):  # the recalled drawing loads as an image, then is drawn on the canvas
            if page.locator("#canvas").evaluate(darkest) < 100:
                break
            page.wait_for_timeout(100)
        assert page.locator("#canvas").evaluate(darkest) < 100, "the sketch did not come back"
        assert not errors, errors
        browser.close()


def test_verify_tab_headline_finds_the_watermark_in_a_re_saved_jpeg(tmp_path):
    """A bundled model's image re-saved as JPEG (metadata and signature gone, the watermark
    left): the Verify tab's headline says ganstudio made it, as `ganstudio verify` does."""
    from PIL import Image

    from ganstudio import GenerationPipeline
    from ganstudio.serve.app import Settings, create_app

    marked = tmp_path / "marked.png"
    GenerationPipeline.from_pretrained("fashion-mnist")(n=1, seed=4, label="sneaker").images[0].save(marked)
    resaved = tmp_path / "resaved.jpg"
    Image.open(marked).convert("RGB").save(resaved, quality=75)  # plain Pillow: no metadata kept
    report = verify(resaved.read_bytes())
    assert not report["metadata"]["ai_generated"] and report["watermark"]["detected"]
    app = create_app(Settings(models=["fashion-mnist"], runs_dir=tmp_path / "runs"))
    with Server(app) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url)
        page.wait_for_selector("#model option", state="attached")
        page.get_by_role("button", name="Verify").first.click()
        page.set_input_files("#verify-file", str(resaved))
        page.locator("#verify-form").get_by_role("button", name="Verify").click()
        page.wait_for_selector("#verify-result:has-text('watermark')")
        headline = page.locator("#verify-result").inner_text().splitlines()[0]
        assert headline.startswith("Made by ganstudio"), headline
        browser.close()


def test_edit_tab_inverts_varies_slides_and_morphs(served_model, tmp_path):
    from PIL import Image, ImageDraw

    from ganstudio.serve.app import Settings, create_app

    other = tmp_path / "other.png"
    drawn = Image.new("L", (40, 40), 255)
    ImageDraw.Draw(drawn).ellipse((8, 8, 32, 32), fill=0)
    drawn.save(other)
    settings = Settings(models=[str(served_model)], runs_dir=tmp_path / "runs", invert_steps=5)
    with Server(create_app(settings)) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        draw_and_generate(page, url, "a big square", count=2)
        page.locator("#gallery li").first.get_by_role("button", name="Edit").click()
        page.wait_for_selector("#edit:not([hidden])")
        page.wait_for_selector("#edit-recon[src]", timeout=120_000)  # inverted (the encoder fitted)
        page.get_by_label("How many").fill("3")
        page.get_by_role("button", name="Vary").click()
        page.wait_for_selector("#edit-gallery li:nth-child(3)")
        assert "variation" in page.locator("#edit-gallery li").first.inner_text()
        assert page.locator("#edit-direction option").all_inner_texts()[:2] == ["brightness", "coverage"]
        page.locator("#edit-strength").fill("1.5")  # a live preview, not kept
        page.wait_for_selector("#edit-preview[src]")
        page.get_by_role("button", name="Keep this edit").click()
        page.wait_for_selector("#edit-gallery li:nth-child(4)")
        assert "brightness +1.5" in page.locator("#edit-gallery li").first.inner_text()
        page.set_input_files("#morph-file", str(other))
        page.get_by_label("Frames").fill("4")
        page.get_by_role("button", name="Morph", exact=True).click()
        page.wait_for_selector("#morph-strip:not([hidden])")
        page.wait_for_selector("#morph-preview[src^='data:image/png']")  # the animation plays
        with page.expect_download() as download:
            page.get_by_role("link", name="Download the strip").click()
        download.value.save_as(tmp_path / "strip.png")
        report = read_provenance(tmp_path / "strip.png")
        assert report["ai_generated"] and report["record"]["operation"] == "interpolate-strip"
        page.get_by_role("button", name="History").click()  # kept edits are in the history, previews not
        page.wait_for_selector("#history-list li:nth-child(6)")
        operations = " ".join(page.locator("#history-list .meta").all_inner_texts())
        assert "vary" in operations and "edit" in operations and "interpolate" in operations
        assert not errors, errors
        browser.close()


@pytest.mark.slow
def test_train_tab_starts_shows_samples_stops_resumes_and_generates(served_model, tmp_path):

    from ganstudio.serve.app import Settings, create_app

    root = two_class_folder(tmp_path / "data")
    settings = Settings(models=[str(served_model)], runs_dir=tmp_path / "runs", data_root=root)
    with Server(create_app(settings)) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector("#model option", state="attached")
        page.get_by_role("button", name="Train").click()
        page.wait_for_selector("#data option[value=set]", state="attached")
        page.select_option("#data", "set")
        page.select_option("#preset", "dcgan-32")
        page.get_by_label("Minutes").fill("1")
        page.get_by_role("button", name="Start training").click()
        status = page.locator("#job-status")
        status.filter(has_text="img/s").wait_for(timeout=180_000)  # training steps are logged
        page.get_by_role("button", name="Stop").click()
        status.filter(has_text="cancelled").wait_for(timeout=120_000)  # within a step, checkpointed
        page.wait_for_selector("#job-samples[src^='blob:']")
        assert page.locator("#job-samples").evaluate("img => img.naturalWidth") > 0
        page.get_by_role("button", name="Resume").click()
        status.filter(has_text="running").wait_for()
        page.get_by_role("button", name="Stop").click()  # at once: a stop during start-up is clean
        status.filter(has_text="cancelled").wait_for(timeout=120_000)
        assert "Traceback" not in status.inner_text() and "failed" not in status.inner_text()
        page.get_by_role("button", name="Generate with this model").click()
        page.get_by_label("Count").fill("2")
        page.get_by_role("button", name="Generate").click()
        page.wait_for_selector("#gallery li:nth-child(2)")
        chosen = page.locator("#model").input_value()  # the job's model, its id in the mark
        assert chosen.startswith("job:") and chosen[4:] in page.locator("#gallery li").first.inner_text()
        assert not errors, errors
        browser.close()
