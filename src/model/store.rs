//! The Store: everything sinkwatch knows about the alerts it accepted.
//!
//! - interned (owner, repo, policy) keys and the latest status of each key,
//! - change detection against the previous alert of the same key,
//! - failing/total aggregates per org, repo and policy, kept incrementally,
//! - a bounded history ring of events whose evictions are counted,
//! - a bounded ring of transitions (regressions and fixes),
//! - a memory budget in bytes over all of it (see [`StoreLimits::memory_budget`]).
//!
//! Pure: no I/O, no clock (callers pass the time in), no async.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use super::alert::Change;
use super::intern::Interner;

mod restore;
pub use restore::RestoredKey;

pub type OrgId = u32;
pub type RepoId = u32;
pub type PolicyId = u32;
pub type KeyId = u32;
/// The key of a record no store made (see [`AlertRecord::key`]).
pub const NO_KEY: KeyId = KeyId::MAX;

/// Default number of events kept in the history ring.
pub const DEFAULT_HISTORY: usize = 250_000;
/// Default number of transitions kept.
pub const DEFAULT_TRANSITIONS: usize = 10_000;
/// Default bound on distinct (owner, repo, policy) keys.
pub const DEFAULT_MAX_KEYS: usize = 2_000_000;
/// Default memory budget (bytes) of the history and the per-key state.
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;
/// What one history event costs besides its details text: its ring slot.
const EVENT_BYTES: usize = std::mem::size_of::<Event>();
/// What one key costs besides its names: its state and index entries (the
/// hash tables' slots and control bytes, rounded up).
const KEY_BYTES: usize = std::mem::size_of::<KeyState>() + 64;
/// Heap overhead of one `Arc<str>` text: the two counters and the
/// allocator's rounding, estimated.
const TEXT_OVERHEAD: usize = 32;
/// Shown instead of a key's latest details once the budget dropped them.
pub const DETAILS_EVICTED: &str =
    "(details dropped to stay within the memory budget, --memory-budget)";
/// Peers seen are interned so that events share one allocation; past this
/// many distinct peers the table starts over (events keep their Arcs).
const MAX_PEERS: usize = 4096;

/// One alert as it arrives, already validated by the sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAlert {
    pub owner: String,
    pub repo: String,
    pub policy: String,
    pub details: String,
    pub pass: bool,
}

/// Who sent an alert: the connection's address and, with mTLS, the verified
/// client identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: Option<SocketAddr>,
    pub identity: Option<String>,
    /// `addr` formatted once, for display and JSON.
    pub label: String,
    /// The forwarding hops an alert from this peer carries on when it is
    /// forwarded: the sinks it came through, then the receiving one
    /// (comma-separated instance ids; empty: none known).
    pub hops: Arc<str>,
}

impl Peer {
    pub fn new(addr: Option<SocketAddr>, identity: Option<String>) -> Peer {
        let label = addr.map(|a| a.to_string()).unwrap_or_default();
        Peer {
            addr,
            identity,
            label,
            hops: Arc::from(""),
        }
    }
}

/// An accepted alert with its names resolved: what consumers (printer,
/// recorder, forwarders) receive. Strings are shared, not copied.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    pub seq: u64,
    /// The id of its key in the store that made it; [`NO_KEY`] for a
    /// record read back from a file (the spool, the state database), never
    /// matched to a store's keys (only a viewer's filter reads this).
    pub key: KeyId,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub owner: Arc<str>,
    pub repo: Arc<str>,
    pub policy: Arc<str>,
    pub pass: bool,
    pub details: Arc<str>,
    pub change: Change,
    pub peer: Option<Arc<Peer>>,
    /// Received before the key's latest alert, and merged after it (see
    /// [`Store::ingest_by_time`]): it did not replace the latest status.
    pub late: bool,
    /// For an alert that changed its key's status (fixed or regressed),
    /// read back from the store ([`Store::record`], [`Store::latest_record`]:
    /// a snapshot, a resume's replay): the details of the alert before it,
    /// while the history holds them (shared, not copied). A resumed viewer
    /// judges by them whether it may show the key's old status (see
    /// `sink::watch::passes`). Never set on the records ingest publishes:
    /// kept in every consumer's queue, a second text per record would
    /// double what the queues' byte bound allows.
    pub before: Option<Arc<str>>,
}

/// One entry of the history ring. Kept small: names are behind `key`, the
/// details text is shared with the key's previous alert when unchanged.
#[derive(Clone, Debug)]
pub struct Event {
    pub seq: u64,
    pub at_ms: u64,
    pub key: KeyId,
    pub pass: bool,
    pub change: Change,
    pub details: Arc<str>,
    pub peer: Option<Arc<Peer>>,
    /// The seq of the same key's previous alert (0: none). Chains a key's
    /// events through the ring, so a key's history (the timeline, what a
    /// fix replaced) is found in O(its alerts) instead of a walk of the
    /// whole ring; see [`Store::key_events`].
    pub prev_seq: u64,
    /// See [`AlertRecord::late`]. A late event is not on its key's chain.
    pub late: bool,
}

/// Failing and total key counts of an org, a repo or a policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub failing: u32,
    pub total: u32,
}

impl Tally {
    pub fn passing(&self) -> u32 {
        self.total - self.failing
    }
}

#[derive(Clone, Debug)]
pub struct RepoEntry {
    pub org: OrgId,
    pub name: Arc<str>,
    pub tally: Tally,
}

/// The latest status of one (owner, repo, policy) key.
#[derive(Clone, Debug)]
pub struct KeyState {
    pub org: OrgId,
    pub repo: RepoId,
    pub policy: PolicyId,
    pub pass: bool,
    /// The change of the latest alert for this key.
    pub change: Change,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// When the status last flipped (first sight counts as a change).
    pub last_change_ms: u64,
    pub count: u64,
    pub regressions: u32,
    pub fixes: u32,
    pub last_seq: u64,
    pub details: Arc<str>,
    /// The last non-empty details text of this key (shared, not copied,
    /// when a failure comes back with the same text).
    pub last_text: Arc<str>,
    /// The seq at which `last_text` was set: its place in the budget's
    /// eviction order.
    pub text_seq: u64,
    pub peer: Option<Arc<Peer>>,
}

/// A regression or a fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub seq: u64,
    pub at_ms: u64,
    pub key: KeyId,
    pub change: Change,
}

