#!/usr/bin/env bash
# Debian packages the project needs: WeasyPrint's pango and harfbuzz subsetting, Chromium for
# the browser tests, fonts for the responsiva. Installed with apt when root on Debian;
# otherwise the exact command is printed and the step fails.
set -euo pipefail
# redis-server, postgresql and haproxy run as the stacks' own processes (never as system services).
# fonts-ocr-b prints the synthetic IDs' machine-readable zones; tesseract-ocr is the second engine
# benchmarks/bench_reading.py measures against rapidocr (documents/reading).
packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core chromium
          redis-server postgresql haproxy fonts-ocr-b tesseract-ocr)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "instalando paquetes del sistema: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  exit 0
fi
echo "Faltan paquetes del sistema. Ejecute como administrador:" >&2
echo "  sudo apt-get install -y ${missing[*]}" >&2
exit 1
