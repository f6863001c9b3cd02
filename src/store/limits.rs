//! Budgets and rate limits on virtual keys and gateway tokens, enforced without races: a call
//! reserves its worst-case estimate (prompt tokens plus max_tokens) before it is sent, in one
//! transaction with the check, and settles to the actual cost afterwards. Concurrent calls
//! therefore cannot all pass a check against the same remaining budget.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::Store;
use super::audit::{Actor, Change};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Key,
    Token,
}

impl SubjectKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Key => "key",
            SubjectKind::Token => "token",
        }
    }
    /// The audit log's object kind.
    pub(crate) fn object_kind(self) -> &'static str {
        match self {
            SubjectKind::Key => "virtual_key",
            SubjectKind::Token => "gateway_token",
        }
    }
    /// How people call it: "virtual key", "gateway token".
    pub fn label(self) -> &'static str {
        match self {
            SubjectKind::Key => "virtual key",
            SubjectKind::Token => "gateway token",
        }
    }
}

/// What a limit is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetUnit {
    Usd,
    Tokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    None,
    Daily,
    Weekly,
    Monthly,
}

/// A budget period name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("period must be daily, weekly or monthly, not '{0}'")]
pub struct UnknownPeriod(pub String);

impl std::str::FromStr for Period {
    type Err = UnknownPeriod;
    fn from_str(s: &str) -> std::result::Result<Self, UnknownPeriod> {
        match s {
            "none" => Ok(Period::None),
            "daily" => Ok(Period::Daily),
            "weekly" => Ok(Period::Weekly),
            "monthly" => Ok(Period::Monthly),
            other => Err(UnknownPeriod(other.to_owned())),
        }
    }
}

impl Period {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Period::None => "none",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }

    /// Start (unix ms, UTC) of the period containing `now`.
    pub fn start(self, now: DateTime<Utc>) -> i64 {
        let day = Utc
            .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
            .single()
            .unwrap_or(now);
        let start = match self {
            Period::None => return 0,
            Period::Daily => day,
            Period::Weekly => {
                day - ChronoDuration::days(now.weekday().num_days_from_monday() as i64)
            }
            Period::Monthly => Utc
                .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
                .single()
                .unwrap_or(day),
        };
        start.timestamp_millis()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    pub unit: BudgetUnit,
    pub limit: f64,
    pub period: Period,
    pub alert_threshold: Option<f64>,
    /// Spent in the current period (after any reset due by `now`).
    pub spent: f64,
    /// Estimates of calls in flight.
    pub reserved: f64,
    pub period_start: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateUnit {
    Requests,
    Tokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Minute,
    Hour,
    Day,
}

impl Window {
    /// A window as the stores keep its name (`minute`, `hour`; anything else is a day).
    pub(crate) fn from_stored(name: &str) -> Window {
        match name {
            "minute" => Window::Minute,
            "hour" => Window::Hour,
            _ => Window::Day,
        }
    }

    pub(crate) fn millis(self) -> i64 {
        match self {
            Window::Minute => 60_000,
            Window::Hour => 3_600_000,
            Window::Day => 86_400_000,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLimit {
    pub unit: RateUnit,
    pub window: Window,
    pub max: u64,
    pub used: u64,
}

/// Why a call may not go ahead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Refusal {
    /// HTTP 412.
    Budget { message: String },
    /// HTTP 429 with Retry-After.
    Rate {
        message: String,
        retry_after_secs: u64,
    },
}

impl Refusal {
    pub fn message(&self) -> &str {
        match self {
            Refusal::Budget { message } | Refusal::Rate { message, .. } => message,
        }
    }
}

/// What a call holds while in flight; settle it with [`Store::settle`]. Each budget entry is a
/// lease (a row in `reservations`) that expires if the call's process dies before settling.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reservation {
    pub(crate) entries: Vec<Lease>,
    /// Token rate-limit windows charged with the estimate, to correct on settlement.
    pub(crate) rate_tokens: Vec<(Subject, Window, u64)>,
}

/// One budget's share of a reservation: a lease row's id, and the estimate it holds (USD or
/// tokens, as the budget's unit).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lease {
    pub(crate) id: String,
    pub(crate) subject: Subject,
    pub(crate) unit: BudgetUnit,
    pub(crate) estimate: f64,
}

impl Reservation {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.rate_tokens.is_empty()
    }
}

