//! Reports (being written).
#![warn(missing_docs)]
