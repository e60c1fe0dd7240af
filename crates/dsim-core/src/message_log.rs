//! The message log: the first messages of a run, for the report's space-time diagram.
//!
//! A long run logs up to hundreds of thousands of messages, so a record is kept small:
//! its label is not held in the record but in one byte arena shared by the whole log,
//! and a label already in the arena (most are: a label is the first 48 bytes of the
//! message's `Debug` text, where the message kind and its ballot or term come first)
//! is not stored again. A record is 40 bytes, its label's text is stored once.

use crate::id::NodeId;
use crate::sim::MessageFate;
use crate::time::SimTime;

/// Slots of the table of recently stored labels (a power of two). A label is looked
/// up in the one slot its text hashes to; a label that differs from the one there
/// is stored anew and takes the slot. Labels that repeat (a message kind with the
/// same ballot, sent to every replica) are found; a run of distinct labels (client
/// requests carrying their value) costs their text and 32 KB of table, never more.
const RECENT_LABEL_SLOTS: usize = 4_096;

/// One logged message.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRecord {
    /// Sender.
    pub source: NodeId,
    /// Receiver.
    pub target: NodeId,
    /// Send time.
    pub sent_at: SimTime,
    /// What happened to it.
    pub fate: MessageFate,
    /// True for the extra copy the network's duplication made of the message before.
    pub duplicate: bool,
    /// Length of the label's text in the log's arena.
    label_len: u8,
    /// Where the label's text starts in the log's arena.
    label_at: u32,
}

/// The logged messages, in send order, and their labels' text.
#[derive(Clone, Debug, Default)]
pub struct MessageLog {
    /// The records, in send order.
    records: Vec<MessageRecord>,
    /// The labels' text, UTF-8, each label a run of whole characters.
    text: String,
    /// Recently stored labels, as (start in `text`, length), by their text's hash
    /// ([`RECENT_LABEL_SLOTS`] slots once a label is stored); dropped when the run
    /// ends.
    recent: Vec<(u32, u8)>,
}

impl MessageLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many messages are logged.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when no message is logged.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, in send order.
    pub fn records(&self) -> &[MessageRecord] {
        &self.records
    }

    /// The records, in send order.
    pub fn iter(&self) -> std::slice::Iter<'_, MessageRecord> {
        self.records.iter()
    }

    /// The label of `record`, a record of this log: the first 48 bytes (whole
    /// characters) of the message's `Debug` text. Empty for a record of another log
    /// whose label lies past this log's text.
    pub fn label(&self, record: &MessageRecord) -> &str {
        let at = record.label_at as usize;
        self.text
            .get(at..at + usize::from(record.label_len))
            .unwrap_or_default()
    }

    /// Logs a message sent at `sent_at`, still in flight, labelled `label` (at most 255
    /// bytes are kept, cut before a character that would straddle them); returns its
    /// record number.
    pub fn push(&mut self, source: NodeId, target: NodeId, sent_at: SimTime, label: &str) -> u32 {
        let (label_at, label_len) = self.store_label(label);
        self.records.push(MessageRecord {
            source,
            target,
            sent_at,
            fate: MessageFate::InFlight,
            duplicate: false,
            label_len,
            label_at,
        });
        (self.records.len() - 1) as u32
    }

    /// Logs the network's copy of record `record`, in flight; returns the copy's record
    /// number, or `None` when there is no such record.
    pub fn push_copy(&mut self, record: u32) -> Option<u32> {
        let original = self.records.get(record as usize)?;
        let copy = MessageRecord {
            fate: MessageFate::InFlight,
            duplicate: true,
            ..original.clone()
        };
        self.records.push(copy);
        Some((self.records.len() - 1) as u32)
    }

    /// Sets what became of record `record` (nothing when there is no such record).
    pub fn set_fate(&mut self, record: u32, fate: MessageFate) {
        if let Some(entry) = self.records.get_mut(record as usize) {
            entry.fate = fate;
        }
    }

    /// Drops the table of recent labels: no more messages will be logged.
    pub(crate) fn finish(&mut self) {
        self.recent = Vec::new();
    }

    /// Stores `label` (or finds it stored); returns where its text starts and its length.
    fn store_label(&mut self, label: &str) -> (u32, u8) {
        let cut = (0..=label.len().min(usize::from(u8::MAX)))
            .rev()
            .find(|&i| label.is_char_boundary(i))
            .unwrap_or(0);
        let label = &label[..cut];
        if self.recent.is_empty() {
            self.recent = vec![(0, 0); RECENT_LABEL_SLOTS];
        }
        let slot = fnv1a(label.as_bytes()) as usize & (RECENT_LABEL_SLOTS - 1);
        let (at, len) = self.recent[slot];
        let start = at as usize;
        if self.text.get(start..start + usize::from(len)) == Some(label) {
            return (at, len);
        }
        let at = self.text.len() as u32;
        self.text.push_str(label);
        self.recent[slot] = (at, cut as u8);
        (at, cut as u8)
    }
}

