//! Protocols (being written).
#![warn(missing_docs)]
