//! The guarded resource: a storage node that accepts a client's write only with a
//! sequencer no older than the newest it has seen for that lock (fencing).

use super::types::{LockEvent, Msg};
use super::{LockConfig, LockNode, Variant};
use dsim_core::{Ctx, NodeId, Observation};

/// The guarded resource (the last node of a run).
#[derive(Clone, Copy, Debug)]
pub struct Resource {
    /// False in the `no-fencing` variant: every write is accepted.
    fencing: bool,
}

impl Resource {
    /// The resource of a run with `config`.
    pub fn new(config: LockConfig) -> Resource {
        Resource {
            fencing: config.variant != Variant::NoFencing,
        }
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, msg: Msg) {
        let Msg::Write { sequencer } = msg else {
            return;
        };
        let newest = ctx.durable().newest(sequencer.lock);
        if self.fencing && sequencer.generation < newest {
            ctx.observe(Observation::Protocol(LockEvent::WriteRefused {
                client: source,
                sequencer,
                newest,
            }));
            return;
        }
        if sequencer.generation > newest {
            let index = sequencer.lock as usize;
            let table = &mut ctx.durable_mut().newest;
            if index >= table.len() {
                table.resize(index + 1, 0);
            }
            table[index] = sequencer.generation;
            // Forgetting the newest generation in a crash would let a stale write in.
            ctx.sync();
        }
        ctx.observe(Observation::Protocol(LockEvent::WriteAccepted {
            client: source,
            sequencer,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::types::Sequencer;
    use super::*;

    fn write(generation: u64) -> Msg {
        Msg::Write {
            sequencer: Sequencer {
                lock: 2,
                generation,
            },
        }
    }

    #[test]
    fn resource_refuses_sequencers_older_than_the_newest_seen() {
        let config = config(3, 2);
        let mut parts = parts(&config, 5);
        let mut resource = Resource::new(config);
        resource.on_message(&mut parts.ctx(), NodeId(4), write(3));
        resource.on_message(&mut parts.ctx(), NodeId(4), write(3));
        resource.on_message(&mut parts.ctx(), NodeId(3), write(2));
        // Generation 2 is a holder the lock service already replaced: fencing refuses.
        assert_eq!(
            events(&parts),
            vec![
                LockEvent::WriteAccepted {
                    client: NodeId(4),
                    sequencer: Sequencer {
                        lock: 2,
                        generation: 3
                    }
                },
                LockEvent::WriteAccepted {
                    client: NodeId(4),
                    sequencer: Sequencer {
                        lock: 2,
                        generation: 3
                    }
                },
                LockEvent::WriteRefused {
                    client: NodeId(3),
                    sequencer: Sequencer {
                        lock: 2,
                        generation: 2
                    },
                    newest: 3
                },
            ]
        );
        assert_eq!(parts.durable.newest(2), 3);
    }

    #[test]
    fn no_fencing_resource_accepts_stale_sequencers() {
        let mut config = config(3, 2);
        config.variant = Variant::NoFencing;
        let mut parts = parts(&config, 5);
        let mut resource = Resource::new(config);
        resource.on_message(&mut parts.ctx(), NodeId(4), write(3));
        resource.on_message(&mut parts.ctx(), NodeId(3), write(2));
        // The planted bug: the stale write lands.
        assert!(matches!(
            events(&parts)[1],
            LockEvent::WriteAccepted {
                client: NodeId(3),
                ..
            }
        ));
    }
}
