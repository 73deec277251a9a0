//! The peers: the tools async-scope is measured against, and itself.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// `tokio::spawn` and a `Vec<JoinHandle>`.
    Raw,
    /// `tokio::task::JoinSet`: the reference of every ratio.
    JoinSet,
    /// `TaskTracker` + a `CancellationToken` that each task watches (and
    /// cancels when it fails, for fail-fast workloads).
    Tracker,
    /// `FuturesUnordered`: every future polled inside the owner's task.
    Unordered,
    /// `join_all`: moro-style in-task code, one future per item joined in
    /// place (inline_fan_out only).
    JoinAll,
    /// async-scope through its engine API (`with_scope`, `Scope::spawn`).
    Scope,
    /// async-scope through `scope!` (macro_overhead only).
    ScopeMacro,
    /// async-scope through `#[scoped]` (macro_overhead only).
    ScopedAttr,
}

/// The peers most workloads compare, the reference (JoinSet) among them.
pub(crate) const PEERS: [Peer; 5] = [
    Peer::Raw,
    Peer::JoinSet,
    Peer::Tracker,
    Peer::Unordered,
    Peer::Scope,
];

impl Peer {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Raw => "tokio::spawn",
            Peer::JoinSet => "JoinSet",
            Peer::Tracker => "TaskTracker+token",
            Peer::Unordered => "FuturesUnordered",
            Peer::JoinAll => "join_all",
            Peer::Scope => "async-scope",
            Peer::ScopeMacro => "scope!",
            Peer::ScopedAttr => "#[scoped]",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Peer> {
        [
            Peer::Raw,
            Peer::JoinSet,
            Peer::Tracker,
            Peer::Unordered,
            Peer::JoinAll,
            Peer::Scope,
            Peer::ScopeMacro,
            Peer::ScopedAttr,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}
