// ganstudio web studio: plain JavaScript over the /v1 API (no build step, no CDN).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], token: sessionStorage.getItem("ganstudio-token") || "", job: null, events: null };

// Every string from the server (class and attribute names, prompts, model ids) is set as text,
// never parsed as HTML: el() builds elements, and nothing here assigns innerHTML.
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// ---------- messages and API calls ----------
function say(text, error = false, notes = []) {
  const box = $("message");
  box.textContent = text;
  box.className = error ? "error" : "";
  if (notes.length) {  // one line each: what the words did, what the model may not know…
    const list = document.createElement("ul");
    for (const note of notes) list.appendChild(Object.assign(document.createElement("li"), { textContent: note }));
    box.appendChild(list);
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(path, Object.assign({}, options, { headers }));
  } catch (err) {
    throw new Error("the server cannot be reached; is `ganstudio serve` still running?");
  }
  if (response.status === 401) {
    $("token-form").hidden = false;
    $("token").focus();
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (err) { /* not JSON */ }
    throw new Error(message);
  }
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : response;
}

// ---------- tabs ----------
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      $(other.getAttribute("aria-controls")).hidden = !selected;
    }
    if (tab.id === "tab-train") loadFolders();
    if (tab.id === "tab-history") loadHistory();
  });
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("ganstudio-token", state.token);
  $("token-form").hidden = true;
  loadModels();
});

// ---------- models and their conditions ----------
async function loadModels(select) {
  let listed;
  try {
    listed = await api("/v1/models");
  } catch (err) {
    say(`Could not list the models: ${err.message}`, true);
    return;
  }
  state.models = listed.filter((m) => !m.error);
  const broken = listed.filter((m) => m.error);
  if (broken.length) say(`Not loaded: ${broken.map((m) => `${m.name} (${m.error})`).join("; ")}`, true);
  const picker = $("model");
  picker.replaceChildren();
  for (const model of state.models) picker.add(new Option(`${model.name} (${model.resolution} px)`, model.name));
  if (select) picker.value = select;
  showConditions();
}

function currentModel() {
  return state.models.find((m) => m.name === $("model").value) || state.models[0];
}

function showConditions() {
  const model = currentModel();
  if (!model) return;
  $("prompt-field").hidden = !model.prompts;
  // the placeholder names what this model knows, not the fashion model's example
  $("prompt").placeholder = model.classes.length
    ? `what to draw, e.g. ${model.classes.slice(0, 3).join(", ")}`
    : "what to draw, in words";
  $("sketch-field").hidden = !model.sketches;
  const label = $("label");
  label.replaceChildren();
  label.add(new Option("any", ""));
  for (const name of model.classes) label.add(new Option(name, name));
  $("label-field").hidden = model.classes.length === 0;
  const box = $("attributes");
  box.querySelectorAll(".field").forEach((node) => node.remove());
  for (const attr of model.attributes) {
    const id = `attr-${attr.name}`;
    const field = document.createElement("div");
    field.className = "field";
    const low = attr.min ?? 0, high = attr.max ?? 1;
    const toggle = el("input", { type: "checkbox", id: `${id}-on`, "aria-label": `use ${attr.name}` });
    const out = el("output", { id: `${id}-out` });
    const slider = el("input", {
      id, type: "range", min: String(low), max: String(high),
      step: String((high - low) / 100 || 0.01), value: String(attr.mean ?? (low + high) / 2),
    });
    field.append(el("label", { for: id }, toggle, ` ${attr.name} `, out), slider);
    box.append(field);
    const show = () => { out.textContent = Number(slider.value).toFixed(3); };
    slider.addEventListener("input", () => { toggle.checked = true; show(); });
    show();
  }
  box.hidden = model.attributes.length === 0;
  $("guidance").value = model.guidance;
  $("guidance-out").textContent = model.guidance;
}
$("model").addEventListener("change", showConditions);
$("guidance").addEventListener("input", () => { $("guidance-out").textContent = $("guidance").value; });
$("truncation").addEventListener("input", () => { $("truncation-out").textContent = $("truncation").value; });

