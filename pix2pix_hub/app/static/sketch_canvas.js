// The sketch canvas of app.py: runs as gr.HTML's js_on_load, with `element`, `props`, `server`, `watch` from Gradio.
// The drawing is a label map (one palette index per pixel, at the model's resolution): brushes stamp hard-edged
// discs, so the image sent to the model holds only the palette colours it was trained on, never antialiased
// in-between colours. The screen shows each label in its `shown` colour (cloud is tinted to be visible on white).
// Once per stroke end (and undo, redo, clear, an example) it sets props.value to the sketch as a PNG data URL
// (the Translate button's input) and sends it in ONE request, server.translate_live, which answers with the
// translated image as a data URL; an edit made while a request runs is sent when it returns (the last one only).
const SIZE = props.size;
let PALETTE = props.palette;              // [{name, hex, shown, meaning}]; sketch_kinds.js swaps it per entry
const NONE = 255;                          // unpainted: sent as white, shown as white
const MAX_UNDO = 60;
const root = element.querySelector('.p2p-canvas');
const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
let modelRGB = PALETTE.map((p) => rgb(p.hex));
let shownRGB = PALETTE.map((p) => rgb(p.shown));

let labels = new Uint8Array(SIZE * SIZE).fill(NONE);
const undoStack = [];
const redoStack = [];
const state = {colour: PALETTE.findIndex((p) => p.name === 'sky'), tool: 'brush', size: props.brush_size};
if (state.colour < 0) state.colour = 0;

// -- the DOM: tools and swatches above the drawing, nothing that floats over it --------------------------
root.innerHTML = `
  <div class="p2p-tools" role="toolbar" aria-label="Drawing tools">
    <button type="button" data-tool="brush" aria-pressed="true" title="Brush (B)">Brush</button>
    <button type="button" data-tool="fill" aria-pressed="false" title="Fill an area (F)">Fill</button>
    <button type="button" data-tool="rect" aria-pressed="false" title="Rectangle (R)" hidden>Rectangle</button>
    <button type="button" data-tool="eraser" aria-pressed="false" title="Eraser (E)">Eraser</button>
    <label class="p2p-size">Size <input type="range" min="1" max="96" step="1" aria-label="Brush size">
      <output></output></label>
    <button type="button" data-action="undo" title="Undo (Ctrl+Z)" aria-label="Undo">↶ Undo</button>
    <button type="button" data-action="redo" title="Redo (Ctrl+Shift+Z)" aria-label="Redo">↷ Redo</button>
    <button type="button" data-action="clear" title="Clear the drawing (can be undone)" aria-label="Clear">Clear</button>
  </div>
  <div class="p2p-legend" role="radiogroup" aria-label="Colours: what each one paints"></div>
  <p class="p2p-photo-note" hidden></p>
  <div class="p2p-body">
    <div class="p2p-stage"><canvas class="p2p-view" width="${SIZE}" height="${SIZE}"
      aria-label="Drawing canvas"></canvas><div class="p2p-cursor" hidden></div></div>
    <div class="p2p-result" aria-live="polite">
      <div class="p2p-frame"><img class="p2p-output" alt="The translated image"></div>
      <p class="p2p-status">Draw something…</p>
      <a class="p2p-download" download="pix2pix-hub.png" hidden>Download</a>
    </div>
  </div>`;
const legend = root.querySelector('.p2p-legend');
function buildLegend() {
legend.textContent = '';
PALETTE.forEach((p, index) => {
  const swatch = document.createElement('button');
  swatch.type = 'button';
  swatch.className = 'p2p-swatch';
  swatch.dataset.colour = String(index);
  swatch.dataset.name = p.name;
  swatch.setAttribute('role', 'radio');
  swatch.title = `${p.name}: ${p.meaning} (the model gets ${p.hex})`;
  swatch.innerHTML = `<span class="p2p-chip" style="background:${p.shown}"></span>` +
    `<span class="p2p-name">${p.name}</span><span class="p2p-meaning">${p.meaning}</span>`;
  legend.appendChild(swatch);
});
}
buildLegend();
const view = root.querySelector('.p2p-view');
const cursor = root.querySelector('.p2p-cursor');
const slider = root.querySelector('.p2p-size input');
const sizeOut = root.querySelector('.p2p-size output');
const ctx = view.getContext('2d');
const output = root.querySelector('.p2p-output');
const statusLine = root.querySelector('.p2p-status');
const download = root.querySelector('.p2p-download');
const screen = ctx.createImageData(SIZE, SIZE);

