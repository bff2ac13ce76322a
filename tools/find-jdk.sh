#!/usr/bin/env bash
# Prints the home of a JDK >= 21 for Keycloak, or says what is missing and fails.
set -euo pipefail
major_of() { "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
candidates=()
[ -n "${KC_JAVA_HOME:-}" ] && candidates+=("$KC_JAVA_HOME")
[ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
candidates+=(/usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64)
for d in /usr/lib/jvm/*; do candidates+=("$d"); done
if command -v java >/dev/null 2>&1; then
  candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
fi
for home in "${candidates[@]}"; do
  [ -x "$home/bin/java" ] || continue
  major=$(major_of "$home")
  if [ -n "$major" ] && [ "$major" -ge 21 ]; then echo "$home"; exit 0; fi
done
echo "No se encontró un JDK 21 o posterior para Keycloak 26.7." >&2
echo "Instale uno (por ejemplo: apt-get install openjdk-21-jdk-headless, o Temurin 21/25) o indique su ruta en KC_JAVA_HOME." >&2
exit 1
