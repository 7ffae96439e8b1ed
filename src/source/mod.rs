//! Readers of kernel files and of the application's exposition: text in, typed values out. They know nothing of rules or
//! exposition; only the network sources (`app`, over `http`) speak HTTP, as a client, off the tick.

pub mod app;
pub mod cgroup;
pub mod exposition;
pub mod http;
pub mod net;
pub mod probe;
pub mod proc;
pub mod settings;