/// A budget crossing its alert threshold on settlement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetAlert {
    pub subject: Subject,
    pub spent: f64,
    pub limit: f64,
    pub unit: BudgetUnit,
}

impl BudgetAlert {
    /// One sentence for a notification or a log line.
    pub fn message(&self) -> String {
        let pct = if self.limit > 0.0 {
            self.spent / self.limit * 100.0
        } else {
            100.0
        };
        let pct = match pct {
            p if p >= 10.0 => format!("{p:.0}%"),
            p if p >= 0.1 => format!("{p:.1}%"),
            _ => "less than 0.1%".to_owned(),
        };
        format!(
            "{} '{}' has used {pct} of its budget ({} of {})",
            self.subject.kind.label(),
            self.subject.name,
            fmt_amount(self.unit, self.spent),
            fmt_amount(self.unit, self.limit),
        )
    }
}

/// A budget unit as the stores keep it (`usd`; anything else is tokens).
pub(crate) fn unit_from_stored(name: &str) -> BudgetUnit {
    if name == "usd" {
        BudgetUnit::Usd
    } else {
        BudgetUnit::Tokens
    }
}

pub(crate) fn unit_str(u: BudgetUnit) -> &'static str {
    match u {
        BudgetUnit::Usd => "usd",
        BudgetUnit::Tokens => "tokens",
    }
}

pub(crate) fn fmt_amount(unit: BudgetUnit, v: f64) -> String {
    match unit {
        BudgetUnit::Usd => format!("${v:.4}"),
        BudgetUnit::Tokens => format!("{} tokens", v.round() as i64),
    }
}

/// The refusal of a call whose model's price is unknown, through a subject with a USD budget.
pub(crate) fn unknown_price_refusal(s: &Subject) -> Refusal {
    Refusal::Budget {
        message: format!(
            "{} '{}' has a USD budget, but this model's price is unknown, so its cost cannot be bounded; add the model to prices.json or use a token budget",
            s.kind.label(),
            s.name
        ),
    }
}

/// The refusal of a call whose worst case (`estimate`) does not fit what is left of a budget;
/// `held_by` says where the `reserved` amount is held.
#[allow(clippy::too_many_arguments)]
pub(crate) fn budget_refusal(
    s: &Subject,
    period: Period,
    unit: BudgetUnit,
    spent: f64,
    limit: f64,
    reserved: f64,
    estimate: f64,
    held_by: &str,
) -> Refusal {
    let what = if period == Period::None {
        "budget".to_owned()
    } else {
        format!("{} budget", period.as_str())
    };
    Refusal::Budget {
        message: format!(
            "the {what} of {} '{}' is exhausted: {} of {} spent{}, and this call may use up to {}{}",
            s.kind.label(),
            s.name,
            fmt_amount(unit, spent),
            fmt_amount(unit, limit),
            if reserved > 0.0 {
                format!(", {} held by {held_by}", fmt_amount(unit, reserved))
            } else {
                String::new()
            },
            fmt_amount(unit, estimate),
            if spent + reserved < limit {
                " (a lower max_tokens bounds it)"
            } else {
                ""
            }
        ),
    }
}

/// The refusal of a call over a rate limit of `max` `unit` per `window`, `ms_left` before the
/// window ends.
pub(crate) fn rate_refusal(
    s: &Subject,
    max: i64,
    unit: &str,
    window: &str,
    ms_left: i64,
) -> Refusal {
    let retry = (ms_left as f64 / 1000.0).ceil() as u64;
    Refusal::Rate {
        message: format!(
            "{} '{}' is over its rate limit of {max} {unit} per {window}; retry in {retry} s",
            s.kind.label(),
            s.name
        ),
        retry_after_secs: retry.max(1),
    }
}

