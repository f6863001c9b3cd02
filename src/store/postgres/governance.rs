//! Budgets and rate limits shared by every replica, exact under concurrency:
//!
//! - a call's worst case is reserved before it is sent, in one transaction with the check: the
//!   budget rows of its subjects are locked (`FOR UPDATE`, always in the same order, so two
//!   calls never wait on each other in a cycle), checked against `spent + reserved + estimate`,
//!   and the estimate is held as a lease row with an expiry;
//! - settling deletes the lease, moves the estimate out of `reserved` and charges the actual
//!   cost; the alert is one `UPDATE … WHERE NOT alerted … RETURNING`, so exactly one replica
//!   raises it;
//! - a sweeper (`FOR UPDATE SKIP LOCKED`) charges the estimate of leases that expired, the calls
//!   of a replica that died; a late settle corrects that charge to the actual cost;
//! - rate-limit windows are counted in rows locked in the same transaction, refused before any
//!   count moves (a refused call changes nothing).
//!
//! Amounts are integers (nano-dollars, tokens) so sums across replicas are exact; every clock
//! reading is the server's.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::redis_limiter::{Limit, limit_key};
use super::{CONFLICT_RETRIES, PgStore, is_conflict};
use crate::error::{Error, Result};
use crate::store::audit::{Actor, Change};
use crate::store::backend::Governance;
use crate::store::limits::{
    Budget, BudgetAlert, BudgetUnit, Lease, Period, RateLimit, RateUnit, Refusal, Reservation,
    Subject, SubjectKind, Window, budget_refusal, rate_refusal, unit_from_stored, unit_str,
    unknown_price_refusal,
};

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

