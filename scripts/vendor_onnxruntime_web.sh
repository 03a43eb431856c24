#!/usr/bin/env bash
# Vendor ONNX Runtime Web (npm, pinned) into pix2pix_hub/app/static/ort/ for the canvas's in-browser generator.
# Only the WebAssembly build is copied (its ES module loader and SIMD wasm: ~15 MB); pass --webgpu to add the
# WebGPU build too (another ~29 MB), which the page then uses where navigator.gpu is present.
# Run from the repository root: scripts/vendor_onnxruntime_web.sh [--webgpu]; it rewrites VENDORED.md.
set -euo pipefail
VERSION=1.31.1
DEST=pix2pix_hub/app/static/ort
FILES=(ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm)
if [[ "${1:-}" == "--webgpu" ]]; then
  FILES+=(ort.webgpu.min.mjs ort-wasm-simd-threaded.asyncify.mjs ort-wasm-simd-threaded.asyncify.wasm)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "onnxruntime-web@$VERSION" >/dev/null 2>&1 && tar xzf onnxruntime-web-$VERSION.tgz)
licence=$(node -e "console.log(require('$work/package/package.json').license)")
rm -rf "$DEST" && mkdir -p "$DEST"
{
  echo "# Vendored: onnxruntime-web $VERSION"
  echo
  echo "From npm (\`npm pack onnxruntime-web@$VERSION\`), by scripts/vendor_onnxruntime_web.sh; licence: $licence"
  echo "(Copyright (c) Microsoft Corporation; https://github.com/microsoft/onnxruntime/blob/main/LICENSE)."
  echo "Served by the app itself (pix2pix_hub/browser_inference.py); nothing is fetched from a CDN."
  echo
  echo "| file | bytes | sha256 |"
  echo "|---|---|---|"
  for f in "${FILES[@]}"; do
    cp "$work/package/dist/$f" "$DEST/$f"
    echo "| $f | $(stat -c %s "$DEST/$f") | $(sha256sum "$DEST/$f" | cut -d' ' -f1) |"
  done
} > "$DEST/VENDORED.md"
cat "$DEST/VENDORED.md"