/// Subjects last seen without any budget or rate limit, and when: calls through them (the
/// common case) then skip the store for [`UNLIMITED_RECHECK`]. Shared by the SQLite and the
/// PostgreSQL governance.
#[derive(Debug, Default)]
pub(crate) struct UnlimitedSubjects(
    std::sync::Mutex<std::collections::HashMap<(SubjectKind, String), std::time::Instant>>,
);

impl UnlimitedSubjects {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<(SubjectKind, String), std::time::Instant>,
    > {
        // Plain timestamps: a panic elsewhere cannot leave them inconsistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `subject` was seen without limits less than [`UNLIMITED_RECHECK`] ago.
    pub(crate) fn known(&self, subject: &Subject) -> bool {
        self.lock()
            .get(&(subject.kind, subject.id.clone()))
            .is_some_and(|seen| seen.elapsed() < UNLIMITED_RECHECK)
    }

    /// Notes what a look at the store (made at `seen`) found.
    pub(crate) fn note(&self, subject: &Subject, limited: bool, seen: std::time::Instant) {
        let key = (subject.kind, subject.id.clone());
        let mut cache = self.lock();
        if limited {
            cache.remove(&key);
        } else {
            cache.insert(key, seen);
        }
    }

    /// Forgets a subject that was just given a limit.
    pub(crate) fn forget(&self, subject: &Subject) {
        self.lock().remove(&(subject.kind, subject.id.clone()));
    }
}

/// How long a subject seen without limits is taken to have none (see [`Store::has_limits`]).
pub const UNLIMITED_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

impl Store {
    /// Sets (or replaces) the budget of a key or token. The period restarts now.
    pub fn set_budget(
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
        let conn = self.conn();
        let start = period.start(Utc::now());
        conn.execute(
            "INSERT INTO budgets(subject_kind, subject_id, unit, limit_value, period, alert_threshold, period_start, spent, reserved, alerted)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, 0)
             ON CONFLICT(subject_kind, subject_id) DO UPDATE SET unit = excluded.unit, limit_value = excluded.limit_value,
                 period = excluded.period, alert_threshold = excluded.alert_threshold,
                 spent = CASE WHEN budgets.unit = excluded.unit THEN budgets.spent ELSE 0 END,
                 alerted = 0",
            params![subject.kind.as_str(), subject.id, unit_str(unit), limit, period.as_str(), alert_threshold, start],
        )?;
        // Forget a cached "no limits" now, while the connection is held (see has_limits).
        self.unlimited.forget(subject);
        self.audit(
            &conn,
            actor,
            Change {
                action: &format!("{}.budget", subject.kind.as_str()),
                object_kind: subject.kind.object_kind(),
                object_id: Some(&subject.id),
                object_name: Some(&subject.name),
                details: serde_json::json!({"unit": unit, "limit": limit, "period": period, "alert": alert_threshold}),
            },
        )?;
        Ok(())
    }

    /// The budget of a subject as of `now` (a period that has ended reads as reset).
    pub fn budget(
        &self,
        kind: SubjectKind,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Budget>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT unit, limit_value, period, alert_threshold, spent, reserved, period_start
                 FROM budgets WHERE subject_kind = ?1 AND subject_id = ?2",
                params![kind.as_str(), id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, f64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<f64>>(3)?,
                        r.get::<_, f64>(4)?,
                        r.get::<_, f64>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                },
            )
            .optional()?;
        Ok(
            row.map(|(unit, limit, period, alert, spent, reserved, start)| {
                let period: Period = period.parse().unwrap_or(Period::None);
                let current = period.start(now);
                Budget {
                    unit: unit_from_stored(&unit),
                    limit,
                    period,
                    alert_threshold: alert,
                    spent: if current > start { 0.0 } else { spent },
                    reserved,
                    period_start: current.max(start),
                }
            }),
        )
    }