/// Why an alert could not be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The bound on distinct keys is reached; a new key cannot be added.
    TooManyKeys { limit: usize },
    /// The keys already take half the memory budget; a new key cannot be
    /// added (keys are never evicted: they are the current state).
    KeysOverBudget { budget: usize },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::TooManyKeys { limit } => write!(
                f,
                "too many distinct (owner, repo, policy) keys: the limit is {limit}"
            ),
            StoreError::KeysOverBudget { budget } => write!(
                f,
                "too many distinct (owner, repo, policy) keys: they fill half the memory budget of {budget} bytes"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// A peer's address, identity and the hops its alerts arrived through.
type PeerKey = (Option<SocketAddr>, Option<String>, Option<String>);

/// A [`PeerKey`] borrowed from a request, to look up without allocating:
/// it hashes as the owned key does (a `String` hashes as its `str`).
#[derive(Hash)]
struct PeerRef<'a>(Option<SocketAddr>, Option<&'a str>, Option<&'a str>);

impl hashbrown::Equivalent<PeerKey> for PeerRef<'_> {
    fn equivalent(&self, key: &PeerKey) -> bool {
        self.0 == key.0 && self.1 == key.1.as_deref() && self.2 == key.2.as_deref()
    }
}

/// Bounds of a Store.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    pub history: usize,
    pub transitions: usize,
    pub max_keys: usize,
    /// Bytes the history ring and the per-key state may take, details texts
    /// included (each distinct text counted once, however many events and
    /// keys share it). Over it, the oldest events are evicted first; when
    /// only the newest is left, the oldest keys' latest details give way to
    /// [`DETAILS_EVICTED`]. Keys themselves take at most half of it.
    pub memory_budget: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            history: DEFAULT_HISTORY,
            transitions: DEFAULT_TRANSITIONS,
            max_keys: DEFAULT_MAX_KEYS,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// Hashes a pointer address: already unique, it only needs spreading.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

/// Hashes the store's own ids (pairs of them): they are dense numbers the
/// store hands out, never chosen by a sender, so they need no DoS-resistant
/// hash. SipHash over them was about a tenth of ingesting an alert.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u32(u32::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The bytes of the details texts the store holds. Texts are shared between
/// a key and its events (Allstar repeats details scan after scan), so each
/// distinct allocation is counted once: by how many of the store's own
/// references point at it. References held outside (consumers, the TUI)
/// are not the store's to bound and are not counted.
#[derive(Debug, Default)]
struct TextMeter {
    refs: HashMap<usize, u32, BuildHasherDefault<AddrHasher>>,
    bytes: usize,
}

impl TextMeter {
    fn addr(t: &Arc<str>) -> usize {
        t.as_ptr() as usize
    }

    fn retain(&mut self, t: &Arc<str>) {
        if t.is_empty() {
            return;
        }
        let n = self.refs.entry(Self::addr(t)).or_insert(0);
        if *n == 0 {
            self.bytes += t.len() + TEXT_OVERHEAD;
        }
        *n += 1;
    }

    fn release(&mut self, t: &Arc<str>) {
        if t.is_empty() {
            return;
        }
        if let Entry::Occupied(mut e) = self.refs.entry(Self::addr(t)) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
                self.bytes -= t.len() + TEXT_OVERHEAD;
            }
        }
    }

    /// `old` is replaced by `new` in one of the store's references.
    fn replace(&mut self, old: &Arc<str>, new: &Arc<str>) {
        if !Arc::ptr_eq(old, new) {
            self.retain(new);
            self.release(old);
        }
    }
}

#[derive(Debug)]
pub struct Store {
    limits: StoreLimits,
    owners: Interner,
    repo_names: Interner,
    policies: Interner,
    org_tally: Vec<Tally>,
    policy_tally: Vec<Tally>,
    repos: Vec<RepoEntry>,
    repo_index: IdMap<(OrgId, u32), RepoId>,
    keys: Vec<KeyState>,
    /// Every key by its three names: one hash and one probe where the
    /// interners and the indexes took five (a profile put
    /// `key_for` at 0.2 µs per alert).
    key_lookup: hashbrown::HashTable<KeyId>,
    /// Seeded per process: the names come from the network.
    key_hasher: hashbrown::DefaultHashBuilder,
    history: VecDeque<Event>,
    transitions: VecDeque<Transition>,
    /// Seeded per process (foldhash): looked up on every alert, under the
    /// hub's lock, where SipHash cost 60 ns.
    peers: hashbrown::HashMap<PeerKey, Arc<Peer>>,
    empty: Arc<str>,
    /// [`DETAILS_EVICTED`], allocated once.
    dropped_text: Arc<str>,
    texts: TextMeter,
    /// Bytes of the keys: their state and their names.
    key_bytes: usize,
    /// Keys in the order their `last_text` was set, as (key, text_seq);
    /// entries whose key has a newer text since are skipped (and pruned).
    text_order: VecDeque<(KeyId, u64)>,
    details_evicted: u64,
    next_seq: u64,
    evicted: u64,
    transitions_evicted: u64,
    failing_keys: u32,
    regressions: u64,
    fixes: u64,
}

/// The names of a key, read through the store's tables (what the key
/// lookup compares and rehashes by).
struct KeyNames<'a> {
    keys: &'a [KeyState],
    owners: &'a Interner,
    repos: &'a [RepoEntry],
    policies: &'a Interner,
}

impl KeyNames<'_> {
    fn of(&self, k: KeyId) -> (&str, &str, &str) {
        let key = &self.keys[k as usize];
        (
            self.owners.name(key.org),
            &self.repos[key.repo as usize].name,
            self.policies.name(key.policy),
        )
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new(StoreLimits::default())
    }
}

impl Store {
    pub fn new(limits: StoreLimits) -> Store {
        let limits = StoreLimits {
            history: limits.history.max(1),
            transitions: limits.transitions.max(1),
            max_keys: limits.max_keys.max(1),
            memory_budget: limits.memory_budget,
        };
        Store {
            limits,
            owners: Interner::default(),
            repo_names: Interner::default(),
            policies: Interner::default(),
            org_tally: Vec::new(),
            policy_tally: Vec::new(),
            repos: Vec::new(),
            repo_index: IdMap::default(),
            keys: Vec::new(),
            key_lookup: hashbrown::HashTable::new(),
            key_hasher: hashbrown::DefaultHashBuilder::default(),
            // Grow on demand: a large --history must not cost memory up front.
            history: VecDeque::new(),
            transitions: VecDeque::new(),
            peers: hashbrown::HashMap::default(),
            empty: Arc::from(""),
            dropped_text: Arc::from(DETAILS_EVICTED),
            texts: TextMeter::default(),
            key_bytes: 0,
            text_order: VecDeque::new(),
            details_evicted: 0,
            next_seq: 1,
            evicted: 0,
            transitions_evicted: 0,
            failing_keys: 0,
            regressions: 0,
            fixes: 0,
        }
    }

    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// Interns a peer so that all alerts of one connection share it.
    pub fn peer(&mut self, addr: Option<SocketAddr>, identity: Option<&str>) -> Arc<Peer> {
        self.peer_via(addr, identity, None, "")
    }

