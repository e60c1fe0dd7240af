//! Progress of a long run, reported at virtual-time checkpoints.
//!
//! [`crate::protocol::execute`] always runs a simulation in [`CHECKPOINTS`] equal
//! slices of virtual time, whether or not anyone watches. Slicing does not change a
//! run: `run_until(t)` handles exactly the events at or before `t`, in `(time, seq)`
//! order, so a run cut into slices handles the same events in the same order as one
//! `run_until(end)`. After each slice the hook installed on this thread with [`watch`]
//! (if any) sees a [`Progress`]; it only reads, so it cannot shape the run.

use crate::time::SimTime;
use std::cell::RefCell;

/// How many slices of virtual time a run is cut into.
pub const CHECKPOINTS: u64 = 1_000;

/// Where a run is, reported after each slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Virtual time reached.
    pub now: SimTime,
    /// Virtual time at which the run ends.
    pub end: SimTime,
    /// Events handled so far.
    pub events: u64,
}

type Hook = Box<dyn FnMut(&Progress)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Runs `body` with `hook` watching every run it executes on this thread (runs on
/// other threads, such as a sweep's workers, are not watched).
pub fn watch<R>(hook: impl FnMut(&Progress) + 'static, body: impl FnOnce() -> R) -> R {
    /// Puts the previous hook back, even if `body` panics.
    struct Restore(Option<Hook>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            HOOK.with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let previous = HOOK.with(|slot| slot.borrow_mut().replace(Box::new(hook)));
    let _restore = Restore(previous);
    body()
}

/// Hands `progress` to this thread's hook, if one is installed.
pub(crate) fn report(progress: &Progress) {
    HOOK.with(|slot| {
        if let Some(hook) = slot.borrow_mut().as_mut() {
            hook(progress);
        }
    });
}

/// The end of slice `index` (1-based) of a run ending at `end`.
pub(crate) fn checkpoint(end: SimTime, index: u64) -> SimTime {
    SimTime((u128::from(end.0) * u128::from(index) / u128::from(CHECKPOINTS)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_rise_to_the_end_exactly() {
        // The last slice must end at the run's end, or the run would stop short.
        let end = SimTime(2_500_000_001);
        assert_eq!(checkpoint(end, CHECKPOINTS), end);
        assert!(checkpoint(end, 1) < checkpoint(end, 2));
        assert_eq!(
            checkpoint(SimTime(u64::MAX), CHECKPOINTS),
            SimTime(u64::MAX)
        );
    }

    #[test]
    fn watch_sees_reports_only_inside_and_restores_the_previous_hook() {
        use std::rc::Rc;
        let seen = Rc::new(RefCell::new(Vec::new()));
        let progress = Progress {
            now: SimTime(1),
            end: SimTime(2),
            events: 3,
        };
        let inner = seen.clone();
        watch(move |p| inner.borrow_mut().push(*p), || report(&progress));
        // Outside `watch` nobody listens: a report must not reach the old hook.
        report(&progress);
        assert_eq!(*seen.borrow(), vec![progress]);
    }
}
