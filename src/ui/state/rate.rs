//! The alert rate sampler of the status bar.

use std::collections::VecDeque;

/// Alerts per second over the last few seconds.
#[derive(Debug, Default)]
pub(in crate::ui) struct Rate {
    pub(in crate::ui) samples: VecDeque<(u64, u64)>,
}

impl Rate {
    const SPAN_MS: u64 = 5_000;
    const STEP_MS: u64 = 250;

    pub(in crate::ui) fn sample(&mut self, now_ms: u64, accepted: u64) {
        if self
            .samples
            .back()
            .is_some_and(|&(t, _)| now_ms < t + Self::STEP_MS)
        {
            return;
        }
        self.samples.push_back((now_ms, accepted));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|&(t, _)| now_ms.saturating_sub(t) >= Self::SPAN_MS)
        {
            self.samples.pop_front();
        }
    }

    pub(in crate::ui) fn per_second(&self) -> Option<f64> {
        let (&(t0, a0), &(t1, a1)) = (self.samples.front()?, self.samples.back()?);
        (t1 >= t0 + 1000).then(|| a1.saturating_sub(a0) as f64 * 1000.0 / (t1 - t0) as f64)
    }
}
