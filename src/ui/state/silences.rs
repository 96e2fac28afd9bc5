//! Silences in the TUI: the set, what it silences now (kept incrementally),
//! the `x` menu and form, the `X` list.
//!
//! What a silence silences is a key's *latest* failing alert. A per-key
//! verdict and the count of silenced failing keys are kept up to date in
//! [`App::sync`]: the keys of new events are judged again as they arrive,
//! and a change of the set (add, edit, expire, or the clock passing a
//! silence's start or end) re-judges every key in chunks of
//! [`JUDGE_CHUNK`] per sync, so no frame walks 90k keys. Drawing reads the
//! verdicts of the visible rows only.
//!
//! Hiding silenced failures (`i`) goes through the matcher, like any
//! filter: the index is rebuilt (in chunks) when the set changes.

use std::sync::Arc;

use crate::model::Store;
use crate::model::silence::{Silence, Silences, parse_end, parse_matcher};
use crate::model::store::{AlertRecord, KeyId};
use crate::state::silences::{Backing, Saver};

use super::App;
use crate::ui::index::Step;
use crate::ui::keymap::Pane;

/// Keys judged per sync while the whole set is re-judged.
pub const JUDGE_CHUNK: usize = 16_384;

/// The silences of the app and what they silence.
#[derive(Default)]
pub struct SilenceState {
    pub set: Silences,
    /// Per key: its latest alert fails and an active silence covers it.
    verdicts: Vec<bool>,
    /// Keys with a `true` verdict.
    silenced: usize,
    /// The set's version the verdicts follow.
    judged_version: u64,
    /// The next key of a whole re-judging, while one runs.
    rejudge_at: Option<usize>,
    /// Events `< seen_seq` have been judged.
    seen_seq: u64,
    /// When the set changes next by the clock.
    next_change: Option<u64>,
    /// The time of the last sync (silences are judged at it).
    pub now_ms: u64,
    /// `i`: silenced failures are hidden (else shown dimmed).
    pub hide: bool,
    pub(crate) saver: Option<Saver>,
    /// A warning of loading, shown in the list view.
    pub load_warning: Option<String>,
    /// `x`: the menu of matchers for the selection.
    pub menu: Option<Vec<(char, &'static str, String)>>,
    /// The form being filled (a new silence, or an edit from the list).
    pub form: Option<SilenceForm>,
    /// `X`: the list is open, this row selected.
    pub list: Option<usize>,
    /// The last message of an action (created, expired, refused…).
    pub notice: Option<String>,
    /// Who creates silences: $USER, else `sinkwatch` (also when empty,
    /// as in tests, which must not depend on who runs them).
    pub creator: String,
}

/// What a form does when applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormPurpose {
    New,
    /// A new end for this silence.
    EditEnd(String),
    /// A new comment.
    EditComment(String),
}

/// One text field of a form.
#[derive(Clone, Debug)]
pub struct Field {
    pub label: &'static str,
    pub input: String,
    /// Cursor in chars.
    pub cursor: usize,
    /// A suggested value not touched yet (the `for` field's `1h`): typing
    /// replaces it, as over a selection, rather than appending to it (a
    /// user's review: `30m` typed there gave `1h30m`).
    pub suggested: bool,
}

impl Field {
    fn new(label: &'static str, input: &str) -> Field {
        Field {
            label,
            input: input.to_owned(),
            cursor: input.chars().count(),
            suggested: false,
        }
    }

    /// A field holding a suggestion (see [`Field::suggested`]).
    fn suggesting(label: &'static str, input: &str) -> Field {
        Field {
            suggested: true,
            ..Field::new(label, input)
        }
    }
}

/// The `x` form (matcher, duration, comment) or an edit of one field.
#[derive(Clone, Debug)]
pub struct SilenceForm {
    pub purpose: FormPurpose,
    pub fields: Vec<Field>,
    pub focus: usize,
    pub error: Option<String>,
}

/// The default length of a new silence.
pub const DEFAULT_FOR: &str = "1h";

impl SilenceState {
    /// Starts from loaded silences, saved through `saver` from now on.
    pub fn new(set: Silences, saver: Option<Saver>, load_warning: Option<String>) -> Self {
        SilenceState {
            set,
            saver,
            load_warning,
            creator: creator(),
            ..SilenceState::default()
        }
    }