/// The 64-bit FNV-1a hash of `bytes` (fixed, so a run stores the same labels on every
/// machine).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl std::ops::Index<usize> for MessageLog {
    type Output = MessageRecord;
    fn index(&self, index: usize) -> &MessageRecord {
        &self.records[index]
    }
}

impl std::ops::Deref for MessageLog {
    type Target = [MessageRecord];
    fn deref(&self) -> &[MessageRecord] {
        &self.records
    }
}

impl<'a> IntoIterator for &'a MessageLog {
    type Item = &'a MessageRecord;
    type IntoIter = std::slice::Iter<'a, MessageRecord>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_message_is_a_40_byte_record_and_a_repeated_label_is_stored_once() {
        // The log of a long run holds up to 400,000 records; with the label held in
        // the record (48 bytes inline) a record was 88 bytes. A field growing past 40
        // bytes, or a repeated label stored again, would show here.
        assert!(
            std::mem::size_of::<MessageRecord>() <= 40,
            "{}",
            std::mem::size_of::<MessageRecord>()
        );
        let mut log = MessageLog::new();
        let prepare = "Prepare { ballot: Ballot { round: 3, node: 1 }, ";
        let first = log.push(NodeId(0), NodeId(1), SimTime(5), prepare);
        let other = log.push(NodeId(0), NodeId(2), SimTime(6), "Ping");
        let again = log.push(NodeId(0), NodeId(3), SimTime(7), prepare);
        let copy = log.push_copy(again).unwrap();
        log.set_fate(first, MessageFate::Delivered(SimTime(9)));
        assert_eq!(log.text.len(), prepare.len() + "Ping".len());
        let labels: Vec<&str> = log.iter().map(|r| log.label(r)).collect();
        assert_eq!(labels, [prepare, "Ping", prepare, prepare]);
        assert_eq!(log[first as usize].fate, MessageFate::Delivered(SimTime(9)));
        assert_eq!(log[again as usize].fate, MessageFate::InFlight);
        assert!(log[copy as usize].duplicate && !log[again as usize].duplicate);
        assert_eq!(log[other as usize].target, NodeId(2));
        assert_eq!(log.push_copy(99), None);
    }

    #[test]
    fn every_label_reads_back_and_a_repeat_after_many_distinct_labels_is_found() {
        // Many distinct labels (more than the table's slots) evict one another: each
        // must still read back as itself (a slot's stale entry reused for another
        // label would show another message's label in the explorer), and a label
        // repeated after them is still stored only once per slot it last held.
        let mut log = MessageLog::new();
        let accept = "Accept { ballot: Ballot { round: 7, node: 2 }, ";
        let count = 3 * RECENT_LABEL_SLOTS;
        for i in 0..count {
            log.push(
                NodeId(0),
                NodeId(1),
                SimTime(0),
                &format!("Request {{ value: {i} }}"),
            );
            log.push(NodeId(0), NodeId(2), SimTime(0), accept);
        }
        for (i, pair) in log.records().chunks(2).enumerate() {
            assert_eq!(log.label(&pair[0]), format!("Request {{ value: {i} }}"));
            assert_eq!(log.label(&pair[1]), accept);
        }
        // The Accept label is evicted only when a Request hashes to its slot: on
        // average once per RECENT_LABEL_SLOTS requests, so a handful of copies.
        let accept_copies = log.text.matches(accept).count();
        assert!(accept_copies < 20, "{accept_copies}");
        let long = "é".repeat(200);
        let record = log.push(NodeId(0), NodeId(1), SimTime(0), &long) as usize;
        assert_eq!(log.label(&log[record]), "é".repeat(127));
        log.finish();
        assert!(log.recent.is_empty());
        assert_eq!(log.label(&log[0]), "Request { value: 0 }");
    }
}
