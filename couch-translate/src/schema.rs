//! The model of a table, as `#[derive(CouchRow)]` describes it to the translator.

use serde::{Deserialize, Serialize};

/// The JSON kind of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// An integer (`i8`…`i64`, `u8`…`u64`).
    Integer,
    /// A number (`f32`, `f64`).
    Float,
    /// A string.
    Text,
    /// `true` or `false`.
    Bool,
    /// A point in time, stored as fixed-width RFC 3339 UTC text
    /// (`2026-11-29T18:00:00.000000Z`), so text order is time order.
    DateTime,
    /// Opaque JSON (`serde_json::Value`, or any serde type marked `#[couch(json)]`):
    /// read and written whole; in WHERE only `IS [NOT] NULL`.
    Json,
    /// A nested object (`#[derive(CouchObject)]`); its fields are in [`ColumnType::fields`].
    Object,
    /// An array; its element type is [`ColumnType::element`].
    Array,
}

impl Kind {
    /// The name Mango's `$type` operator uses for this kind.
    pub fn json_type(self) -> &'static str {
        match self {
            Kind::Integer | Kind::Float => "number",
            Kind::Text | Kind::DateTime => "string",
            Kind::Bool => "boolean",
            Kind::Object => "object",
            Kind::Array => "array",
            // Never used as a guard: JSON columns are only tested for NULL.
            Kind::Json => "object",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Integer => "an integer",
            Kind::Float => "a number",
            Kind::Text => "a string",
            Kind::Bool => "a boolean",
            Kind::DateTime => "a date-time",
            Kind::Json => "opaque JSON",
            Kind::Object => "an object",
            Kind::Array => "an array",
        }
    }

    /// A single JSON value compared by `=`, `<`, … (not an object, array or opaque JSON).
    pub fn is_scalar(self) -> bool {
        matches!(self, Kind::Integer | Kind::Float | Kind::Text | Kind::Bool | Kind::DateTime)
    }
}

/// A column's type: its kind, whether it may be NULL, and its Rust spelling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnType {
    /// The JSON kind.
    pub kind: Kind,
    /// Whether NULL is a value of it (`Option<…>`).
    pub nullable: bool,
    /// The Rust type as written in the model (for messages), e.g. `Option<String>`.
    pub rust: String,
    /// The fields of an [`Kind::Object`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Column>,
    /// The element type of an [`Kind::Array`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<Box<ColumnType>>,
    /// How generated code names this type from the table's model, for types it
    /// cannot spell where a query is written (objects, `#[couch(json)]` types).
    /// Filled in when a column path is resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<Access>,
    /// Nullable only because of its path (an enclosing `Option` object, or an
    /// array position), not because the model declares it `Option`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub outer_null: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One step from a model type to a nested type (see [`ColumnType::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// The type of the `n`-th field of the (non-`Option`) object type.
    Field(usize),
    /// The element type of the (non-`Option`) `Vec`.
    Element,
}

impl ColumnType {
    /// A type of this kind, spelt `rust`.
    pub fn new(kind: Kind, nullable: bool, rust: impl Into<String>) -> Self {
        ColumnType {
            kind,
            nullable,
            rust: rust.into(),
            fields: vec![],
            element: None,
            access: vec![],
            outer_null: false,
        }
    }

    /// An array of `element`.
    pub fn array(element: ColumnType, nullable: bool, rust: impl Into<String>) -> Self {
        ColumnType { element: Some(Box::new(element)), ..ColumnType::new(Kind::Array, nullable, rust) }
    }

    /// An object with `fields`.
    pub fn object(fields: Vec<Column>, nullable: bool, rust: impl Into<String>) -> Self {
        ColumnType { fields, ..ColumnType::new(Kind::Object, nullable, rust) }
    }

    /// The field of an object type called `name` in SQL.
    pub fn field(&self, name: &str) -> Option<&Column> {
        self.fields.iter().find(|c| c.name == name)
    }

    /// The Rust type without its `Option` and `Vec` wrappers (`Option<u32>` → `u32`).
    pub fn base_rust(&self) -> &str {
        let mut t = self.rust.as_str();
        while let Some(inner) = t.strip_prefix("Option<").or_else(|| t.strip_prefix("Vec<")) {
            t = inner.strip_suffix('>').unwrap_or(inner);
        }
        t
    }

    /// The inclusive range of an integer column's Rust type (`u8`, `i32`, …).
    pub fn int_range(&self) -> Option<(i128, i128)> {
        if self.kind != Kind::Integer {
            return None;
        }
        Some(match self.base_rust() {
            "i8" => (i8::MIN.into(), i8::MAX.into()),
            "i16" => (i16::MIN.into(), i16::MAX.into()),
            "i32" => (i32::MIN.into(), i32::MAX.into()),
            "u8" => (0, u8::MAX.into()),
            "u16" => (0, u16::MAX.into()),
            "u32" => (0, u32::MAX.into()),
            "u64" => (0, u64::MAX.into()),
            _ => (i64::MIN.into(), i64::MAX.into()),
        })
    }
}

/// A column: its SQL name, the document field it lives in, and its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// The name used in SQL (the Rust field name).
    pub name: String,
    /// The document field (`_id` for the model's id field).
    pub field: String,
    /// The column's type.
    pub ty: ColumnType,
    /// The position of the field in its Rust struct (`None` for `_id`/`_rev`
    /// when the model has no such field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

impl Column {
    /// A column stored under its own name.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        let name = name.into();
        Column { field: name.clone(), name, ty, index: None }
    }

    /// A column stored under another document field (e.g. `id` → `_id`).
    pub fn mapped(name: impl Into<String>, field: impl Into<String>, ty: ColumnType) -> Self {
        Column { name: name.into(), field: field.into(), ty, index: None }
    }

    /// The same column, as the `index`-th field of its Rust struct.
    pub fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
}

