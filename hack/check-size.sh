#!/usr/bin/env bash
# Fails when a hand-written Go file is longer than MAX_LINES (default 600): a file that
# long holds more than one job, and is split by concern. Generated files are exempt.
set -euo pipefail
max=${MAX_LINES:-600}
long=$(git ls-files --cached --others --exclude-standard '*.go' | grep -v 'zz_generated' |
	xargs wc -l | awk -v max="$max" '$2 != "total" && $1 > max { print "  " $2 " (" $1 " lines)" }')
if [ -n "$long" ]; then
	echo "Go files over $max lines; split them by concern:"
	echo "$long"
	exit 1
fi
