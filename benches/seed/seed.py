"""The seed (sqlalchemy-couchdb 0.1.4, SQLAlchemy Core) running the scenarios of
benches/seed/run.sh. Prints one JSON object: scenario -> {"s": seconds, "rows": n}.

    seed.py SERVER_ROOT DATABASE N

Its text() SQL is rejected and its bound parameters are not substituted in
writes, so values are inlined with .values(...) and the bulk helper is used for
multi-row inserts, as its README shows.
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, create_engine, delete, insert, select, update
from sqlalchemy_couchdb.helpers import bulk_insert

root, database, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urlsplit(root)
creds = f"{u.username}:{u.password}@" if u.username else ""
engine = create_engine(f"couchdb://{creds}{u.hostname}:{u.port}/{database}", pool_size=60, max_overflow=0)
md = MetaData()
users = Table(
    "users", md,
    Column("_id", String, primary_key=True), Column("name", String), Column("age", Integer),
    Column("email", String), Column("city", String), Column("active", Boolean), Column("score", Float),
)


def row(i):
    return dict(name=f"user{i}", age=i % 100, email=f"u{i}@example.com", city=f"c{i % 10}", active=i % 2 == 0, score=i * 0.5)


out = {}


def timed(name, f):
    t = time.perf_counter()
    rows = f()
    out[name] = {"s": time.perf_counter() - t, "rows": rows}


def a_single_inserts():
    with engine.connect() as c:
        for i in range(n):
            c.execute(insert(users).values(**row(i)))
        c.commit()
    return n


def b_bulk():
    return bulk_insert(engine, users, [row(i) for i in range(n, 2 * n)])


def selective(i):
    q = select(users.c.name, users.c.age).where(users.c.age >= 90 - i % 10).where(users.c.city == f"c{i % 10}").limit(20)
    with engine.connect() as c:
        return len(c.execute(q).fetchall())


def c_selective():
    return sum(selective(i) for i in range(200))


def g_concurrent():
    with ThreadPoolExecutor(50) as pool:
        return sum(pool.map(selective, range(200)))


def d_scan():
    with engine.connect() as c:
        return len(c.execute(select(users).where(users.c.age >= 0)).fetchall())


def e_sorted():
    # The seed cannot sort without an index and does not make one: made here, inside the timing
    # (couch-sql makes its own on the first sorted query).
    import urllib.request
    import base64
    req = urllib.request.Request(
        f"{u.scheme}://{u.hostname}:{u.port}/{database}/_index",
        data=json.dumps({"index": {"fields": ["age"]}, "type": "json"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if u.username:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{u.username}:{u.password}".encode()).decode())
    urllib.request.urlopen(req).read()
    with engine.connect() as c:
        return len(c.execute(select(users).where(users.c.age >= 0).order_by(users.c.age.desc()).limit(100)).fetchall())


def f_update():
    with engine.connect() as c:
        r = c.execute(update(users).where(users.c.city == "c3").values(score=1.5)).rowcount
        c.commit()
        return r


def f_delete():
    with engine.connect() as c:
        r = c.execute(delete(users).where(users.c.age < 20)).rowcount
        c.commit()
        return r


timed("a", a_single_inserts)
timed("b", b_bulk)
timed("c", c_selective)
timed("g", g_concurrent)
timed("d", d_scan)
timed("e", e_sorted)
timed("f_update", f_update)
timed("f_delete", f_delete)
print(json.dumps(out))
