// The canvas's input kinds (appended to sketch_canvas.js, same scope): what the gallery entry picked in the app
// wants. props.kind is
//   landscape: the bundled model's palette, brush, fill, eraser (sketch_canvas.js as it was);
//   edges:     thin black contours on white: a 1-3 px pen and a wide eraser, no palette, no fill;
//   labels:    the dataset's named class colours, with brush, fill and a rectangle tool;
//   photo:     no drawing: the Draw tab says this entry wants a photo (the Upload tab takes it).
// Switching entries keeps the drawing when the kind stays the same (its colours snapped to the new palette),
// and otherwise clears it as one undoable step (undo brings it back, snapped to the new palette).
// (Functions, not constants: sketch_canvas.js calls them while it sets up, before this part has run.)
function kindTools() {
  return {landscape: ['brush', 'fill', 'eraser'], edges: ['brush', 'eraser'],
          labels: ['brush', 'fill', 'rect', 'eraser'], photo: []};
}
function kindOf() { return kindTools()[props.kind] ? props.kind : 'landscape'; }
function toolKeys() {
  const allowed = kindTools()[kindOf()];
  const keys = {b: 'brush', f: 'fill', r: 'rect', e: 'eraser'};
  return Object.fromEntries(Object.entries(keys).filter(([, tool]) => allowed.includes(tool)));
}
function sizeLimits() {
  if (kindOf() !== 'edges') return [1, 96];
  return state.tool === 'eraser' ? [4, 64] : [1, 3];
}
function rememberToolSize(from, to) {
  if (!state.sizes) state.sizes = {};
  if (from && state.size) state.sizes[from] = state.size;
  if (from !== to && state.sizes[to]) state.size = state.sizes[to];
}

function rectBounds(a, b) {
  const clamp = (v) => Math.max(0, Math.min(SIZE - 1, Math.floor(v)));
  return [clamp(Math.min(a[0], b[0])), clamp(Math.min(a[1], b[1])), clamp(Math.max(a[0], b[0])),
          clamp(Math.max(a[1], b[1]))];
}
function fillRect(a, b, value) {
  const [x0, y0, x1, y1] = rectBounds(a, b);
  for (let y = y0; y <= y1; y++) labels.fill(value, y * SIZE + x0, y * SIZE + x1 + 1);
}
function previewRect(a, b) {  // the drawing as it is, with the rectangle's outline over it
  render();
  const [x0, y0, x1, y1] = rectBounds(a, b);
  ctx.strokeStyle = PALETTE[state.colour] ? PALETTE[state.colour].shown : '#000';
  ctx.lineWidth = 1;
  ctx.strokeRect(x0 + 0.5, y0 + 0.5, x1 - x0, y1 - y0);
}

// Old palette index -> nearest colour of the new palette (or unpainted, when white is nearer).
function paletteMap(oldRGB, newRGB) {
  const map = new Uint8Array(256).fill(NONE);
  oldRGB.forEach(([r, g, b], index) => {
    let best = NONE, bestDistance = (255 - r) ** 2 + (255 - g) ** 2 + (255 - b) ** 2;
    newRGB.forEach((c, j) => {
      const d = (c[0] - r) ** 2 + (c[1] - g) ** 2 + (c[2] - b) ** 2;
      if (d < bestDistance) { best = j; bestDistance = d; }
    });
    map[index] = best;
  });
  return map;
}
const remap = (array, map) => { for (let i = 0; i < array.length; i++) array[i] = map[array[i]]; return array; };

let sizedKind = null;  // the kind whose sizes state.sizes holds
const sizesByKind = {};
let drawingKind = null;  // the kind (and palette) the labels are in; a photo entry leaves it as it was
function applyKind() {
  const kind = kindOf();
  root.dataset.kind = kind;
  const note = root.querySelector('.p2p-photo-note');
  note.hidden = kind !== 'photo';
  note.textContent = kind === 'photo' ? 'This entry wants a photo, not a drawing: open the Upload tab ' +
    '(drop a file, or paste one from the clipboard), or pick one of its example photos below.' : '';
  if (kind === 'photo') return;
  const palette = props.palette || [];
  const key = kind + '|' + palette.map((p) => p.hex).join(',');
  if (drawingKind !== null && key !== drawingKind.key) {
    const map = paletteMap(modelRGB, palette.map((p) => rgb(p.hex)));
    [labels, ...undoStack, ...redoStack].forEach((array) => remap(array, map));
    if (kind !== drawingKind.kind && labels.some((v) => v !== NONE)) {
      remember();
      labels = new Uint8Array(SIZE * SIZE).fill(NONE);
    }
  }
  const changed = drawingKind !== null && key !== drawingKind.key;
  drawingKind = {kind, key};
  PALETTE = palette;
  modelRGB = PALETTE.map((p) => rgb(p.hex));
  shownRGB = PALETTE.map((p) => rgb(p.shown));
  if (changed) sentValue = props.value = sketchURL();  // the app's next run translates it with the new model
  root.dataset.kindKey = key;
  buildLegend();
  legend.hidden = kind === 'edges';
  const tools = kindTools()[kind];
  root.querySelectorAll('[data-tool]').forEach((b) => { b.hidden = !tools.includes(b.dataset.tool); });
  root.querySelector('[data-tool=brush]').textContent = kind === 'edges' ? 'Pen' : 'Brush';
  // Each kind keeps its own pen/brush and eraser sizes: back from the 2-px pen, the landscape brush is as it was.
  if (sizedKind) sizesByKind[sizedKind] = {...state.sizes, [state.tool]: state.size};
  state.sizes = sizesByKind[kind] || (kind === 'edges' ? {brush: 2, eraser: 15} : {brush: props.brush_size});
  sizedKind = kind;
  if (!tools.includes(state.tool)) state.tool = 'brush';
  state.size = state.sizes[state.tool] || state.sizes.brush || props.brush_size;
  const first = kind === 'landscape' ? PALETTE.findIndex((p) => p.name === 'sky') : 0;
  selectColour(Math.max(0, Math.min(first, PALETTE.length - 1)));
  selectTool(state.tool);
  setSize(state.size);
  render();
}
watch(['kind', 'palette'], applyKind);
applyKind();