// ---------- the sketch canvas: mouse, touch and pen via pointer events ----------
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const sketch = { strokes: [], current: null, eraser: false, background: null };

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (sketch.background) ctx.drawImage(sketch.background, 0, 0, canvas.width, canvas.height);
  ctx.lineCap = ctx.lineJoin = "round";
  for (const stroke of sketch.strokes) {
    ctx.strokeStyle = stroke.eraser ? "#fff" : "#000";
    ctx.lineWidth = stroke.size;
    ctx.beginPath();
    stroke.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (stroke.points.length === 1) ctx.lineTo(stroke.points[0][0] + 0.1, stroke.points[0][1]);
    ctx.stroke();
  }
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [((event.clientX - box.left) / box.width) * canvas.width, ((event.clientY - box.top) / box.height) * canvas.height];
}

canvas.addEventListener("pointerdown", (event) => {
  canvas.setPointerCapture(event.pointerId);
  const pressure = event.pointerType === "pen" && event.pressure > 0 ? 0.5 + event.pressure : 1;
  sketch.current = { points: [point(event)], size: Number($("brush").value) * pressure, eraser: sketch.eraser };
  sketch.strokes.push(sketch.current);
  redraw();
});
canvas.addEventListener("pointermove", (event) => {
  if (!sketch.current) return;
  sketch.current.points.push(point(event));
  redraw();
});
for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
  canvas.addEventListener(name, () => { sketch.current = null; });
}
$("eraser").addEventListener("click", () => {
  sketch.eraser = !sketch.eraser;
  $("eraser").setAttribute("aria-pressed", String(sketch.eraser));
});
$("undo").addEventListener("click", () => { sketch.strokes.pop(); redraw(); });
$("clear").addEventListener("click", () => { sketch.strokes = []; sketch.background = null; redraw(); });
$("sketch-file").addEventListener("change", () => {
  const file = $("sketch-file").files[0];
  if (file) useAsSketch(URL.createObjectURL(file));
});

function useAsSketch(url) {
  const image = new Image();
  image.onload = () => { sketch.background = image; sketch.strokes = []; redraw(); say("The image is now the sketch."); };
  image.onerror = () => say("That file could not be read as an image.", true);
  image.src = url;
}

function sketchData() {
  if (!sketch.strokes.length && !sketch.background) return null;
  return canvas.toDataURL("image/png");
}

// ---------- generate and the gallery ----------
function request(overrides = {}) {
  const model = currentModel();
  const body = {
    model: model.name,
    n: Number($("count").value) || 1,
    format: $("format").value,
    background: $("background").value,
    guidance: Number($("guidance").value),
    truncation: Number($("truncation").value),
  };
  if ($("upscale").checked) body.upscale = 4;
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  if (model.prompts && $("prompt").value.trim()) body.prompt = $("prompt").value.trim();
  if (model.prompts && $("negative").value.trim()) body.negative = $("negative").value.trim();
  if ($("label").value) body.label = $("label").value;
  const attributes = {};
  for (const attr of model.attributes) {
    const id = `attr-${attr.name}`;
    if ($(`${id}-on`).checked) attributes[attr.name] = Number($(id).value);
  }
  if (Object.keys(attributes).length) body.attributes = attributes;
  if (model.sketches) {
    const data = sketchData();
    if (data) body.sketch = data;
  }
  return Object.assign(body, overrides);
}

