"""Medians of the rounds in DIR, checked against the rows each scenario must return."""
import glob
import json
import statistics
import sys

d, n, server = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = {"seed": [], "rust": []}
for f in sorted(glob.glob(f"{d}/*.json")):
    side = f.rsplit("/", 1)[1].split("-")[0]
    runs[side].append(json.load(open(f)))

# What each scenario must return, computed from the data both sides insert.
rows = [dict(age=i % 100, city=f"c{i % 10}") for i in range(2 * n)]
def selective(i):
    return min(20, sum(1 for r in rows if r["age"] >= 90 - i % 10 and r["city"] == f"c{i % 10}"))
expect = {
    "a": n, "b": n, "c": sum(selective(i) for i in range(200)), "g": sum(selective(i) for i in range(200)),
    "d": 2 * n, "e": 100, "f_update": sum(1 for r in rows if r["city"] == "c3"),
    "f_delete": sum(1 for r in rows if r["age"] < 20),
}
names = {
    "a": f"a: {n:,} single-row INSERTs",
    "b": "b: multi-row INSERT (batch) vs the seed's bulk helper",
    "c": "c: 200 × SELECT … WHERE age >= ? AND city = ? LIMIT 20",
    "g": "g: the same, 50 concurrent",
    "d": f"d: SELECT * … WHERE age >= 0 ({2 * n:,} rows)",
    "e": "e: … ORDER BY age DESC LIMIT 100",
    "f_update": "f: UPDATE … SET score = 1.5 WHERE city = 'c3'",
    "f_delete": "f: DELETE … WHERE age < 20",
}
print(f"\n{server}, N = {n:,}, {len(runs['rust'])} alternating rounds, medians; ratio = seed time ÷ couch-sql time\n")
print("| scenario | seed | couch-sql | ratio |")
print("|---|---:|---:|---:|")
for k, label in names.items():
    def med(side):
        return statistics.median(r[k]["s"] for r in runs[side])
    def ok(side):
        return all(r[k]["rows"] == expect[k] for r in runs[side])
    seed_rows = {r[k]["rows"] for r in runs["seed"]}
    rust_ok = ok("rust")
    seed_note = "" if ok("seed") else f" (wrong: {sorted(seed_rows)} rows, not {expect[k]})"
    rust_note = "" if rust_ok else " (WRONG)"
    ratio = med("seed") / med("rust")
    print(f"| {label} | {med('seed'):.3f} s{seed_note} | {med('rust'):.3f} s{rust_note} | {ratio:.2f}× |")