    /// As [`Store::peer`], for alerts that arrived through the forwarding
    /// hops `via` at the sink whose instance id is `instance`.
    pub fn peer_via(
        &mut self,
        addr: Option<SocketAddr>,
        identity: Option<&str>,
        via: Option<&str>,
        instance: &str,
    ) -> Arc<Peer> {
        if let Some(p) = self.peers.get(&PeerRef(addr, identity, via)) {
            return p.clone();
        }
        let lookup = (addr, identity.map(str::to_owned), via.map(str::to_owned));
        if self.peers.len() >= MAX_PEERS {
            self.peers.clear();
        }
        let mut p = Peer::new(addr, identity.map(str::to_owned));
        p.hops = match via {
            Some(v) if !instance.is_empty() => Arc::from(format!("{v},{instance}")),
            Some(v) => Arc::from(v),
            None => Arc::from(instance),
        };
        let p = Arc::new(p);
        self.peers.insert(lookup, p.clone());
        p
    }

    /// Stores one alert received at `at_ms`, assigning the next sequence
    /// number. Fails only when a new key would exceed the key bound; nothing
    /// is changed then.
    pub fn ingest(
        &mut self,
        alert: &NewAlert,
        at_ms: u64,
        peer: Option<Arc<Peer>>,
    ) -> Result<AlertRecord, StoreError> {
        let key = self.key_for(&alert.owner, &alert.repo, &alert.policy)?;
        Ok(self.ingest_key(key, alert, at_ms, peer, None))
    }

    /// As [`Store::ingest`], for alerts merged from several sources (a
    /// viewer over replicas): a key's latest status follows receive time,
    /// not arrival. An alert received before the key's latest one (from
    /// any source) is kept in the history ring, in arrival order with its
    /// own time, marked `late`, with the change `Same`; it does not replace
    /// the latest status, count as a transition or move the tallies.
    ///
    /// [`Store::ingest`] stays by arrival: a sink's own clock may step back,
    /// and what it received last is then still its latest.
    ///
    /// `before` is the key's status before this alert as its source knew it
    /// (from the change the sink gives it): it decides the change when this
    /// store holds nothing of the key yet, so the oldest alert of a key in a
    /// snapshot shows as the regression or fix it was at the sink, not as
    /// `first`. The tallies move from what this store holds.
    pub fn ingest_by_time(
        &mut self,
        alert: &NewAlert,
        at_ms: u64,
        peer: Option<Arc<Peer>>,
        before: Option<bool>,
    ) -> Result<AlertRecord, StoreError> {
        let key = self.key_for(&alert.owner, &alert.repo, &alert.policy)?;
        let state = &self.keys[key as usize];
        if state.count > 0 && at_ms < state.last_seen_ms {
            Ok(self.ingest_late(key, alert, at_ms, peer))
        } else {
            Ok(self.ingest_key(key, alert, at_ms, peer, before))
        }
    }

    /// An alert older than its key's latest: history only (see
    /// [`Store::ingest_by_time`]). Not linked into the key's chain, whose
    /// links go back in seq and whose walk is the key's timeline: spliced
    /// in by time, it would need links forward in seq.
    fn ingest_late(
        &mut self,
        key: KeyId,
        alert: &NewAlert,
        at_ms: u64,
        peer: Option<Arc<Peer>>,
    ) -> AlertRecord {
        let seq = self.next_seq;
        self.next_seq += 1;
        let state = &mut self.keys[key as usize];
        // The same sharing of texts as for a latest alert, without making
        // this text the key's own.
        let details = shared_details(state, &self.empty, &alert.details);
        state.count += 1;
        state.first_seen_ms = state.first_seen_ms.min(at_ms);
        self.append(Event {
            seq,
            at_ms,
            key,
            pass: alert.pass,
            change: Change::Same,
            details,
            peer,
            prev_seq: 0,
            late: true,
        })
    }

    /// Appends an event to the history ring (evicting the oldest at the
    /// bound, then the memory budget's share) and returns its record.
    fn append(&mut self, event: Event) -> AlertRecord {
        if self.history.len() >= self.limits.history {
            self.evict_event();
        }
        self.texts.retain(&event.details);
        let state = &self.keys[event.key as usize];
        let record = AlertRecord {
            seq: event.seq,
            key: event.key,
            at_ms: event.at_ms,
            owner: self.owners.name(state.org).clone(),
            repo: self.repos[state.repo as usize].name.clone(),
            policy: self.policies.name(state.policy).clone(),
            pass: event.pass,
            details: event.details.clone(),
            change: event.change,
            peer: event.peer.clone(),
            late: event.late,
            before: None,
        };
        self.history.push_back(event);
        self.enforce_budget();
        record
    }

    fn ingest_key(
        &mut self,
        key: KeyId,
        alert: &NewAlert,
        at_ms: u64,
        peer: Option<Arc<Peer>>,
        before: Option<bool>,
    ) -> AlertRecord {
        let seq = self.next_seq;
        self.next_seq += 1;

        let state = &mut self.keys[key as usize];
        let previous = (state.count > 0).then_some(state.pass);
        let change = Change::between(previous.or(before), alert.pass);
        let prev_seq = state.last_seq;

        let details = shared_details(state, &self.empty, &alert.details);
        if !details.is_empty() && !Arc::ptr_eq(&state.last_text, &details) {
            self.texts.replace(&state.last_text, &details);
            state.last_text = details.clone();
            state.text_seq = seq;
            self.text_order.push_back((key, seq));
        }
        self.texts.replace(&state.details, &details);

        if state.count == 0 {
            state.first_seen_ms = at_ms;
            state.last_change_ms = at_ms;
        } else if change.is_transition() {
            state.last_change_ms = at_ms;
        }
        state.pass = alert.pass;
        state.change = change;
        state.last_seen_ms = at_ms;
        state.count += 1;
        state.last_seq = seq;
        state.details = details.clone();
        state.peer = peer.clone();
        match change {
            Change::Regressed => state.regressions += 1,
            Change::Fixed => state.fixes += 1,
            _ => {}
        }
        let (org, repo, policy) = (state.org, state.repo, state.policy);
        self.apply_tally(org, repo, policy, previous, alert.pass);

        if change.is_transition() {
            match change {
                Change::Regressed => self.regressions += 1,
                _ => self.fixes += 1,
            }
            if self.transitions.len() >= self.limits.transitions {
                self.transitions.pop_front();
                self.transitions_evicted += 1;
            }
            self.transitions.push_back(Transition {
                seq,
                at_ms,
                key,
                change,
            });
        }

        self.append(Event {
            seq,
            at_ms,
            key,
            pass: alert.pass,
            change,
            details,
            peer,
            prev_seq,
            late: false,
        })
    }

