#!/usr/bin/env bash
# The Debian packages the tests use, installed when missing (npm's "pretest" runs this, so
# `npm install && npm test` works on a fresh machine; .ci/run goes through the same line):
#   electrum   the real wallet of test/integration/electrum-wallet.test.ts
#   systemd    systemd-analyze, which checks contrib/electrs-bun.service
#   chromium   renders the status page (test/integration/status-page.test.ts)
#   prometheus prometheus and promtool, which evaluate contrib/grafana and contrib/prometheus
# Without root (or apt) it says what is missing and goes on: those tests then fail with their reason.
set -uo pipefail
missing=()
for pair in "electrum electrum" "systemd-analyze systemd" "chromium chromium" "prometheus prometheus" "promtool prometheus"; do
  set -- $pair
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
done
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test dependencies missing (install them: apt-get install $pkgs); their tests will fail" >&2
  exit 0
fi
echo "== apt-get install $pkgs" >&2
log=/tmp/electrs-bun-apt.log
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >"$log" 2>&1 \
  || { apt-get update -qq >>"$log" 2>&1 && apt-get install -y -qq --no-install-recommends $pkgs >>"$log" 2>&1; } \
  || { tail -20 "$log" >&2; echo "could not install $pkgs: their tests will fail" >&2; }
exit 0
