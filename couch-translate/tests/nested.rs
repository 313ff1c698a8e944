//! Nested objects, arrays, dates and JSON columns: paths, type checks and the Mango they become.

use couch_translate::{translate, Column, ColumnType, Kind, Plan, Schema, Translation};
use serde_json::{json, Value};

pub fn customers() -> Schema {
    let text = |n: &str| Column::new(n, ColumnType::new(Kind::Text, false, "String"));
    let address = |nullable: bool, rust: &str| {
        ColumnType::object(
            vec![text("city").at(0), Column::new("zip", ColumnType::new(Kind::Text, true, "Option<String>")).at(1)],
            nullable,
            rust,
        )
    };
    let line = ColumnType::object(
        vec![
            text("sku").at(0),
            Column::new("qty", ColumnType::new(Kind::Integer, false, "i64")).at(1),
            Column::new("price", ColumnType::new(Kind::Float, false, "f64")).at(2),
        ],
        false,
        "Line",
    );
    Schema::new(
        "customers",
        vec![
            Column::mapped("id", "_id", ColumnType::new(Kind::Text, true, "Option<String>")).at(0),
            text("name").at(1),
            Column::new("address", address(false, "Address")).at(2),
            Column::new("billing", address(true, "Option<Address>")).at(3),
            Column::new("tags", ColumnType::array(ColumnType::new(Kind::Text, false, "String"), false, "Vec<String>"))
                .at(4),
            Column::new("lines", ColumnType::array(line, false, "Vec<Line>")).at(5),
            Column::new("since", ColumnType::new(Kind::DateTime, false, "DateTime<Utc>")).at(6),
            Column::new("visits", ColumnType::new(Kind::Integer, false, "u32")).at(7),
            Column::new("meta", ColumnType::new(Kind::Json, false, "Value")).at(8),
        ],
    )
}

fn ok(sql: &str) -> Translation {
    translate(sql, Some(&customers())).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn err(sql: &str) -> String {
    translate(sql, Some(&customers())).map(|t| format!("{:?}", t.plan)).expect_err(sql).to_string()
}

fn selector(sql: &str, params: &[Value]) -> Value {
    let t = ok(sql);
    let sel = match &t.plan {
        Plan::Select(s) => &s.selector,
        Plan::Update(u) => &u.selector,
        Plan::Delete(d) => &d.selector,
        _ => panic!("no selector"),
    };
    serde_json::from_str(&sel.render_string(params).unwrap()).unwrap()
}

#[test]
fn dotted_paths() {
    assert_eq!(
        selector("SELECT name, address.city FROM customers WHERE address.city = ?", &[json!("Oslo")]),
        json!({"type": "customers", "address": {"$type": "object"}, "address.city": {"$eq": "Oslo"}})
    );
    let t = ok("SELECT name, address.city, billing.zip AS bzip FROM customers ORDER BY address.city");
    let Plan::Select(s) = &t.plan else { panic!() };
    let names: Vec<&str> = s.projection.as_ref().unwrap().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["name", "address_city", "bzip"]);
    assert_eq!(s.fields.as_deref().unwrap(), ["_id", "name", "address", "billing"]);
    assert_eq!(s.order_by[0].field, "address.city");
    assert!(s.server_sort, "address.city is never NULL in a valid row");
    let t = ok("SELECT name FROM customers ORDER BY billing.city");
    let Plan::Select(s) = &t.plan else { panic!() };
    assert!(!s.server_sort, "billing may be missing: billing.city is nullable");
    assert_eq!(
        selector("SELECT name FROM customers WHERE customers.address.city = 'x'", &[]),
        json!({"type": "customers", "address": {"$type": "object"}, "address.city": {"$eq": "x"}})
    );
}

#[test]
fn nested_is_null_covers_missing_parents() {
    let not_object = ["null", "boolean", "number", "string", "array"].map(|t| json!({"billing": {"$type": t}}));
    let mut any = vec![json!({"billing": {"$exists": false}})];
    any.extend(not_object);
    any.extend([json!({"billing.city": {"$exists": false}}), json!({"billing.city": {"$eq": null}})]);
    assert_eq!(
        selector("SELECT name FROM customers WHERE billing.city IS NULL", &[]),
        json!({"type": "customers", "$or": any})
    );
    assert_eq!(
        selector("SELECT name FROM customers WHERE billing.city IS NOT NULL", &[]),
        json!({"type": "customers", "billing": {"$type": "object"}, "billing.city": {"$gt": null}})
    );
}

