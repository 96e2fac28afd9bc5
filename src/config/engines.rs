//! The settings mapped onto the engines' own configuration types: the
//! engines are handed plain values and never read the option layer.

use super::{ConfigError, Settings};
use crate::forward::{ForwardConfig, ForwardMode};
use crate::grpc::Target;
use crate::model::StoreLimits;
use crate::model::store::DEFAULT_TRANSITIONS;
use crate::sink::SinkLimits;

impl Settings {
    /// The token-info endpoint when opaque access tokens are accepted
    /// (`oauth-access-tokens`, or an endpoint given); Google's by default.
    pub fn oauth_tokeninfo(&self) -> Option<String> {
        (self.oauth_access_tokens || self.oauth_tokeninfo_url.is_some()).then(|| {
            self.oauth_tokeninfo_url
                .clone()
                .unwrap_or_else(|| crate::sink::auth::tokeninfo::DEFAULT_URL.to_owned())
        })
    }

    /// `msg` with the file and line in front when an option it names
    /// (`--name`) was set by the config file: the first such one. Messages
    /// about options given on the command line, or left at their
    /// defaults, are as they were.
    pub fn blame(&self, msg: &str) -> String {
        let Some(path) = &self.config_path else {
            return msg.to_owned();
        };
        let mut rest = msg;
        while let Some(at) = rest.find("--") {
            let name: String = rest[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                .collect();
            if let Some(super::options::Given::File(line)) = self.given.get(&name) {
                return format!("{}:{line}: {msg}", path.display());
            }
            rest = &rest[at + 2 + name.len()..];
        }
        msg.to_owned()
    }

    /// Rules between options, checked after the merge.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.oidc_issuer.is_none()
            && (!self.oidc_audience.is_empty() || self.oidc_jwks.is_some())
        {
            return Err(ConfigError(
                "--oidc-audience and --oidc-jwks need --oidc-issuer".into(),
            ));
        }
        if self.oidc_issuer.is_none()
            && self.oauth_tokeninfo().is_none()
            && !self.oidc_allow.is_empty()
        {
            return Err(ConfigError(
                "--oidc-allow needs --oidc-issuer or --oauth-access-tokens".into(),
            ));
        }
        let bearer_methods = [
            self.token_file.is_some(),
            self.oidc_issuer.is_some(),
            self.oauth_tokeninfo().is_some(),
        ]
        .into_iter()
        .filter(|m| *m)
        .count();
        if self.auth == crate::sink::auth::Combine::All && bearer_methods > 1 {
            return Err(ConfigError(
                "--auth all cannot require two of --token-file, --oidc-issuer and \
                 --oauth-access-tokens: each is sent in the one authorization header (use --auth \
                 any, or one of them)"
                    .into(),
            ));
        }
        if self.auth == crate::sink::auth::Combine::All
            && bearer_methods == 0
            && self.verify_signature.is_none()
            && self.tls_client_ca.is_none()
        {
            // Said, it would read as a strict sink that accepts everyone.
            return Err(ConfigError(
                "--auth all without any method to require: add --token-file, --oidc-issuer, \
                 --oauth-access-tokens, --verify-signature or --tls-client-ca"
                    .into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError(
                "--tls-cert and --tls-key go together: set both or neither".into(),
            ));
        }
        if self.max_connections_per_peer > self.max_connections {
            return Err(ConfigError(format!(
                "max-connections-per-peer: {} is above max-connections ({})",
                self.max_connections_per_peer, self.max_connections
            )));
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            return Err(ConfigError(
                "tls-client-ca needs tls-cert and tls-key (mTLS is TLS first)".into(),
            ));
        }
        Ok(())
    }

    /// The sink's limits.
    pub fn sink_limits(&self) -> SinkLimits {
        SinkLimits {
            max_message_bytes: self.max_message_bytes.0,
            max_details_bytes: self.max_details_bytes.0,
            max_name_bytes: self.max_name_bytes.0,
            max_connections: self.max_connections,
            idle_timeout: self.idle_timeout,
            rate_limit: self.rate_limit.map(|r| r.0),
            max_connections_per_peer: self.max_connections_per_peer.min(self.max_connections),
            // Unfinished messages may hold a quarter of the memory budget.
            max_buffered_bytes: (self.memory_budget.0 / 4).max(self.max_message_bytes.0),
            ..SinkLimits::default()
        }
    }

    /// The store's bounds.
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            history: self.history,
            transitions: DEFAULT_TRANSITIONS,
            memory_budget: self.memory_budget.0,
            ..StoreLimits::default()
        }
    }

    /// Headless stats lines: every `stats_interval`, or only at exit.
    pub fn stats_every(&self) -> Option<std::time::Duration> {
        (!self.stats_interval.is_zero()).then_some(self.stats_interval)
    }

    /// Forwarding, when there is any: reads `--forward-ca` and
    /// `--forward-token-file` (errors name the file) and checks the URLs.
    pub fn forward_config(&self) -> Result<Option<ForwardConfig>, String> {
        if self.forward.is_empty() && self.forward_mode == ForwardMode::Tee {
            return Ok(None);
        }
        let token = match &self.forward_token_file {
            Some(p) => {
                Some(super::read_token(p).map_err(|e| format!("--forward-token-file: {}", e.0))?)
            }
            None => None,
        };
        let ca_pem = match &self.forward_ca {
            Some(p) => Some(
                crate::files::read_limited_bytes(p, crate::files::MAX_KEY_FILE)
                    .map_err(|e| format!("cannot read forward CA file {}: {e}", p.display()))?,
            ),
            None => None,
        };
        let signer = match &self.forward_sign {
            Some(k) => Some(std::sync::Arc::new(
                crate::sink::auth::signature::Signer::load(k)
                    .map_err(|e| format!("--forward-sign: {e}"))?,
            )),
            None => None,
        };
        let mut upstreams = Vec::new();
        let mut seen: Vec<(String, &String)> = Vec::new();
        for super::values::ForwardUrl(url) in &self.forward {
            let target = Target {
                url: url.clone(),
                token: token.clone(),
                ca_pem: ca_pem.clone(),
                client_identity: None,
                signer: None,
            };
            let normal = target
                .normalized_url()
                .map_err(|e| format!("--forward: {e}"))?;
            // Each would get every alert: the upstream would take each
            // twice, and the counters would count it twice.
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == normal) {
                return Err(format!(
                    "--forward: {url} and {first} are the same upstream ({normal}); give it once"
                ));
            }
            seen.push((normal, url));
            upstreams.push(target);
        }
        if self.forward_mode == ForwardMode::Proxy && upstreams.is_empty() {
            return Err("--forward-mode proxy needs an upstream (--forward URL)".into());
        }
        Ok(Some(ForwardConfig {
            mode: self.forward_mode,
            queue: self.forward_queue,
            when_behind: self.forward_when_behind,
            concurrency: self.forward_concurrency,
            retries: self.forward_retries,
            timeout: self.forward_timeout,
            pass_metadata: self.forward_metadata,
            signer,
            ..ForwardConfig::new(upstreams)
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{FileConfig, RunArgs, merge};

    /// The engines own their defaults; the options' printed defaults must
    /// say the same.
    #[test]
    fn option_defaults_are_the_engines_defaults() {
        let s = merge(&RunArgs::default(), FileConfig::default(), None).unwrap();
        let limits = s.sink_limits();
        let engine = crate::sink::SinkLimits::default();
        assert_eq!(limits.max_message_bytes, engine.max_message_bytes);
        assert_eq!(limits.max_details_bytes, engine.max_details_bytes);
        assert_eq!(limits.max_name_bytes, engine.max_name_bytes);
        assert_eq!(limits.max_connections, engine.max_connections);
        assert_eq!(limits.idle_timeout, engine.idle_timeout);
        assert_eq!(limits.rate_limit, engine.rate_limit);
        assert_eq!(
            limits.max_connections_per_peer,
            engine.max_connections_per_peer
        );
        assert_eq!(limits.max_buffered_bytes, engine.max_buffered_bytes);
        assert_eq!(
            s.store_limits().memory_budget,
            crate::model::StoreLimits::default().memory_budget
        );
        assert_eq!(s.history, crate::model::store::DEFAULT_HISTORY);
        assert_eq!(s.queue, crate::hub::DEFAULT_QUEUE);
        let f = crate::forward::ForwardConfig::new(Vec::new());
        assert_eq!(s.forward_queue, f.queue);
        assert_eq!(s.forward_concurrency, f.concurrency);
        assert_eq!(s.forward_retries, f.retries);
        assert_eq!(s.forward_timeout, f.timeout);
        assert_eq!(s.forward_grace, crate::forward::DEFAULT_GRACE);
        assert_eq!(s.forward_when_behind, f.when_behind);
        assert_eq!(s.forward_mode, f.mode);
    }
}
