//! The guide's pages (`docs/`), whose examples are compiled as doctests so none can rot.

#[doc = include_str!("../docs/sql.md")]
pub struct Sql;

#[doc = include_str!("../docs/models.md")]
pub struct Models;

#[doc = include_str!("../docs/runtime.md")]
pub struct Runtime;

#[doc = include_str!("../docs/indexes.md")]
pub struct Indexes;

#[doc = include_str!("../docs/testing.md")]
pub struct Testing;

#[doc = include_str!("../docs/cli.md")]
pub struct Cli;

#[doc = include_str!("../docs/servers.md")]
pub struct Servers;

#[doc = include_str!("../docs/performance.md")]
pub struct Performance;

#[doc = include_str!("../docs/replication.md")]
pub struct Replication;