async function generate(body) {
  const button = $("generate");
  button.disabled = true;
  say("Generating…");
  try {
    const result = await api("/v1/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    showResults(result, body);
    say(`${result.images.length} image(s) from ${result.model}.` + (result.notes.length ? " Notes:" : ""), false, result.notes);
  } catch (err) {
    say(`Could not generate: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

function showResults(result, body) {
  const gallery = $("gallery");
  for (const image of result.images.slice().reverse()) {
    const item = document.createElement("li");
    const record = image.metadata;
    const what = [record.label && `class ${record.label}${record.label_inferred ? " (read from the prompt/sketch)" : ""}`,
      record.prompt && `“${record.prompt}”`, record.sketch && "with sketch"].filter(Boolean).join(", ");
    const src = `data:${image.mime};base64,${image.data}`;
    const link = el("a", { download: "" }, "Download");
    item.append(
      el("img", { alt: `Generated image, seed ${image.seed}${what ? ", " + what : ""}`, src }),
      el("span", { class: "meta", text: `seed ${image.seed}${what ? " · " + what : ""}` }),
      el("span", {
        class: "badge",
        title: `IPTC DigitalSourceType trainedAlgorithmicMedia, model ${record.model}`,
        text: `✔ marked AI-generated · ${record.model}`,
      }),
      el("span", { class: "actions" }, link,
        el("button", { type: "button", class: "more" }, "More like this"),
        el("button", { type: "button", class: "larger", title: "the same image, four times larger" }, "4× larger"),
        el("button", { type: "button", class: "as-sketch" }, "Use as sketch"),
        el("button", { type: "button", class: "redraw", title: "keep part of this image, redraw the rest" }, "Redraw part"),
        el("button", { type: "button", class: "edit", title: "variations, sliders and morphs of this image" }, "Edit")),
    );
    link.href = src;
    link.download = `ganstudio-${image.seed}.${image.mime.split("/")[1].replace("+xml", "")}`;
    link.setAttribute("aria-label", `Download the image with seed ${image.seed}`);
    item.querySelector(".more").addEventListener("click", () => {
      const again = Object.assign({}, body, { seed: Math.floor(Math.random() * 2 ** 31) });
      generate(again);
    });
    const larger = item.querySelector(".larger");
    larger.hidden = (body.upscale || 1) !== 1;
    larger.addEventListener("click", () => {
      generate(Object.assign({}, body, { seed: image.seed, n: 1, upscale: 4 }));
    });
    const asSketch = item.querySelector(".as-sketch");
    asSketch.hidden = !currentModel().sketches;
    asSketch.addEventListener("click", () => useAsSketch(src));
    const redrawButton = item.querySelector(".redraw");
    redrawButton.hidden = image.mime === "image/svg+xml";  // a vector has no pixels to keep
    redrawButton.addEventListener("click", () => openRedraw(src));
    const editButton = item.querySelector(".edit");
    editButton.hidden = image.mime === "image/svg+xml";
    editButton.addEventListener("click", () => openEdit(src));  // edit.js
    if (body.redraw) item.querySelector(".more").hidden = larger.hidden = true;
    gallery.prepend(item);
  }
}

$("generate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!currentModel()) { say("No model is loaded.", true); return; }
  generate(request());
});

// ---------- redraw part of an image: paint a mask over it ----------
const paint = { canvas: $("redraw-canvas"), image: null, strokes: [], current: null };
paint.ctx = paint.canvas.getContext("2d");

function paintStrokes(ctx, colour) {
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.strokeStyle = colour;
  for (const stroke of paint.strokes) {
    ctx.lineWidth = stroke.size;
    ctx.beginPath();
    stroke.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (stroke.points.length === 1) ctx.lineTo(stroke.points[0][0] + 0.1, stroke.points[0][1]);
    ctx.stroke();
  }
}

function showPaint() {
  const { ctx, canvas } = paint;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  if (paint.image) ctx.drawImage(paint.image, 0, 0, canvas.width, canvas.height);
  paintStrokes(ctx, "rgba(255, 40, 90, 0.55)");
}

function openRedraw(src) {
  const image = new Image();
  image.onload = () => {
    paint.image = image;
    paint.strokes = [];
    showPaint();
    $("redraw-dialog").showModal();
  };
  image.src = src;
}

function paintPoint(event) {
  const box = paint.canvas.getBoundingClientRect();
  return [((event.clientX - box.left) / box.width) * paint.canvas.width, ((event.clientY - box.top) / box.height) * paint.canvas.height];
}
paint.canvas.addEventListener("pointerdown", (event) => {
  paint.canvas.setPointerCapture(event.pointerId);
  paint.current = { points: [paintPoint(event)], size: Number($("redraw-brush").value) };
  paint.strokes.push(paint.current);
  showPaint();
});
paint.canvas.addEventListener("pointermove", (event) => {
  if (!paint.current) return;
  paint.current.points.push(paintPoint(event));
  showPaint();
});
for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
  paint.canvas.addEventListener(name, () => { paint.current = null; });
}
$("redraw-clear").addEventListener("click", () => { paint.strokes = []; showPaint(); });
$("redraw-strength").addEventListener("input", () => { $("redraw-strength-out").textContent = $("redraw-strength").value; });

function canvasData(draw) {
  const c = el("canvas", { width: paint.canvas.width, height: paint.canvas.height });
  draw(c.getContext("2d"));
  return c.toDataURL("image/png");
}

$("redraw-go").addEventListener("click", async () => {
  if (!paint.strokes.length) { say("Paint over the part to redraw first.", true); return; }
  const form = request();
  const body = {
    model: form.model, n: Math.min(form.n, 16), format: form.format, background: form.background,
    strength: Number($("redraw-strength").value), redraw: true,
    image: canvasData((ctx) => { ctx.imageSmoothingEnabled = false; ctx.drawImage(paint.image, 0, 0, 256, 256); }),
    mask: canvasData((ctx) => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 256, 256); paintStrokes(ctx, "#fff"); }),
  };
  for (const key of ["prompt", "label", "attributes", "seed"]) if (form[key] !== undefined) body[key] = form[key];
  $("redraw-dialog").close();
  say("Redrawing… (a few seconds per image)");
  try {
    const { redraw: _, ...sent } = body;
    const result = await api("/v1/redraw", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(sent),
    });
    showResults(result, body);
    say(`${result.images.length} version(s) redrawn by ${result.model}; the unpainted part is kept.`);
  } catch (err) {
    say(`Could not redraw: ${err.message}`, true);
  }
});

// ---------- history: every image made here, kept with its settings ----------
const history = { offset: 0, page: 48 };

async function historyImage(entry, img) {
  const response = await api(entry.url);  // the token goes in a header, so <img src> cannot fetch it
  img.src = URL.createObjectURL(await response.blob());
}

async function sketchOf(entry) {  // the drawing an entry came from, as a blob URL (null: none)
  if (!entry.sketch_url) return null;
  const response = await api(entry.sketch_url);
  return URL.createObjectURL(await response.blob());
}

function dataUrl(blobUrl) {
  return fetch(blobUrl).then((r) => r.blob()).then((blob) => new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(blob);
  }));
}

function recall(params) {
  const select = $("model");
  if ([...select.options].some((o) => o.value === params.model)) { select.value = params.model; showConditions(); }
  $("prompt").value = params.prompt || "";
  $("negative").value = params.negative || "";
  $("seed").value = params.seed ?? "";
  if (params.label !== null && params.label !== undefined) $("label").value = String(params.label);
  for (const key of ["guidance", "truncation"]) {
    if (params[key] !== null && params[key] !== undefined) { $(key).value = params[key]; $(`${key}-out`).textContent = params[key]; }
  }
  $("tab-create").click();
}

function historyItem(entry) {
  const item = el("li");
  const img = el("img", { alt: `${entry.operation}, seed ${entry.seed}${entry.prompt ? ", " + entry.prompt : ""}` });
  historyImage(entry, img).catch(() => { img.alt = "(file missing)"; });
  const star = el("button", { type: "button", class: "star", "aria-pressed": String(entry.favourite), title: "favourite" }, entry.favourite ? "★" : "☆");
  const pick = el("input", { type: "checkbox", class: "pick", "aria-label": `select seed ${entry.seed} for download` });
  pick.dataset.id = entry.id;
  const when = new Date(entry.created * 1000).toLocaleString();
  const what = [entry.operation, entry.label && `class ${entry.label}`, entry.prompt && `“${entry.prompt}”`,
    entry.negative && `not “${entry.negative}”`, `seed ${entry.seed}`].filter(Boolean).join(" · ");
  const drawn = el("img", { class: "sketch-thumb", alt: "the sketch it was drawn from", hidden: "" });
  if (entry.sketch_url) sketchOf(entry).then((url) => { drawn.src = url; drawn.hidden = false; }).catch(() => {});
  item.append(img, drawn, el("span", { class: "meta", text: what }), el("span", { class: "meta", text: `${when} · ${entry.model}` }),
    el("span", { class: "actions" }, pick, star,
      el("button", { type: "button", class: "recall" }, "Use settings"),
      el("button", { type: "button", class: "rerun" }, "Run again"),
      el("button", { type: "button", class: "edit" }, "Edit"),
      el("button", { type: "button", class: "delete" }, "Delete")));
  star.addEventListener("click", async () => {
    const on = star.getAttribute("aria-pressed") !== "true";
    await api(`/v1/history/${entry.id}/favourite`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ on }) });
    star.setAttribute("aria-pressed", String(on));
    star.textContent = on ? "★" : "☆";
  });
  item.querySelector(".recall").addEventListener("click", () => {
    recall(Object.assign({}, entry.params, { seed: entry.seed }));
    if (drawn.src) useAsSketch(drawn.src);  // the drawing goes back on the canvas
  });
  const rerun = item.querySelector(".rerun");
  rerun.hidden = entry.operation !== "generate";  // a redraw's source image is not kept
  rerun.addEventListener("click", async () => {
    const { sketch, ...params } = entry.params;
    if (sketch && drawn.src) params.sketch = await dataUrl(drawn.src);  // with the same drawing
    $("tab-create").click();
    generate(Object.assign(params, { n: 1, seed: entry.seed }));  // this very image again
  });
  const editButton = item.querySelector(".edit");
  editButton.hidden = entry.mime === "image/svg+xml";
  editButton.addEventListener("click", () => { if (img.src) openEdit(img.src); });  // edit.js
  item.querySelector(".delete").addEventListener("click", async () => {
    if (!window.confirm("Delete this image and its file?")) return;
    await api(`/v1/history/${entry.id}`, { method: "DELETE" });
    item.remove();
  });
  return item;
}

async function loadHistory(more = false) {
  history.offset = more ? history.offset + history.page : 0;
  const query = new URLSearchParams({ q: $("history-q").value.trim(), favourites: $("history-favourites").checked, limit: history.page, offset: history.offset });
  try {
    const entries = await api(`/v1/history?${query}`);
    if (!more) $("history-list").replaceChildren();
    for (const entry of entries) $("history-list").append(historyItem(entry));
    $("history-more").hidden = entries.length < history.page;
    if (!more) say(entries.length ? "" : "Nothing in the history matches.");
  } catch (err) {
    say(`Could not load the history: ${err.message}`, true);
  }
}
$("history-form").addEventListener("submit", (event) => { event.preventDefault(); loadHistory(); });
$("history-more").addEventListener("click", () => loadHistory(true));
$("history-zip").addEventListener("click", async () => {
  const ids = [...document.querySelectorAll("#history-list .pick:checked")].map((box) => box.dataset.id);
  if (!ids.length) { say("Tick the images to download first.", true); return; }
  try {
    const response = await api("/v1/history/zip", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ids }) });
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: "ganstudio-selection.zip" });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (err) {
    say(`Could not download: ${err.message}`, true);
  }
});

// ---------- training ----------
async function loadFolders() {
  try {
    const data = await api("/v1/data");
    const picker = $("data");
    picker.replaceChildren();
    for (const name of data.folders) picker.add(new Option(name, name));
    const presets = $("preset"), chosen = presets.value;
    presets.replaceChildren();
    for (const name of data.presets || ["cpu-32"]) presets.add(new Option(name, name));
    presets.value = (data.presets || []).includes(chosen) ? chosen : "cpu-32";
  } catch (err) {
    say(`Could not list the data folders: ${err.message}`, true);
  }
}

$("train-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const minutes = Number($("minutes").value);
  try {
    let job;
    const zip = $("zip").files[0];
    if (zip) {
      const form = new FormData();
      form.append("file", zip);
      form.append("minutes", String(minutes));
      form.append("preset", $("preset").value);
      job = await api("/v1/jobs/upload", { method: "POST", body: form });
    } else {
      job = await api("/v1/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ data: $("data").value, minutes, preset: $("preset").value }),
      });
    }
    follow(job);
    say(`Training started on ${job.data}.`);
  } catch (err) {
    say(`Could not start training: ${err.message}`, true);
  }
});

function follow(job) {
  state.job = job;
  state.points = [];
  $("job").hidden = false;
  $("job-title").textContent = `Training on ${job.data}`;
  if (state.events) state.events.close();
  // EventSource cannot send a bearer header: with a token the page polls instead
  if (!state.token) {
    state.events = new EventSource(`/v1/jobs/${job.id}/events`);
    state.events.onmessage = (message) => update(JSON.parse(message.data));
    state.events.onerror = () => { state.events.close(); state.events = null; poll(); };
  } else {
    poll();
  }
}

async function poll() {
  if (!state.job) return;
  try {
    const status = await api(`/v1/jobs/${state.job.id}`);
    state.points = [];
    update(status);
    if (!["finished", "cancelled", "failed"].includes(status.state)) setTimeout(poll, 1500);
  } catch (err) {
    say(`Lost track of the training job: ${err.message}`, true);
  }
}

function update(status) {
  state.job = status;
  state.points = (state.points || []).concat(status.points || []);
  $("job-progress").value = status.fraction;
  const eta = status.eta_s == null ? "" : ` · ETA ${Math.floor(status.eta_s / 60)}:${String(Math.round(status.eta_s % 60)).padStart(2, "0")}`;
  $("job-status").textContent = status.phase  // start-up work (data, label prior) comes before the clock
    ? `${status.state} · ${status.phase}`
    : `${status.state} · ${status.kimg} kimg · ${status.img_per_s} img/s${eta}` + (status.error ? ` · ${status.error}` : "");
  if (status.state === "failed") say(`Training failed: ${status.error}`, true);
  if (status.state === "finished") say(`Training finished at ${status.kimg} kimg; "Generate with this model" draws from it.`);
  if (status.state === "cancelled") say("Training stopped; a checkpoint was written. Resume continues it.");
  if (status.has_samples) loadSamples(status.id);
  $("stop").disabled = status.state !== "running";
  $("resume").disabled = !(["cancelled", "failed", "finished"].includes(status.state) && status.has_model);
  $("use-model").disabled = !status.has_model;
  plot();
}

async function loadSamples(id) {
  try {
    const response = await api(`/v1/jobs/${id}/samples?t=${Date.now()}`);
    const blob = await response.blob();
    const img = $("job-samples");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = URL.createObjectURL(blob);
    img.src = img.dataset.url;
  } catch (err) { /* samples appear after the first sample interval */ }
}

function plot() {
  const c = $("loss-plot"), g = c.getContext("2d"), points = state.points || [];
  g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
  if (points.length < 2) return;
  const kimg = points.map((p) => p.kimg), values = points.flatMap((p) => [p.loss_d, p.loss_g]).filter(Number.isFinite);
  const x0 = Math.min(...kimg), x1 = Math.max(...kimg), y0 = 0, y1 = Math.max(...values, 1);
  const sx = (x) => 30 + ((x - x0) / (x1 - x0 || 1)) * (c.width - 40), sy = (y) => c.height - 20 - ((y - y0) / (y1 - y0)) * (c.height - 30);
  g.fillStyle = "#555"; g.font = "11px sans-serif";
  g.fillText(y1.toFixed(1), 2, 14); g.fillText("0", 2, c.height - 20); g.fillText(`${x1.toFixed(1)} kimg`, c.width - 70, c.height - 5);
  for (const [key, colour] of [["loss_d", "#3346d3"], ["loss_g", "#d35a33"]]) {
    g.strokeStyle = colour; g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(sx(p.kimg), sy(p[key])) : g.moveTo(sx(p.kimg), sy(p[key]))));
    g.stroke();
  }
  g.fillStyle = "#3346d3"; g.fillText("D loss", 40, 14); g.fillStyle = "#d35a33"; g.fillText("G loss", 90, 14);
}

$("stop").addEventListener("click", async () => {
  try { update(await api(`/v1/jobs/${state.job.id}/cancel`, { method: "POST" })); say("Stopping after this step; a checkpoint is written."); }
  catch (err) { say(`Could not stop: ${err.message}`, true); }
});
$("resume").addEventListener("click", async () => {
  try { follow(await api(`/v1/jobs/${state.job.id}/resume`, { method: "POST" })); say("Training resumed."); }
  catch (err) { say(`Could not resume: ${err.message}`, true); }
});
$("use-model").addEventListener("click", async () => {
  await loadModels(`job:${state.job.id}`);
  $("tab-create").click();
  $("model").focus();
  say(`Generating with the model of this training run (job:${state.job.id}, its latest checkpoint).`);
});

// ---------- verify ----------
$("verify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("verify-file").files[0];
  if (!file) { say("Choose an image to verify.", true); return; }
  const form = new FormData();
  form.append("file", file);
  try {
    const report = await api("/v1/verify", { method: "POST", body: form });
    const headline = report.ganstudio
      ? "Made by ganstudio: a mark holds (signature, watermark or metadata)."
      : report.likely_generated
        ? "No ganstudio mark holds, but a detector thinks a ganstudio model made it."
        : "No ganstudio mark found.";
    $("verify-result").textContent = `${headline}\n${report.summary.join("\n")}\n\n${JSON.stringify(report, null, 2)}`;
  } catch (err) {
    say(`Could not verify: ${err.message}`, true);
  }
});

// ---------- start ----------
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get("token")) { state.token = hash.get("token"); sessionStorage.setItem("ganstudio-token", state.token); }
redraw();
loadModels();