function selectTool(tool) {
  rememberToolSize(state.tool, tool);  // sketch_kinds.js: the pen and the eraser keep their own sizes
  state.tool = tool;
  root.querySelectorAll('[data-tool]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.tool === tool)));
  root.dataset.tool = tool;
  setSize(state.size);
}
function selectColour(index) {
  state.colour = index;
  if (state.tool === 'eraser') selectTool('brush');
  legend.querySelectorAll('.p2p-swatch').forEach((b) => b.setAttribute('aria-checked', String(+b.dataset.colour === index)));
  root.dataset.colour = PALETTE[index].name;
}
function setSize(value) {
  const [low, high] = sizeLimits();  // sketch_kinds.js: the pen of an edges entry is 1-3 px
  state.size = Math.max(low, Math.min(high, Math.round(value)));
  slider.min = String(low);
  slider.max = String(high);
  slider.value = String(state.size);
  sizeOut.textContent = `${state.size} px`;
}
selectTool('brush');
selectColour(state.colour);
setSize(state.size);

// -- drawing on the label map -------------------------------------------------------------------------
let frame = 0;
function render() {
  frame = 0;
  const d = screen.data;
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i] === NONE ? [255, 255, 255] : shownRGB[labels[i]];
    d[4 * i] = c[0]; d[4 * i + 1] = c[1]; d[4 * i + 2] = c[2]; d[4 * i + 3] = 255;
  }
  ctx.putImageData(screen, 0, 0);
}
const scheduleRender = () => { if (!frame) frame = requestAnimationFrame(render); };

function stamp(cx, cy, value) {
  const r = state.size / 2;
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(SIZE - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(SIZE - 1, Math.ceil(cy + r));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= r * r || (r < 1 && dx * dx + dy * dy <= 0.5)) labels[y * SIZE + x] = value;
    }
  }
}
function line(a, b, value) {
  const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / Math.max(0.5, state.size / 4)));
  for (let s = 1; s <= steps; s++) stamp(a[0] + (b[0] - a[0]) * s / steps, a[1] + (b[1] - a[1]) * s / steps, value);
}
function fill(x, y, value) {
  x = Math.floor(x); y = Math.floor(y);
  if (x < 0 || y < 0 || x >= SIZE || y >= SIZE) return false;
  const target = labels[y * SIZE + x];
  if (target === value) return false;
  const stack = [y * SIZE + x];
  while (stack.length) {
    const i = stack.pop();
    if (labels[i] !== target) continue;
    labels[i] = value;
    const px = i % SIZE;
    if (px > 0) stack.push(i - 1);
    if (px < SIZE - 1) stack.push(i + 1);
    if (i >= SIZE) stack.push(i - SIZE);
    if (i < SIZE * (SIZE - 1)) stack.push(i + SIZE);
  }
  return true;
}

// -- history and sending ---------------------------------------------------------------------------
function remember() {
  undoStack.push(labels.slice());
  if (undoStack.length > MAX_UNDO) undoStack.shift();
  redoStack.length = 0;
}
function restore(from, to) {
  if (!from.length) return;
  to.push(labels);
  labels = from.pop();
  render();
  send();
}
const scratch = document.createElement('canvas');
scratch.width = scratch.height = SIZE;
function sketchPixels(image) {  // the sketch the model gets, RGBA; -> whether anything is painted
  const d = image.data;
  let painted = false;
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i] === NONE ? [255, 255, 255] : modelRGB[labels[i]];
    painted = painted || labels[i] !== NONE;
    d[4 * i] = c[0]; d[4 * i + 1] = c[1]; d[4 * i + 2] = c[2]; d[4 * i + 3] = 255;
  }
  return painted;
}
function sketchURL() {
  const sctx = scratch.getContext('2d');
  const image = sctx.createImageData(SIZE, SIZE);
  const painted = sketchPixels(image);
  sctx.putImageData(image, 0, 0);
  return painted ? scratch.toDataURL('image/png') : '';
}
// The generator in the visitor's browser where it can run there (static/browser_inference.js), else the server.
const inBrowser = import(new URL('p2p/static/browser_inference.js', document.baseURI).href)
  .then((m) => m.attach({root, size: SIZE, props})).catch(() => null);