    fn key_for(&mut self, owner: &str, repo: &str, policy: &str) -> Result<KeyId, StoreError> {
        // Look up without interning first, so a refused new key leaves no trace.
        if let Some(k) = self.key_id(owner, repo, policy) {
            return Ok(k);
        }
        if self.keys.len() >= self.limits.max_keys {
            return Err(StoreError::TooManyKeys {
                limit: self.limits.max_keys,
            });
        }
        let cost = KEY_BYTES + owner.len() + repo.len() + policy.len();
        if self.key_bytes + cost > self.limits.memory_budget / 2 {
            return Err(StoreError::KeysOverBudget {
                budget: self.limits.memory_budget,
            });
        }
        self.key_bytes += cost;
        let org = self.owners.intern(owner);
        if org as usize == self.org_tally.len() {
            self.org_tally.push(Tally::default());
        }
        let policy_id = self.policies.intern(policy);
        if policy_id as usize == self.policy_tally.len() {
            self.policy_tally.push(Tally::default());
        }
        let repo_name = self.repo_names.intern(repo);
        let repo_id = match self.repo_index.get(&(org, repo_name)) {
            Some(&id) => id,
            None => {
                let id = self.repos.len() as RepoId;
                self.repos.push(RepoEntry {
                    org,
                    name: self.repo_names.name(repo_name).clone(),
                    tally: Tally::default(),
                });
                self.repo_index.insert((org, repo_name), id);
                id
            }
        };
        let key = self.keys.len() as KeyId;
        self.keys.push(KeyState {
            org,
            repo: repo_id,
            policy: policy_id,
            pass: true,
            change: Change::First,
            first_seen_ms: 0,
            last_seen_ms: 0,
            last_change_ms: 0,
            count: 0,
            regressions: 0,
            fixes: 0,
            last_seq: 0,
            details: self.empty.clone(),
            last_text: self.empty.clone(),
            text_seq: 0,
            peer: None,
        });
        let hash = self.key_hasher.hash_one((owner, repo, policy));
        // Field by field: `key_lookup` is borrowed mutably beside them.
        let names = KeyNames {
            keys: &self.keys,
            owners: &self.owners,
            repos: &self.repos,
            policies: &self.policies,
        };
        let hasher = &self.key_hasher;
        self.key_lookup
            .insert_unique(hash, key, |&k| hasher.hash_one(names.of(k)));
        Ok(key)
    }

    /// Bytes held now, as the budget counts them.
    pub fn memory_used(&self) -> usize {
        self.texts.bytes + self.history.len() * EVENT_BYTES + self.key_bytes
    }

    fn evict_event(&mut self) {
        if let Some(e) = self.history.pop_front() {
            self.texts.release(&e.details);
            self.evicted += 1;
        }
    }

    /// Evicts oldest-first until the store is within its budget: events
    /// first (keeping the newest), then the oldest keys' latest details.
    fn enforce_budget(&mut self) {
        while self.memory_used() > self.limits.memory_budget {
            if self.history.len() > 1 {
                self.evict_event();
            } else if !self.evict_oldest_text() {
                break;
            }
        }
        // Entries of keys that got a newer text since are dead weight; keep
        // the order in proportion to the keys.
        if self.text_order.len() > 2 * self.keys.len() + 1024 {
            let keys = &self.keys;
            self.text_order
                .retain(|&(k, seq)| keys[k as usize].text_seq == seq);
        }
    }

    /// Drops the latest details of the key whose text is the oldest; false
    /// when no key holds one.
    fn evict_oldest_text(&mut self) -> bool {
        while let Some((k, seq)) = self.text_order.pop_front() {
            let st = &mut self.keys[k as usize];
            if st.text_seq != seq || st.last_text.is_empty() {
                continue;
            }
            let old = std::mem::replace(&mut st.last_text, self.empty.clone());
            if Arc::ptr_eq(&st.details, &old) {
                self.texts.replace(&st.details, &self.dropped_text);
                st.details = self.dropped_text.clone();
            }
            self.texts.release(&old);
            self.details_evicted += 1;
            return true;
        }
        false
    }

    fn apply_tally(
        &mut self,
        org: OrgId,
        repo: RepoId,
        policy: PolicyId,
        previous: Option<bool>,
        pass: bool,
    ) {
        // +1/-1 for total and failing; only firsts and flips move anything.
        let (d_total, d_failing): (i32, i32) = match (previous, pass) {
            (None, true) => (1, 0),
            (None, false) => (1, 1),
            (Some(true), false) => (0, 1),
            (Some(false), true) => (0, -1),
            _ => return,
        };
        let bump = |t: &mut Tally| {
            t.total = t.total.wrapping_add_signed(d_total);
            t.failing = t.failing.wrapping_add_signed(d_failing);
        };
        bump(&mut self.org_tally[org as usize]);
        bump(&mut self.repos[repo as usize].tally);
        bump(&mut self.policy_tally[policy as usize]);
        self.failing_keys = self.failing_keys.wrapping_add_signed(d_failing);
    }

    /// Gives out seqs after `seq` from now on: a run that could not replay
    /// a killed run's spool (kept for a later start) must not hand out the
    /// seqs the spool holds.
    pub fn continue_after(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
    }

    // ---- read access -------------------------------------------------------

    /// Sequence number the next accepted alert will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Alerts accepted so far.
    pub fn accepted(&self) -> u64 {
        self.next_seq - 1
    }

    /// Events evicted from the history ring.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Keys whose latest details were dropped to stay within the budget.
    pub fn details_evicted(&self) -> u64 {
        self.details_evicted
    }

    pub fn transitions_evicted(&self) -> u64 {
        self.transitions_evicted
    }

    pub fn total_regressions(&self) -> u64 {
        self.regressions
    }

    pub fn total_fixes(&self) -> u64 {
        self.fixes
    }

