//! The Store: everything sinkwatch knows about the alerts it accepted.
//!
//! - interned (owner, repo, policy) keys and the latest status of each key,
//! - change detection against the previous alert of the same key,
//! - failing/total aggregates per org, repo and policy, kept incrementally,
//! - a bounded history ring of events whose evictions are counted,
//! - a bounded ring of transitions (regressions and fixes).
//!
//! Pure: no I/O, no clock (callers pass the time in), no async.

use std::collections::{HashMap, VecDeque};
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

/// Default number of events kept in the history ring.
pub const DEFAULT_HISTORY: usize = 250_000;
/// Default number of transitions kept.
pub const DEFAULT_TRANSITIONS: usize = 10_000;
/// Default bound on distinct (owner, repo, policy) keys.
pub const DEFAULT_MAX_KEYS: usize = 2_000_000;
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
}

impl Peer {
    pub fn new(addr: Option<SocketAddr>, identity: Option<String>) -> Peer {
        let label = addr.map(|a| a.to_string()).unwrap_or_default();
        Peer {
            addr,
            identity,
            label,
        }
    }
}

/// An accepted alert with its names resolved: what consumers (printer,
/// recorder, forwarders) receive. Strings are shared, not copied.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub owner: Arc<str>,
    pub repo: Arc<str>,
    pub policy: Arc<str>,
    pub pass: bool,
    pub details: Arc<str>,
    pub change: Change,
    pub peer: Option<Arc<Peer>>,
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
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::TooManyKeys { limit } => write!(
                f,
                "too many distinct (owner, repo, policy) keys: the limit is {limit}"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// Bounds of a Store.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    pub history: usize,
    pub transitions: usize,
    pub max_keys: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            history: DEFAULT_HISTORY,
            transitions: DEFAULT_TRANSITIONS,
            max_keys: DEFAULT_MAX_KEYS,
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
    repo_index: HashMap<(OrgId, u32), RepoId>,
    keys: Vec<KeyState>,
    key_index: HashMap<(RepoId, PolicyId), KeyId>,
    history: VecDeque<Event>,
    transitions: VecDeque<Transition>,
    peers: HashMap<(Option<SocketAddr>, Option<String>), Arc<Peer>>,
    empty: Arc<str>,
    next_seq: u64,
    evicted: u64,
    transitions_evicted: u64,
    failing_keys: u32,
    regressions: u64,
    fixes: u64,
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
        };
        Store {
            limits,
            owners: Interner::default(),
            repo_names: Interner::default(),
            policies: Interner::default(),
            org_tally: Vec::new(),
            policy_tally: Vec::new(),
            repos: Vec::new(),
            repo_index: HashMap::new(),
            keys: Vec::new(),
            key_index: HashMap::new(),
            // Grow on demand: a large --history must not cost memory up front.
            history: VecDeque::new(),
            transitions: VecDeque::new(),
            peers: HashMap::new(),
            empty: Arc::from(""),
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
        let lookup = (addr, identity.map(str::to_owned));
        if let Some(p) = self.peers.get(&lookup) {
            return p.clone();
        }
        if self.peers.len() >= MAX_PEERS {
            self.peers.clear();
        }
        let p = Arc::new(Peer::new(addr, identity.map(str::to_owned)));
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
        let seq = self.next_seq;
        self.next_seq += 1;

        let state = &mut self.keys[key as usize];
        let previous = (state.count > 0).then_some(state.pass);
        let change = Change::between(previous, alert.pass);

        // Share the details text with the key's previous alert when it is the
        // same: Allstar repeats the same details scan after scan.
        let details = if *state.details == *alert.details {
            state.details.clone()
        } else if alert.details.is_empty() {
            self.empty.clone()
        } else if *state.last_text == *alert.details {
            // fail → pass → fail with the same text: still one allocation.
            state.last_text.clone()
        } else {
            Arc::from(alert.details.as_str())
        };
        if !details.is_empty() {
            state.last_text = details.clone();
        }

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

        if self.history.len() >= self.limits.history {
            self.history.pop_front();
            self.evicted += 1;
        }
        self.history.push_back(Event {
            seq,
            at_ms,
            key,
            pass: alert.pass,
            change,
            details: details.clone(),
            peer: peer.clone(),
        });

        Ok(AlertRecord {
            seq,
            at_ms,
            owner: self.owners.name(org).clone(),
            repo: self.repos[repo as usize].name.clone(),
            policy: self.policies.name(policy).clone(),
            pass: alert.pass,
            details,
            change,
            peer,
        })
    }

    fn key_for(&mut self, owner: &str, repo: &str, policy: &str) -> Result<KeyId, StoreError> {
        // Look up without interning first, so a refused new key leaves no trace.
        if let (Some(o), Some(r), Some(p)) = (
            self.owners.get(owner),
            self.repo_names.get(repo),
            self.policies.get(policy),
        ) && let Some(&repo_id) = self.repo_index.get(&(o, r))
            && let Some(&k) = self.key_index.get(&(repo_id, p))
        {
            return Ok(k);
        }
        if self.keys.len() >= self.limits.max_keys {
            return Err(StoreError::TooManyKeys {
                limit: self.limits.max_keys,
            });
        }
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
            peer: None,
        });
        self.key_index.insert((repo_id, policy_id), key);
        Ok(key)
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
        let org = self.owners.get(owner)?;
        let repo = self.repo_id(org, repo)?;
        let policy = self.policies.get(policy)?;
        self.key_index.get(&(repo, policy)).copied()
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
    pub fn event(&self, seq: u64) -> Option<&Event> {
        let first = self.history.front()?.seq;
        let idx = seq.checked_sub(first)?;
        self.history.get(usize::try_from(idx).ok()?)
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

    /// Resolves an event into a record with names.
    pub fn record(&self, e: &Event) -> AlertRecord {
        let (owner, repo, policy) = self.key_names(e.key);
        AlertRecord {
            seq: e.seq,
            at_ms: e.at_ms,
            owner: owner.clone(),
            repo: repo.clone(),
            policy: policy.clone(),
            pass: e.pass,
            details: e.details.clone(),
            change: e.change,
            peer: e.peer.clone(),
        }
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
