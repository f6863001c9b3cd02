//! Rate-limit windows in Redis, for a team gateway whose replicas share one Redis: each call's
//! limits are checked and counted by one Lua script, which reads the clock from Redis (`TIME`, so
//! replicas agree on the window) and checks every limit of every subject of the call before it
//! increments any (a refused call counts nowhere). The limits themselves are rows of the shared
//! PostgreSQL store; only the counts live here, one key per subject, limit and window, expiring
//! after two windows.
//!
//! When Redis cannot be reached, calls through limited subjects are refused with the reason
//! (fail closed): a per-replica fallback would admit the limit once per replica. Keep the
//! limiter's Redis database apart from any cache and configured with `maxmemory-policy
//! noeviction`, or an eviction may forget a window's count.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::{Error, Result};

/// How long a connection attempt or an answer may take before the limiter is called
/// unreachable (a call waits at most this long before it is refused).
const TIMEOUT: Duration = Duration::from_secs(2);

/// Checks every limit (KEYS[i]: the limit's key prefix; ARGV: max, amount, window in ms per
/// limit) against its current window, then counts the call in all of them. Returns `{0}` when
/// admitted, `{i, ms until the window ends}` when limit i refuses.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local starts = {}
for i = 1, #KEYS do
  local max = tonumber(ARGV[3 * i - 2])
  local add = tonumber(ARGV[3 * i - 1])
  local window = tonumber(ARGV[3 * i])
  local start = now - (now % window)
  starts[i] = start
  local used = tonumber(redis.call('GET', KEYS[i] .. ':' .. start) or '0')
  if used + add > max then
    return {i, start + window - now}
  end
end
for i = 1, #KEYS do
  local key = KEYS[i] .. ':' .. starts[i]
  redis.call('INCRBY', key, tonumber(ARGV[3 * i - 1]))
  redis.call('PEXPIRE', key, 2 * tonumber(ARGV[3 * i]))
end
return {0}
";

/// Corrects token counts of the current windows (KEYS[i]: key prefix; ARGV: window in ms and
/// the correction per key), leaving alone a window that has ended.
const CORRECT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i - 1])
  local key = KEYS[i] .. ':' .. (now - (now % window))
  if redis.call('EXISTS', key) == 1 then
    if redis.call('INCRBY', key, tonumber(ARGV[2 * i])) < 0 then
      redis.call('SET', key, 0, 'KEEPTTL')
    end
  end
end
return 0
";

/// One limit a call must pass: its key prefix, its maximum, what the call adds, its window.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    pub key: String,
    pub max: i64,
    pub add: i64,
    pub window_ms: i64,
}

/// Which limit refused a call, and how long until its window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub index: usize,
    pub retry_after_ms: i64,
}

/// The shared rate-limit counter.
#[derive(Clone)]
pub struct RedisLimiter {
    connection: ConnectionManager,
    endpoint: String,
    admit: redis::Script,
    correct: redis::Script,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to the Redis at `url` (`redis://[:password@]host:port[/db]`).
    pub async fn connect(url: &str) -> Result<RedisLimiter> {
        let client = redis::Client::open(url).map_err(|e| {
            Error::RateLimiter(format!(
                "URL is not a Redis URL ({}); write redis://host:port/db",
                e.detail().unwrap_or("unreadable")
            ))
        })?;
        let info = client.get_connection_info();
        let endpoint = format!("{}", info.addr());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| unreachable(&endpoint, &e))?;
        Ok(RedisLimiter {
            connection,
            endpoint,
            admit: redis::Script::new(ADMIT),
            correct: redis::Script::new(CORRECT),
        })
    }

    /// Counts a call in every one of `limits`, or none when one refuses.
    pub(crate) async fn admit(&self, limits: &[Limit]) -> Result<std::result::Result<(), Refused>> {
        if limits.is_empty() {
            return Ok(Ok(()));
        }
        let mut invocation = self.admit.prepare_invoke();
        for l in limits {
            invocation
                .key(&l.key)
                .arg(l.max)
                .arg(l.add)
                .arg(l.window_ms);
        }
        let mut connection = self.connection.clone();
        let answer: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| unreachable(&self.endpoint, &e))?;
        match answer.as_slice() {
            [0, ..] => Ok(Ok(())),
            [i, ms] if *i >= 1 && (*i as usize) <= limits.len() => Ok(Err(Refused {
                index: *i as usize - 1,
                retry_after_ms: *ms,
            })),
            other => Err(Error::RateLimiter(format!(
                "at {} answered the admission script with {other:?}",
                self.endpoint
            ))),
        }
    }

    /// Adds `delta` (negative: gives back) to each limit's current window, if it still runs.
    pub(crate) async fn correct(&self, corrections: &[(String, i64, i64)]) -> Result<()> {
        if corrections.is_empty() {
            return Ok(());
        }
        let mut invocation = self.correct.prepare_invoke();
        for (key, window_ms, delta) in corrections {
            invocation.key(key).arg(*window_ms).arg(*delta);
        }
        let mut connection = self.connection.clone();
        let _: i64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| unreachable(&self.endpoint, &e))?;
        Ok(())
    }
}

fn unreachable(endpoint: &str, e: &redis::RedisError) -> Error {
    Error::RateLimiter(format!(
        "at {endpoint} cannot be reached ({e}); calls through rate-limited keys and tokens are refused until it answers"
    ))
}

/// The key prefix of one limit's windows.
pub(crate) fn limit_key(kind: &str, id: &str, unit: &str, window: &str) -> String {
    format!("portolan:rl:{kind}:{id}:{unit}:{window}")
}
