#!/usr/bin/env bash
# The seed (sqlalchemy-couchdb 0.1.4 from PyPI, in a virtualenv) and couch-sql side by
# side on the server COUCHDB_URL names, alternating, and the ratio table
# (seed time ÷ couch-sql time: above 1.0 couch-sql is faster).
#
#   ./scripts/with-server.sh benches/seed/run.sh [N] [ROUNDS]
#   COUCH_SQL_SERVER=couchdb ./scripts/with-server.sh benches/seed/run.sh [N] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
n="${1:-10000}"
rounds="${2:-2}"
: "${COUCHDB_URL:?run through scripts/with-server.sh}"
venv="$root/target/seed-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "sqlalchemy-couchdb==0.1.4" greenlet >&2
fi
(cd "$root" && cargo build -q --release --example seed_scenarios)
out="$root/target/seed-bench"
mkdir -p "$out"
rm -f "$out"/*.json
for round in $(seq 1 "$rounds"); do
  # Alternate which side goes first.
  if [ $((round % 2)) = 1 ]; then order="seed rust"; else order="rust seed"; fi
  for side in $order; do
    db="seedbench_${side}_${round}_$$"
    curl -fsS -X PUT "$COUCHDB_URL/$db" >/dev/null
    echo "round $round: $side" >&2
    if [ "$side" = seed ]; then
      "$venv/bin/python" "$root/benches/seed/seed.py" "$COUCHDB_URL" "$db" "$n" >"$out/$side-$round.json"
    else
      "$root/target/release/examples/seed_scenarios" "$COUCHDB_URL" "$db" "$n" >"$out/$side-$round.json"
    fi
    curl -fsS -X DELETE "$COUCHDB_URL/$db" >/dev/null
  done
done
server="$(curl -fsS "$COUCHDB_URL/" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(("pouchdb-server " if "express-pouchdb" in v else "CouchDB ") + v.get("version","?"))')"
python3 "$root/benches/seed/summarize.py" "$out" "$n" "$server"