    /// Loads the silences kept in `b` and saves there from now on. The
    /// warning (a file that could not be read) is for the caller to print
    /// too; the list view shows it.
    pub fn load(b: Backing, now_ms: u64) -> SilenceState {
        let l = crate::state::silences::load(&b);
        let set = Silences::from_list(l.silences, now_ms);
        SilenceState::new(set, Some(Saver::start(b, l.writable)), l.warning)
    }

    /// Who creates silences.
    pub fn creator_name(&self) -> &str {
        if self.creator.is_empty() {
            "sinkwatch"
        } else {
            &self.creator
        }
    }

    /// Failing keys silenced now.
    pub fn silenced(&self) -> usize {
        self.silenced
    }

    /// The cached verdict of a key (false for keys not judged yet).
    pub fn key_silenced(&self, key: KeyId) -> bool {
        self.verdicts.get(key as usize).copied().unwrap_or(false)
    }

    /// True while a whole re-judging runs (the loop comes back soon).
    pub fn judging(&self) -> bool {
        self.rejudge_at.is_some()
    }

    /// Where they are kept, for the list view.
    pub fn backing(&self) -> Option<&Backing> {
        self.saver.as_ref().map(Saver::backing)
    }

    /// Why they are not saved, if so.
    pub fn save_error(&self) -> Option<String> {
        self.saver.as_ref().and_then(|s| s.status().error())
    }

    fn judge(&mut self, s: &Store, key: KeyId) {
        let k = s.key(key);
        let v = !k.pass
            && self
                .set
                .silencing_parts(
                    s.key_names(key).into_str(),
                    &k.details,
                    false,
                    k.change,
                    self.now_ms,
                )
                .is_some();
        let slot = &mut self.verdicts[key as usize];
        if *slot != v {
            if v {
                self.silenced += 1;
            } else {
                self.silenced -= 1;
            }
            *slot = v;
        }
    }

    /// Catches up with the store (under the hub lock); returns true when
    /// the set changed by the clock (the matcher must follow when hiding).
    pub(crate) fn sync(&mut self, s: &Store, now_ms: u64) -> bool {
        self.now_ms = now_ms;
        let mut clock_changed = false;
        if self.next_change.is_some_and(|t| now_ms >= t) {
            clock_changed = true;
            self.set.prune(now_ms);
        }
        if self.verdicts.len() < s.key_count() {
            self.verdicts.resize(s.key_count(), false);
        }
        if clock_changed || self.judged_version != self.set.version() {
            self.judged_version = self.set.version();
            self.next_change = self.set.next_change(now_ms);
            self.rejudge_at = Some(0);
        }
        let next = s.next_seq();
        let front = s.history().front().map_or(next, |e| e.seq);
        if self.seen_seq < front && self.seen_seq < next {
            // Events went by unseen (or this is the first sync): judge all.
            self.rejudge_at = Some(0);
        } else if self.set.is_empty() && self.silenced == 0 {
            // Nothing to judge; only follow.
        } else {
            for seq in self.seen_seq..next {
                if let Some(e) = s.event(seq) {
                    self.judge(s, e.key);
                }
            }
        }
        self.seen_seq = next;
        if let Some(at) = self.rejudge_at {
            if self.set.is_empty() && self.silenced == 0 {
                self.rejudge_at = None;
            } else {
                let end = (at + JUDGE_CHUNK).min(s.key_count());
                for key in at..end {
                    self.judge(s, key as KeyId);
                }
                self.rejudge_at = (end < s.key_count()).then_some(end);
            }
        }
        clock_changed
    }

    /// The silence covering an alert now, if any.
    pub fn silencing(
        &self,
        names: (&str, &str, &str),
        details: &str,
        pass: bool,
    ) -> Option<&Silence> {
        self.set.silencing_parts(
            names,
            details,
            pass,
            crate::model::Change::Same,
            self.now_ms,
        )
    }

    fn save(&self) {
        if let Some(s) = &self.saver {
            s.save(&self.set);
        }
    }
}

/// Names as `&str`.
trait IntoStr<'a> {
    fn into_str(self) -> (&'a str, &'a str, &'a str);
}

impl<'a> IntoStr<'a> for (&'a Arc<str>, &'a Arc<str>, &'a Arc<str>) {
    fn into_str(self) -> (&'a str, &'a str, &'a str) {
        (self.0, self.1, self.2)
    }
}

/// $USER, else `sinkwatch`.
fn creator() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && u.len() <= 64)
        .unwrap_or_else(|| "sinkwatch".to_owned())
}