#[test]
fn arrays() {
    assert_eq!(
        selector("SELECT name FROM customers WHERE ? = ANY(tags)", &[json!("vip")]),
        json!({"type": "customers", "tags": {"$elemMatch": {"$eq": "vip"}}})
    );
    assert_eq!(
        selector("SELECT name FROM customers WHERE tags @> ARRAY[?, ?]", &[json!("a"), json!("b")]),
        json!({"type": "customers", "tags": {"$all": ["a", "b"]}})
    );
    assert_eq!(
        selector("SELECT name FROM customers WHERE CARDINALITY(tags) = ?", &[json!(2)]),
        json!({"type": "customers", "tags": {"$size": 2}})
    );
    assert_eq!(
        selector("SELECT name FROM customers WHERE tags[0] = ? AND lines[1].sku = ?", &[json!("a"), json!("s")]),
        json!({"type": "customers", "tags": {"$type": "array"}, "tags.0": {"$eq": "a"},
            "lines": {"$type": "array"}, "lines.1": {"$type": "object"}, "lines.1.sku": {"$eq": "s"}})
    );
    assert_eq!(
        selector("SELECT name FROM customers WHERE tags = ARRAY['vip', 'new']", &[]),
        json!({"type": "customers", "tags": {"$eq": ["vip", "new"]}})
    );
    assert_eq!(
        selector(
            "SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE l.qty >= ? AND l.sku = ?)",
            &[json!(2), json!("s")]
        ),
        json!({"type": "customers", "lines": {"$elemMatch": {"qty": {"$type": "number", "$gte": 2}, "sku": {"$eq": "s"}}}})
    );
    assert_eq!(
        selector(
            "SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t >= 'a' AND t < 'c')",
            &[]
        ),
        json!({"type": "customers", "tags": {"$elemMatch": {"$type": "string", "$gte": "a", "$lt": "c"}}})
    );
    // NOT keeps SQL's meaning: an array, no element equal, none NULL.
    assert_eq!(
        selector("SELECT name FROM customers WHERE NOT (? = ANY(tags))", &[json!("vip")]),
        json!({"type": "customers", "tags": {"$type": "array"}, "$nor": [
            {"tags": {"$elemMatch": {"$eq": "vip"}}}, {"tags": {"$elemMatch": {"$eq": null}}}]})
    );
}

#[test]
fn dates_are_fixed_width_text() {
    assert_eq!(
        selector("SELECT name FROM customers WHERE since >= '2026-01-02'", &[]),
        json!({"type": "customers", "since": {"$type": "string", "$gte": "2026-01-02T00:00:00.000000Z"}})
    );
    assert!(err("SELECT name FROM customers WHERE since >= '2026-01-02T10:00:00+02:00'").contains("UTC"));
}

#[test]
fn mistakes_are_explained() {
    assert!(err("SELECT name FROM customers WHERE address.ctiy = ?").contains("did you mean `address.city`"));
    assert!(err("SELECT name FROM customers WHERE lines.qty = 1").contains("UNNEST(lines)"));
    assert!(err("SELECT name FROM customers WHERE ? = ANY(name)").contains("needs an array column"));
    assert!(err("SELECT name FROM customers WHERE tags = 'x'").contains("cannot be compared"));
    assert!(err("SELECT name FROM customers WHERE CARDINALITY(tags) > 1").contains("only be compared with `=`"));
    assert!(err("SELECT name FROM customers WHERE meta = 1").contains("opaque JSON"));
    assert!(err("SELECT name FROM customers WHERE address = 1").contains("compare its fields"));
    assert!(err("INSERT INTO customers (name, address, tags, lines, since, visits, meta) VALUES ('a', NULL, NULL, NULL, '2026-01-01', -1, NULL)").contains("does not fit"));
    assert!(err("SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE name = 'x')")
        .contains("on the elements"));
    ok("SELECT meta FROM customers WHERE meta IS NOT NULL");
}
