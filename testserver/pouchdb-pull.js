// PouchDB's replicator (PouchDB 7.3.1's core, replication, http and memory
// adapters, as pouchdb-server 4.2.0 ships them) pulling a database into memory:
// the baseline of the replication benchmark.
//
//   node testserver/pouchdb-pull.js http://admin:password@127.0.0.1:5984/db
//
// Prints {"ms": …, "docs_written": …}.
'use strict';
const path = require('path');
const req = (m) => require(path.join(__dirname, 'node_modules', m));
const PouchDB = req('pouchdb-core')
  .plugin(req('pouchdb-adapter-http'))
  .plugin(req('pouchdb-adapter-memory'))
  .plugin(req('pouchdb-replication'));

(async () => {
  const local = new PouchDB(`pull_${process.pid}_${Date.now()}`, { adapter: 'memory' });
  const started = Date.now();
  const r = await PouchDB.replicate(new PouchDB(process.argv[2]), local, { batch_size: 500 });
  console.log(JSON.stringify({ ms: Date.now() - started, docs_written: r.docs_written, ok: r.ok }));
})().catch((e) => {
  console.error(e && e.stack || String(e));
  process.exit(1);
});