/// A filter value matching exactly `v`: glob characters escaped, and
/// quoted when it needs to be (the glob sees the text inside the quotes
/// after `\"` and `\\` are undone, so both escapes apply).
pub fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && !v.starts_with('/')
        && v.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if plain {
        return v.to_owned();
    }
    let mut glob = String::new();
    for c in v.chars() {
        if matches!(c, '*' | '?' | '\\') {
            glob.push('\\');
        }
        glob.push(c);
    }
    let mut s = String::from("\"");
    for c in glob.chars() {
        if matches!(c, '"' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// The matchers `x` offers for a key: itself, its repo, its org, its
/// policy.
pub fn key_matchers(owner: &str, repo: &str, policy: &str) -> Vec<(char, &'static str, String)> {
    let repo_m = format!("repo:{}", quote(&format!("{owner}/{repo}")));
    let policy_m = format!("policy:{}", quote(policy));
    vec![
        ('k', "this key", format!("{repo_m} {policy_m}")),
        ('r', "its repo", repo_m),
        ('o', "its org", format!("org:{}", quote(owner))),
        ('p', "its policy", policy_m),
    ]
}

impl App {
    /// Whether an alert is silenced now (for the bell): it fails and an
    /// active silence covers it.
    pub fn is_silenced(&self, alert: &AlertRecord) -> bool {
        !alert.pass
            && self
                .silences
                .silencing(
                    (&alert.owner, &alert.repo, &alert.policy),
                    &alert.details,
                    false,
                )
                .is_some()
    }

    /// Installs the loaded silences and where to save them.
    pub fn set_silences(&mut self, state: SilenceState) {
        self.silences = state;
        self.dirty = true;
    }

    /// Part of [`App::sync`]: the verdicts, and the matcher when hiding and
    /// the set changed.
    pub(super) fn sync_silences(&mut self, s: &Store, now_ms: u64) -> bool {
        let before = (self.silences.silenced, self.silences.set.version());
        let clock = self.silences.sync(s, now_ms);
        let version = self.silences.set.version();
        if self.silences.hide && (clock || version != self.matcher_silences_version) {
            self.matcher_silences_version = version;
            self.matcher_dirty = true;
        }
        clock || before != (self.silences.silenced, self.silences.set.version())
    }

    /// `x`: the matchers for the selection (the selected key, or the group
    /// selected in a group pane), plus the current filter.
    pub(in crate::ui) fn open_silence_menu(&mut self) {
        let mut items = Vec::new();
        match self.focus {
            Pane::Orgs => {
                if let Some(r) = self.lists.orgs.get(self.sel_orgs.pos) {
                    items.push((
                        'o',
                        "this org",
                        format!("org:{}", quote(self.lists.org_name(r.id))),
                    ));
                }
            }
            Pane::Repos => {
                if let Some(r) = self.lists.repos.get(self.sel_repos.pos)
                    && let Some(org) = self.lists.repo_org(r.id)
                {
                    let name = format!(
                        "{}/{}",
                        self.lists.org_name(org),
                        self.lists.repo_name(r.id)
                    );
                    items.push(('r', "this repo", format!("repo:{}", quote(&name))));
                }
            }
            Pane::Policies => {
                if let Some(r) = self.lists.policies.get(self.sel_policies.pos) {
                    items.push((
                        'p',
                        "this policy",
                        format!("policy:{}", quote(self.lists.policy_name(r.id))),
                    ));
                }
            }
            _ => {
                if let Some((o, r, p)) = &self.selected_names {
                    items.extend(key_matchers(o, r, p));
                }
            }
        }
        // The narrowing and filter on screen, as one expression.
        let mut screen: Vec<String> = Vec::new();
        for step in &self.steps {
            screen.push(match *step {
                Step::Org(o) => format!("org:{}", quote(self.lists.org_name(o))),
                Step::Repo { repo, org } => format!(
                    "repo:{}",
                    quote(&format!(
                        "{}/{}",
                        self.lists.org_name(org),
                        self.lists.repo_name(repo)
                    ))
                ),
                Step::Policy(p) => format!("policy:{}", quote(self.lists.policy_name(p))),
            });
        }
        if !self.filter.is_empty() {
            let f = self.filter.source().trim();
            screen.push(if f.contains(" or ") {
                format!("({f})")
            } else {
                f.to_owned()
            });
        }
        if !screen.is_empty() {
            items.push(('f', "what the screen shows", screen.join(" ")));
        }
        items.push(('e', "an expression", String::new()));
        self.silences.menu = Some(items);
    }

    /// A menu choice: the form, its matcher filled in.
    pub(in crate::ui) fn choose_silence(&mut self, c: char) {
        let Some(items) = &self.silences.menu else {
            return;
        };
        let Some((_, _, m)) = items.iter().find(|(k, _, _)| *k == c) else {
            return;
        };
        let m = m.clone();
        self.silences.menu = None;
        let mut form = SilenceForm {
            purpose: FormPurpose::New,
            fields: vec![
                Field::new("matcher", &m),
                Field::suggesting("for", DEFAULT_FOR),
                Field::new("comment", ""),
            ],
            focus: if m.is_empty() { 0 } else { 2 },
            error: None,
        };
        form.check(self.silences.now_ms);
        self.silences.form = Some(form);
    }

    /// Enter in a form: creates or edits, or shows why not.
    pub(in crate::ui) fn apply_silence_form(&mut self) {
        let Some(form) = self.silences.form.as_mut() else {
            return;
        };
        let now = self.silences.now_ms;
        form.check(now);
        if form.error.is_some() {
            return;
        }
        let st = &mut self.silences;
        let form = st.form.take().expect("checked");
        let get = |i: usize| form.fields[i].input.trim().to_owned();
        let result = match &form.purpose {
            FormPurpose::New => {
                let end = parse_end(&get(1), now).expect("checked");
                let by = st.creator_name().to_owned();
                st.set
                    .add(&get(0), end, &get(2), &by, now)
                    .map(|id| format!("silence {id} created: {} for {}", get(0), get(1)))
            }
            FormPurpose::EditEnd(id) => {
                let end = parse_end(&get(0), now).expect("checked");
                st.set
                    .edit(id, Some(end), None, now)
                    .map(|()| format!("silence {id} now ends in {}", get(0)))
            }
            FormPurpose::EditComment(id) => st
                .set
                .edit(id, None, Some(&get(0)), now)
                .map(|()| format!("silence {id}: comment changed")),
        };
        match result {
            Ok(msg) => {
                st.notice = Some(msg);
                st.save();
            }
            Err(e) => {
                let mut form = form;
                form.error = Some(e);
                st.form = Some(form);
            }
        }
    }

    /// The list's rows, in the order shown: active (ending soonest
    /// first), then pending, then expired (most recent first).
    pub fn silence_rows(&self) -> Vec<&Silence> {
        let now = self.silences.now_ms;
        let mut rows: Vec<&Silence> = self.silences.set.all().iter().collect();
        rows.sort_by_key(|s| {
            if s.active(now) {
                (0, s.ends_ms, s.id.clone())
            } else if !s.expired(now) {
                (1, s.starts_ms, s.id.clone())
            } else {
                (2, u64::MAX - s.ends_ms, s.id.clone())
            }
        });
        rows
    }

    /// The silence selected in the list.
    fn listed(&self) -> Option<String> {
        let at = self.silences.list?;
        self.silence_rows().get(at).map(|s| s.id.clone())
    }

    /// `e` / `c` in the list: a one-field form.
    pub(in crate::ui) fn edit_listed(&mut self, end: bool) {
        let Some(id) = self.listed() else { return };
        let Some(s) = self.silences.set.get(&id) else {
            return;
        };
        let field = if end {
            Field::suggesting("for", DEFAULT_FOR)
        } else {
            Field::new("comment", &s.comment)
        };
        let mut form = SilenceForm {
            purpose: if end {
                FormPurpose::EditEnd(id)
            } else {
                FormPurpose::EditComment(id)
            },
            fields: vec![field],
            focus: 0,
            error: None,
        };
        form.check(self.silences.now_ms);
        self.silences.form = Some(form);
    }

    /// `d` in the list: expire now.
    pub(in crate::ui) fn expire_listed(&mut self) {
        let Some(id) = self.listed() else { return };
        let now = self.silences.now_ms;
        if self.silences.set.expire(&id, now) {
            self.silences.notice = Some(format!("silence {id} expired"));
            self.silences.save();
        }
    }

    /// Moves the list selection.
    pub(in crate::ui) fn move_listed(&mut self, d: i64) {
        let n = self.silences.set.all().len();
        if let Some(at) = self.silences.list.as_mut() {
            *at = (*at as i64 + d).clamp(0, n.saturating_sub(1) as i64) as usize;
        }
    }
}

impl SilenceForm {
    /// Checks the fields; the error names the first bad one.
    pub(in crate::ui) fn check(&mut self, now_ms: u64) {
        let get = |i: usize| self.fields[i].input.trim();
        self.error = match &self.purpose {
            FormPurpose::New => parse_matcher(get(0))
                .err()
                .or_else(|| parse_end(get(1), now_ms).err().map(|e| format!("for: {e}"))),
            FormPurpose::EditEnd(_) => parse_end(get(0), now_ms).err(),
            FormPurpose::EditComment(_) => None,
        };
    }

    pub(in crate::ui) fn field(&mut self) -> &mut Field {
        let i = self.focus.min(self.fields.len() - 1);
        &mut self.fields[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Hub;
    use crate::model::filter::Filter;
    use crate::model::{NewAlert, StoreLimits};
    use crate::ui::state::SourceInfo;
    use crate::ui::theme::Theme;

    const T: u64 = 1_795_640_400_000;
    const H: u64 = 3_600_000;

    fn alert(owner: &str, repo: &str, policy: &str, pass: bool) -> NewAlert {
        NewAlert {
            owner: owner.into(),
            repo: repo.into(),
            policy: policy.into(),
            details: String::new(),
            pass,
        }
    }

    /// 90k keys, a third of them failing CODEOWNERS: adding a silence
    /// re-judges them a chunk per sync (never all in one), new alerts are
    /// judged as they come, and the clock ends it the same way.
    #[test]
    fn verdicts_follow_in_chunks_and_with_new_alerts() {
        let limits = StoreLimits {
            max_keys: 200_000,
            ..StoreLimits::default()
        };
        let hub = Hub::new(limits, 1024);
        let n = 90_000;
        for i in 0..n {
            let policy = ["CODEOWNERS", "SAST", "Branch Protection"][i % 3];
            let a = alert(&format!("o{}", i % 100), &format!("r{i}"), policy, false);
            hub.ingest_at(&a, T, None, None).unwrap();
        }
        let mut app = App::new(Theme::default_theme(), SourceInfo::live("x"));
        app.sync(&hub, T);
        assert_eq!(app.silences.silenced(), 0);
        app.silences
            .set
            .add("policy:CODEOWNERS", T + H, "", "me", T)
            .unwrap();
        let mut syncs = 0;
        loop {
            app.sync(&hub, T + 1);
            syncs += 1;
            assert!(app.silences.silenced() <= syncs * JUDGE_CHUNK);
            if !app.silences.judging() {
                break;
            }
            assert!(app.scanning(), "the loop comes back soon while judging");
        }
        assert_eq!(syncs, n.div_ceil(JUDGE_CHUNK));
        assert_eq!(app.silences.silenced(), n / 3);

        // A silenced key fixed, another failing: one sync, no re-judging.
        let fixed = alert("o0", "r0", "CODEOWNERS", true);
        hub.ingest_at(&fixed, T + 2, None, None).unwrap();
        let new = alert("new", "repo", "CODEOWNERS", false);
        let rec = hub.ingest_at(&new, T + 2, None, None).unwrap();
        app.sync(&hub, T + 2);
        assert!(!app.silences.judging());
        assert_eq!(app.silences.silenced(), n / 3);
        assert!(app.is_silenced(&rec));
        let mut passing = (*rec).clone();
        passing.pass = true;
        assert!(!app.is_silenced(&passing), "a pass is never silenced");

        // The end, by the clock: judged again in chunks, to nothing.
        app.sync(&hub, T + H);
        assert!(app.silences.judging());
        while app.silences.judging() {
            app.sync(&hub, T + H);
        }
        assert_eq!(app.silences.silenced(), 0);
        assert!(!app.is_silenced(&rec));
    }

    #[test]
    fn offered_matchers_match_their_key() {
        for (o, r, p) in [
            ("ossf", "scorecard", "Branch Protection"),
            ("acme-corp", "web.site", "CODEOWNERS"),
            ("o", "r", r#"odd "quoted" \ name"#),
            ("o", "r", "star* and? /slash, comma"),
        ] {
            for (_, _, m) in key_matchers(o, r, p) {
                let f = Filter::parse(&m).unwrap_or_else(|e| panic!("{m}: {e}"));
                assert!(f.matches_key(o, r, p), "{m} does not match {o}/{r}/{p}");
            }
        }
        let f = Filter::parse(&key_matchers("ossf", "scorecard", "SAST")[0].2).unwrap();
        assert!(!f.matches_key("ossf", "scorecard", "Branch Protection"));
        assert!(!f.matches_key("ossf", "scorecard-action", "SAST"));
    }
}
