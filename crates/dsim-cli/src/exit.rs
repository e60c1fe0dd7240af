//! Exit codes, exactly as DESIGN.md states them.

/// All checks held.
pub const OK: u8 = 0;
/// An invariant was violated.
pub const VIOLATION: u8 = 1;
/// Bad input or usage.
pub const USAGE: u8 = 2;
