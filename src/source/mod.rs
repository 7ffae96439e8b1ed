//! Readers of kernel files and of the application's exposition: text in, typed values out. They know nothing of HTTP, rules or
//! exposition.

pub mod cgroup;
pub mod exposition;
pub mod proc;
