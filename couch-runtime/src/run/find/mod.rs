//! `_find`: request bodies, index choice, paging, and SELECT, one concern per module.

mod index;
mod pager;
mod request;
mod select;

pub(crate) use pager::Pager;
pub(crate) use request::FindTemplate;
pub(crate) use select::*;
