//! Relays between the server and PHP workers.

pub mod frame;
pub mod response;
