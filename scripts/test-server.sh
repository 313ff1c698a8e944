#!/usr/bin/env bash
# Installs (once) and starts/stops the pinned CouchDB-compatible test server,
# pouchdb-server 4.2.0 (testserver/package.json + package-lock.json), in memory on loopback.
#
#   scripts/test-server.sh start   # prints the server URL; state in .couch-server/
#   scripts/test-server.sh stop
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/.couch-server"
server_dir="$root/testserver"

install() {
  if [ ! -x "$server_dir/node_modules/.bin/pouchdb-server" ]; then
    echo "installing pouchdb-server 4.2.0 (npm ci, about a minute)..." >&2
    (cd "$server_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_ready() {
  # Polls GET / until the server answers with its version (about 3-6 s), for at most 60 s.
  node -e '
    const http = require("http");
    const url = process.argv[1];
    const deadline = Date.now() + 60000;
    const retry = () => {
      if (Date.now() > deadline) { console.error("no answer from " + url); process.exit(1); }
      setTimeout(poll, 200);
    };
    function poll() {
      http.get(url, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => (res.statusCode === 200 && body.includes("version") ? process.exit(0) : retry()));
      }).on("error", retry);
    }
    poll();
  ' "$1"
}

start() {
  install
  mkdir -p "$state"
  if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    cat "$state/url"
    return
  fi
  local port="${COUCH_SQL_TEST_PORT:-$(free_port)}"
  local url="http://127.0.0.1:$port"
  (cd "$state" && exec "$server_dir/node_modules/.bin/pouchdb-server" --in-memory --host 127.0.0.1 --port "$port" \
      >"$state/server.log" 2>&1) &
  echo $! >"$state/pid"
  echo "$url" >"$state/url"
  if ! wait_ready "$url/"; then
    cat "$state/server.log" >&2 || true
    stop
    exit 1
  fi
  echo "$url"
}

stop() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid" "$state/url"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  install) install ;;
  *) echo "usage: $0 start|stop|install" >&2; exit 2 ;;
esac
