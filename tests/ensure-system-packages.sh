#!/usr/bin/env bash
# The suite runs real Redis, nginx and Chromium (with an emoji font). Install what
# is missing when we can (root or passwordless sudo on Debian); otherwise stop with
# the exact command.
set -euo pipefail

declare -A binary_of=([redis-server]=redis-server [nginx]=nginx [chromium]=chromium)
missing=()
for package in redis-server nginx chromium; do
  command -v "${binary_of[$package]}" >/dev/null 2>&1 || missing+=("$package")
done
if [ ! -x /usr/lib/postgresql/15/bin/postgres ] && ! command -v pg_ctl >/dev/null 2>&1; then
  missing+=(postgresql-15)
fi
# Chromium draws emoji (chat messages, reactions) as boxes without a colour emoji font.
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}")
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "The tests need these system packages: ${missing[*]}" >&2
  echo "Install them with:  sudo apt-get update && sudo ${install[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Install these packages with your system's package manager: ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -q
"${sudo[@]}" "${install[@]}"
