// semvis page: paint class indices on the label map, colorize again after each stroke; search a hash index.
//
// The map is a Uint8Array of class indices at the image's resolution. Brushes fill circles in that
// array directly (no canvas drawing, so no antialiasing can create values between classes); the
// canvas only displays it. Maps travel to and from the server as 8-bit palette PNGs whose pixel
// values are the class indices, encoded and decoded here with the browser's deflate streams.
// The Search tab appears when the server has a hash index loaded (/api/health: search_index).
"use strict";

const HISTORY = 50; // undo steps kept
const $ = (id) => document.getElementById(id);
const state = {
  classes: [], // [{index, name, color}] from /api/classes
  colors: null, // Uint32Array: class index -> RGBA pixel for ImageData
  image: null, // the server's ImageState of the current photo
  labels: null, // Uint8Array, width × height class indices (the edited map)
  original: null, // the predicted map, for Reset
  undo: [],
  redo: [],
  tool: "brush",
  stroke: null, // {before, label, last} while the pointer paints
  busy: false, // a colorize request is in flight
  pending: false, // the map changed while it was
  queryUrl: "", // object URL of the shown search query
};

/* ---------- PNG of class indices ---------- */

const PNG_SIGNATURE = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Bytes through a CompressionStream / DecompressionStream ("deflate" is zlib, as PNG wants). */
async function zlib(bytes, transform) {
  const stream = new Blob([bytes]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function pngChunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** The map as an 8-bit palette PNG (unfiltered rows), coloured with the class colours. */
async function encodeLabelPng(labels, width, height) {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 3, 0, 0, 0], 8); // bit depth 8, palette, deflate, filter method 0, no interlace
  const palette = new Uint8Array(state.classes.flatMap((c) => hexRgb(c.color)));
  const rows = new Uint8Array((width + 1) * height); // each row: filter type 0, then the indices
  for (let y = 0; y < height; y++) rows.set(labels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const data = await zlib(rows, new CompressionStream("deflate"));
  const chunks = [pngChunk("IHDR", header), pngChunk("PLTE", palette), pngChunk("IDAT", data)];
  return new Blob([PNG_SIGNATURE, ...chunks, pngChunk("IEND", new Uint8Array(0))], { type: "image/png" });
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Pixel values of a gray or palette PNG of at most 8 bits per pixel, not interlaced. */
async function decodeLabelPng(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  let width = 0;
  let height = 0;
  let depth = 0;
  let type = -1;
  let interlace = 0;
  const idat = [];
  for (let pos = 8; pos + 8 <= bytes.length; ) {
    const length = view.getUint32(pos);
    const name = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (name === "IHDR") {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      [depth, type, interlace] = [data[8], data[9], data[12]];
    } else if (name === "IDAT") {
      idat.push(data);
    } else if (name === "IEND") {
      break;
    }
    pos += 12 + length;
  }
  if (![0, 3].includes(type) || depth > 8 || interlace) throw new Error("the label map is not an indexed PNG");
  const raw = await zlib(new Blob(idat), new DecompressionStream("deflate"));
  const stride = Math.ceil((width * depth) / 8);
  const rows = new Uint8Array(stride * height); // unfiltered; at most 1 byte per pixel, so "left" = previous byte
  const zero = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = rows.subarray(y * stride, (y + 1) * stride);
    const up = y ? rows.subarray((y - 1) * stride, y * stride) : zero;
    for (let x = 0; x < stride; x++) {
      const a = x ? row[x - 1] : 0;
      const c = x ? up[x - 1] : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = up[x];
      else if (filter === 3) predictor = (a + up[x]) >> 1;
      else if (filter === 4) predictor = paeth(a, up[x], c);
      row[x] = line[x] + predictor; // Uint8Array stores mod 256
    }
  }
  const labels = new Uint8Array(width * height);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = rows[y * stride + Math.floor(x / perByte)];
      labels[y * width + x] = (byte >> (8 - depth * ((x % perByte) + 1))) & mask;
    }
  }
  return { width, height, labels };
}

/* ---------- server ---------- */

