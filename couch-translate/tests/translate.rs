use couch_translate::{translate, Column, ColumnType, Kind, Plan, Schema, Translation};
use serde_json::{json, Value};

fn users() -> Schema {
    Schema::new(
        "users",
        vec![
            Column::mapped("id", "_id", ColumnType::new(Kind::Text, true, "Option<String>")),
            Column::new("name", ColumnType::new(Kind::Text, false, "String")),
            Column::new("age", ColumnType::new(Kind::Integer, false, "i64")),
            Column::new("email", ColumnType::new(Kind::Text, true, "Option<String>")),
            Column::new("active", ColumnType::new(Kind::Bool, false, "bool")),
        ],
    )
}

fn ok(sql: &str) -> Translation {
    translate(sql, Some(&users())).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn err(sql: &str) -> String {
    translate(sql, Some(&users())).map(|t| format!("{:?}", t.plan)).expect_err(sql).to_string()
}

fn selector(sql: &str, params: &[Value]) -> Value {
    let t = ok(sql);
    let sel = match &t.plan {
        Plan::Select(s) | Plan::Explain(s) => &s.selector,
        Plan::Update(u) => &u.selector,
        Plan::Delete(d) => &d.selector,
        _ => panic!("no selector"),
    };
    serde_json::from_str(&sel.render_string(params).unwrap()).unwrap()
}

#[test]
fn comparisons_carry_type_guards() {
    assert_eq!(
        selector("SELECT name FROM users WHERE age >= ? AND active = true", &[json!(18)]),
        json!({"type": "users", "age": {"$type": "number", "$gte": 18}, "active": {"$eq": true}})
    );
    assert_eq!(
        selector("SELECT * FROM users WHERE 18 < age", &[]),
        json!({"type": "users", "age": {"$type": "number", "$gt": 18}})
    );
}

#[test]
fn not_is_pushed_down_with_null_guards() {
    assert_eq!(
        selector("SELECT * FROM users WHERE NOT (email = 'x' OR age < 3)", &[]),
        json!({"type": "users", "email": {"$type": "string", "$nin": ["x"]}, "age": {"$type": "number", "$gte": 3}})
    );
    assert_eq!(
        selector("SELECT * FROM users WHERE email NOT IN ('a', 'b')", &[]),
        json!({"type": "users", "email": {"$type": "string", "$nin": ["a", "b"]}})
    );
    assert_eq!(
        selector("SELECT * FROM users WHERE email IS NULL", &[]),
        json!({"type": "users", "$or": [{"email": {"$exists": false}}, {"email": {"$eq": null}}]})
    );
}

#[test]
fn conditions_on_one_field_merge_or_move_into_and() {
    assert_eq!(
        selector("SELECT * FROM users WHERE age > 1 AND age <= 9", &[]),
        json!({"type": "users", "age": {"$type": "number", "$gt": 1, "$lte": 9}})
    );
    // Two NOT IN lists (and `<>`) are one list.
    assert_eq!(
        selector("SELECT * FROM users WHERE age <> 1 AND age <> 2 AND active", &[]),
        json!({"type": "users", "age": {"$type": "number", "$nin": [1, 2]}, "active": {"$eq": true}})
    );
    // What cannot merge stands negated twice under the one `$nor`: pouchdb-server
    // folds an `$and` field by field, and would keep one `$eq` or drop the range.
    assert_eq!(
        selector("SELECT * FROM users WHERE age = 3 AND age > 5", &[]),
        json!({"type": "users", "age": {"$eq": 3}, "$nor": [{"$nor": [{"age": {"$type": "number", "$gt": 5}}]}]})
    );
    assert_eq!(
        selector("SELECT * FROM users WHERE (age < 3 OR email = 'a') AND (age > 1 OR email = 'b') AND NOT active", &[]),
        json!({
            "type": "users",
            "$or": [{"age": {"$type": "number", "$lt": 3}}, {"email": {"$eq": "a"}}],
            "$nor": [{"$nor": [{"$or": [{"age": {"$type": "number", "$gt": 1}}, {"email": {"$eq": "b"}}]}]}],
            "active": {"$type": "boolean", "$nin": [true]}
        })
    );
}

#[test]
fn null_parameters_never_match() {
    assert_eq!(
        selector("SELECT * FROM users WHERE email = ? OR age = 1", &[json!(null)]),
        json!({"type": "users", "$or": [{"_id": {"$in": []}}, {"age": {"$eq": 1}}]})
    );
}

#[test]
fn like_parameters_are_escaped_when_bound() {
    assert_eq!(
        selector("SELECT * FROM users WHERE name LIKE ?", &[json!("a.b%")]),
        json!({"type": "users", "name": {"$regex": "^a\\.b"}})
    );
    assert_eq!(
        selector("SELECT * FROM users WHERE name LIKE ?", &[json!("%{\"$gt\":null}%")]),
        json!({"type": "users", "name": {"$regex": "^(?=([\\s\\S]*?\\{\"\\$gt\":null\\}))\\1"}})
    );
}

#[test]
fn params_are_numbered_in_text_order() {
    let t = ok("UPDATE users SET name = ? WHERE age < ? AND email LIKE ?");
    assert_eq!(t.params.len(), 3);
    assert!(matches!(&t.params[0].usage, couch_translate::ParamUsage::Store { column, .. } if column == "name"));
    assert!(matches!(&t.params[2].usage, couch_translate::ParamUsage::Like { .. }));
}

#[test]
fn sort_plans() {
    let Plan::Select(s) = ok("SELECT name FROM users ORDER BY age DESC LIMIT 10").plan else { panic!() };
    assert!(s.server_sort);
    assert_eq!(s.index, Some(vec!["type".to_string(), "age".to_string()]));
    let Plan::Select(s) = ok("SELECT name FROM users ORDER BY email").plan else { panic!() };
    assert!(!s.server_sort, "nullable keys are sorted by the runtime");
    assert_eq!(s.fields, Some(vec!["_id".to_string(), "name".to_string(), "email".to_string()]));
    let Plan::Select(s) = ok("SELECT name FROM users ORDER BY age DESC, name ASC").plan else { panic!() };
    assert!(!s.server_sort, "mixed directions are finished by the runtime");
}

#[test]
fn errors_are_collected_and_explained() {
    let e = err("SELECT nmae, agee FROM users WHERE emial = 1");
    assert!(e.contains("unknown column `nmae`") && e.contains("did you mean `name`?"), "{e}");
    assert!(e.contains("unknown column `agee`"), "{e}");
    assert!(e.contains("unknown column `emial`"), "{e}");
    assert!(err("SELECT * FROM users u JOIN orders o ON u.id = o.user_id").contains("JOIN is not supported"));
    assert!(err("SELECT name FROM users WHERE COUNT(*) > 1").contains("COUNT() is an aggregate"));
    assert!(err("SELECT name, COUNT(*) FROM users GROUP BY age").contains("neither grouped nor aggregated"));
    assert!(err("SELECT SUM(name) FROM users").contains("needs a numeric column"));
    assert!(err("SELECT * FROM users WHERE age = 'x'").contains("cannot be compared with column `age`"));
    assert!(err("SELECT * FROM users WHERE age = NULL").contains("IS NULL"));
    assert!(err("INSERT INTO users (name) VALUES ('a')").contains("missing `age` (i64), `active` (bool)"));
    assert!(err("SELEC * FROM users").contains("line 1, column 1"));
    assert!(err("SELECT * FROM users WHERE age IN (SELECT age FROM users)").contains("subqueries"));
    assert!(err("SELECT * FROM users UNION SELECT * FROM users").contains("UNION"));
    assert!(err("CREATE TABLE x (a int)").contains("not supported"));
}

#[test]
fn insert_rows_carry_type() {
    let t = ok("INSERT INTO users (name, age, email, active) VALUES (?, ?, ?, ?), ('Bo', 17, NULL, false)");
    let Plan::Insert(i) = t.plan else { panic!() };
    let p = [json!("Al"), json!(30), json!("a@x"), json!(true)];
    let docs: Vec<Value> =
        i.rows.iter().map(|r| serde_json::from_str(&r.render_string(&p).unwrap()).unwrap()).collect();
    assert_eq!(docs[0], json!({"type": "users", "name": "Al", "age": 30, "email": "a@x", "active": true}));
    assert_eq!(docs[1], json!({"type": "users", "name": "Bo", "age": 17, "email": null, "active": false}));
}

#[test]
fn index_plans_follow_couchdbs_rules() {
    let planned = |sql: &str| match ok(sql).plan {
        Plan::Select(s) => s.planned,
        Plan::Update(u) => u.planned,
        Plan::Delete(d) => d.planned,
        _ => None,
    };
    let v = |f: &[&str]| Some(f.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    // Equality fields first, then one range field.
    assert_eq!(planned("SELECT * FROM users WHERE age >= ? AND name = ?"), v(&["type", "name", "age"]));
    assert_eq!(
        planned("SELECT * FROM users WHERE age BETWEEN 1 AND 5 AND active = true"),
        v(&["type", "active", "age"])
    );
    // A server-side sort plans its sort index.
    assert_eq!(planned("SELECT name FROM users WHERE name = 'x' ORDER BY age DESC"), v(&["type", "age"]));
    // Conditions that hold for missing fields, OR, LIKE: the type index only (a scan of the table).
    assert_eq!(planned("SELECT * FROM users WHERE email IS NULL"), v(&["type"]));
    assert_eq!(planned("SELECT * FROM users WHERE age = 1 OR name = 'x'"), v(&["type"]));
    assert_eq!(planned("SELECT * FROM users WHERE name LIKE '%x%'"), v(&["type"]));
    assert_eq!(planned("SELECT * FROM users WHERE age <> 3"), v(&["type"]));
    // Reads by id need no index; UPDATE and DELETE plan their read.
    assert_eq!(planned("SELECT * FROM users WHERE _id = ?"), None);
    assert_eq!(planned("UPDATE users SET active = false WHERE age < 18"), v(&["type", "age"]));
    assert_eq!(planned("DELETE FROM users WHERE email = 'x' AND active"), v(&["type", "email", "active"]));
}

#[test]
fn other_table_conventions() {
    use couch_translate::{Dialect, TableKey};
    let render = |schema: &Schema, sql: &str, dialect: Dialect| -> (Value, Option<Vec<String>>) {
        let t = translate(sql, Some(schema)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let Plan::Select(s) = &t.plan else { panic!("a select") };
        let mut out = Vec::new();
        s.selector.render_in(&[json!(30)], dialect, &mut out).unwrap();
        (serde_json::from_slice(&out).unwrap(), s.planned.clone())
    };
    let couch = Dialect::couchdb(Some("3.4.3"));
    let by_field = users().with_key(TableKey::Field("$doctype".into()));
    let (sel, planned) = render(&by_field, "SELECT name FROM users WHERE age > ?", couch);
    assert_eq!(sel, json!({"\\$doctype": "users", "age": {"$type": "number", "$gt": 30}}));
    assert_eq!(planned.unwrap(), ["age"], "pouchdb-server cannot index a field starting with `$`");
    let (sel, planned) =
        render(&users().with_key(TableKey::Field("kind".into())), "SELECT name FROM users WHERE age > ?", couch);
    assert_eq!(sel, json!({"kind": "users", "age": {"$type": "number", "$gt": 30}}));
    assert_eq!(planned.unwrap(), ["kind", "age"]);

    let by_prefix = users().with_key(TableKey::IdPrefix("user:".into()));
    let (sel, planned) = render(&by_prefix, "SELECT name FROM users WHERE age > ?", couch);
    assert_eq!(sel, json!({"_id": {"$beginsWith": "user:"}, "age": {"$type": "number", "$gt": 30}}));
    assert_eq!(planned.unwrap(), ["age"]);
    let (sel, planned) = render(&by_prefix, "SELECT name FROM users", couch);
    assert_eq!(sel, json!({"_id": {"$beginsWith": "user:"}}));
    assert_eq!(planned, None, "the primary index serves it");
    let (sel, _) = render(&by_prefix, "SELECT name FROM users", Dialect::pouchdb());
    assert_eq!(sel, json!({"_id": {"$gte": "user:", "$lt": "user;"}}));
    // A `%` or `_` in the prefix is literal text, not a wildcard.
    let odd = users().with_key(TableKey::IdPrefix("a_b%".into()));
    let (sel, _) = render(&odd, "SELECT name FROM users", couch);
    assert_eq!(sel, json!({"_id": {"$beginsWith": "a_b%"}}));
    let (sel, _) = render(&odd, "SELECT name FROM users", Dialect::couchdb(Some("3.3.0")));
    assert_eq!(sel, json!({"_id": {"$regex": "^a_b%"}}));
}
