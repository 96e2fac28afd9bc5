//! The value types of options, parsed the same way from the command line
//! and from the config file (where every scalar is read as text first), so
//! an option accepts the same spellings in both places.
//!
//! - whole numbers may group digits with `_` or `,` (`250_000`, `250,000`);
//! - durations take units (`10s`, `500ms`, `1m30s`, `7d`), and a bare number
//!   is seconds (the older float-seconds form of `--forward-timeout`);
//! - rates take `N`, `N/s`, `N/m` or `N/h`;
//! - a listen address is `IP:PORT` or `localhost:PORT`.
//!
//! Every option has a range ([`Range`]); a value outside it is a usage error
//! naming the option and the range.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A type an option can hold. `Elem` is what one occurrence parses to (for a
/// list option, the element).
pub trait OptionValue: Sized + Clone + Send + Sync + 'static {
    type Elem: OptionValue;
    /// Parses one occurrence.
    fn parse_value(s: &str) -> Result<Self, String>;
    /// How a bound of a range is written in an error.
    fn show(&self) -> String;
    /// Orders values for range checks; `None` where there is no order.
    fn order(&self, other: &Self) -> Option<std::cmp::Ordering>;
    /// Whether `s`, refused by [`parse_value`](Self::parse_value), is a
    /// value of the right form past what the type holds (too large, or
    /// negative for a whole number).
    fn past_the_type(_s: &str) -> bool {
        false
    }
}

/// An inclusive range of allowed values, or none.
pub struct Range<T>(pub Option<(T, T)>);

impl<T: OptionValue> Range<T> {
    pub fn any() -> Self {
        Range(None)
    }

    pub fn check(&self, v: &T) -> Result<(), String> {
        let Some((lo, hi)) = &self.0 else {
            return Ok(());
        };
        let below = v.order(lo) == Some(std::cmp::Ordering::Less);
        let above = v.order(hi) == Some(std::cmp::Ordering::Greater);
        if below || above {
            return Err(format!(
                "{} is out of range: allowed {} to {}",
                v.show(),
                lo.show(),
                hi.show()
            ));
        }
        Ok(())
    }

    /// "1 to 240", for the printed config and the help.
    pub fn describe(&self) -> Option<String> {
        self.0
            .as_ref()
            .map(|(lo, hi)| format!("{} to {}", lo.show(), hi.show()))
    }
}

/// Parses and range-checks one occurrence: the clap value parser and the
/// config file's parser are both this function.
pub fn parse_in<T: OptionValue>(s: &str, range: &Range<T>) -> Result<T, String> {
    let v = T::parse_value(s).map_err(|e| {
        // Past the type's limit is past the option's range too: said so,
        // not as the type's maximum (a user's review).
        match range.describe() {
            Some(allowed) if T::past_the_type(s) => {
                format!("{:?} is out of range: allowed {allowed}", s.trim())
            }
            _ => e,
        }
    })?;
    range.check(&v)?;
    Ok(v)
}

/// Digits grouped with `_` or `,` (`250_000`, `250,000`); a group
/// separator must stand between digits.
fn ungroup(s: &str) -> Result<String, String> {
    let t = s.trim();
    let bytes = t.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' || b == b',' {
            let between = i > 0
                && i + 1 < bytes.len()
                && bytes[i - 1].is_ascii_digit()
                && bytes[i + 1].is_ascii_digit();
            if !between {
                return Err(format!("{t:?} is not a whole number"));
            }
        }
    }
    Ok(t.replace(['_', ','], ""))
}

macro_rules! whole_number {
    ($($t:ty),*) => {$(
        impl OptionValue for $t {
            type Elem = $t;
            fn parse_value(s: &str) -> Result<Self, String> {
                let digits = ungroup(s)?;
                if digits.starts_with('-') {
                    return Err(format!("{:?} is negative: expected a whole number, 0 or more", s.trim()));
                }
                digits.parse::<$t>().map_err(|e| match e.kind() {
                    std::num::IntErrorKind::PosOverflow => {
                        format!("{:?} is too large (at most {})", s.trim(), <$t>::MAX)
                    }
                    _ => format!("{:?} is not a whole number", s.trim()),
                })
            }
            fn show(&self) -> String {
                group_thousands(*self as u128)
            }
            fn order(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
            fn past_the_type(s: &str) -> bool {
                ungroup(s).is_ok_and(|d| {
                    let digits = d.strip_prefix('-').unwrap_or(&d);
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                })
            }
        }
    )*};
}
whole_number!(usize, u32, u64);

/// `1234567` → `1_234_567` (the form the option accepts back).
fn group_thousands(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('_');
        }
        out.push(c);
    }
    out
}