async function api(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch {
      // not JSON: keep the status text
    }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function setStatus(text, error = false, id = "status") {
  $(id).textContent = text;
  $(id).classList.toggle("error", error);
}

function setBusy(busy, text) {
  document.body.dataset.state = busy ? "busy" : "ready";
  if (text !== undefined) setStatus(text);
}

async function showImage(info) {
  state.image = info;
  const result = $("result");
  result.src = info.result_url;
  await result.decode();
  result.dataset.version = info.version;
  $("timing").textContent = `· server ${info.seconds.toFixed(2)} s · edit ${info.version}`;
  for (const [id, url] of [["download-result", info.result_url], ["download-labels", info.labels_url]]) {
    $(id).href = url;
    $(id).setAttribute("aria-disabled", "false");
  }
}

async function upload(file) {
  if (!file) return;
  if (state.busy) {
    setStatus("still colorizing: upload again in a moment", true);
    return;
  }
  setBusy(true, `segmenting and colorizing ${file.name}…`);
  try {
    const headers = { "Content-Type": file.type || "application/octet-stream" };
    const info = await (await api("/api/images", { method: "POST", headers, body: file })).json();
    const map = await decodeLabelPng(await (await api(info.labels_url)).arrayBuffer());
    Object.assign(state, { labels: map.labels, original: map.labels.slice(), undo: [], redo: [] });
    $("map").width = info.width;
    $("map").height = info.height;
    $("photo").src = info.photo_url;
    document.body.dataset.image = info.id;
    await showImage(info);
    edited(false);
    $("label").disabled = false;
    setBusy(false, `${file.name}: ${info.width}×${info.height}; paint on the map to recolour`);
  } catch (err) {
    setBusy(false);
    setStatus(`upload failed: ${err.message}`, true);
  }
}

/** Send the map; while a request is in flight, later edits wait and go as one. */
async function recolorize() {
  if (state.busy) {
    state.pending = true;
    return;
  }
  state.busy = true;
  setBusy(true, "colorizing…");
  const { id, width, height } = state.image;
  try {
    const body = await encodeLabelPng(state.labels, width, height);
    const url = `/api/images/${id}/colorize`;
    const info = await (await api(url, { method: "POST", headers: { "Content-Type": "image/png" }, body })).json();
    if (state.image.id === id) await showImage(info);
    setStatus("");
  } catch (err) {
    setStatus(`colorizing failed: ${err.message}`, true);
  }
  state.busy = false;
  if (state.pending) {
    state.pending = false;
    recolorize();
  } else {
    setBusy(false);
  }
}

/* ---------- map, legend, tools ---------- */

function hexRgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

function renderMap() {
  const { width, height } = state.image;
  const context = $("map").getContext("2d");
  const pixels = context.createImageData(width, height);
  const out = new Uint32Array(pixels.data.buffer);
  for (let i = 0; i < out.length; i++) out[i] = state.colors[state.labels[i]];
  context.putImageData(pixels, 0, 0);
}

let frame = 0;
function scheduleRender() {
  if (!frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      renderMap();
    });
  }
}

function selectedLabel() {
  return Number($("label").value);
}

function selectLabel(index) {
  $("label").value = String(index);
  $("swatch").style.background = state.classes[index].color;
  for (const item of $("legend").children) item.classList.toggle("selected", Number(item.dataset.index) === index);
}

function renderLegend() {
  const counts = new Uint32Array(state.classes.length);
  for (const value of state.labels ?? []) counts[value]++;
  const total = state.labels ? state.labels.length : 1;
  const items = state.classes.map((c) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = c.color;
    item.append(swatch, `${c.name}${state.labels ? ` ${((100 * counts[c.index]) / total).toFixed(1)}%` : ""}`);
    item.dataset.index = c.index;
    item.title = `paint with ${c.name}`;
    item.classList.toggle("absent", state.labels !== null && !counts[c.index]);
    item.addEventListener("click", () => selectLabel(c.index));
    return item;
  });
  $("legend").replaceChildren(...items);
  selectLabel(selectedLabel());
}

