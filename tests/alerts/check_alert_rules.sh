#!/usr/bin/env bash
# The alert rules shipped in docs/alerts: valid (promtool check rules) and
# firing when they should (promtool test rules). promtool is Debian's
# prometheus package (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")"
command -v promtool >/dev/null || { echo "promtool is missing: apt-get install prometheus" >&2; exit 1; }
promtool check rules ../../docs/alerts/pgtandem-backup.rules.yml
promtool test rules pgtandem-backup.rules.test.yml