/// Why one attempt at a transaction failed: the database (maybe a conflict worth another try),
/// or the Redis limiter.
enum Failure {
    Db(tokio_postgres::Error),
    Limiter(Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

/// Nano-dollars per dollar: USD amounts are stored as whole nano-dollars.
const NANOS_PER_USD: f64 = 1e9;

/// An amount in the budget's unit as stored (an estimate rounds up: a reservation never holds
/// less than the call may cost).
fn to_stored(unit: BudgetUnit, value: f64, round_up: bool) -> i64 {
    let v = match unit {
        BudgetUnit::Usd => value * NANOS_PER_USD,
        BudgetUnit::Tokens => value,
    };
    if round_up { v.ceil() } else { v.round() }.max(0.0) as i64
}

fn from_stored(unit: BudgetUnit, amount: i64) -> f64 {
    match unit {
        BudgetUnit::Usd => amount as f64 / NANOS_PER_USD,
        BudgetUnit::Tokens => amount as f64,
    }
}

/// `subjects` in the one order every transaction locks them in, each once.
fn lock_order(subjects: &[Subject]) -> Vec<&Subject> {
    let mut ordered: Vec<&Subject> = subjects.iter().collect();
    ordered.sort_by(|a, b| (a.kind.as_str(), &a.id).cmp(&(b.kind.as_str(), &b.id)));
    ordered.dedup_by(|a, b| a.kind == b.kind && a.id == b.id);
    ordered
}

impl PgStore {
    /// Sets (or replaces) the budget of a key or token; the period restarts now. Calls in
    /// flight keep their reservations.
    pub async fn set_budget(
        &self,
        subject: &Subject,
        unit: BudgetUnit,
        limit: f64,
        period: Period,
        alert_threshold: Option<f64>,
        actor: &Actor,
    ) -> Result<()> {
        if !(limit.is_finite() && limit >= 0.0) {
            return Err(Error::InvalidBudget(limit));
        }
        if let Some(a) = alert_threshold
            && !(0.0..=1.0).contains(&a)
        {
            return Err(Error::InvalidAlertThreshold(a));
        }
        let mut client = self.client().await?;
        let result: PgResult<()> = async {
            let tx = client.transaction().await?;
            let now = PgStore::server_now_ms(&tx).await?;
            let start = period.start(super::utc(now));
            tx.execute(
                "INSERT INTO budgets(subject_kind, subject_id, subject_name, unit, limit_amount, period, alert_threshold, period_start)
                 VALUES($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (subject_kind, subject_id) DO UPDATE SET
                     subject_name = excluded.subject_name, unit = excluded.unit,
                     limit_amount = excluded.limit_amount, period = excluded.period,
                     alert_threshold = excluded.alert_threshold,
                     spent = CASE WHEN budgets.unit = excluded.unit THEN budgets.spent ELSE 0 END,
                     alerted = false",
                &[
                    &subject.kind.as_str(),
                    &subject.id,
                    &subject.name,
                    &unit_str(unit),
                    &to_stored(unit, limit, false),
                    &period.as_str(),
                    &alert_threshold,
                    &start,
                ],
            )
            .await?;
            PgStore::audit(
                &tx,
                actor,
                Change {
                    action: &format!("{}.budget", subject.kind.as_str()),
                    object_kind: subject.kind.object_kind(),
                    object_id: Some(&subject.id),
                    object_name: Some(&subject.name),
                    details: serde_json::json!({"unit": unit, "limit": limit, "period": period, "alert": alert_threshold}),
                },
            )
            .await?;
            tx.commit().await
        }
        .await;
        result.map_err(|e| self.fail(e))?;
        self.unlimited.forget(subject);
        Ok(())
    }

    /// The budget of a subject now (a period that has ended reads as reset).
    pub async fn budget(&self, kind: SubjectKind, id: &str) -> Result<Option<Budget>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT unit, limit_amount, period, alert_threshold, spent, reserved, period_start,
                        (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                 FROM budgets WHERE subject_kind = $1 AND subject_id = $2",
                &[&kind.as_str(), &id],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.map(|r| {
            let unit = unit_from_stored(r.get(0));
            let period: Period = r.get::<_, &str>(2).parse().unwrap_or(Period::None);
            let start: i64 = r.get(6);
            let current = period.start(super::utc(r.get(7)));
            Budget {
                unit,
                limit: from_stored(unit, r.get(1)),
                period,
                alert_threshold: r.get(3),
                spent: if current > start {
                    0.0
                } else {
                    from_stored(unit, r.get(4))
                },
                reserved: from_stored(unit, r.get(5)),
                period_start: current.max(start),
            }
        }))
    }

    /// Amounts of a subject's budget as stored (nano-dollars or tokens): spent, reserved.
    pub async fn budget_amounts(&self, kind: SubjectKind, id: &str) -> Result<Option<(i64, i64)>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT spent, reserved FROM budgets WHERE subject_kind = $1 AND subject_id = $2",
                &[&kind.as_str(), &id],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Sets (or replaces) one rate limit of a key or token.
    pub async fn set_rate_limit(
        &self,
        subject: &Subject,
        unit: RateUnit,
        window: Window,
        max: u64,
        actor: &Actor,
    ) -> Result<()> {
        if max == 0 {
            return Err(Error::ZeroRateLimit);
        }
        let unit_s = match unit {
            RateUnit::Requests => "requests",
            RateUnit::Tokens => "tokens",
        };
        let mut client = self.client().await?;
        let result: PgResult<()> = async {
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO rate_limits(subject_kind, subject_id, unit, window_name, max_value) VALUES($1, $2, $3, $4, $5)
                 ON CONFLICT (subject_kind, subject_id, unit, window_name) DO UPDATE SET max_value = excluded.max_value",
                &[&subject.kind.as_str(), &subject.id, &unit_s, &window.as_str(), &(max as i64)],
            )
            .await?;
            PgStore::audit(
                &tx,
                actor,
                Change {
                    action: &format!("{}.limit", subject.kind.as_str()),
                    object_kind: subject.kind.object_kind(),
                    object_id: Some(&subject.id),
                    object_name: Some(&subject.name),
                    details: serde_json::json!({"unit": unit, "window": window, "max": max}),
                },
            )
            .await?;
            tx.commit().await
        }
        .await;
        result.map_err(|e| self.fail(e))?;
        self.unlimited.forget(subject);
        Ok(())
    }

    /// A subject's rate limits and their use in the current window.
    pub async fn rate_limits(&self, kind: SubjectKind, id: &str) -> Result<Vec<RateLimit>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT unit, window_name, max_value, window_start, used,
                        (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                 FROM rate_limits WHERE subject_kind = $1 AND subject_id = $2 ORDER BY unit, window_name",
                &[&kind.as_str(), &id],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows
            .iter()
            .map(|r| {
                let window = Window::from_stored(r.get(1));
                let now: i64 = r.get(5);
                let start: i64 = r.get(3);
                RateLimit {
                    unit: if r.get::<_, &str>(0) == "requests" {
                        RateUnit::Requests
                    } else {
                        RateUnit::Tokens
                    },
                    window,
                    max: r.get::<_, i64>(2) as u64,
                    used: if start == now - now % window.millis() {
                        r.get::<_, i64>(4) as u64
                    } else {
                        0
                    },
                }
            })
            .collect())
    }