function setTool(tool) {
  state.tool = tool;
  document.body.dataset.tool = tool;
  document.querySelector(`input[name="tool"][value="${tool}"]`).checked = true;
}

function brushSize() {
  return Number($("size").value);
}

function updateButtons() {
  $("undo").disabled = !state.undo.length;
  $("redo").disabled = !state.redo.length;
  $("reset").disabled = !state.labels;
}

/** The map changed: redraw, and colorize again unless told not to. */
function edited(send = true) {
  renderMap();
  renderLegend();
  updateButtons();
  if (send) recolorize();
}

function remember(labels) {
  state.undo.push(labels);
  if (state.undo.length > HISTORY) state.undo.shift();
  state.redo = [];
}

function sameMap(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function undo() {
  if (!state.undo.length || state.stroke) return;
  state.redo.push(state.labels);
  state.labels = state.undo.pop();
  edited();
}

function redo() {
  if (!state.redo.length || state.stroke) return;
  state.undo.push(state.labels);
  state.labels = state.redo.pop();
  edited();
}

function reset() {
  if (!state.labels || state.stroke || sameMap(state.labels, state.original)) return;
  remember(state.labels);
  state.labels = state.original.slice();
  edited();
}

/** Map pixel under the pointer (may lie outside the map while a stroke is dragged out). */
function mapPoint(event) {
  const canvas = $("map");
  const rect = canvas.getBoundingClientRect();
  return [
    Math.floor(((event.clientX - rect.left) * canvas.width) / rect.width),
    Math.floor(((event.clientY - rect.top) * canvas.height) / rect.height),
  ];
}

/** Fill a disc of the brush's diameter with ``label``, in index space. */
function stamp(cx, cy, label) {
  const { width, height } = state.image;
  const r = brushSize() / 2;
  for (let dy = -Math.floor(r); dy <= Math.floor(r); dy++) {
    const y = cy + dy;
    if (y < 0 || y >= height) continue;
    const span = Math.floor(Math.sqrt(r * r - dy * dy));
    const x0 = Math.max(0, cx - span);
    const x1 = Math.min(width - 1, cx + span);
    if (x0 <= x1) state.labels.fill(label, y * width + x0, y * width + x1 + 1);
  }
}

function paintTo([x, y]) {
  const [x0, y0] = state.stroke.last;
  const steps = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0) / Math.max(1, brushSize() / 4)));
  for (let i = 1; i <= steps; i++) {
    stamp(Math.round(x0 + ((x - x0) * i) / steps), Math.round(y0 + ((y - y0) * i) / steps), state.stroke.label);
  }
  state.stroke.last = [x, y];
  scheduleRender();
}

function pick([x, y]) {
  const { width, height } = state.image;
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  selectLabel(state.labels[y * width + x]);
  setTool("brush");
}

function onPointerDown(event) {
  if (!state.labels || event.button !== 0) return;
  const point = mapPoint(event);
  if (state.tool === "picker" || event.altKey) {
    pick(point);
    return;
  }
  $("map").setPointerCapture(event.pointerId);
  state.stroke = { before: state.labels.slice(), label: selectedLabel(), last: point };
  stamp(point[0], point[1], state.stroke.label);
  scheduleRender();
}

function onPointerUp() {
  if (!state.stroke) return;
  const { before } = state.stroke;
  state.stroke = null;
  if (sameMap(before, state.labels)) return;
  remember(before);
  edited();
}

function onKey(event) {
  if (!(event.ctrlKey || event.metaKey) || document.body.dataset.tab !== "colorize") return;
  const key = event.key.toLowerCase();
  if (key === "z" && !event.shiftKey) undo();
  else if (key === "y" || (key === "z" && event.shiftKey)) redo();
  else return;
  event.preventDefault();
}

/* ---------- search ---------- */

function showTab(name) {
  for (const tab of ["colorize", "search"]) {
    $(`${tab}-view`).hidden = tab !== name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
  }
  document.body.dataset.tab = name;
}

