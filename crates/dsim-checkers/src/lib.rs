//! # dsim-checkers: judging what clients saw
//!
//! This crate knows no protocol. It takes a **history** — every client operation's
//! invocation and completion, with values — and a **model** of the object the clients
//! talked to, and answers whether the history could have come from that object.
//!
//! ## The problem
//!
//! A history is *linearizable* (Herlihy & Wing 1990) if every operation can be given a
//! single instant between its invocation and its completion such that, taken in the
//! order of those instants, the operations are a legal sequential run of the model.
//! Operations that overlap in real time may be ordered either way; operations that do
//! not overlap must keep their real-time order. Jepsen's outcome kinds make this
//! precise for real systems: `ok` operations happened; `fail` operations certainly did
//! not (they are dropped); `info` operations are indeterminate — they may take effect at
//! any instant after their invocation, or never, so their completion is at +infinity
//! and the search may leave them out.
//!
//! Deciding linearizability is NP-complete in general (Gibbons & Korach 1997): the
//! number of orders consistent with real time grows factorially with the number of
//! overlapping operations.
//!
//! ## The algorithm
//!
//! [`linearizable()`] is Wing & Gong's backtracking search (1993) over the operations in
//! real-time order, with the improvements that make it practical:
//! - **Just-in-time linearization** (Lowe 2017, "Testing for linearizability"): an
//!   operation is only tried once every operation that must precede it has been placed,
//!   and the search backtracks as soon as it passes a completion whose operation is not
//!   placed yet. Invocations and completions live in a doubly linked list from which
//!   placed operations are lifted (and restored on backtracking) in O(1).
//! - **Memoization** (Lowe 2017; Horn & Kroening 2015): the pair (set of placed
//!   operations as a bitset, model state) determines everything that follows, so a pair
//!   already explored is never explored again. The memo is an ordered map keyed by a
//!   Zobrist hash of the bitset (updated in O(1) per step) combined with a structural
//!   hash of the state — no randomly seeded hashing anywhere.
//! - **P-compositionality** (Horn & Kroening 2015): a model may partition operations by
//!   key (the `kv` model by `:key`, `mutex` by lock name); a history is linearizable iff
//!   every partition is, and each is searched on its own.
//!
//! This is the design of Porcupine (Athalye, <https://github.com/anishathalye/porcupine>)
//! and of Knossos's `linear` checker, in a few hundred lines of Rust.
//!
//! **Complexity.** Worst case exponential in the number of concurrently open
//! operations (with `c` processes and `i` pending `info` operations, at most
//! `O(n · 2^(c+i))` memo entries for `n` operations). On histories from real systems
//! the search is close to linear: each completion is passed with few candidates
//! before it. Every search is bounded by a **budget** of model steps; when it runs
//! out, the answer is [`Verdict::Unknown`] with the number of states explored, never a
//! hang.
//!
//! **Answers.** [`Verdict::Linearizable`] carries a witness order per partition;
//! [`Verdict::NotLinearizable`] carries the smallest failing window the search found:
//! the longest linearizable prefix, the state after it, the operation that could not be
//! placed and the operations that were candidates at that point. [`explain`] renders
//! either for people.
//!
//! ## References
//! - M. Herlihy, J. Wing. *Linearizability: a correctness condition for concurrent
//!   objects.* TOPLAS 1990.
//! - J. Wing, C. Gong. *Testing and verifying concurrent objects.* JPDC 1993.
//! - G. Lowe. *Testing for linearizability.* Concurrency and Computation 2017.
//! - A. Horn, D. Kroening. *Faster linearizability checking via P-compositionality.*
//!   FORTE 2015.
//! - A. Athalye. *Porcupine: a fast linearizability checker in Go.*
//! - K. Kingsbury. *Knossos* and *Jepsen* (the history format and `info` semantics).
//!
//! ## Map of the crate
//! - [`history`] — events, operations ([`Op`], [`OpType`]), pairing ([`History`]).
//! - [`model`] — the [`Model`] trait and [`model_by_name`].
//! - [`models`] — `register`, `cas-register`, `kv`, `mutex`, `set`.
//! - [`mod@linearizable`] — the checker, [`Verdict`], [`explain`].
//! - [`io`] — Jepsen EDN and `jepsen.util` log lines in, EDN out.
//! - [`generate`] — seeded linearizable histories for tests and benches.
//!
//! (Transactional isolation, Elle-style, will live beside `linearizable` as
//! `isolation`, sharing `history` and `io`.)
//!
//! ```
//! use dsim_checkers::{io, linearizable, model_by_name, Verdict, DEFAULT_BUDGET};
//!
//! // p0 writes 1; p1's read overlaps it and sees 1; p2 reads 0 after both completed.
//! let text = "\
//! {:process 0, :type :invoke, :f :write, :value 1}
//! {:process 1, :type :invoke, :f :read, :value nil}
//! {:process 0, :type :ok, :f :write, :value 1}
//! {:process 1, :type :ok, :f :read, :value 1}
//! {:process 2, :type :invoke, :f :read, :value nil}
//! {:process 2, :type :ok, :f :read, :value 0}";
//! let history = io::read_history(text.as_bytes()).unwrap();
//! let model = model_by_name("register").unwrap();
//! let verdict = linearizable(&history, model.as_ref(), DEFAULT_BUDGET);
//! // Nobody wrote 0: p2's read (operation 2) cannot be placed.
//! let Verdict::NotLinearizable { counterexample, .. } = verdict else { panic!() };
//! assert_eq!(counterexample.stuck, 2);
//! assert_eq!(counterexample.prefix, vec![0, 1]);
//! ```

#![warn(missing_docs)]

pub mod generate;
pub mod history;
pub mod io;
pub mod linearizable;
pub mod model;
pub mod models;

pub use history::{Event, EventType, History, HistoryError, HistoryErrorKind, Op, OpType, Pos};
pub use linearizable::{
    Counterexample, DEFAULT_BUDGET, Verdict, Witness, explain, linearizable, validate,
};
pub use model::{MODEL_NAMES, Model, model_by_name};
pub use models::{CasRegister, Kv, Mutex, Register, Set};
