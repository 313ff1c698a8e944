#!/usr/bin/env bash
# Runs a command with COUCHDB_URL pointing at a CouchDB server.
# If COUCHDB_URL is already set, that server is used; otherwise the pinned
# pouchdb-server is installed (once), started for the command, and stopped after.
#
#   scripts/with-server.sh cargo test --workspace
#   scripts/with-server.sh cargo run --example quickstart
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${COUCHDB_URL:-}" ]; then
  exec "$@"
fi
url="$("$root/scripts/test-server.sh" start)"
trap '"$root/scripts/test-server.sh" stop' EXIT
echo "using the local test server at $url" >&2
COUCHDB_URL="$url" "$@"