function hitItem(hit) {
  const item = document.createElement("li");
  const thumb = document.createElement("img");
  thumb.className = "square";
  thumb.src = hit.thumb_url;
  thumb.alt = thumb.title = hit.name;
  const distance = document.createElement("span");
  distance.className = "distance";
  distance.textContent = `#${hit.rank} · distance ${hit.distance}`;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = hit.name;
  item.append(thumb, distance, name);
  return item;
}

async function search(file) {
  if (!file) return;
  const view = $("search-view");
  if (view.dataset.state === "busy") {
    setStatus("still searching: try again in a moment", true, "search-status");
    return;
  }
  view.dataset.state = "busy";
  URL.revokeObjectURL(state.queryUrl);
  state.queryUrl = URL.createObjectURL(file);
  Object.assign($("query"), { src: state.queryUrl, hidden: false });
  $("query-name").textContent = file.name;
  setStatus(`searching with ${file.name}…`, false, "search-status");
  const started = performance.now();
  try {
    const input = $("search-k");
    const wanted = Math.round(Number(input.value));
    const k = Math.min(Math.max(Number.isFinite(wanted) ? wanted : 10, 1), Number(input.max));
    input.value = k;
    const headers = { "Content-Type": file.type || "application/octet-stream" };
    const result = await (await api(`/api/search?k=${k}`, { method: "POST", headers, body: file })).json();
    $("hits").replaceChildren(...result.hits.map(hitItem));
    const total = ((performance.now() - started) / 1000).toFixed(2);
    $("search-timing").textContent =
      `· ${result.hits.length} of ${result.items} · server ${result.seconds.toFixed(2)} s · total ${total} s`;
    setStatus("", false, "search-status");
  } catch (err) {
    $("hits").replaceChildren();
    $("search-timing").textContent = "";
    setStatus(`search failed: ${err.message}`, true, "search-status");
  }
  view.dataset.state = "ready";
}

/** Show the Search tab when the server has an index loaded. */
async function initSearch() {
  const health = await (await api("/api/health")).json();
  if (!health.search_index) return;
  const info = await (await api("/api/search/info")).json();
  $("search-k").max = info.max_k;
  $("search-info").textContent = `${info.items.toLocaleString("en")} images · ${info.bits}-bit codes · ${info.kind}`;
  $("tab-search").hidden = false;
  $("search-file").addEventListener("change", (event) => {
    search(event.target.files[0]);
    event.target.value = ""; // choosing the same file again searches again
  });
}

async function init() {
  state.classes = await (await api("/api/classes")).json();
  state.colors = Uint32Array.from(state.classes, (c) => {
    const [r, g, b] = hexRgb(c.color);
    return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0; // RGBA bytes, little-endian
  });
  $("label").replaceChildren(
    ...state.classes.map((c) => {
      const option = new Option(c.name, String(c.index));
      option.style.background = c.color;
      return option;
    }),
  );
  renderLegend();
  setTool("brush");

  $("file").addEventListener("change", (event) => {
    upload(event.target.files[0]);
    event.target.value = ""; // choosing the same file again uploads it again
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    (document.body.dataset.tab === "search" ? search : upload)(event.dataTransfer.files[0]);
  });
  for (const tab of ["colorize", "search"]) $(`tab-${tab}`).addEventListener("click", () => showTab(tab));
  $("label").addEventListener("change", () => selectLabel(selectedLabel()));
  for (const radio of document.querySelectorAll('input[name="tool"]')) {
    radio.addEventListener("change", () => setTool(radio.value));
  }
  $("size").addEventListener("input", () => ($("size-value").textContent = $("size").value));
  $("opacity").addEventListener("input", () => ($("map").style.opacity = $("opacity").value / 100));
  $("map").style.opacity = $("opacity").value / 100;
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("reset").addEventListener("click", reset);
  $("map").addEventListener("pointerdown", onPointerDown);
  $("map").addEventListener("pointermove", (event) => state.stroke && paintTo(mapPoint(event)));
  $("map").addEventListener("pointerup", onPointerUp);
  $("map").addEventListener("pointercancel", onPointerUp);
  document.addEventListener("keydown", onKey);
  await initSearch();
  setBusy(false);
}

init().catch((err) => setStatus(`cannot reach the server: ${err.message}`, true));
