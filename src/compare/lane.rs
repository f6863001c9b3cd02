//! Per-provider admission for a comparison. A comparison fans many calls out to few providers,
//! and a provider that answers 429 should see fewer calls, not the same burst again. Each
//! provider gets a lane: at most `limit` calls in flight, the limit halved on a 429 and grown back
//! by one after `limit` successes in a row (additive increase, multiplicative decrease, as TCP
//! does), and no new call started before the provider's Retry-After has passed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Waits after a 429 without Retry-After: 1 s, doubled for each further 429 without one in
/// the same lane, at most 30 s.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest a lane waits for a Retry-After; a provider (or a key's own rate limit) asking for
/// longer is shown as failed instead of holding the comparison for minutes or hours.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// A lane's reaction to a 429, for the progress stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// Calls allowed in flight from now on.
    pub limit: usize,
    /// How long new calls wait before starting.
    pub pause: Duration,
    /// Whether the provider asked for a longer wait than [`MAX_PAUSE`] (the cell is not queued
    /// again).
    pub too_long: bool,
}

/// The lane's bookkeeping, separate from the semaphore so the policy is plain data.
#[derive(Debug)]
struct LaneState {
    max: usize,
    limit: usize,
    /// Permits to retire as calls finish, after the limit was cut below what is handed out.
    debt: usize,
    paused_until: Option<Instant>,
    successes: usize,
    backoff: Duration,
}

impl LaneState {
    fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            limit: max,
            debt: 0,
            paused_until: None,
            successes: 0,
            backoff: FIRST_BACKOFF,
        }
    }

    fn pause_left(&self, now: Instant) -> Option<Duration> {
        self.paused_until
            .and_then(|t| t.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// A call met a 429. The first one of a burst halves the limit; the others in the same
    /// pause only extend the pause, so one burst of rejections is one cut.
    fn rate_limited(&mut self, now: Instant, retry_after: Option<Duration>) -> Throttle {
        let new_burst = self.pause_left(now).is_none();
        let pause = match retry_after {
            Some(d) => d.min(MAX_PAUSE),
            // Only a new burst doubles the back-off: eight 429s from one burst are one step.
            None if new_burst => {
                let d = self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                d
            }
            None => Duration::ZERO,
        };
        if new_burst && self.limit > 1 {
            let cut = self.limit - self.limit / 2;
            self.limit -= cut;
            self.debt += cut;
        }
        self.successes = 0;
        let until = now + pause;
        self.paused_until = Some(self.paused_until.map_or(until, |t| t.max(until)));
        Throttle {
            limit: self.limit,
            pause: self.paused_until.map_or(Duration::ZERO, |t| t - now),
            too_long: retry_after.is_some_and(|d| d > MAX_PAUSE),
        }
    }

    /// A call finished without a 429. Returns how many permits to hand back beyond the
    /// finished call's own (1 when the limit grows and no retirement is owed).
    fn succeeded(&mut self) -> usize {
        self.successes += 1;
        self.backoff = FIRST_BACKOFF;
        if self.limit < self.max && self.successes >= self.limit {
            self.successes = 0;
            self.limit += 1;
            if self.debt > 0 {
                self.debt -= 1;
            } else {
                return 1;
            }
        }
        0
    }

    /// Whether the permit of a finished call is retired instead of returned.
    fn retire_permit(&mut self) -> bool {
        if self.debt > 0 {
            self.debt -= 1;
            true
        } else {
            false
        }
    }
}

/// How a call through the lane ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered, or failed for a reason other than a rate limit.
    Done,
    /// The provider answered 429 (possibly after the engine's own retries).
    RateLimited { retry_after: Option<Duration> },
}

pub struct ProviderLane {
    permits: Arc<Semaphore>,
    state: Mutex<LaneState>,
}