async function browserAnswer() {
  const image = new ImageData(SIZE, SIZE);
  const local = sketchPixels(image) && await inBrowser;
  return local ? local.translate(image.data) : null;
}
let sentValue = props.value || '';
function send() {
  sentValue = sketchURL();
  root.dataset.strokes = String((+root.dataset.strokes || 0) + 1);
  props.value = sentValue;
  translateLive();
}

// -- the result: one request per edit, never two at once ------------------------------------------------
function showResult(image, status) {
  if (image) { output.src = image; download.href = image; } else { output.removeAttribute('src'); }
  output.hidden = !image;
  download.hidden = !image;
  statusLine.textContent = status || '';
  root.dataset.results = String((+root.dataset.results || 0) + 1);
}
let inFlight = false, pending = false;
async function translateLive() {
  if (inFlight) { pending = true; return; }
  inFlight = true;
  pending = false;
  try {
    const answer = await browserAnswer() || await server.translate_live({sketch: props.value || '', model: props.model || '',
                                                direction: props.direction || 'AtoB',
                                                resolution: props.resolution || 'default'});
    showResult(answer.image, answer.status);
  } catch (error) {
    showResult(null, `⚠️ The server did not answer (${error && error.message ? error.message : error}); try again.`);
  } finally {
    inFlight = false;
    if (pending) translateLive();
  }
}
watch(['result', 'status'], () => showResult(props.result, props.status));  // the Translate button's answer
showResult(props.result, props.status || 'Draw something…');

// A value set by the server (an example picked below the app): snap it to the palette and paint it.
function nearest(r, g, b) {
  let best = NONE, bestDistance = (255 - r) ** 2 + (255 - g) ** 2 + (255 - b) ** 2;
  modelRGB.forEach((c, index) => {
    const distance = (c[0] - r) ** 2 + (c[1] - g) ** 2 + (c[2] - b) ** 2;
    if (distance < bestDistance) { best = index; bestDistance = distance; }
  });
  return best;
}
function load(url) {
  if (!url) {
    if (labels.some((v) => v !== NONE)) { remember(); labels = new Uint8Array(SIZE * SIZE).fill(NONE); render(); }
    return;
  }
  const image = new Image();
  image.onload = () => {
    const sctx = scratch.getContext('2d');
    sctx.imageSmoothingEnabled = false;
    sctx.fillStyle = '#ffffff';
    sctx.fillRect(0, 0, SIZE, SIZE);
    sctx.drawImage(image, 0, 0, SIZE, SIZE);
    const d = sctx.getImageData(0, 0, SIZE, SIZE).data;
    remember();
    labels = new Uint8Array(SIZE * SIZE);
    for (let i = 0; i < labels.length; i++) labels[i] = nearest(d[4 * i], d[4 * i + 1], d[4 * i + 2]);
    render();
    root.dataset.loaded = String((+root.dataset.loaded || 0) + 1);
    translateLive();
  };
  image.src = url;
}
watch('value', () => {
  if ((props.value || '') !== sentValue) { sentValue = props.value || ''; load(sentValue); }
});

