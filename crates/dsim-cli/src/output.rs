//! Printing for people: the only place that writes to stdout.

/// Prints unless --quiet.
pub struct Printer {
    quiet: bool,
}

impl Printer {
    /// A printer that stays silent when `quiet`.
    pub fn new(quiet: bool) -> Self {
        Printer { quiet }
    }

    /// True with --quiet.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Prints one line.
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.quiet {
            print_line(text.as_ref());
        }
    }

    /// Prints a line even with --quiet (violations and replay commands).
    pub fn always(&self, text: impl AsRef<str>) {
        print_line(text.as_ref());
    }
}

/// Writes `text` and a newline to stdout. A closed stdout (`dsim ... | head -1`) is not
/// an error of the command: the line is dropped instead of panicking as `println!` does.
pub fn print_line(text: &str) {
    print_bytes(format!("{text}\n").as_bytes());
}

/// Writes `bytes` to stdout, ignoring a closed pipe (see [`print_line`]).
pub fn print_bytes(bytes: &[u8]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Nanoseconds for people: `2.1ms`, `950us`, `1.25s`.
pub fn human_ns(ns: u64) -> String {
    let value = ns as f64;
    if ns >= 1_000_000_000 {
        format!("{:.2}s", value / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.2}ms", value / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1}us", value / 1e3)
    } else {
        format!("{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_for_people() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(human_ns(2_100_000), "2.10ms");
        assert_eq!(human_ns(1_250_000_000), "1.25s");
        assert_eq!(human_ns(950), "950ns");
    }
}