    pub fn failing_keys(&self) -> u32 {
        self.failing_keys
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    pub fn org_count(&self) -> usize {
        self.owners.len()
    }

    pub fn repo_count(&self) -> usize {
        self.repos.len()
    }

    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    pub fn org_name(&self, id: OrgId) -> &Arc<str> {
        self.owners.name(id)
    }

    pub fn org_tally(&self, id: OrgId) -> Tally {
        self.org_tally[id as usize]
    }

    pub fn org_id(&self, name: &str) -> Option<OrgId> {
        self.owners.get(name)
    }

    pub fn repo(&self, id: RepoId) -> &RepoEntry {
        &self.repos[id as usize]
    }

    pub fn repo_id(&self, org: OrgId, name: &str) -> Option<RepoId> {
        let r = self.repo_names.get(name)?;
        self.repo_index.get(&(org, r)).copied()
    }

    pub fn policy_name(&self, id: PolicyId) -> &Arc<str> {
        self.policies.name(id)
    }

    pub fn policy_tally(&self, id: PolicyId) -> Tally {
        self.policy_tally[id as usize]
    }

    pub fn policy_id(&self, name: &str) -> Option<PolicyId> {
        self.policies.get(name)
    }

    pub fn key(&self, id: KeyId) -> &KeyState {
        &self.keys[id as usize]
    }

    pub fn key_id(&self, owner: &str, repo: &str, policy: &str) -> Option<KeyId> {
        let hash = self.key_hasher.hash_one((owner, repo, policy));
        let names = KeyNames {
            keys: &self.keys,
            owners: &self.owners,
            repos: &self.repos,
            policies: &self.policies,
        };
        self.key_lookup
            .find(hash, |&k| names.of(k) == (owner, repo, policy))
            .copied()
    }

    /// All keys, in order of first sight (the index is the KeyId).
    pub fn keys(&self) -> &[KeyState] {
        &self.keys
    }

    /// The names of a key: (owner, repo, policy).
    pub fn key_names(&self, id: KeyId) -> (&Arc<str>, &Arc<str>, &Arc<str>) {
        let k = &self.keys[id as usize];
        (
            self.owners.name(k.org),
            &self.repos[k.repo as usize].name,
            self.policies.name(k.policy),
        )
    }

    /// The history ring, oldest first.
    pub fn history(&self) -> &VecDeque<Event> {
        &self.history
    }

    /// The event with sequence number `seq`, if still in the ring.
    ///
    /// Seqs in the ring are contiguous while the sink runs, so this is one
    /// index. A ring restored from a state file may have holes (alerts a
    /// killed run accepted and never stored): then the index lands past
    /// `seq`, and a binary search finds it or says it is not there, so
    /// nobody is handed another alert's event.
    pub fn event(&self, seq: u64) -> Option<&Event> {
        let first = self.history.front()?.seq;
        let idx = usize::try_from(seq.checked_sub(first)?).ok();
        match idx.and_then(|i| self.history.get(i)) {
            Some(e) if e.seq == seq => Some(e),
            _ if seq > self.history.back()?.seq => None,
            _ => {
                let i = self.history.binary_search_by_key(&seq, |e| e.seq).ok()?;
                self.history.get(i)
            }
        }
    }

    /// The alert of `key` before the event `seq` (any key's event still in
    /// the ring), if still in the ring: one step along the key's chain.
    pub fn prev_event(&self, seq: u64) -> Option<&Event> {
        self.prev_of(self.event(seq)?)
    }

    /// The alert of `e`'s key before `e`, if still in the ring.
    fn prev_of(&self, e: &Event) -> Option<&Event> {
        let p = self.event(e.prev_seq)?;
        // A restored ring may have gaps in seq; never follow a wrong link.
        (p.seq == e.prev_seq && p.key == e.key).then_some(p)
    }

    /// The events of `key` still in the ring with `seq > after`, newest
    /// first: a walk along the key's chain, O(its alerts), never the ring.
    pub fn key_events(&self, key: KeyId, after: u64) -> KeyEvents<'_> {
        let next = self.keys.get(key as usize).map_or(0, |k| k.last_seq);
        KeyEvents {
            store: self,
            key,
            next,
            after,
        }
    }

    /// Re-links every event of the ring to its key's previous one
    /// ([`Event::prev_seq`]): after a restore, whose events come from
    /// storage without links. One pass over the ring.
    pub fn link_history(&mut self) {
        let mut last: Vec<u64> = vec![0; self.keys.len()];
        for e in self.history.iter_mut() {
            if let Some(l) = last.get_mut(e.key as usize) {
                e.prev_seq = *l;
                *l = e.seq;
            }
        }
    }

    /// Transitions, oldest first.
    pub fn transitions(&self) -> &VecDeque<Transition> {
        &self.transitions
    }

    /// Regressions and fixes at or after `since_ms` (counted from the
    /// transitions ring, newest first, stopping at the first older one).
    pub fn transitions_since(&self, since_ms: u64) -> (u32, u32) {
        let (mut regressed, mut fixed) = (0, 0);
        for t in self.transitions.iter().rev() {
            if t.at_ms < since_ms {
                break;
            }
            match t.change {
                Change::Regressed => regressed += 1,
                Change::Fixed => fixed += 1,
                _ => {}
            }
        }
        (regressed, fixed)
    }

    /// A key's latest status as a record with names (its last alert's seq,
    /// time, status, details and sender).
    pub fn latest_record(&self, key: KeyId) -> AlertRecord {
        let k = &self.keys[key as usize];
        let (owner, repo, policy) = self.key_names(key);
        AlertRecord {
            seq: k.last_seq,
            key,
            at_ms: k.last_seen_ms,
            owner: owner.clone(),
            repo: repo.clone(),
            policy: policy.clone(),
            pass: k.pass,
            details: k.details.clone(),
            change: k.change,
            peer: k.peer.clone(),
            late: false,
            before: self.details_before(k.last_seq),
        }
    }

    /// Resolves an event into a record with names.
    pub fn record(&self, e: &Event) -> AlertRecord {
        let (owner, repo, policy) = self.key_names(e.key);
        AlertRecord {
            seq: e.seq,
            key: e.key,
            at_ms: e.at_ms,
            owner: owner.clone(),
            repo: repo.clone(),
            policy: policy.clone(),
            pass: e.pass,
            details: e.details.clone(),
            change: e.change,
            peer: e.peer.clone(),
            late: e.late,
            before: self.before(e),
        }
    }

    /// The records of the seqs in `from..to` still in the ring, in seq
    /// order (a consumer that fell behind the hub reads them back).
    pub fn records_between(&self, from: u64, to: u64) -> Vec<AlertRecord> {
        (from..to)
            .filter_map(|seq| self.event(seq).filter(|e| e.seq == seq))
            .map(|e| self.record(e))
            .collect()
    }

    /// The details of the alert before the event `seq`, when that event
    /// changed its key's status (see [`AlertRecord::before`]).
    pub fn details_before(&self, seq: u64) -> Option<Arc<str>> {
        self.before(self.event(seq).filter(|e| e.seq == seq)?)
    }

    /// [`AlertRecord::before`] of `e`: its key's alert before it, while the
    /// ring holds that and its text (not the placeholder of details let go
    /// for the memory budget).
    fn before(&self, e: &Event) -> Option<Arc<str>> {
        if !e.change.is_transition() {
            return None;
        }
        self.prev_of(e)
            .map(|p| &p.details)
            .filter(|d| !Arc::ptr_eq(d, &self.dropped_text))
            .cloned()
    }
}

/// See [`Store::key_events`].
pub struct KeyEvents<'a> {
    store: &'a Store,
    key: KeyId,
    next: u64,
    after: u64,
}

