#!/usr/bin/env bash
# Runs a command with COUCHDB_URL pointing at a CouchDB server.
#
#   scripts/with-server.sh cargo test --workspace
#   COUCH_SQL_SERVER=couchdb scripts/with-server.sh cargo test --workspace
#
# Which server:
# - COUCHDB_URL set: that server is used as it is; nothing is started.
# - COUCH_SQL_SERVER=embedded (the default): couch-sql's own engine (see below), so a
#   machine with only cargo runs everything.
# - COUCH_SQL_SERVER=pouchdb: the pinned pouchdb-server 4.2.0 is installed (once, with
#   npm), started in memory on a free loopback port, and stopped after.
# - COUCH_SQL_SERVER=couchdb: Apache CouchDB 3.4.3 from ../shared/couchdb/couchdb.sh (or the
#   script named by COUCHDB_SH) is started with an empty data directory and stopped after.
# - COUCH_SQL_SERVER=cluster: a 3-node Apache CouchDB 3.4.3 cluster (q=2, n=3) from
#   ../shared/couchdb/cluster.sh, started empty and stopped after; the tests talk to node 1.
# - COUCH_SQL_SERVER=embedded: couch-sql's own engine, `couch-sql serve` (built with cargo;
#   no node, no CouchDB), on a free loopback port, in memory, with the admin
#   admin:password (as CouchDB's), and stopped after.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${COUCHDB_URL:-}" ]; then
  exec "$@"
fi
case "${COUCH_SQL_SERVER:-embedded}" in
  pouchdb)
    url="$("$root/scripts/test-server.sh" start)"
    trap '"$root/scripts/test-server.sh" stop' EXIT
    ;;
  couchdb)
    couchdb_sh="${COUCHDB_SH:-$root/../shared/couchdb/couchdb.sh}"
    if [ ! -x "$couchdb_sh" ]; then
      echo "with-server.sh: COUCH_SQL_SERVER=couchdb needs $couchdb_sh (set COUCHDB_SH, or COUCHDB_URL for a server of your own)" >&2
      exit 2
    fi
    dir="$root/target/couchdb-test"
    url="$("$couchdb_sh" start "$dir")"
    trap '"$couchdb_sh" stop "$dir"' EXIT
    ;;
  cluster)
    cluster_sh="${COUCHDB_CLUSTER_SH:-$root/../shared/couchdb/cluster.sh}"
    if [ ! -x "$cluster_sh" ]; then
      echo "with-server.sh: COUCH_SQL_SERVER=cluster needs $cluster_sh" >&2
      exit 2
    fi
    dir="$root/target/couchdb-cluster-test"
    urls="$("$cluster_sh" start "$dir" 3)"
    trap '"$cluster_sh" stop "$dir"' EXIT
    url="${urls%%$'\n'*}"
    # For the fault tests (tests/cluster): the nodes, and how to kill and revive them.
    export COUCH_SQL_CLUSTER_DIR="$dir" COUCHDB_CLUSTER_SH="$cluster_sh"
    COUCH_SQL_CLUSTER_URLS="$(echo $urls)"
    export COUCH_SQL_CLUSTER_URLS
    ;;
  embedded)
    (cd "$root" && cargo build --quiet -p couch-sql-cli)
    mkdir -p "$root/target/embedded-server"
    out="$root/target/embedded-server/url"
    rm -f "$out"
    # The server admin the tests use, as CouchDB's script makes one (given in the
    # environment, not on the command line, where `ps` would show it).
    COUCH_SQL_ADMIN=admin:password "$root/target/debug/couch-sql" serve --port 0 >"$out" &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
      [ -s "$out" ] && break
      sleep 0.05
    done
    url="$(head -n1 "$out")"
    [ -n "$url" ] || { echo "with-server.sh: couch-sql serve did not start" >&2; exit 1; }
    url="http://admin:password@${url#http://}"
    ;;
  *)
    echo "with-server.sh: COUCH_SQL_SERVER must be pouchdb, couchdb, cluster or embedded, not ${COUCH_SQL_SERVER}" >&2
    exit 2
    ;;
esac
echo "using the ${COUCH_SQL_SERVER:-embedded} test server at ${url/\/\/*@/\/\/}" >&2
COUCHDB_URL="$url" "$@"
