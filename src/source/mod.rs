//! Readers of kernel files: text in, typed values out. They know nothing of HTTP, rules or
//! exposition.

pub mod cgroup;
pub mod proc;
