#!/usr/bin/env bash
# Renders real TUI frames (the real App on ratatui's TestBackend, fed by the
# demo traffic generator) into screenshots/*.png.
# Needs rsvg-convert (Debian: librsvg2-bin) and a monospace font
# (fonts-dejavu-core); installs them with apt-get when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v rsvg-convert >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq librsvg2-bin fonts-dejavu-core >/dev/null
  else
    echo "render.sh: needs rsvg-convert (apt-get install librsvg2-bin fonts-dejavu-core)" >&2
    exit 1
  fi
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --quiet --example screenshots -- "$out"
for svg in "$out"/*.svg; do
  name=$(basename "$svg" .svg)
  rsvg-convert -o "screenshots/$name.png" "$svg"
  echo "screenshots/$name.png"
done
