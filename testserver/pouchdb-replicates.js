// PouchDB's own replicator (pouchdb-core, -replication and the http/memory
// adapters of PouchDB 7.3.1, as pouchdb-server 4.2.0 ships them) against a
// CouchDB-compatible server: push, pull, sync both ways, conflicts.
//
//   node testserver/pouchdb-replicates.js http://admin:password@127.0.0.1:5984 [docs]
//
// Prints one JSON line with what it measured; exits 1 when the two sides differ.
'use strict';
const path = require('path');
const req = (m) => require(path.join(__dirname, 'node_modules', m));
const PouchDB = req('pouchdb-core')
  .plugin(req('pouchdb-adapter-http'))
  .plugin(req('pouchdb-adapter-memory'))
  .plugin(req('pouchdb-replication'));

const server = process.argv[2];
const count = Number(process.argv[3] || 2000);
const unique = (tag) => `pouch_${tag}_${process.pid}_${Date.now()}`;

function fail(message) {
  console.error('FAILED: ' + message);
  process.exit(1);
}

// JSON with sorted keys: servers order a document's members differently.
function canonical(v) {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

// PouchDB gives a pulled attachment the revpos of the revision it arrives in
// (against CouchDB as against the engine): documents are compared without it.
function withoutRevpos(doc) {
  for (const att of Object.values(doc._attachments || {})) delete att.revpos;
  return doc;
}

// Every document's leaves (sorted), its winner and the winner's body.
async function contents(db) {
  const all = await db.allDocs({ include_docs: true, conflicts: true });
  const out = {};
  for (const row of all.rows) {
    if (row.id.startsWith('_design/')) continue;
    const doc = Object.assign({}, row.doc);
    const conflicts = (doc._conflicts || []).slice().sort();
    delete doc._conflicts;
    withoutRevpos(doc);
    out[row.id] = canonical({ doc, conflicts });
  }
  return out;
}

function same(a, b, what) {
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) fail(`${what}: ${ka.length} documents against ${kb.length}`);
  for (const k of ka) {
    if (a[k] !== b[k]) fail(`${what}: ${k} differs:\n  ${a[k]}\n  ${b[k]}`);
  }
}

async function main() {
  const timings = {};
  const local = new PouchDB(unique('local'), { adapter: 'memory' });
  const docs = [];
  for (let i = 0; i < count; i++) {
    const doc = { _id: `d${String(i).padStart(5, '0')}`, type: 'items', n: i };
    if (i % 50 === 0) {
      const bytes = Buffer.from(Array.from({ length: 200 }, (_, b) => (b * 7 + i) & 255));
      doc._attachments = { 'blob.bin': { content_type: 'application/octet-stream', data: bytes.toString('base64') } };
    }
    docs.push(doc);
  }
  const written = await local.bulkDocs(docs);
  // Edits, deletions, and conflict branches as another peer would make them.
  const edited = written.filter((_, i) => i % 3 === 0);
  // An edit keeps an attachment by its stub, as read.
  const before = await local.allDocs({ keys: edited.map((w) => w.id), include_docs: true });
  const edits = edited.map((w, i) => {
    const doc = { _id: w.id, _rev: w.rev, type: 'items', n: -i };
    const atts = before.rows[i].doc._attachments;
    if (atts) doc._attachments = atts;
    return doc;
  });
  await local.bulkDocs(edits);
  const deletions = written.filter((_, i) => i % 10 === 1).map((w) => ({ _id: w.id, _rev: w.rev, _deleted: true }));
  await local.bulkDocs(deletions);
  const branches = written.filter((_, i) => i % 99 === 0).map((w) => {
    const first = w.rev.split('-')[1];
    return { _id: w.id, _rev: '2-ffff' + first.slice(4), type: 'items', n: 'branch',
      _revisions: { start: 2, ids: ['ffff' + first.slice(4), first] } };
  });
  await local.bulkDocs(branches, { new_edits: false });

  const remoteName = unique('remote');
  const remote = new PouchDB(`${server}/${remoteName}`);
  let t = Date.now();
  const pushed = await PouchDB.replicate(local, remote);
  timings.push_ms = Date.now() - t;
  if (!pushed.ok || pushed.doc_write_failures) fail('push: ' + JSON.stringify(pushed));
  same(await contents(local), await contents(remote), 'after the push, local and the server');

  const pulledInto = new PouchDB(unique('pulled'), { adapter: 'memory' });
  t = Date.now();
  const pulled = await PouchDB.replicate(remote, pulledInto);
  timings.pull_ms = Date.now() - t;
  if (!pulled.ok || pulled.doc_write_failures) fail('pull: ' + JSON.stringify(pulled));
  same(await contents(remote), await contents(pulledInto), 'after the pull, the server and a new local');
  // Attachments came too, byte for byte.
  for (const id of ['d00050', 'd00100', 'd00150']) {
    const [a, b] = await Promise.all([local.getAttachment(id, 'blob.bin'), pulledInto.getAttachment(id, 'blob.bin')]);
    const c = await remote.getAttachment(id, 'blob.bin');
    if (!a.equals(b) || !a.equals(c)) fail(`${id}'s attachment differs`);
  }
  // Revision histories came too.
  for (const id of ['d00000', 'd00099', 'd00003']) {
    const [a, b] = await Promise.all([remote.get(id, { revs: true, open_revs: 'all' }), pulledInto.get(id, { revs: true, open_revs: 'all' })]);
    const key = (x) => canonical(x.map((r) => withoutRevpos(r.ok)).sort((p, q) => (p._rev < q._rev ? -1 : 1)));
    if (key(a) !== key(b)) fail(`${id}: histories differ:\n  ${key(a)}\n  ${key(b)}`);
  }

  // Offline edits of one document on both sides, then a sync: the same winner and
  // conflict on both; resolving on one side ends it on both after another sync.
  const doc = await local.get('d00006');
  await local.put(Object.assign({}, doc, { n: 'local' }));
  const theirs = await remote.get('d00006');
  await remote.put(Object.assign({}, theirs, { n: 'remote' }));
  const synced = await PouchDB.sync(local, remote);
  if (!synced.push.ok || !synced.pull.ok) fail('sync: ' + JSON.stringify(synced));
  const [l, r] = await Promise.all([local.get('d00006', { conflicts: true }), remote.get('d00006', { conflicts: true })]);
  if (l._rev !== r._rev || JSON.stringify(l._conflicts) !== JSON.stringify(r._conflicts) || !l._conflicts) {
    fail('the conflict is not the same on both sides: ' + JSON.stringify([l, r]));
  }
  await local.remove('d00006', l._conflicts[0]);
  await PouchDB.sync(local, remote);
  const resolved = await remote.get('d00006', { conflicts: true });
  if (resolved._conflicts) fail('the resolution did not replicate: ' + JSON.stringify(resolved));
  same(await contents(local), await contents(remote), 'after the syncs');

  // Live: a write on the server reaches PouchDB while a live sync runs.
  const live = PouchDB.sync(local, remote, { live: true, retry: true });
  await remote.put({ _id: 'late', type: 'items', n: 42 });
  const deadline = Date.now() + 30000;
  for (;;) {
    try { await local.get('late'); break; } catch (e) { /* not yet */ }
    if (Date.now() > deadline) fail('the live sync did not carry the write');
    await new Promise((res) => setTimeout(res, 100));
  }
  live.cancel();
  console.log(JSON.stringify({ ok: true, docs: count, pushed: pushed.docs_written, pulled: pulled.docs_written, timings }));
}

main().catch((e) => fail(e && e.stack || String(e)));
