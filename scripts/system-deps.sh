#!/usr/bin/env bash
# Install the Debian packages the test suite needs, once. Safe to re-run: it does nothing when all are there.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng)
tesseract --list-langs 2>/dev/null | grep -qx rus || need+=(tesseract-ocr-rus)
# The OCR tests draw Cyrillic receipts with DejaVu Sans.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  sudo_cmd=sudo
else
  sudo_cmd=
fi
echo "installing system packages: ${need[*]}"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
