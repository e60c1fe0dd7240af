//! The dependency graph: typed edges between transactions, Tarjan's strongly
//! connected components, and shortest cycles by breadth-first search restricted to
//! edge types, under a budget of edge visits.

/// Why one transaction must precede another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeKind {
    /// Write-write: the target installed the next version after the source's.
    Ww,
    /// Write-read: the target read a version the source installed.
    Wr,
    /// Read-write (anti-dependency): the source read a version that the target
    /// overwrote.
    Rw,
    /// Per-process order: the same client ran the source, then the target.
    Process,
    /// Real-time order: the source completed before the target was invoked.
    Realtime,
}

impl EdgeKind {
    /// The short name used in explanations and pictures (`ww`, `wr`, `rw`,
    /// `process`, `realtime`).
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Ww => "ww",
            EdgeKind::Wr => "wr",
            EdgeKind::Rw => "rw",
            EdgeKind::Process => "process",
            EdgeKind::Realtime => "realtime",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of edge kinds, as a bit mask.
pub(crate) const DATA: u8 = 0b00111;
pub(crate) const ORDER: u8 = 0b11000;

/// Where an edge comes from, compactly; rendered into words by the analysis.
/// Transactions are graph nodes; `mop` is a micro-op index in the transaction named
/// in the comment; `pos` an index in a key's version order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// list-append ww: elements `pos` (source's) and `pos + 1` (target's) of `key`.
    AppendWw { key: u32, pos: u32 },
    /// list-append wr: the target's read `mop` ends with element `pos`, the source's.
    AppendWr { mop: u32, pos: u32 },
    /// list-append rw: the source's read `mop`; element `pos` is the next, the target's.
    AppendRw { mop: u32, pos: u32 },
    /// list-append rw: the source's read `mop` saw the whole version order; the
    /// target's append `write_mop` is in no read, so it came later.
    AppendRwUnread { mop: u32, write_mop: u32 },
    /// list-append ww: the source appended the last element of `key`'s order; the
    /// target's append `write_mop` is in no read, so it came later.
    AppendWwUnread { key: u32, write_mop: u32 },
    /// rw-register wr: the target's read `mop` returned the source's value.
    RegisterWr { mop: u32 },
    /// rw-register ww: the target read the source's value at `mop`, then wrote the key.
    RegisterWw { mop: u32 },
    /// rw-register rw: the source read at `mop` a version that the target's write
    /// `write_mop` followed.
    RegisterRw { mop: u32, write_mop: u32 },
    /// The same process, one after the other.
    Process,
    /// The source completed before the target was invoked.
    Realtime,
}

/// One outgoing edge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Out {
    pub to: u32,
    pub kind: EdgeKind,
    pub why: Why,
}

/// One edge of a cycle.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub from: u32,
    pub to: u32,
    pub kind: EdgeKind,
    pub why: Why,
}

/// A directed graph over transactions `0..n` with typed edges.
#[derive(Clone, Debug, Default)]
pub(crate) struct Graph {
    pub adj: Vec<Vec<Out>>,
}

impl Graph {
    pub fn new(nodes: usize) -> Graph {
        Graph {
            adj: vec![Vec::new(); nodes],
        }
    }

    /// Adds an edge; self-edges carry no ordering information and are dropped.
    pub fn add(&mut self, from: u32, to: u32, kind: EdgeKind, why: Why) {
        if from != to {
            self.adj[from as usize].push(Out { to, kind, why });
        }
    }

    /// Sorts every adjacency list by (target, kind) and keeps the first reason of each
    /// (target, kind): searches then see data edges before order edges.
    pub fn finish(&mut self) {
        for list in &mut self.adj {
            list.sort_by_key(|out| (out.to, out.kind));
            list.dedup_by_key(|out| (out.to, out.kind));
        }
    }

    /// The number of edges.
    pub fn edge_count(&self) -> usize {
        self.adj.iter().map(Vec::len).sum()
    }

    /// Strongly connected components with more than one node (Tarjan 1972,
    /// iteratively, so a long chain cannot overflow the stack). Each component is
    /// sorted; components are ordered by their smallest node.
    pub fn sccs(&self) -> Vec<Vec<u32>> {
        const NONE: u32 = u32::MAX;
        let n = self.adj.len();
        let mut index = vec![NONE; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        let mut calls: Vec<(u32, usize)> = Vec::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        for root in 0..n as u32 {
            if index[root as usize] != NONE {
                continue;
            }
            calls.push((root, 0));
            index[root as usize] = next;
            low[root as usize] = next;
            next += 1;
            stack.push(root);
            on_stack[root as usize] = true;
            while let Some(&mut (v, ref mut edge)) = calls.last_mut() {
                let vu = v as usize;
                if let Some(out_edge) = self.adj[vu].get(*edge) {
                    *edge += 1;
                    let w = out_edge.to as usize;
                    if index[w] == NONE {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w as u32);
                        on_stack[w] = true;
                        calls.push((w as u32, 0));
                    } else if on_stack[w] {
                        low[vu] = low[vu].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    let p = parent as usize;
                    low[p] = low[p].min(low[vu]);
                }
                if low[vu] == index[vu] {
                    let mut component = Vec::new();
                    loop {
                        let w = stack.pop().expect("Tarjan: v is on the stack");
                        on_stack[w as usize] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort_unstable();
                        out.push(component);
                    }
                }
            }
        }
        out.sort_by_key(|c| c[0]);
        out
    }
}

/// Edges tried for a shorter cycle after the first one found in a component.
pub(crate) const IMPROVE_TRIES: usize = 64;

/// The cycle search ran out of its budget of edge visits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exhausted;

/// Breadth-first searches inside one component, sharing scratch space and a budget.
pub(crate) struct Search<'g> {
    graph: &'g Graph,
    /// Component number of each node (`u32::MAX`: in no searched component).
    comp: Vec<u32>,
    seen: Vec<u32>,
    parent: Vec<(u32, u32)>,
    stamp: u32,
    /// Edge visits left.
    pub budget: u64,
}