impl OptionValue for f64 {
    type Elem = f64;
    fn parse_value(s: &str) -> Result<Self, String> {
        let t = ungroup(s)?;
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!("{:?} is not a number", s.trim())),
        }
    }
    fn show(&self) -> String {
        // `1e300` as written, not as its 301 digits (a user's review).
        if *self != 0.0 && !(1e-6..1e15).contains(&self.abs()) {
            format!("{self:e}")
        } else {
            self.to_string()
        }
    }
    fn order(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.partial_cmp(other)
    }
}

impl OptionValue for bool {
    type Elem = bool;
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            other => Err(format!("{other:?} is not true or false")),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

impl OptionValue for String {
    type Elem = String;
    fn parse_value(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("is empty".into());
        }
        Ok(s.to_owned())
    }
    fn show(&self) -> String {
        self.clone()
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

/// An upstream's URL (`--forward`), checked when it is read: a bad one in a
/// config file is an error naming the file and line, like every other
/// value (it was checked only later, naming neither).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardUrl(pub String);

impl From<&str> for ForwardUrl {
    fn from(s: &str) -> Self {
        ForwardUrl(s.to_owned())
    }
}

impl OptionValue for ForwardUrl {
    type Elem = ForwardUrl;
    fn parse_value(s: &str) -> Result<Self, String> {
        crate::grpc::normalize_url(s)?;
        Ok(ForwardUrl(s.to_owned()))
    }
    fn show(&self) -> String {
        self.0.clone()
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

impl OptionValue for PathBuf {
    type Elem = PathBuf;
    fn parse_value(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("is empty: expected a file name".into());
        }
        Ok(PathBuf::from(s))
    }
    fn show(&self) -> String {
        self.display().to_string()
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

impl<T: OptionValue<Elem = T>> OptionValue for Vec<T> {
    type Elem = T;
    fn parse_value(s: &str) -> Result<Self, String> {
        T::parse_value(s).map(|v| vec![v])
    }
    fn show(&self) -> String {
        self.iter().map(T::show).collect::<Vec<_>>().join(", ")
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

impl OptionValue for Duration {
    type Elem = Duration;
    /// `10s`, `500ms`, `1m30s`, `7d`; a bare number is seconds (`0.5`).
    fn parse_value(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(secs) = ungroup(t).and_then(|d| d.parse::<f64>().map_err(|e| e.to_string())) {
            if !secs.is_finite() || secs < 0.0 {
                return Err(format!("{t:?} is not a duration, 0 or more"));
            }
            if secs > 100.0 * 365.0 * 86_400.0 {
                return Err(format!("{t:?} is too long"));
            }
            return Ok(Duration::from_secs_f64(secs));
        }
        // humantime's own message lists units nobody here uses
        // (`months`, `years (and few variations)`).
        humantime::parse_duration(t).map_err(|_| {
            format!("{t:?} is not a duration: expected a number with ms, s, m, h or d (10s, 500ms, 2m, 7d)")
        })
    }
    /// The largest units that say it exactly: `7d`, `1m30s`, `500ms`.
    fn show(&self) -> String {
        if self.is_zero() {
            return "0s".into();
        }
        let mut ms = self.as_millis();
        let mut out = String::new();
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if ms >= size {
                out.push_str(&format!("{}{unit}", ms / size));
                ms %= size;
            }
        }
        if out.is_empty() {
            out = format!("{}µs", self.as_micros());
        }
        out
    }
    fn order(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A listen address: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`.
impl OptionValue for SocketAddr {
    type Elem = SocketAddr;
    fn parse_value(s: &str) -> Result<Self, String> {
        parse_listen(s)
    }
    fn show(&self) -> String {
        self.to_string()
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

/// Parses `host:port`; `localhost` means 127.0.0.1.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid listen address {s:?}: bad port"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!(
            "invalid listen address {s:?}: expected IP:PORT such as 127.0.0.1:50051 or [::1]:50051"
        )
    })
}

/// Requests per second: `100`, `100/s`, `6000/m`, `0.5/s`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Rate(pub f64);

impl OptionValue for Rate {
    type Elem = Rate;
    fn parse_value(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (num, per) = match t.split_once('/') {
            Some((n, unit)) => {
                let per = match unit.trim() {
                    "s" | "sec" | "second" => 1.0,
                    "m" | "min" | "minute" => 60.0,
                    "h" | "hour" => 3600.0,
                    other => {
                        return Err(format!(
                            "invalid rate {t:?}: unknown unit {other:?} (use /s, /m or /h)"
                        ));
                    }
                };
                (n.trim(), per)
            }
            None => (t, 1.0),
        };
        let n: f64 = ungroup(num)
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("invalid rate {t:?}: expected a number such as 100 or 100/s"))?;
        let rate = n / per;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("invalid rate {t:?}: must be above 0"));
        }
        Ok(Rate(rate))
    }
    fn show(&self) -> String {
        format!("{}/s", self.0)
    }
    fn order(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.0.partial_cmp(&other.0)
    }
}

/// A size in bytes: `1048576`, `64KiB`, `512MiB`, `1GiB` (units are powers
/// of 1024 whether written KiB or KB: these are memory sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub usize);

impl OptionValue for Bytes {
    type Elem = Bytes;
    fn parse_value(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_' || c == ','))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" | "kib" => 1024.0,
            "m" | "mb" | "mib" => 1024.0 * 1024.0,
            "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            other => {
                return Err(format!(
                    "invalid size {t:?}: unknown unit {other:?} (use B, KiB, MiB, GiB or TiB)"
                ));
            }
        };
        let n: f64 = ungroup(num)
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("invalid size {t:?}: expected a number such as 512MiB"))?;
        let bytes = n * mult;
        if !(bytes.is_finite() && bytes >= 1.0 && bytes <= usize::MAX as f64 / 2.0) {
            return Err(format!("invalid size {t:?}: out of range"));
        }
        Ok(Bytes(bytes as usize))
    }
    fn show(&self) -> String {
        for (unit, size) in [
            ("TiB", 1usize << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= size && self.0 % size == 0 {
                return format!("{}{unit}", self.0 / size);
            }
        }
        group_thousands(self.0 as u128)
    }
    fn order(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// `--state`: a database file, or `none` (memory only).
impl OptionValue for crate::state::StateChoice {
    type Elem = crate::state::StateChoice;
    fn parse_value(s: &str) -> Result<Self, String> {
        crate::state::StateChoice::parse(s)
    }
    fn show(&self) -> String {
        match self {
            crate::state::StateChoice::Default => "default".into(),
            crate::state::StateChoice::Memory => "none".into(),
            crate::state::StateChoice::File(p) => p.display().to_string(),
        }
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

/// `--retain`: a duration (`30d`, `12h`, or seconds), or `forever`.
impl OptionValue for crate::state::Retain {
    type Elem = crate::state::Retain;
    fn parse_value(s: &str) -> Result<Self, String> {
        crate::state::parse_retain(s)
    }
    fn show(&self) -> String {
        match self.0 {
            Some(d) => d.show(),
            None => "forever".into(),
        }
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

/// A signing or verifying key: `hmac:FILE` or `ed25519:FILE`.
impl OptionValue for crate::sink::auth::signature::KeySpec {
    type Elem = crate::sink::auth::signature::KeySpec;
    fn parse_value(s: &str) -> Result<Self, String> {
        s.parse().map_err(|e: String| e)
    }
    fn show(&self) -> String {
        self.to_string()
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

// Export, copy, bell and saved views: `--bell-on EXPR`, `views:`.
impl OptionValue for crate::model::filter::Filter {
    type Elem = crate::model::filter::Filter;
    fn parse_value(s: &str) -> Result<Self, String> {
        crate::model::filter::Filter::parse(s)
            .map_err(|e| format!("filter {s:?} at {}: {}", e.position + 1, e.message))
    }
    fn show(&self) -> String {
        self.source().to_owned()
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

impl OptionValue for crate::ui::state::SavedView {
    type Elem = crate::ui::state::SavedView;
    fn parse_value(s: &str) -> Result<Self, String> {
        crate::ui::state::SavedView::parse(s)
    }
    fn show(&self) -> String {
        format!("{}={}", self.name, self.filter.source())
    }
    fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

/// A duration as a plain value parser (for options outside the table).
pub fn duration(s: &str) -> Result<Duration, String> {
    Duration::parse_value(s)
}

/// Options whose values are a fixed set of words.
macro_rules! word_value {
    ($t:ty { $($word:literal => $v:expr),+ $(,)? }) => {
        impl OptionValue for $t {
            type Elem = $t;
            fn parse_value(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($word => Ok($v),)+
                    other => Err(format!(
                        "unknown value {other:?}: expected one of {}",
                        [$($word),+].join(", ")
                    )),
                }
            }
            fn show(&self) -> String {
                match self {
                    $(v if *v == $v => $word.to_owned(),)+
                    _ => String::new(),
                }
            }
            fn order(&self, _: &Self) -> Option<std::cmp::Ordering> {
                None
            }
        }
    };
}

word_value!(crate::forward::ForwardMode {
    "tee" => crate::forward::ForwardMode::Tee,
    "proxy" => crate::forward::ForwardMode::Proxy,
});
word_value!(crate::sink::auth::Combine {
    "any" => crate::sink::auth::Combine::Any,
    "all" => crate::sink::auth::Combine::All,
});
word_value!(crate::forward::WhenBehind {
    "wait" => crate::forward::WhenBehind::Wait,
    "drop" => crate::forward::WhenBehind::Drop,
});

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's review: `--history 99999999999999999999` said "at most
    /// 18446744073709551615" where the option allows 1 to 50_000_000, and
    /// `--demo-rate 1e300` wrote the number out in 301 digits.
    #[test]
    fn a_value_past_the_type_names_the_options_range_and_huge_floats_stay_short() {
        let e =
            parse_in::<usize>("99999999999999999999", &Range(Some((1, 50_000_000)))).unwrap_err();
        assert_eq!(
            e,
            "\"99999999999999999999\" is out of range: allowed 1 to 50_000_000"
        );
        let e = parse_in::<u64>("99999999999999999999", &Range::any()).unwrap_err();
        assert!(e.contains("is too large (at most"), "{e}");
        let e = parse_in::<f64>("1e300", &Range(Some((0.1, 100_000.0)))).unwrap_err();
        assert_eq!(e, "1e300 is out of range: allowed 0.1 to 100000");
        assert_eq!(0.5f64.show(), "0.5");
        assert_eq!(1e-9f64.show(), "1e-9");
    }

    #[test]
    fn whole_numbers_take_group_separators() {
        assert_eq!(usize::parse_value("250000").unwrap(), 250_000);
        assert_eq!(usize::parse_value("250_000").unwrap(), 250_000);
        assert_eq!(usize::parse_value("250,000").unwrap(), 250_000);
        assert!(usize::parse_value("_250").is_err());
        assert!(usize::parse_value("250,").is_err());
        assert!(usize::parse_value("2,,5").is_err());
        assert!(usize::parse_value("-3").unwrap_err().contains("negative"));
        assert!(
            u32::parse_value("99999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert!(usize::parse_value("many").is_err());
    }

    #[test]
    fn durations_take_units_and_bare_seconds() {
        assert_eq!(
            Duration::parse_value("10").unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(
            Duration::parse_value("1.5").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            Duration::parse_value("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            Duration::parse_value("1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            Duration::parse_value("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(Duration::parse_value("-1").is_err());
        assert!(Duration::parse_value("soon").is_err());
        assert!(Duration::parse_value("1e300").is_err());
        assert_eq!(Duration::from_secs(90).show(), "1m30s");
    }

    #[test]
    fn ranges_name_the_bounds() {
        let r = Range(Some((1usize, 240)));
        assert!(r.check(&1).is_ok());
        assert!(r.check(&240).is_ok());
        let e = r.check(&241).unwrap_err();
        assert_eq!(e, "241 is out of range: allowed 1 to 240");
        let r = Range(Some((
            Duration::from_millis(100),
            Duration::from_secs(3600),
        )));
        assert!(
            parse_in("50ms", &r)
                .unwrap_err()
                .contains("allowed 100ms to 1h")
        );
    }

    #[test]
    fn rates_parse_with_units() {
        assert_eq!(Rate::parse_value("100").unwrap().0, 100.0);
        assert_eq!(Rate::parse_value("100/s").unwrap().0, 100.0);
        assert_eq!(Rate::parse_value(" 60/m ").unwrap().0, 1.0);
        assert_eq!(Rate::parse_value("0.5/s").unwrap().0, 0.5);
        assert!(Rate::parse_value("0").is_err());
        assert!(Rate::parse_value("-1/s").is_err());
        assert!(Rate::parse_value("NaN").is_err());
        assert!(
            Rate::parse_value("10/d")
                .unwrap_err()
                .contains("unknown unit")
        );
    }

    #[test]
    fn listen_accepts_ipv6_and_localhost() {
        assert_eq!(parse_listen("[::1]:9").unwrap().port(), 9);
        assert!(parse_listen("localhost:50051").unwrap().ip().is_loopback());
        assert!(parse_listen("50051").is_err());
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(Bytes::parse_value("1GiB").unwrap().0, 1 << 30);
        assert_eq!(Bytes::parse_value("512MB").unwrap().0, 512 << 20);
        assert_eq!(Bytes::parse_value("1_048_576").unwrap().0, 1 << 20);
        assert!(
            Bytes::parse_value("1XB")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(Bytes::parse_value("lots").is_err());
        assert_eq!(Bytes(16 << 20).show(), "16MiB");
    }

    #[test]
    fn words_list_the_choices() {
        use crate::forward::WhenBehind;
        assert_eq!(WhenBehind::parse_value("drop").unwrap(), WhenBehind::Drop);
        let e = WhenBehind::parse_value("block").unwrap_err();
        assert!(e.contains("expected one of wait, drop"), "{e}");
        assert_eq!(WhenBehind::Wait.show(), "wait");
    }
}