impl ProviderLane {
    pub fn new(max_in_flight: usize) -> Self {
        let state = LaneState::new(max_in_flight);
        Self {
            permits: Arc::new(Semaphore::new(state.max)),
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LaneState> {
        // The state is plain counters: a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a free slot and for any pause to pass.
    pub async fn admit(&self) -> OwnedSemaphorePermit {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("a lane's semaphore is never closed");
        loop {
            let left = self.state().pause_left(Instant::now());
            match left {
                Some(d) => tokio::time::sleep(d).await,
                None => return permit,
            }
        }
    }

    /// Records how the call ended and releases its slot; a 429 returns the throttle applied.
    pub fn finish(&self, permit: OwnedSemaphorePermit, outcome: Outcome) -> Option<Throttle> {
        let mut state = self.state();
        let (throttle, extra) = match outcome {
            Outcome::RateLimited { retry_after } => {
                (Some(state.rate_limited(Instant::now(), retry_after)), 0)
            }
            Outcome::Done => (None, state.succeeded()),
        };
        if state.retire_permit() {
            permit.forget();
        } else {
            drop(permit);
        }
        if extra > 0 {
            self.permits.add_permits(extra);
        }
        // Retire free permits at once, so calls not yet started cannot exceed a cut limit.
        if state.debt > 0 {
            state.debt -= self.permits.forget_permits(state.debt);
        }
        throttle
    }

    #[cfg(test)]
    fn limit(&self) -> usize {
        self.state().limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_halves_the_limit_once_per_burst_and_pauses_for_retry_after() {
        let t0 = Instant::now();
        let mut s = LaneState::new(8);
        let first = s.rate_limited(t0, Some(Duration::from_secs(2)));
        assert_eq!(
            first,
            Throttle {
                limit: 4,
                pause: Duration::from_secs(2),
                too_long: false
            }
        );
        // More 429s from the same burst: no further cut, the pause covers the longest wait.
        let second = s.rate_limited(t0 + Duration::from_millis(10), Some(Duration::from_secs(3)));
        assert_eq!(second.limit, 4);
        assert_eq!(second.pause, Duration::from_secs(3));
        assert_eq!(s.pause_left(t0 + Duration::from_millis(3010)), None);
        // After the pause, a new 429 is a new burst.
        let third = s.rate_limited(t0 + Duration::from_secs(4), Some(Duration::from_secs(1)));
        assert_eq!(third.limit, 2);
        // The permits handed out beyond the new limit are retired as calls finish.
        assert_eq!(s.debt, 6);
    }

    #[test]
    fn the_limit_never_drops_below_one_and_backoff_doubles_without_retry_after() {
        let mut t = Instant::now();
        let mut s = LaneState::new(1);
        let mut pauses = vec![];
        for _ in 0..7 {
            let th = s.rate_limited(t, None);
            assert_eq!(th.limit, 1);
            pauses.push(th.pause.as_secs());
            t += th.pause + Duration::from_millis(1);
        }
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
        s.succeeded();
        assert_eq!(
            s.rate_limited(t, None).pause,
            FIRST_BACKOFF,
            "a success resets the back-off"
        );
    }

    #[test]
    fn one_burst_without_retry_after_is_one_backoff_step_and_long_waits_are_capped() {
        let t0 = Instant::now();
        let mut s = LaneState::new(8);
        for i in 0..8 {
            let th = s.rate_limited(t0 + Duration::from_millis(i), None);
            assert_eq!(th.limit, 4);
            assert!(
                th.pause <= FIRST_BACKOFF,
                "burst member {i}: {:?}",
                th.pause
            );
        }
        let next = s.rate_limited(t0 + Duration::from_secs(2), None);
        assert_eq!(next.pause, FIRST_BACKOFF * 2, "the next burst doubles");
        let day = s.rate_limited(
            t0 + Duration::from_secs(10),
            Some(Duration::from_secs(86_400)),
        );
        assert!(day.too_long);
        assert_eq!(day.pause, MAX_PAUSE);
    }

    #[tokio::test]
    async fn a_cut_retires_free_permits_at_once() {
        let lane = ProviderLane::new(4);
        let held = lane.admit().await;
        assert_eq!(lane.permits.available_permits(), 3);
        lane.finish(
            held,
            Outcome::RateLimited {
                retry_after: Some(Duration::ZERO),
            },
        );
        // Limit 2: the three free permits and the returned one become two at once.
        assert_eq!(lane.limit(), 2);
        assert_eq!(lane.permits.available_permits(), 2);
    }

    #[test]
    fn successes_grow_the_limit_back_one_step_at_a_time() {
        let t0 = Instant::now();
        let mut s = LaneState::new(4);
        s.rate_limited(t0, Some(Duration::ZERO));
        assert_eq!((s.limit, s.debt), (2, 2));
        // Two successes at limit 2 → 3; the owed retirement is cancelled instead of a new permit.
        assert_eq!(s.succeeded(), 0);
        assert_eq!(s.succeeded(), 0);
        assert_eq!((s.limit, s.debt), (3, 1));
        for _ in 0..3 {
            s.succeeded();
        }
        assert_eq!((s.limit, s.debt), (4, 0));
        // At the maximum, successes change nothing.
        for _ in 0..10 {
            assert_eq!(s.succeeded(), 0);
        }
        assert_eq!(s.limit, 4);
    }

    #[tokio::test]
    async fn permits_follow_the_limit() {
        let lane = ProviderLane::new(4);
        let mut permits = Vec::new();
        for _ in 0..4 {
            permits.push(lane.admit().await);
        }
        assert_eq!(lane.permits.available_permits(), 0);
        let th = lane
            .finish(
                permits.pop().unwrap(),
                Outcome::RateLimited {
                    retry_after: Some(Duration::ZERO),
                },
            )
            .expect("a 429 throttles");
        assert_eq!(th.limit, 2);
        // Two of the four permits are retired as their calls end: the 429'd one and the next
        // (none was free to retire at once).
        lane.finish(permits.pop().unwrap(), Outcome::Done);
        assert_eq!(lane.permits.available_permits(), 0);
        // Two successes at limit 2 grow it to 3: this call's permit comes back, plus one.
        lane.finish(permits.pop().unwrap(), Outcome::Done);
        assert_eq!(lane.permits.available_permits(), 2);
        lane.finish(permits.pop().unwrap(), Outcome::Done);
        assert_eq!(lane.limit(), 3);
        assert_eq!(lane.permits.available_permits(), 3);
    }
}
