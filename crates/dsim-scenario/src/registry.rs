//! The protocol registry: kind names to protocols. Built-ins come from dsim-protocols;
//! a user registers their own with [`Registry::register`].

use dsim_core::Protocol;

/// Maps protocol kind names to implementations.
pub struct Registry {
    protocols: Vec<Box<dyn Protocol>>,
}

impl Registry {
    /// The built-in protocols.
    pub fn builtin() -> Registry {
        Registry {
            protocols: dsim_protocols::builtin(),
        }
    }

    /// An empty registry (for tools that only want their own protocols).
    pub fn empty() -> Registry {
        Registry {
            protocols: Vec::new(),
        }
    }

    /// Adds a protocol; a later registration replaces an earlier one of the same kind.
    pub fn register(&mut self, protocol: Box<dyn Protocol>) {
        let kind = protocol.info().kind;
        self.protocols
            .retain(|existing| existing.info().kind != kind);
        self.protocols.push(protocol);
    }

    /// The protocol of `kind`, if registered.
    pub fn get(&self, kind: &str) -> Option<&dyn Protocol> {
        self.protocols
            .iter()
            .find(|protocol| protocol.info().kind == kind)
            .map(|protocol| protocol.as_ref())
    }

    /// Every kind name, in registration order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.protocols.iter().map(|p| p.info().kind).collect()
    }

    /// Every protocol, in registration order.
    pub fn protocols(&self) -> impl Iterator<Item = &dyn Protocol> {
        self.protocols.iter().map(|p| p.as_ref())
    }
}
