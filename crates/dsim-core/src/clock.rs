//! Per-node local clocks: `offset + (1 + drift) * virtual_time`, in integer arithmetic.

use crate::error::ConfigError;
use crate::time::SimTime;

/// Parts per million: the unit of clock drift.
const PPM: i128 = 1_000_000;

/// A node's local clock. Drift is in parts per million (100 ppm runs 0.01% fast);
/// offset is a signed jump in nanoseconds. Readings never go below zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalClock {
    /// Added to every reading, in nanoseconds.
    pub offset_ns: i64,
    /// Rate error in parts per million; must be above -1,000,000 so the clock moves on.
    pub drift_ppm: i64,
}

impl LocalClock {
    /// Checks that the clock moves forward.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if i128::from(self.drift_ppm) <= -PPM {
            return Err(ConfigError::Parameter {
                field: "clock drift_ppm",
                problem: "must be greater than -1000000 (the clock must move forward)",
                value: self.drift_ppm as f64,
            });
        }
        Ok(())
    }

    /// The local reading at virtual time `now`.
    #[inline]
    pub fn local(&self, now: SimTime) -> SimTime {
        if self.drift_ppm == 0 {
            // Fast path for the common perfect-rate clock: no 128-bit arithmetic, the
            // same clamped reading.
            return SimTime(now.0.saturating_add_signed(self.offset_ns));
        }
        let virtual_ns = i128::from(now.0);
        let local =
            virtual_ns + i128::from(self.offset_ns) + virtual_ns * i128::from(self.drift_ppm) / PPM;
        SimTime(local.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// The earliest virtual time at or after `not_before` when the local reading is at
    /// least `deadline`. Timers use it so they never fire early by local time.
    pub fn virtual_when(&self, deadline: SimTime, not_before: SimTime) -> SimTime {
        if self.local(not_before) >= deadline {
            return not_before;
        }
        let rate = PPM + i128::from(self.drift_ppm);
        let numerator = (i128::from(deadline.0) - i128::from(self.offset_ns)) * PPM;
        // Ceiling division; numerator is positive here because local(not_before) < deadline.
        let mut guess = ((numerator + rate - 1) / rate).max(i128::from(not_before.0));
        // Integer truncation inside `local` can leave the guess a nanosecond short.
        while self.local(SimTime(guess as u64)) < deadline {
            guess += 1;
        }
        // ... or a nanosecond long: `local` truncates toward zero, which rounds a slow
        // clock's reading up. `local` never decreases, so stepping back is exact.
        while guess > i128::from(not_before.0)
            && self.local(SimTime((guess - 1) as u64)) >= deadline
        {
            guess -= 1;
        }
        assert!(guess >= i128::from(not_before.0));
        SimTime(guess.min(i128::from(u64::MAX)) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_clock_reads_virtual_time() {
        let clock = LocalClock::default();
        assert_eq!(clock.local(SimTime(123)), SimTime(123));
        assert_eq!(clock.virtual_when(SimTime(500), SimTime(10)), SimTime(500));
    }

    #[test]
    fn fast_clock_fires_timers_early_in_virtual_time() {
        // 10% fast: 1s of local time passes in about 0.909s of virtual time.
        let clock = LocalClock {
            offset_ns: 0,
            drift_ppm: 100_000,
        };
        assert_eq!(clock.local(SimTime(1_000_000_000)), SimTime(1_100_000_000));
        let when = clock.virtual_when(SimTime(1_000_000_000), SimTime::ZERO);
        assert_eq!(when, SimTime(909_090_910));
        assert!(clock.local(when) >= SimTime(1_000_000_000));
        assert!(clock.local(SimTime(when.0 - 1)) < SimTime(1_000_000_000));
    }

    #[test]
    fn offset_shifts_readings_and_clamps_at_zero() {
        let clock = LocalClock {
            offset_ns: -50,
            drift_ppm: 0,
        };
        assert_eq!(clock.local(SimTime(20)), SimTime(0));
        assert_eq!(clock.local(SimTime(80)), SimTime(30));
        assert!(
            LocalClock {
                offset_ns: 0,
                drift_ppm: -1_000_000
            }
            .validate()
            .is_err()
        );
    }
}