    /// Leases held now: calls in flight on any replica, or of a replica that died and whose
    /// leases have not been swept yet.
    pub async fn active_leases(&self) -> Result<u64> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one("SELECT count(*) FROM reservations", &[])
            .await
            .map_err(|e| self.fail(e))?
            .get(0);
        Ok(n as u64)
    }

    /// One attempt at [`Governance::reserve`], in one transaction.
    async fn reserve_once(
        &self,
        client: &mut deadpool_postgres::Client,
        subjects: &[Subject],
        estimate_usd: Option<f64>,
        estimate_tokens: u64,
        lease_ms: i64,
    ) -> std::result::Result<std::result::Result<Reservation, Refusal>, Failure> {
        let tx = client.transaction().await?;
        // With Redis, the windows are counted there after every budget passed: the limits of
        // all subjects, with what a refusal says of each.
        let mut shared: Vec<Limit> = Vec::new();
        let mut shared_of: Vec<(&Subject, &'static str, Window)> = Vec::new();
        let now_ms = PgStore::server_now_ms(&tx).await?;
        let now = super::utc(now_ms);
        let mut reservation = Reservation::default();
        for s in lock_order(subjects) {
            let kind = s.kind.as_str();
            let budget = tx
                .query_opt(
                    &tx.prepare_cached("SELECT unit, limit_amount, period, spent, reserved, period_start FROM budgets
                     WHERE subject_kind = $1 AND subject_id = $2 FOR UPDATE").await?,
                    &[&kind, &s.id],
                )
                .await?;
            if let Some(row) = budget {
                let unit = unit_from_stored(row.get(0));
                let limit: i64 = row.get(1);
                let period: Period = row.get::<_, &str>(2).parse().unwrap_or(Period::None);
                let mut spent: i64 = row.get(3);
                let reserved: i64 = row.get(4);
                let current = period.start(now);
                if current > row.get::<_, i64>(5) {
                    tx.execute(
                        &tx.prepare_cached(
                            "UPDATE budgets SET spent = 0, alerted = false, period_start = $3
                         WHERE subject_kind = $1 AND subject_id = $2",
                        )
                        .await?,
                        &[&kind, &s.id, &current],
                    )
                    .await?;
                    spent = 0;
                }
                let estimate = match unit {
                    BudgetUnit::Tokens => estimate_tokens as f64,
                    BudgetUnit::Usd => match estimate_usd {
                        Some(v) => v,
                        None => return Ok(Err(unknown_price_refusal(s))),
                    },
                };
                let amount = to_stored(unit, estimate, true);
                if spent + reserved + amount > limit {
                    let f = |a: i64| from_stored(unit, a);
                    return Ok(Err(budget_refusal(
                        s,
                        period,
                        unit,
                        f(spent),
                        f(limit),
                        f(reserved),
                        f(amount),
                        "calls in flight on any replica",
                    )));
                }
                // The estimate held and its lease written, one statement.
                let id = crate::ids::new_sortable_id("lease");
                tx.execute(
                    &tx.prepare_cached(
                        "WITH held AS (UPDATE budgets SET reserved = reserved + $3
                                       WHERE subject_kind = $1 AND subject_id = $2 RETURNING 1)
                         INSERT INTO reservations(id, subject_kind, subject_id, amount, created_at, expires_at)
                         SELECT $4::text, $1::text, $2::text, $3::bigint, $5::bigint, $6::bigint FROM held",
                    )
                    .await?,
                    &[&kind, &s.id, &amount, &id, &now_ms, &now_ms.saturating_add(lease_ms)],
                )
                .await?;
                reservation.entries.push(Lease {
                    id,
                    subject: s.clone(),
                    unit,
                    estimate,
                });
            }
            let limits = tx
                .query(
                    &tx.prepare_cached(if self.limiter.is_some() {
                        "SELECT unit, window_name, max_value, window_start, used FROM rate_limits
                         WHERE subject_kind = $1 AND subject_id = $2 ORDER BY unit, window_name"
                    } else {
                        "SELECT unit, window_name, max_value, window_start, used FROM rate_limits
                         WHERE subject_kind = $1 AND subject_id = $2 ORDER BY unit, window_name FOR UPDATE"
                    })
                    .await?,
                    &[&kind, &s.id],
                )
                .await?;
            for row in limits {
                let unit: &str = row.get(0);
                let window_s: &str = row.get(1);
                let window = Window::from_stored(window_s);
                let max: i64 = row.get(2);
                let (unit, add) = if unit == "requests" {
                    ("requests", 1)
                } else {
                    ("tokens", estimate_tokens as i64)
                };
                if self.limiter.is_some() {
                    shared.push(Limit {
                        key: limit_key(kind, &s.id, unit, window_s),
                        max,
                        add,
                        window_ms: window.millis(),
                    });
                    shared_of.push((s, unit, window));
                    continue;
                }
                let current = now_ms - now_ms % window.millis();
                let used = if row.get::<_, i64>(3) == current {
                    row.get::<_, i64>(4)
                } else {
                    0
                };
                if used + add > max {
                    // Nothing counted so far is kept: the transaction is rolled back.
                    return Ok(Err(rate_refusal(
                        s,
                        max,
                        unit,
                        window_s,
                        current + window.millis() - now_ms,
                    )));
                }
                tx.execute(
                    &tx.prepare_cached("UPDATE rate_limits SET window_start = $5, used = $6
                     WHERE subject_kind = $1 AND subject_id = $2 AND unit = $3 AND window_name = $4").await?,
                    &[&kind, &s.id, &unit, &window_s, &current, &(used + add)],
                )
                .await?;
                if unit == "tokens" {
                    reservation
                        .rate_tokens
                        .push((s.clone(), window, estimate_tokens));
                }
            }
        }
        if let Some(limiter) = &self.limiter {
            match limiter.admit(&shared).await.map_err(Failure::Limiter)? {
                Ok(()) => {
                    for (limit, (s, unit, window)) in shared.iter().zip(&shared_of) {
                        if *unit == "tokens" {
                            reservation
                                .rate_tokens
                                .push(((*s).clone(), *window, limit.add as u64));
                        }
                    }
                }
                Err(refused) => {
                    // The budgets' reservations are rolled back with the transaction.
                    let (s, unit, window) = shared_of[refused.index];
                    return Ok(Err(rate_refusal(
                        s,
                        shared[refused.index].max,
                        unit,
                        window.as_str(),
                        refused.retry_after_ms,
                    )));
                }
            }
        }
        tx.commit().await?;
        Ok(Ok(reservation))
    }

    /// One attempt at [`Governance::settle`], in one transaction.
    async fn settle_once(
        &self,
        client: &mut deadpool_postgres::Client,
        reservation: &Reservation,
        actual_usd: Option<f64>,
        actual_tokens: u64,
        actor: &Actor,
    ) -> PgResult<Vec<BudgetAlert>> {
        let tx = client.transaction().await?;
        let mut alerts = Vec::new();
        // Subject by subject in the lock order reserve takes them in: its budget, then (counted
        // here, not in Redis) its token windows, so a settle and a reserve never wait on each
        // other in a cycle.
        let in_db_windows = self.limiter.is_none() && !reservation.rate_tokens.is_empty();
        let now_ms = if in_db_windows {
            PgStore::server_now_ms(&tx).await?
        } else {
            0
        };
        let mut subjects: Vec<&Subject> = reservation
            .entries
            .iter()
            .map(|l| &l.subject)
            .chain(reservation.rate_tokens.iter().map(|(s, ..)| s))
            .collect();
        subjects.sort_by(|a, b| (a.kind.as_str(), &a.id).cmp(&(b.kind.as_str(), &b.id)));
        subjects.dedup_by(|a, b| a.kind == b.kind && a.id == b.id);
        for subject in subjects {
            let same = |s: &Subject| s.kind == subject.kind && s.id == subject.id;
            for lease in reservation.entries.iter().filter(|l| same(&l.subject)) {
                self.settle_lease(&tx, lease, actual_usd, actual_tokens, actor, &mut alerts)
                    .await?;
            }
            if in_db_windows {
                for (s, window, estimate) in
                    reservation.rate_tokens.iter().filter(|(s, ..)| same(s))
                {
                    let current = now_ms - now_ms % window.millis();
                    tx.execute(
                        &tx.prepare_cached(
                            "UPDATE rate_limits SET used = GREATEST(used - $4 + $5, 0)
                             WHERE subject_kind = $1 AND subject_id = $2 AND unit = 'tokens'
                               AND window_name = $3 AND window_start = $6",
                        )
                        .await?,
                        &[
                            &s.kind.as_str(),
                            &s.id,
                            &window.as_str(),
                            &(*estimate as i64),
                            &(actual_tokens as i64),
                            &current,
                        ],
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        if let Some(limiter) = &self.limiter {
            // Token windows in Redis get the difference back (or more counted) after the
            // budgets are settled; a limiter that cannot be reached loses only the correction.
            let corrections: Vec<(String, i64, i64)> = reservation
                .rate_tokens
                .iter()
                .map(|(s, window, estimate)| {
                    (
                        limit_key(s.kind.as_str(), &s.id, "tokens", window.as_str()),
                        window.millis(),
                        actual_tokens as i64 - *estimate as i64,
                    )
                })
                .collect();
            if let Err(e) = limiter.correct(&corrections).await {
                tracing::warn!("token rate-limit counts not corrected: {e}");
            }
        }
        Ok(alerts)
    }

    /// Settles one lease in `tx`: its estimate out, the actual cost in, the alert when the
    /// budget crossed its threshold.
    async fn settle_lease(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        lease: &Lease,
        actual_usd: Option<f64>,
        actual_tokens: u64,
        actor: &Actor,
        alerts: &mut Vec<BudgetAlert>,
    ) -> PgResult<()> {
        {
            let s = &lease.subject;
            let kind = s.kind.as_str();
            let actual = match lease.unit {
                BudgetUnit::Usd => {
                    to_stored(BudgetUnit::Usd, actual_usd.unwrap_or(lease.estimate), false)
                }
                BudgetUnit::Tokens => actual_tokens as i64,
            };
            // The lease out and the actual cost in, one statement (one round trip under the
            // row's lock); a lease a sweep already charged gets its charge corrected instead.
            let settled = tx
                .query_opt(
                    &tx.prepare_cached(
                        "WITH lease AS (DELETE FROM reservations WHERE id = $1 RETURNING amount)
                         UPDATE budgets b SET reserved = GREATEST(b.reserved - lease.amount, 0),
                             spent = b.spent + $4
                         FROM lease WHERE b.subject_kind = $2 AND b.subject_id = $3
                         RETURNING b.spent, b.limit_amount, b.alert_threshold, b.alerted",
                    )
                    .await?,
                    &[&lease.id, &kind, &s.id, &actual],
                )
                .await?;
            let settled = match settled {
                Some(row) => Some(row),
                None => {
                    let amount = to_stored(lease.unit, lease.estimate, true);
                    tx.query_opt(
                        &tx.prepare_cached(
                            "UPDATE budgets SET spent = GREATEST(spent + $4 - $3, 0)
                             WHERE subject_kind = $1 AND subject_id = $2
                             RETURNING spent, limit_amount, alert_threshold, alerted",
                        )
                        .await?,
                        &[&kind, &s.id, &amount, &actual],
                    )
                    .await?
                }
            };
            // Exactly one settlement, on whichever replica, crosses the threshold first: the
            // row is locked, and only a budget over its threshold and not yet alerted asks.
            let over = settled.is_some_and(|r| {
                let (spent, limit): (i64, i64) = (r.get(0), r.get(1));
                let threshold: Option<f64> = r.get(2);
                let alerted: bool = r.get(3);
                !alerted && limit > 0 && threshold.is_some_and(|t| spent as f64 >= t * limit as f64)
            });
            let crossed = if over {
                tx.query_opt(
                    &tx.prepare_cached(
                        "UPDATE budgets SET alerted = true
                         WHERE subject_kind = $1 AND subject_id = $2 AND NOT alerted
                         RETURNING spent, limit_amount, alert_threshold",
                    )
                    .await?,
                    &[&kind, &s.id],
                )
                .await?
            } else {
                None
            };
            if let Some(row) = crossed {
                let (spent, limit) = (
                    from_stored(lease.unit, row.get(0)),
                    from_stored(lease.unit, row.get(1)),
                );
                let threshold: f64 = row.get(2);
                PgStore::audit(
                    tx,
                    actor,
                    Change {
                        action: "budget.alert",
                        object_kind: s.kind.object_kind(),
                        object_id: Some(&s.id),
                        object_name: Some(&s.name),
                        details: serde_json::json!({"spent": spent, "limit": limit, "unit": lease.unit, "threshold": threshold}),
                    },
                )
                .await?;
                let alert = BudgetAlert {
                    subject: s.clone(),
                    spent,
                    limit,
                    unit: lease.unit,
                };
                tracing::warn!(subject = %s.name, spent, limit, "budget alert: {}", alert.message());
                alerts.push(alert);
            }
        }
        Ok(())
    }

    /// One attempt at [`Governance::sweep_expired_leases`], in one transaction.
    async fn sweep_once(
        &self,
        client: &mut deadpool_postgres::Client,
        actor: &Actor,
    ) -> PgResult<usize> {
        let tx = client.transaction().await?;
        let now_ms = PgStore::server_now_ms(&tx).await?;
        // Leases another replica is settling or sweeping right now are skipped, not waited for.
        let expired = tx
            .query(
                &tx.prepare_cached(
                    "DELETE FROM reservations WHERE id IN (
                     SELECT id FROM reservations WHERE expires_at <= $1
                     ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
                 RETURNING subject_kind, subject_id, amount",
                )
                .await?,
                &[&now_ms],
            )
            .await?;
        let mut per_subject: BTreeMap<(String, String), i64> = BTreeMap::new();
        for row in &expired {
            *per_subject.entry((row.get(0), row.get(1))).or_default() += row.get::<_, i64>(2);
        }
        for ((kind, id), amount) in &per_subject {
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE budgets SET reserved = GREATEST(reserved - $3, 0), spent = spent + $3
                 WHERE subject_kind = $1 AND subject_id = $2",
                )
                .await?,
                &[kind, id, amount],
            )
            .await?;
        }
        if !expired.is_empty() {
            PgStore::audit(
                &tx,
                actor,
                Change {
                    action: "budget.leases_expired",
                    object_kind: "budget",
                    object_id: None,
                    object_name: None,
                    details: serde_json::json!({"leases": expired.len(),
                        "subjects": per_subject.len()}),
                },
            )
            .await?;
            tracing::warn!(
                leases = expired.len(),
                "budget reservations of calls that never settled expired; their estimates were charged"
            );
        }
        tx.commit().await?;
        Ok(expired.len())
    }
}

#[async_trait]
impl Governance for PgStore {
    async fn has_limits(&self, subject: &Subject) -> Result<bool> {
        if self.unlimited.known(subject) {
            return Ok(false);
        }
        let seen = std::time::Instant::now();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM budgets WHERE subject_kind = $1 AND subject_id = $2)
                     OR EXISTS(SELECT 1 FROM rate_limits WHERE subject_kind = $1 AND subject_id = $2)",
            )
            .await
            .map_err(|e| self.fail(e))?;
        let limited: bool = client
            .query_one(&statement, &[&subject.kind.as_str(), &subject.id])
            .await
            .map_err(|e| self.fail(e))?
            .get(0);
        self.unlimited.note(subject, limited, seen);
        Ok(limited)
    }

    async fn reserve(
        &self,
        subjects: &[Subject],
        estimate_usd: Option<f64>,
        estimate_tokens: u64,
        lease: std::time::Duration,
    ) -> Result<std::result::Result<Reservation, Refusal>> {
        let lease_ms = lease.as_millis().min(i64::MAX as u128) as i64;
        let mut attempt = 0;
        loop {
            let mut client = self.client().await?;
            match self
                .reserve_once(
                    &mut client,
                    subjects,
                    estimate_usd,
                    estimate_tokens,
                    lease_ms,
                )
                .await
            {
                Err(Failure::Db(e)) if is_conflict(&e) && attempt < CONFLICT_RETRIES => {
                    attempt += 1
                }
                Err(Failure::Db(e)) => return Err(self.fail(e)),
                Err(Failure::Limiter(e)) => return Err(e),
                Ok(answer) => return Ok(answer),
            }
        }
    }

    async fn settle(
        &self,
        reservation: &Reservation,
        actual_usd: Option<f64>,
        actual_tokens: u64,
        actor: &Actor,
    ) -> Result<Vec<BudgetAlert>> {
        if reservation.is_empty() {
            return Ok(Vec::new());
        }
        let mut attempt = 0;
        loop {
            let mut client = self.client().await?;
            match self
                .settle_once(&mut client, reservation, actual_usd, actual_tokens, actor)
                .await
            {
                Err(e) if is_conflict(&e) && attempt < CONFLICT_RETRIES => attempt += 1,
                other => return other.map_err(|e| self.fail(e)),
            }
        }
    }

    /// Every two seconds: a dead replica's leases are charged within lease + 2 s.
    fn sweep_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(2)
    }

    async fn sweep_expired_leases(&self, actor: &Actor) -> Result<usize> {
        let mut attempt = 0;
        loop {
            let mut client = self.client().await?;
            match self.sweep_once(&mut client, actor).await {
                Err(e) if is_conflict(&e) && attempt < CONFLICT_RETRIES => attempt += 1,
                other => return other.map_err(|e| self.fail(e)),
            }
        }
    }
}