impl<'g> Search<'g> {
    pub fn new(graph: &'g Graph, sccs: &[Vec<u32>], budget: u64) -> Search<'g> {
        let n = graph.adj.len();
        let mut comp = vec![u32::MAX; n];
        for (c, members) in sccs.iter().enumerate() {
            for &v in members {
                comp[v as usize] = c as u32;
            }
        }
        Search {
            graph,
            comp,
            seen: vec![0; n],
            parent: vec![(0, 0); n],
            stamp: 0,
            budget,
        }
    }

    /// The shortest path from `from` to `to` using only edges whose kind is in
    /// `allowed`, inside component `c`, with at most `max_edges` edges.
    fn path(
        &mut self,
        from: u32,
        to: u32,
        allowed: u8,
        c: u32,
        max_edges: usize,
    ) -> Result<Option<Vec<Step>>, Exhausted> {
        self.stamp += 1;
        let stamp = self.stamp;
        self.seen[from as usize] = stamp;
        let mut frontier = vec![from];
        let mut depth = 0;
        while !frontier.is_empty() && depth < max_edges {
            depth += 1;
            let mut next = Vec::new();
            for &u in &frontier {
                for (i, out) in self.graph.adj[u as usize].iter().enumerate() {
                    if self.budget == 0 {
                        return Err(Exhausted);
                    }
                    self.budget -= 1;
                    let w = out.to as usize;
                    if allowed & out.kind.bit() == 0 || self.comp[w] != c || self.seen[w] == stamp {
                        continue;
                    }
                    self.seen[w] = stamp;
                    self.parent[w] = (u, i as u32);
                    if out.to == to {
                        return Ok(Some(self.unwind(from, to)));
                    }
                    next.push(out.to);
                }
            }
            frontier = next;
        }
        Ok(None)
    }

    fn unwind(&self, from: u32, to: u32) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut v = to;
        while v != from {
            let (u, i) = self.parent[v as usize];
            let out = self.graph.adj[u as usize][i as usize];
            steps.push(Step {
                from: u,
                to: v,
                kind: out.kind,
                why: out.why,
            });
            v = u;
        }
        steps.reverse();
        steps
    }

    /// A short cycle in component `c` (members `members`) that starts with an edge of
    /// kind `first` and continues over edges in `allowed`, among those that `accept`
    /// takes. Tries the edges of kind `first` in the component in node order; once a
    /// cycle is found, tries [`IMPROVE_TRIES`] more edges for a shorter one (stopping
    /// at once at a two-edge cycle), so a huge component costs a bounded number of
    /// searches. Returns the best cycle found, and whether the budget ran out.
    pub fn short_cycle(
        &mut self,
        members: &[u32],
        c: u32,
        first: EdgeKind,
        allowed: u8,
        accept: impl Fn(&[Step]) -> bool,
    ) -> (Option<Vec<Step>>, Result<(), Exhausted>) {
        let mut best: Option<Vec<Step>> = None;
        let mut tries_left = IMPROVE_TRIES;
        for &u in members {
            for out in &self.graph.adj[u as usize] {
                if out.kind != first || self.comp[out.to as usize] != c {
                    continue;
                }
                if let Some(b) = &best {
                    if b.len() <= 2 || tries_left == 0 {
                        return (best, Ok(()));
                    }
                    tries_left -= 1;
                }
                let limit = best.as_ref().map_or(usize::MAX, |b| b.len() - 1);
                let path = match self.path(out.to, u, allowed, c, limit - 1) {
                    Ok(Some(path)) => path,
                    Ok(None) => continue,
                    Err(exhausted) => return (best, Err(exhausted)),
                };
                let mut cycle = Vec::with_capacity(path.len() + 1);
                cycle.push(Step {
                    from: u,
                    to: out.to,
                    kind: out.kind,
                    why: out.why,
                });
                cycle.extend(path);
                if accept(&cycle) {
                    best = Some(cycle);
                }
            }
        }
        (best, Ok(()))
    }
}
