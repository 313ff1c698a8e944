//! The guide's pages whose examples are compiled as doctests (`docs/`).

#[doc = include_str!("../docs/testing.md")]
pub struct Testing;