/// How the documents of a table are told apart from the rest of the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableKey {
    /// The documents whose field of this name equals the table name
    /// (`type` by default; `#[couch(type_field = "doc_type")]`).
    Field(String),
    /// The documents whose `_id` starts with this prefix
    /// (`#[couch(id_prefix = "user:")]`), served by CouchDB's primary index.
    IdPrefix(String),
}

impl Default for TableKey {
    fn default() -> Self {
        TableKey::Field("type".to_string())
    }
}

impl TableKey {
    /// The discriminator field as a Mango path (`None` for id-prefix tables).
    pub fn mango_field(&self) -> Option<String> {
        match self {
            TableKey::Field(f) => Some(crate::path::escape(f)),
            TableKey::IdPrefix(_) => None,
        }
    }

    /// The fields a json index of this table starts with: the discriminator
    /// field, or nothing (the `_id` range needs no secondary index). A field
    /// starting with `$` is left out too: pouchdb-server 4.2.0 indexes it as
    /// missing (its index mapper does not unescape `\$`), which would lose rows;
    /// the selector still tests it.
    pub fn index_head(&self) -> Vec<String> {
        match self {
            TableKey::Field(f) if !f.starts_with('$') => vec![crate::path::escape(f)],
            _ => vec![],
        }
    }

    /// Whether `doc` is a document of `table`.
    pub fn holds(&self, table: &str, doc: &serde_json::Map<String, serde_json::Value>) -> bool {
        match self {
            TableKey::Field(f) => doc.get(f).and_then(|v| v.as_str()) == Some(table),
            TableKey::IdPrefix(p) => {
                doc.get("_id").and_then(|v| v.as_str()).is_some_and(|id| id.starts_with(p.as_str()))
            }
        }
    }

    /// The selector of every document of `table` (rendered per server, as every
    /// selector is): `{"type": "users"}`, or the `_id` prefix test.
    ///
    /// ```
    /// use couch_translate::{Dialect, TableKey};
    /// let mut out = Vec::new();
    /// TableKey::default().selector("users").compile().render_in(&[], Dialect::default(), &mut out).unwrap();
    /// assert_eq!(String::from_utf8(out).unwrap(), r#"{"type":"users"}"#);
    /// ```
    pub fn selector(&self, table: &str) -> crate::Tmpl {
        crate::translate::table_only(table, self)
    }

    /// Whether a document with this `_id` can be of the table (always, unless id-prefixed).
    pub fn holds_id(&self, id: &str) -> bool {
        match self {
            TableKey::Field(_) => true,
            TableKey::IdPrefix(p) => id.starts_with(p.as_str()),
        }
    }

    /// What a table's documents have in common, for messages: "whose `type` is \"users\"".
    pub fn describe(&self, table: &str) -> String {
        match self {
            TableKey::Field(f) => format!("whose `{f}` is \"{table}\""),
            TableKey::IdPrefix(p) => format!("whose `_id` starts with \"{p}\""),
        }
    }
}

/// A table: the documents whose `type` field (or another, see [`TableKey`])
/// equals `table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The table.
    pub table: String,
    /// The columns (`_id`, `_rev` and `_conflicts` included).
    pub columns: Vec<Column>,
    /// How the table's documents are recognised.
    #[serde(default)]
    pub key: TableKey,
    /// The column whose value is each document's partition, in a partitioned
    /// database (`#[couch(partition = "tenant")]`).
    #[serde(default)]
    pub partition: Option<String>,
}

/// The column of a document's conflicting revisions: CouchDB's `_conflicts`, the
/// live revisions that lost to the one shown (`None` when there are none). Queries
/// that name it ask the server for it (`"conflicts": true`); no index holds it, and
/// no statement writes it.
pub const CONFLICTS: &str = "_conflicts";

impl Schema {
    /// Builds a schema; `_id`, `_rev` and `_conflicts` are added as columns of every table.
    pub fn new(table: impl Into<String>, mut columns: Vec<Column>) -> Self {
        for meta in ["_id", "_rev"] {
            if !columns.iter().any(|c| c.name == meta) {
                columns.push(Column::new(meta, ColumnType::new(Kind::Text, false, "String")));
            }
        }
        if !columns.iter().any(|c| c.name == CONFLICTS) {
            let text = ColumnType::new(Kind::Text, false, "String");
            columns.push(Column::new(CONFLICTS, ColumnType::array(text, true, "Option<Vec<String>>")));
        }
        Schema { table: table.into(), columns, key: TableKey::default(), partition: None }
    }

    /// The same schema, with its documents recognised by `key`.
    pub fn with_key(mut self, key: TableKey) -> Self {
        self.key = key;
        self
    }

    /// The same schema, of a table in a partitioned database whose documents'
    /// partition is the value of the column stored in `field`.
    pub fn with_partition(mut self, field: impl Into<String>) -> Self {
        self.partition = Some(field.into());
        self
    }

    /// Finds a column by its SQL name (case-sensitive, like the Rust field).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The closest column name, for "did you mean" hints.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        closest(name, self.columns.iter().map(|c| c.name.as_str()))
    }
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count().max(name.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: like Levenshtein, but a swap of two
/// neighbouring letters (`nmae`) counts as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let names = ["name", "age", "email", "active"];
        assert_eq!(closest("nmae", names.iter().copied()), Some("name"));
        assert_eq!(closest("emial", names.iter().copied()), Some("email"));
        assert_eq!(closest("zzzzzz", names.iter().copied()), None);
    }
}
