// ganstudio web studio, the Edit tab: bring an image into a model, then vary it, move it along
// sliders with a live preview, and morph it into another (/v1/invert, /v1/vary, /v1/edit,
// /v1/interpolate). Uses studio.js's helpers ($, el, say, api, currentModel); sets text, never HTML.
"use strict";

const editing = { image: null, other: null, inFlight: false, pending: null, timer: null, frames: [], player: null };
const MAX_SIDE = 512;  // the models draw at most 64 px: a larger upload only costs time

// Any image the page can show (a file, a result's data: URL, a history blob: URL) → a PNG data
// URL at most MAX_SIDE on a side, transparency kept.
function asPngData(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.addEventListener("load", () => {
      const scale = Math.min(1, MAX_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
      const width = Math.max(1, Math.round(image.naturalWidth * scale)), height = Math.max(1, Math.round(image.naturalHeight * scale));
      const c = el("canvas", { width, height });
      c.getContext("2d").drawImage(image, 0, 0, width, height);
      resolve(c.toDataURL("image/png"));
    });
    image.addEventListener("error", () => reject(new Error("that file could not be read as an image")));
    image.src = src;
  });
}

const imageUrl = (image) => `data:${image.mime};base64,${image.data}`;

function editBody(extra = {}) {
  const model = currentModel();
  const body = { model: model.name, image: editing.image, format: $("format").value, background: $("background").value };
  if ($("label").value) body.label = $("label").value;
  if (model.prompts && $("prompt").value.trim()) body.prompt = $("prompt").value.trim();
  return Object.assign(body, extra);
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function fillDirections() {
  const model = currentModel();
  const select = $("edit-direction");
  select.replaceChildren();
  for (const name of model.directions || []) select.add(new Option(name, name));
  for (const name of model.classes) select.add(new Option(`towards class ${name}`, `class:${name}`));
  $("edit-strength").value = 0;
  $("edit-strength-out").textContent = "0";
  $("edit-preview").removeAttribute("src");
}

// Open an image in the Edit tab and bring it into the model of the Create tab.
async function openEdit(src) {
  if (!currentModel()) { say("No model is loaded.", true); return; }
  $("tab-edit").click();
  try {
    editing.image = await asPngData(src);
  } catch (err) {
    say(`Could not open the image: ${err.message}`, true);
    return;
  }
  $("edit-source").src = editing.image;
  $("edit-recon").removeAttribute("src");
  fillDirections();
  say("Bringing the image into the model… (the first image a model sees also fits its encoder: about a minute)");
  try {
    const result = await post("/v1/invert", editBody());
    $("edit-recon").src = imageUrl(result.images[0]);
    say(`The image is in ${result.model}: vary it, move a slider or morph it.`);
  } catch (err) {
    say(`Could not bring the image into the model: ${err.message}`, true);
  }
}

function showEdits(result, what) {
  for (const image of result.images.slice().reverse()) {
    const src = imageUrl(image);
    const link = el("a", { download: `ganstudio-${what}-${image.seed}.${image.mime.split("/")[1].replace("+xml", "")}`, href: src }, "Download");
    const again = el("button", { type: "button" }, "Edit this");
    again.addEventListener("click", () => openEdit(src));
    again.hidden = image.mime === "image/svg+xml";
    const record = image.metadata;
    const detail = record.operation === "interpolate-strip" ? `${editing.frames.length} frames side by side`
      : record.source && record.source.edit ? record.source.edit
      : record.strength !== undefined ? `strength ${record.strength}, seed ${image.seed}`
        : record.t !== undefined ? `t = ${record.t}` : record.operation;
    $("edit-gallery").prepend(el("li", {},
      el("img", { alt: `${what}: ${detail}`, src }),
      el("span", { class: "meta", text: `${what} · ${detail}` }),
      el("span", { class: "badge", text: `✔ marked AI-generated · ${record.model}` }),
      el("span", { class: "actions" }, link, again)));
  }
}

function needImage() {
  if (editing.image) return false;
  say("Choose an image to edit first (a file, or “Edit” under a result).", true);
  return true;
}

// ---------- the image: a file, a drop, or "Edit" under a result ----------
$("edit-file").addEventListener("change", () => {
  const file = $("edit-file").files[0];
  if (file) openEdit(URL.createObjectURL(file));
});
const drop = $("edit-drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("dropping"); });
drop.addEventListener("dragleave", () => drop.classList.remove("dropping"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("dropping");
  const file = event.dataTransfer.files[0];
  const url = file ? URL.createObjectURL(file) : (event.dataTransfer.getData("text/uri-list") || "").split("\n")[0].trim();
  if (/^(data:image\/|blob:)/.test(url)) openEdit(url);
  else say("Drop an image file, or an image from the results or the history.", true);
});

// ---------- variations ----------
$("vary-strength").addEventListener("input", () => { $("vary-strength-out").textContent = $("vary-strength").value; });
$("vary-go").addEventListener("click", async () => {
  if (needImage()) return;
  const body = editBody({ strength: Number($("vary-strength").value), n: Math.min(Number($("vary-count").value) || 1, 16) });
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  say("Drawing variations…");
  try {
    showEdits(await post("/v1/vary", body), "variation");
    say(`Variations at strength ${body.strength}.`);
  } catch (err) {
    say(`Could not vary: ${err.message}`, true);
  }
});

// ---------- sliders: a preview while dragging (one request at a time, the latest wins) ----------
async function preview() {
  if (editing.inFlight) { editing.pending = true; return; }
  editing.inFlight = true;
  editing.pending = false;
  const strength = Number($("edit-strength").value);
  try {
    const result = await post("/v1/edit", editBody({ direction: $("edit-direction").value, strengths: [strength], keep: false }));
    $("edit-preview").src = imageUrl(result.images[0]);
    $("edit-preview").alt = `Slider preview: ${$("edit-direction").value} ${strength}`;
  } catch (err) {
    say(`Could not move the slider: ${err.message}`, true);
  } finally {
    editing.inFlight = false;
    if (editing.pending) preview();
  }
}
function slid() {
  $("edit-strength-out").textContent = $("edit-strength").value;
  if (!editing.image) return;
  clearTimeout(editing.timer);
  editing.timer = setTimeout(preview, 120);
}
$("edit-strength").addEventListener("input", slid);
$("edit-direction").addEventListener("change", slid);
$("edit-keep").addEventListener("click", async () => {
  if (needImage()) return;
  const body = editBody({ direction: $("edit-direction").value, strengths: [Number($("edit-strength").value)] });
  try {
    showEdits(await post("/v1/edit", body), "edit");
    say("Kept: the edit is in the gallery and the history.");
  } catch (err) {
    say(`Could not keep the edit: ${err.message}`, true);
  }
});

// ---------- morph: an animated preview and the strip ----------
$("morph-file").addEventListener("change", async () => {
  const file = $("morph-file").files[0];
  if (!file) return;
  try { editing.other = await asPngData(URL.createObjectURL(file)); } catch (err) { say(err.message, true); }
});
$("morph-go").addEventListener("click", async () => {
  if (needImage()) return;
  if (!editing.other) { say("Choose the image to morph towards.", true); return; }
  const frames = Math.min(Math.max(Number($("morph-frames").value) || 8, 2), 16);
  say("Morphing… (the second image is brought into the model first)");
  try {
    const result = await post("/v1/interpolate", editBody({ image_b: editing.other, frames, strip: true }));
    const strip = result.images[result.images.length - 1];
    editing.frames = result.images.slice(0, -1).map(imageUrl);
    const order = editing.frames.concat(editing.frames.slice(1, -1).reverse());  // there and back
    clearInterval(editing.player);
    let i = 0;
    editing.player = setInterval(() => { $("morph-preview").src = order[i++ % order.length]; }, 150);
    $("morph-strip").href = imageUrl(strip);
    $("morph-strip").download = `ganstudio-morph.${strip.mime.split("/")[1].replace("+xml", "")}`;
    $("morph-strip").hidden = false;
    showEdits({ images: [strip] }, "morph");
    say(`A morph in ${frames} frames. ${result.notes.join(" ")}`);
  } catch (err) {
    say(`Could not morph: ${err.message}`, true);
  }
});