// -- pointer input: a stroke may begin anywhere near the canvas, and leave and re-enter it ----------------
let stroke = null;
function toCanvas(event) {
  const rect = view.getBoundingClientRect();
  return [(event.clientX - rect.left) / rect.width * SIZE, (event.clientY - rect.top) / rect.height * SIZE];
}
function nearCanvas(event) {
  const rect = view.getBoundingClientRect();
  if (!rect.width) return false;  // hidden (another tab)
  const margin = Math.max(24, rect.width * 0.1);
  return event.clientX >= rect.left - margin && event.clientX <= rect.right + margin &&
    event.clientY >= rect.top - margin && event.clientY <= rect.bottom + margin;
}
function onDown(event) {
  if (!view.isConnected) { document.removeEventListener('pointerdown', onDown, true); return; }
  if (event.button !== 0 || stroke || !nearCanvas(event)) return;
  // Not a press meant for something else: a control, or the result beside the drawing.
  if (event.target !== view &&
      event.target.closest('button, input, select, textarea, a, label, [role=tab], .p2p-result')) return;
  event.preventDefault();
  view.setPointerCapture(event.pointerId);
  const point = toCanvas(event);
  remember();
  if (state.tool === 'fill') {
    if (fill(point[0], point[1], state.colour)) { render(); send(); } else undoStack.pop();
    return;
  }
  if (state.tool === 'rect') { stroke = {id: event.pointerId, start: point, last: point, rect: true}; return; }
  stroke = {id: event.pointerId, last: point, value: state.tool === 'eraser' ? NONE : state.colour};
  stamp(point[0], point[1], stroke.value);
  scheduleRender();
}
function onMove(event) {
  const [x, y] = toCanvas(event);
  const rect = view.getBoundingClientRect();
  cursor.hidden = state.tool === 'fill' || state.tool === 'rect' || !(event.clientX >= rect.left && event.clientX <= rect.right &&
    event.clientY >= rect.top && event.clientY <= rect.bottom);
  if (!cursor.hidden) {  // the brush's outline, so its size is visible before painting
    const side = state.size / SIZE * rect.width;
    const stage = view.parentElement.getBoundingClientRect();
    Object.assign(cursor.style, {width: `${side}px`, height: `${side}px`,
      left: `${event.clientX - stage.left - side / 2}px`, top: `${event.clientY - stage.top - side / 2}px`});
  }
  if (!stroke || event.pointerId !== stroke.id) return;
  if (stroke.rect) { stroke.last = toCanvas(event); previewRect(stroke.start, stroke.last); return; }
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) {
    const point = toCanvas(e);
    line(stroke.last, point, stroke.value);
    stroke.last = point;
  }
  scheduleRender();
}
function onUp(event) {
  if (!stroke || event.pointerId !== stroke.id) return;
  if (stroke.rect) fillRect(stroke.start, toCanvas(event), state.colour);
  else line(stroke.last, toCanvas(event), stroke.value);
  stroke = null;
  if (frame) cancelAnimationFrame(frame);
  render();
  send();
}
document.addEventListener('pointerdown', onDown, true);
view.addEventListener('pointermove', onMove);
view.addEventListener('pointerup', onUp);
view.addEventListener('pointercancel', onUp);
view.addEventListener('pointerleave', () => { cursor.hidden = true; });

// -- buttons and keys ----------------------------------------------------------------------------------
root.querySelector('.p2p-tools').addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (!button) return;
  if (button.dataset.tool) selectTool(button.dataset.tool);
  if (button.dataset.action === 'undo') restore(undoStack, redoStack);
  if (button.dataset.action === 'redo') restore(redoStack, undoStack);
  if (button.dataset.action === 'clear' && labels.some((v) => v !== NONE)) {
    remember();
    labels = new Uint8Array(SIZE * SIZE).fill(NONE);  // the brush, colour and size stay as they are
    render();
    send();
  }
});
legend.addEventListener('click', (event) => {
  const swatch = event.target.closest('.p2p-swatch');
  if (swatch) selectColour(+swatch.dataset.colour);
});
slider.addEventListener('input', () => setSize(+slider.value));
document.addEventListener('keydown', (event) => {
  if (!view.isConnected || !view.getBoundingClientRect().width) return;
  if (event.target.closest && event.target.closest('input, textarea, select, [contenteditable]')) return;
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && key === 'z') {
    event.preventDefault();
    if (event.shiftKey) restore(redoStack, undoStack); else restore(undoStack, redoStack);
  } else if ((event.ctrlKey || event.metaKey) && key === 'y') {
    event.preventDefault();
    restore(redoStack, undoStack);
  } else if (!event.ctrlKey && !event.metaKey && !event.altKey && toolKeys()[key]) {
    selectTool(toolKeys()[key]);
  }
});
render();
if (props.value) load(props.value);
root.dataset.ready = 'true';