    /// Sets (or replaces) one rate limit of a key or token.
    pub fn set_rate_limit(
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
        let conn = self.conn();
        let unit_s = match unit {
            RateUnit::Requests => "requests",
            RateUnit::Tokens => "tokens",
        };
        conn.execute(
            "INSERT INTO rate_limits(subject_kind, subject_id, unit, window, max_value) VALUES(?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(subject_kind, subject_id, unit, window) DO UPDATE SET max_value = excluded.max_value",
            params![subject.kind.as_str(), subject.id, unit_s, window.as_str(), max as i64],
        )?;
        // Forget a cached "no limits" now, while the connection is held (see has_limits).
        self.unlimited.forget(subject);
        self.audit(
            &conn,
            actor,
            Change {
                action: &format!("{}.limit", subject.kind.as_str()),
                object_kind: subject.kind.object_kind(),
                object_id: Some(&subject.id),
                object_name: Some(&subject.name),
                details: serde_json::json!({"unit": unit, "window": window, "max": max}),
            },
        )?;
        Ok(())
    }

    pub fn rate_limits(
        &self,
        kind: SubjectKind,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<RateLimit>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT unit, window, max_value, window_start, used FROM rate_limits WHERE subject_kind = ?1 AND subject_id = ?2 ORDER BY unit, window",
        )?;
        let now_ms = now.timestamp_millis();
        let rows = stmt
            .query_map(params![kind.as_str(), id], |r| {
                let window = Window::from_stored(&r.get::<_, String>(1)?);
                let start: i64 = r.get(3)?;
                let current = now_ms - now_ms % window.millis();
                Ok(RateLimit {
                    unit: if r.get::<_, String>(0)? == "requests" {
                        RateUnit::Requests
                    } else {
                        RateUnit::Tokens
                    },
                    window,
                    max: r.get::<_, i64>(2)? as u64,
                    used: if start == current {
                        r.get::<_, i64>(4)? as u64
                    } else {
                        0
                    },
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Whether `subject` has a budget or a rate limit, so calls through keys and tokens without
    /// limits (the common case) take no write lock and no transaction. A "no" is remembered for
    /// [`UNLIMITED_RECHECK`]: limits set through this store apply at once, limits set by another
    /// process (the CLI while `portolan serve` runs) within that time.
    pub fn has_limits(&self, subject: &Subject) -> Result<bool> {
        if self.unlimited.known(subject) {
            return Ok(false);
        }
        let now = std::time::Instant::now();
        // The answer is noted while the connection is still held: a limit being set in this
        // process waits for it, then forgets the entry (no stale "no" survives the write).
        let conn = self.conn();
        let limited: bool = conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM budgets WHERE subject_kind = ?1 AND subject_id = ?2)
                     OR EXISTS(SELECT 1 FROM rate_limits WHERE subject_kind = ?1 AND subject_id = ?2)",
            )?
            .query_row(params![subject.kind.as_str(), subject.id], |r| r.get(0))?;
        self.unlimited.note(subject, limited, now);
        drop(conn);
        Ok(limited)
    }

    /// Whether `subject` was seen without limits less than [`UNLIMITED_RECHECK`] ago (an answer
    /// from memory, no query).
    pub fn known_unlimited(&self, subject: &Subject) -> bool {
        self.unlimited.known(subject)
    }

    /// Checks every budget and rate limit of `subjects` and reserves the call's estimate, in one
    /// transaction. `estimate_usd` is None when the model's price is unknown.
    pub fn reserve(
        &self,
        subjects: &[Subject],
        estimate_usd: Option<f64>,
        estimate_tokens: u64,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<std::result::Result<Reservation, Refusal>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now_ms = now.timestamp_millis();
        let mut reservation = Reservation::default();
        for s in subjects {
            let budget = tx
                .query_row(
                    "SELECT unit, limit_value, period, spent, reserved, period_start FROM budgets
                     WHERE subject_kind = ?1 AND subject_id = ?2",
                    params![s.kind.as_str(), s.id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, f64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, f64>(3)?,
                            r.get::<_, f64>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    },
                )
                .optional()?;
            if let Some((unit, limit, period, mut spent, reserved, start)) = budget {
                let period: Period = period.parse().unwrap_or(Period::None);
                let current = period.start(now);
                if current > start {
                    tx.execute(
                        "UPDATE budgets SET spent = 0, alerted = 0, period_start = ?3 WHERE subject_kind = ?1 AND subject_id = ?2",
                        params![s.kind.as_str(), s.id, current],
                    )?;
                    spent = 0.0;
                }
                let unit = unit_from_stored(&unit);
                let estimate = match unit {
                    BudgetUnit::Tokens => estimate_tokens as f64,
                    BudgetUnit::Usd => match estimate_usd {
                        Some(v) => v,
                        None => return Ok(Err(unknown_price_refusal(s))),
                    },
                };
                if spent + reserved + estimate > limit {
                    return Ok(Err(budget_refusal(
                        s,
                        period,
                        unit,
                        spent,
                        limit,
                        reserved,
                        estimate,
                        "calls in flight",
                    )));
                }
                tx.execute(
                    "UPDATE budgets SET reserved = reserved + ?3 WHERE subject_kind = ?1 AND subject_id = ?2",
                    params![s.kind.as_str(), s.id, estimate],
                )?;
                let id = crate::ids::new_sortable_id("lease");
                tx.prepare_cached(
                    "INSERT INTO reservations(id, subject_kind, subject_id, unit, amount, created_at, expires_at)
                     VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    id,
                    s.kind.as_str(),
                    s.id,
                    unit_str(unit),
                    estimate,
                    now_ms,
                    now_ms.saturating_add(lease.as_millis() as i64)
                ])?;
                reservation.entries.push(Lease {
                    id,
                    subject: s.clone(),
                    unit,
                    estimate,
                });
            }
            let mut stmt = tx.prepare_cached(
                "SELECT unit, window, max_value, window_start, used FROM rate_limits WHERE subject_kind = ?1 AND subject_id = ?2",
            )?;
            let limits: Vec<(String, String, i64, i64, i64)> = stmt
                .query_map(params![s.kind.as_str(), s.id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            drop(stmt);
            for (unit, window_s, max, start, used) in limits {
                let window = Window::from_stored(&window_s);
                let current = now_ms - now_ms % window.millis();
                let used = if start == current { used } else { 0 };
                let add = if unit == "requests" {
                    1
                } else {
                    estimate_tokens as i64
                };
                if used + add > max {
                    return Ok(Err(rate_refusal(
                        s,
                        max,
                        &unit,
                        &window_s,
                        current + window.millis() - now_ms,
                    )));
                }
                tx.execute(
                    "UPDATE rate_limits SET window_start = ?5, used = ?6 WHERE subject_kind = ?1 AND subject_id = ?2 AND unit = ?3 AND window = ?4",
                    params![s.kind.as_str(), s.id, unit, window_s, current, used + add],
                )?;
                if unit == "tokens" {
                    reservation
                        .rate_tokens
                        .push((s.clone(), window, estimate_tokens));
                }
            }
        }
        tx.commit()?;
        Ok(Ok(reservation))
    }

    /// Replaces a reservation's estimates with what the call actually used (0 for a failed
    /// call). Returns budgets that crossed their alert threshold.
    pub fn settle(
        &self,
        reservation: &Reservation,
        actual_usd: Option<f64>,
        actual_tokens: u64,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<Vec<BudgetAlert>> {
        if reservation.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut alerts = Vec::new();
        for lease in &reservation.entries {
            let (s, unit, estimate) = (&lease.subject, &lease.unit, &lease.estimate);
            let actual = match unit {
                BudgetUnit::Usd => actual_usd.unwrap_or(*estimate),
                BudgetUnit::Tokens => actual_tokens as f64,
            };
            let held = tx
                .prepare_cached("DELETE FROM reservations WHERE id = ?1")?
                .execute([&lease.id])?;
            if held == 1 {
                tx.execute(
                    // Floating-point residue of many reserve/settle pairs is cleared, not carried.
                    "UPDATE budgets SET reserved = CASE WHEN reserved - ?3 < 1e-12 THEN 0 ELSE reserved - ?3 END,
                         spent = spent + ?4 WHERE subject_kind = ?1 AND subject_id = ?2",
                    params![s.kind.as_str(), s.id, estimate, actual],
                )?;
            } else {
                // The lease expired and a sweep already charged its estimate and released it:
                // correct the charge to what the call actually used.
                tx.execute(
                    "UPDATE budgets SET spent = MAX(0, spent + ?4 - ?3) WHERE subject_kind = ?1 AND subject_id = ?2",
                    params![s.kind.as_str(), s.id, estimate, actual],
                )?;
            }
            let (spent, limit, alert, alerted): (f64, f64, Option<f64>, bool) = tx.query_row(
                "SELECT spent, limit_value, alert_threshold, alerted FROM budgets WHERE subject_kind = ?1 AND subject_id = ?2",
                params![s.kind.as_str(), s.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            if let Some(a) = alert
                && !alerted
                && limit > 0.0
                && spent >= a * limit
            {
                tx.execute(
                    "UPDATE budgets SET alerted = 1 WHERE subject_kind = ?1 AND subject_id = ?2",
                    params![s.kind.as_str(), s.id],
                )?;
                self.audit(
            &tx,
            actor,
            Change {
                action: "budget.alert",
                object_kind: s.kind.object_kind(),
                object_id: Some(&s.id),
                object_name: Some(&s.name),
                details: serde_json::json!({"spent": spent, "limit": limit, "unit": unit, "threshold": a}),
            },
        )?;
                let alert = BudgetAlert {
                    subject: s.clone(),
                    spent,
                    limit,
                    unit: *unit,
                };
                tracing::warn!(subject = %s.name, spent, limit, "budget alert: {}", alert.message());
                alerts.push(alert);
            }
        }
        let now_ms = now.timestamp_millis();
        for (s, window, estimate) in &reservation.rate_tokens {
            let current = now_ms - now_ms % window.millis();
            tx.execute(
                "UPDATE rate_limits SET used = MAX(0, used - ?4 + ?5)
                 WHERE subject_kind = ?1 AND subject_id = ?2 AND unit = 'tokens' AND window = ?3 AND window_start = ?6",
                params![s.kind.as_str(), s.id, window.as_str(), *estimate as i64, actual_tokens as i64, current],
            )?;
        }
        tx.commit()?;
        Ok(alerts)
    }
}

impl Store {
    /// Charges every expired lease its estimate and releases it: the calls that held them belong
    /// to a process that died (or outlived the lease; its settle corrects the charge). Returns how
    /// many were swept. Runs at start-up and periodically.
    pub fn sweep_expired_leases(&self, now: DateTime<Utc>, actor: &Actor) -> Result<usize> {
        let now_ms = now.timestamp_millis();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let expired: Vec<(String, String, String, f64)> = tx
            .prepare_cached(
                "SELECT id, subject_kind, subject_id, amount FROM reservations WHERE expires_at <= ?1",
            )?
            .query_map([now_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, kind, subject, amount) in &expired {
            tx.execute(
                "UPDATE budgets SET reserved = CASE WHEN reserved - ?3 < 1e-12 THEN 0 ELSE reserved - ?3 END,
                     spent = spent + ?3 WHERE subject_kind = ?1 AND subject_id = ?2",
                params![kind, subject, amount],
            )?;
            tx.execute("DELETE FROM reservations WHERE id = ?1", [id])?;
        }
        if !expired.is_empty() {
            self.audit(
                &tx,
                actor,
                Change {
                    action: "budget.leases_expired",
                    object_kind: "budget",
                    object_id: None,
                    object_name: None,
                    details: serde_json::json!({"leases": expired.len(),
                        "charged": expired.iter().map(|e| e.3).sum::<f64>()}),
                },
            )?;
            tracing::warn!(
                leases = expired.len(),
                "budget reservations of calls that never settled expired; their estimates were charged"
            );
        }
        tx.commit()?;
        Ok(expired.len())
    }

    /// Leases held now (calls in flight, or of a process that died and not swept yet).
    pub fn active_leases(&self) -> Result<u64> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM reservations", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_starts() {
        let t = Utc.with_ymd_and_hms(2026, 12, 3, 15, 30, 0).unwrap(); // a Thursday
        assert_eq!(
            Period::Daily.start(t),
            Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            Period::Weekly.start(t),
            Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            Period::Monthly.start(t),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(Period::None.start(t), 0);
    }
}