impl<'a> Iterator for KeyEvents<'a> {
    type Item = &'a Event;

    fn next(&mut self) -> Option<&'a Event> {
        if self.next <= self.after {
            return None;
        }
        let e = self.store.event(self.next)?;
        if e.seq != self.next || e.key != self.key {
            self.next = 0;
            return None;
        }
        // Links only go back; a bad one (restored data) must not loop.
        self.next = if e.prev_seq < e.seq { e.prev_seq } else { 0 };
        Some(e)
    }
}

/// The details text of a new alert of `state`'s key, shared with the key's
/// previous alert when it is the same (Allstar repeats the same details scan
/// after scan), or with its last failing text (fail → pass → fail with the
/// same text: still one allocation).
fn shared_details(state: &KeyState, empty: &Arc<str>, text: &str) -> Arc<str> {
    if *state.details == *text {
        state.details.clone()
    } else if text.is_empty() {
        empty.clone()
    } else if *state.last_text == *text {
        state.last_text.clone()
    } else {
        Arc::from(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(owner: &str, repo: &str, policy: &str, pass: bool) -> NewAlert {
        NewAlert {
            owner: owner.into(),
            repo: repo.into(),
            policy: policy.into(),
            details: if pass {
                String::new()
            } else {
                format!("{policy} failed on {repo}\n")
            },
            pass,
        }
    }

    fn small(history: usize) -> Store {
        Store::new(StoreLimits {
            history,
            transitions: 4,
            max_keys: 1000,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        })
    }

    #[test]
    fn seq_starts_at_one_and_is_contiguous() {
        let mut s = Store::default();
        for i in 0..10 {
            let r = s
                .ingest(&alert("o", "r", "p", i % 2 == 0), i, None)
                .unwrap();
            assert_eq!(r.seq, i + 1);
        }
        assert_eq!(s.accepted(), 10);
        assert_eq!(s.next_seq(), 11);
    }

    #[test]
    fn change_detection_is_per_key_across_many_keys() {
        let mut s = Store::default();
        // A deterministic pseudo-random walk over 50 repos × 9 policies; a
        // reference map checks every computed change.
        let mut reference: HashMap<(u32, u32), bool> = HashMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for t in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let repo = (x % 50) as u32;
            let policy = ((x >> 8) % 9) as u32;
            let pass = (x >> 20) % 4 != 0;
            let a = alert(
                &format!("org{}", repo % 3),
                &format!("repo{repo}"),
                &format!("policy{policy}"),
                pass,
            );
            let r = s.ingest(&a, t, None).unwrap();
            let expected = Change::between(reference.insert((repo, policy), pass), pass);
            assert_eq!(r.change, expected, "alert {t}");
        }
        assert_eq!(s.key_count(), reference.len());
        let failing = reference.values().filter(|p| !**p).count() as u32;
        assert_eq!(s.failing_keys(), failing);
    }

    #[test]
    fn aggregates_follow_status_flips() {
        let mut s = Store::default();
        s.ingest(&alert("ossf", "allstar", "SECURITY.md", true), 1, None)
            .unwrap();
        s.ingest(
            &alert("ossf", "allstar", "Branch Protection", false),
            2,
            None,
        )
        .unwrap();
        s.ingest(&alert("ossf", "scorecard", "SECURITY.md", false), 3, None)
            .unwrap();
        s.ingest(&alert("acme", "web", "SECURITY.md", true), 4, None)
            .unwrap();

        let ossf = s.org_id("ossf").unwrap();
        assert_eq!(
            s.org_tally(ossf),
            Tally {
                failing: 2,
                total: 3
            }
        );
        let sec = s.policy_id("SECURITY.md").unwrap();
        assert_eq!(
            s.policy_tally(sec),
            Tally {
                failing: 1,
                total: 3
            }
        );
        let allstar = s.repo_id(ossf, "allstar").unwrap();
        assert_eq!(
            s.repo(allstar).tally,
            Tally {
                failing: 1,
                total: 2
            }
        );

        // fail → pass on scorecard; pass → pass on acme changes nothing.
        let r = s
            .ingest(&alert("ossf", "scorecard", "SECURITY.md", true), 5, None)
            .unwrap();
        assert_eq!(r.change, Change::Fixed);
        s.ingest(&alert("acme", "web", "SECURITY.md", true), 6, None)
            .unwrap();
        assert_eq!(
            s.org_tally(ossf),
            Tally {
                failing: 1,
                total: 3
            }
        );
        assert_eq!(
            s.policy_tally(sec),
            Tally {
                failing: 0,
                total: 3
            }
        );
        assert_eq!(s.failing_keys(), 1);
        let k = s.key_id("ossf", "scorecard", "SECURITY.md").unwrap();
        assert_eq!(s.key(k).last_change_ms, 5);
        assert_eq!(s.key(k).first_seen_ms, 3);
        assert_eq!(s.key(k).fixes, 1);
    }

    #[test]
    fn same_repo_name_in_two_orgs_is_two_repos() {
        let mut s = Store::default();
        s.ingest(&alert("a", ".github", "p", false), 1, None)
            .unwrap();
        s.ingest(&alert("b", ".github", "p", true), 2, None)
            .unwrap();
        assert_eq!(s.repo_count(), 2);
        assert_eq!(s.key_count(), 2);
        let a = s.org_id("a").unwrap();
        let b = s.org_id("b").unwrap();
        assert_eq!(s.repo(s.repo_id(a, ".github").unwrap()).tally.failing, 1);
        assert_eq!(s.repo(s.repo_id(b, ".github").unwrap()).tally.failing, 0);
    }

    #[test]
    fn history_ring_is_bounded_and_counts_evictions() {
        let mut s = small(100);
        for i in 0..1_000u64 {
            s.ingest(
                &alert("o", &format!("r{}", i % 7), "p", i % 3 == 0),
                i,
                None,
            )
            .unwrap();
        }
        assert_eq!(s.history().len(), 100);
        assert_eq!(s.evicted(), 900);
        assert_eq!(s.history().front().unwrap().seq, 901);
        assert_eq!(s.history().back().unwrap().seq, 1000);
        assert_eq!(s.event(950).unwrap().seq, 950);
        assert!(s.event(900).is_none());
        assert!(s.event(1001).is_none());
    }

    #[test]
    fn aggregates_are_unaffected_by_eviction() {
        let mut s = small(3);
        for r in 0..10 {
            s.ingest(&alert("o", &format!("r{r}"), "p", r % 2 == 0), r, None)
                .unwrap();
        }
        assert_eq!(s.history().len(), 3);
        let o = s.org_id("o").unwrap();
        assert_eq!(
            s.org_tally(o),
            Tally {
                failing: 5,
                total: 10
            }
        );
        assert_eq!(s.key_count(), 10);
    }

    #[test]
    fn transitions_ring_is_bounded_and_newest_last() {
        let mut s = small(1000);
        for i in 0..10u64 {
            s.ingest(&alert("o", "r", "p", i % 2 == 0), i * 1000, None)
                .unwrap();
        }
        // 9 flips after the first; ring keeps 4.
        assert_eq!(s.transitions().len(), 4);
        assert_eq!(s.transitions_evicted(), 5);
        assert_eq!(s.total_regressions() + s.total_fixes(), 9);
        assert_eq!(s.transitions().back().unwrap().seq, 10);
        // at 6000..9000 → seq 7..10: flips at 6000 (pass), 7000 (fail)...
        assert_eq!(s.transitions_since(8000), (1, 1));
        assert_eq!(s.transitions_since(0), (2, 2));
    }

    /// A sender is looked up by borrowed names (no allocation per alert):
    /// the same address, identity and hops find the same peer, any other
    /// part makes another.
    #[test]
    fn a_sender_is_found_again_by_its_address_identity_and_hops() {
        let mut s = Store::default();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let p = s.peer_via(Some(a), Some("alice"), Some("f00d"), "beef");
        assert!(Arc::ptr_eq(
            &p,
            &s.peer_via(Some(a), Some("alice"), Some("f00d"), "beef")
        ));
        for other in [
            s.peer_via(Some(b), Some("alice"), Some("f00d"), "beef"),
            s.peer_via(Some(a), None, Some("f00d"), "beef"),
            s.peer_via(Some(a), Some("bob"), Some("f00d"), "beef"),
            s.peer_via(Some(a), Some("alice"), None, "beef"),
            s.peer_via(None, Some("alice"), Some("f00d"), "beef"),
        ] {
            assert!(!Arc::ptr_eq(&p, &other), "{other:?}");
        }
        assert_eq!(&*p.hops, "f00d,beef");
        assert_eq!(s.peers.len(), 6);
    }

    #[test]
    fn details_are_shared_when_unchanged() {
        let mut s = Store::default();
        let a = alert("o", "r", "p", false);
        let r1 = s.ingest(&a, 1, None).unwrap();
        let r2 = s.ingest(&a, 2, None).unwrap();
        assert!(Arc::ptr_eq(&r1.details, &r2.details));
        // fail → pass → fail with the same text shares one allocation.
        s.ingest(&alert("o", "r", "p", true), 3, None).unwrap();
        let r3 = s.ingest(&a, 4, None).unwrap();
        assert!(Arc::ptr_eq(&r1.details, &r3.details));
        let p1 = s.ingest(&alert("o", "x", "p", true), 3, None).unwrap();
        let p2 = s.ingest(&alert("o", "y", "q", true), 4, None).unwrap();
        assert!(
            Arc::ptr_eq(&p1.details, &p2.details),
            "empty details shared"
        );
    }

    #[test]
    fn key_bound_refuses_new_keys_without_side_effects() {
        let mut s = Store::new(StoreLimits {
            history: 10,
            transitions: 10,
            max_keys: 2,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        });
        s.ingest(&alert("o", "a", "p", true), 1, None).unwrap();
        s.ingest(&alert("o", "b", "p", true), 2, None).unwrap();
        let err = s.ingest(&alert("new-org", "c", "p", true), 3, None);
        assert_eq!(err, Err(StoreError::TooManyKeys { limit: 2 }));
        assert_eq!(s.org_count(), 1, "a refused key leaves no org behind");
        assert_eq!(s.accepted(), 2);
        // Existing keys still work.
        let r = s.ingest(&alert("o", "a", "p", false), 4, None).unwrap();
        assert_eq!((r.seq, r.change), (3, Change::Regressed));
    }

    fn budgeted(budget: usize) -> Store {
        Store::new(StoreLimits {
            memory_budget: budget,
            ..StoreLimits::default()
        })
    }

    fn with_details(repo: &str, details: String) -> NewAlert {
        NewAlert {
            owner: "o".into(),
            repo: repo.into(),
            policy: "p".into(),
            details,
            pass: false,
        }
    }

    #[test]
    fn unique_details_evict_the_oldest_events_to_stay_in_budget() {
        let budget = 1 << 20;
        let mut s = budgeted(budget);
        for i in 0..200u64 {
            // One key: only the history holds the older texts.
            let text = format!("{i:06}").repeat(10_000);
            s.ingest(&with_details("r", text), i, None).unwrap();
            assert!(s.memory_used() <= budget, "alert {i}: {}", s.memory_used());
        }
        let held = s.history().len() as u64;
        assert!((10..20).contains(&held), "60 KB texts in 1 MiB: {held}");
        assert_eq!(s.evicted(), 200 - held, "every eviction counted");
        assert_eq!(s.history().back().unwrap().seq, 200, "the newest stay");
        assert_eq!(s.details_evicted(), 0, "the key's latest text stays");
    }

    #[test]
    fn repeated_details_are_counted_once_and_evict_nothing() {
        let budget = 1 << 20;
        let mut s = budgeted(budget);
        let text = "x".repeat(60_000);
        for i in 0..5_000u64 {
            s.ingest(&with_details(&format!("r{}", i % 2), text.clone()), i, None)
                .unwrap();
        }
        // Two keys, two allocations of the text, 5,000 events.
        assert_eq!(s.evicted(), 0);
        assert!(s.memory_used() < 2 * 60_100 + 5_000 * EVENT_BYTES + 2 * 1024);
        let e = s.history();
        assert!(Arc::ptr_eq(&e[0].details, &e[4_998].details));
    }

    #[test]
    fn keys_latest_details_give_way_oldest_first() {
        let budget = 1 << 20;
        let mut s = budgeted(budget);
        for i in 0..100u64 {
            let text = format!("{i:06}").repeat(10_000);
            s.ingest(&with_details(&format!("r{i}"), text), i, None)
                .unwrap();
            assert!(s.memory_used() <= budget, "alert {i}: {}", s.memory_used());
        }
        assert_eq!(s.history().len(), 1, "events go first");
        let dropped = s.details_evicted();
        assert!(dropped >= 80, "{dropped}");
        let oldest = s.key_id("o", "r0", "p").unwrap();
        assert_eq!(&*s.key(oldest).details, DETAILS_EVICTED);
        assert!(!s.key(oldest).pass, "the status stays");
        let newest = s.key_id("o", "r99", "p").unwrap();
        assert!(s.key(newest).details.starts_with("000099"));
        // A key whose text was dropped gets a new one on its next alert.
        let r = s
            .ingest(&with_details("r0", "back".into()), 200, None)
            .unwrap();
        assert_eq!(&*r.details, "back");
        assert_eq!(&*s.key(oldest).details, "back");
    }

    #[test]
    fn keys_take_at_most_half_the_budget() {
        let mut s = budgeted(64 * 1024);
        let mut added = 0;
        let err = loop {
            match s.ingest(&alert("o", &format!("r{added}"), "p", true), 1, None) {
                Ok(_) => added += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, StoreError::KeysOverBudget { .. }), "{err}");
        assert!(added > 10 && added < 32 * 1024 / KEY_BYTES, "{added}");
        assert!(s.memory_used() <= 64 * 1024);
    }

    #[test]
    fn peers_are_interned() {
        let mut s = Store::default();
        let addr: SocketAddr = "127.0.0.1:40312".parse().unwrap();
        let p1 = s.peer(Some(addr), None);
        let p2 = s.peer(Some(addr), None);
        assert!(Arc::ptr_eq(&p1, &p2));
        assert_eq!(p1.label, "127.0.0.1:40312");
        let p3 = s.peer(Some(addr), Some("CN=allstar"));
        assert!(!Arc::ptr_eq(&p1, &p3));
    }

    #[test]
    fn a_keys_events_are_chained_through_the_ring() {
        let mut s = small(50);
        // Three keys interleaved; key "r1" gets every third alert.
        for i in 0..90u64 {
            s.ingest(
                &alert("o", &format!("r{}", i % 3), "p", i % 2 == 0),
                i,
                None,
            )
            .unwrap();
        }
        let k = s.key_id("o", "r1", "p").unwrap();
        let seqs: Vec<u64> = s.key_events(k, 0).map(|e| e.seq).collect();
        let expected: Vec<u64> = s
            .history()
            .iter()
            .rev()
            .filter(|e| e.key == k)
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, expected, "newest first, only the ring's");
        assert_eq!(seqs.len(), 17);
        // Only those after a seq: what a timeline syncs incrementally.
        let after: Vec<u64> = s.key_events(k, 80).map(|e| e.seq).collect();
        assert_eq!(after, [89, 86, 83]);
        let before = s.prev_event(89).unwrap();
        assert_eq!((before.seq, before.key), (86, k));
        assert!(s.prev_event(seqs[seqs.len() - 1]).is_none(), "evicted");
        // A restored ring comes without links; link_history rebuilds them.
        let linked: Vec<u64> = s.history().iter().map(|e| e.prev_seq).collect();
        let mut copy = small(50);
        for key in ["r0", "r1", "r2"] {
            copy.ingest(&alert("o", key, "p", true), 0, None).unwrap();
        }
        for e in s.history() {
            copy.restore_event(Event {
                prev_seq: 0,
                ..e.clone()
            });
        }
        copy.link_history();
        let relinked: Vec<u64> = copy.history().iter().map(|e| e.prev_seq).collect();
        // The first of each key points at an evicted seq in the original
        // ring and at nothing after a restore: both end the walk.
        let ends = |v: &[u64], h: &VecDeque<Event>| {
            v.iter()
                .map(|&p| if p < h.front().unwrap().seq { 0 } else { p })
                .collect::<Vec<_>>()
        };
        assert_eq!(ends(&relinked, copy.history()), ends(&linked, s.history()));
    }

    /// Two replicas' alerts merged by a viewer: the replica whose snapshot
    /// arrives second holds an older alert of a key the first already
    /// gave. It must not replace the latest status nor make a transition.
    #[test]
    fn an_alert_older_than_the_keys_latest_does_not_replace_it() {
        let mut s = small(100);
        let fail = s
            .ingest_by_time(&alert("shared", "y", "p", false), 21_490, None, None)
            .unwrap();
        let late = s
            .ingest_by_time(&alert("shared", "y", "p", true), 21_176, None, None)
            .unwrap();
        assert_eq!((late.seq, late.change, late.late), (2, Change::Same, true));
        assert!(!fail.late);
        let k = s.key_id("shared", "y", "p").unwrap();
        let st = s.key(k);
        assert!(!st.pass, "the newer fail stays the latest");
        assert_eq!((st.last_seen_ms, st.last_seq), (21_490, fail.seq));
        assert_eq!((st.change, &*st.details), (Change::First, &*fail.details));
        assert_eq!((st.regressions, st.fixes, st.count), (0, 0, 2));
        assert_eq!(st.first_seen_ms, 21_176, "it was seen earlier");
        assert!(s.transitions().is_empty());
        assert_eq!((s.total_fixes(), s.failing_keys()), (0, 1));
        let o = s.org_id("shared").unwrap();
        assert_eq!(
            s.org_tally(o),
            Tally {
                failing: 1,
                total: 1
            }
        );
        // In the history ring in arrival order, with its own time, marked;
        // not on the key's chain (its timeline).
        let ring: Vec<_> = s
            .history()
            .iter()
            .map(|e| (e.seq, e.at_ms, e.pass, e.late))
            .collect();
        assert_eq!(ring, [(1, 21_490, false, false), (2, 21_176, true, true)]);
        assert!(s.record(s.event(2).unwrap()).late);
        let chain: Vec<u64> = s.key_events(k, 0).map(|e| e.seq).collect();
        assert_eq!(chain, [1]);

        // A newer one replaces it, and an equal time goes by arrival.
        let fixed = s
            .ingest_by_time(&alert("shared", "y", "p", true), 21_490, None, None)
            .unwrap();
        assert_eq!((fixed.change, fixed.late), (Change::Fixed, false));
        assert!(s.key(k).pass);
        assert_eq!(s.transitions().len(), 1);
        let chain: Vec<u64> = s.key_events(k, 0).map(|e| e.seq).collect();
        assert_eq!(chain, [3, 1], "linked past the late event");
        // A key's first alert is never late.
        let first = s
            .ingest_by_time(&alert("shared", "z", "p", false), 1, None, None)
            .unwrap();
        assert_eq!((first.change, first.late), (Change::First, false));

        // A sink's own ingest stays by arrival: its clock may step back.
        let r = s
            .ingest(&alert("shared", "y", "p", false), 100, None)
            .unwrap();
        assert_eq!((r.change, r.late), (Change::Regressed, false));
        assert!(!s.key(k).pass);
    }

    #[test]
    fn an_event_takes_56_bytes_of_ring() {
        // Memory per alert held (BENCHMARKS.md): 48 bytes before the link
        // to the key's previous event. A change here must be deliberate.
        assert_eq!(EVENT_BYTES, 56);
    }

    #[test]
    fn record_resolves_names() {
        let mut s = Store::default();
        let r = s
            .ingest(
                &alert("ossf", "allstar", "Binary Artifacts", false),
                7,
                None,
            )
            .unwrap();
        let e = s.event(r.seq).unwrap().clone();
        assert_eq!(s.record(&e), r);
    }
}
