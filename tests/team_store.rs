//! The team gateway's shared store on a real PostgreSQL (started on 127.0.0.1 for the test):
//! migrations once under a lock, budgets exact across three replicas with 32 concurrent callers,
//! rate limits that hold across replicas, the leases of a replica that died charged by another,
//! and a clear, closed failure when the database is gone.

use std::sync::Arc;

use portolan::error::Error;
use portolan::store::postgres::PgStore;
use portolan::store::{
    Actor, BudgetUnit, Governance, Period, RateUnit, Refusal, Subject, SubjectKind, Window,
};

use crate::support::postgres::TestPostgres;

/// Three replicas' stores on one database (each its own pool, as three processes would have).
async fn replicas(url: &str) -> Vec<Arc<PgStore>> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(Arc::new(PgStore::connect(url).await.expect("connect")));
    }
    out
}

fn token(name: &str) -> Subject {
    Subject {
        kind: SubjectKind::Token,
        id: format!("tok_{name}"),
        name: name.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_run_once_when_replicas_start_together() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("migrations");
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.unwrap().expect("every replica starts"));
    }
    let applied = stores[0].applied_migrations().await.unwrap();
    assert_eq!(
        applied,
        (1..=portolan::store::postgres::SCHEMA_VERSION).collect::<Vec<_>>()
    );
    // A later start finds nothing to do.
    PgStore::connect(&url).await.unwrap();
    assert_eq!(stores[2].applied_migrations().await.unwrap(), applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn budgets_stay_exact_across_three_replicas_and_alert_once() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("budgets");
    let stores = replicas(&url).await;
    let team = token("team");
    // A budget of 200 calls at their worst case ($0.002 each), alerting at half.
    stores[0]
        .set_budget(
            &team,
            BudgetUnit::Usd,
            0.4,
            Period::Monthly,
            Some(0.5),
            &Actor::Cli,
        )
        .await
        .unwrap();
    const ESTIMATE: f64 = 0.002;
    // 32 callers round-robin over the three replicas, each until it is refused (bounded).
    let mut callers = Vec::new();
    for c in 0..32usize {
        let store = stores[c % 3].clone();
        let team = team.clone();
        callers.push(tokio::spawn(async move {
            let mut charged_nanos = 0i64;
            let mut alerts = 0;
            let mut admitted = 0;
            for i in 0..400usize {
                let subjects = [team.clone()];
                match store
                    .reserve(
                        &subjects,
                        Some(ESTIMATE),
                        100,
                        std::time::Duration::from_secs(60),
                    )
                    .await
                    .unwrap()
                {
                    Ok(reservation) => {
                        admitted += 1;
                        // Actual costs vary under the estimate: $0.0005 to $0.002.
                        let actual = 0.0005 + ((c * 7 + i * 13) % 4) as f64 * 0.0005;
                        charged_nanos += (actual * 1e9).round() as i64;
                        alerts += store
                            .settle(&reservation, Some(actual), 80, &Actor::System)
                            .await
                            .unwrap()
                            .len();
                    }
                    Err(Refusal::Budget { message }) => {
                        assert!(message.contains("is exhausted"), "{message}");
                        // Refused while others held reservations: try again; refused with
                        // less than a worst case left: done.
                        let (spent, _) = store
                            .budget_amounts(SubjectKind::Token, &team.id)
                            .await
                            .unwrap()
                            .unwrap();
                        if spent + 2_000_000 > 400_000_000 {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                    Err(other) => panic!("unexpected refusal {other:?}"),
                }
            }
            (admitted, charged_nanos, alerts)
        }));
    }
    let (mut admitted, mut charged, mut alerts) = (0, 0i64, 0);
    for c in callers {
        let (a, n, al) = c.await.unwrap();
        admitted += a;
        charged += n;
        alerts += al;
    }
    let (spent, reserved) = stores[1]
        .budget_amounts(SubjectKind::Token, &team.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent, charged, "spent is the exact sum of what was charged");
    assert!(
        spent <= 400_000_000,
        "never more than the limit: {spent} nano-dollars"
    );
    assert!(
        spent > 400_000_000 - 2_000_000,
        "refused only when less than one worst case was left: {spent}"
    );
    assert_eq!(reserved, 0, "nothing held once every call settled");
    assert_eq!(stores[2].active_leases().await.unwrap(), 0);
    assert_eq!(alerts, 1, "exactly one replica raised the alert");
    assert!(admitted >= 200, "{admitted} calls admitted");
    let audit = stores[0].audit_actions(1000).await.unwrap();
    assert_eq!(audit.iter().filter(|a| *a == "budget.alert").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_holds_across_replicas() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("rates");
    let stores = replicas(&url).await;
    let team = token("rpm");
    // A day window: the test cannot straddle it unless it runs across midnight UTC, which is
    // checked below.
    stores[1]
        .set_rate_limit(&team, RateUnit::Requests, Window::Day, 100, &Actor::Cli)
        .await
        .unwrap();
    let day = || chrono::Utc::now().date_naive();
    let first_day = day();
    let mut callers = Vec::new();
    for c in 0..32usize {
        let store = stores[c % 3].clone();
        let team = team.clone();
        callers.push(tokio::spawn(async move {
            let (mut admitted, mut refused) = (0, 0);
            for _ in 0..6 {
                match store
                    .reserve(
                        std::slice::from_ref(&team),
                        None,
                        10,
                        std::time::Duration::from_secs(60),
                    )
                    .await
                    .unwrap()
                {
                    Ok(r) => {
                        admitted += 1;
                        store.settle(&r, None, 10, &Actor::System).await.unwrap();
                    }
                    Err(Refusal::Rate {
                        message,
                        retry_after_secs,
                    }) => {
                        assert!(
                            message.contains("rate limit of 100 requests per day"),
                            "{message}"
                        );
                        assert!(retry_after_secs >= 1);
                        refused += 1;
                    }
                    Err(other) => panic!("unexpected refusal {other:?}"),
                }
            }
            (admitted, refused)
        }));
    }
    let (mut admitted, mut refused) = (0, 0);
    for c in callers {
        let (a, r) = c.await.unwrap();
        admitted += a;
        refused += r;
    }
    assert_eq!(admitted + refused, 32 * 6);
    if day() == first_day {
        assert_eq!(
            admitted, 100,
            "exactly the limit was admitted across the replicas"
        );
    } else {
        assert!(admitted <= 200, "{admitted} over two windows");
    }
    let limits = stores[0]
        .rate_limits(SubjectKind::Token, &team.id)
        .await
        .unwrap();
    assert_eq!(limits[0].max, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leases_of_a_replica_that_died_are_charged_by_another() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("leases");
    let stores = replicas(&url).await;
    let team = token("lease");
    stores[0]
        .set_budget(&team, BudgetUnit::Usd, 1.0, Period::None, None, &Actor::Cli)
        .await
        .unwrap();
    // Replica 0 admits five calls whose leases have already run out, then dies before settling.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(
            stores[0]
                .reserve(
                    std::slice::from_ref(&team),
                    Some(0.01),
                    100,
                    std::time::Duration::ZERO,
                )
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let (dead, alive) = (&stores[0], &stores[1]);
    assert_eq!(
        alive
            .budget_amounts(SubjectKind::Token, &team.id)
            .await
            .unwrap(),
        Some((0, 50_000_000))
    );
    // Another replica's sweep charges their estimates and releases them.
    assert_eq!(alive.sweep_expired_leases(&Actor::System).await.unwrap(), 5);
    assert_eq!(alive.sweep_expired_leases(&Actor::System).await.unwrap(), 0);
    assert_eq!(
        alive
            .budget_amounts(SubjectKind::Token, &team.id)
            .await
            .unwrap(),
        Some((50_000_000, 0))
    );
    assert_eq!(alive.active_leases().await.unwrap(), 0);
    // Had the replica only stalled, its late settlements correct the charge to the actual cost.
    for r in &held {
        dead.settle(r, Some(0.004), 40, &Actor::System)
            .await
            .unwrap();
    }
    assert_eq!(
        alive
            .budget_amounts(SubjectKind::Token, &team.id)
            .await
            .unwrap(),
        Some((20_000_000, 0))
    );
    let audit = alive.audit_actions(10).await.unwrap();
    assert!(
        audit.contains(&"budget.leases_expired".to_owned()),
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_reached_is_a_clear_error_and_refuses_limited_calls() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = PgStore::connect(&format!("postgres://portolan:s3cret@127.0.0.1:{port}/team"))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::SharedStore(_)), "{e:?}");
    assert!(
        text.contains(&format!("127.0.0.1:{port} cannot be reached")),
        "{text}"
    );
    assert!(
        !text.contains("s3cret"),
        "the password is never echoed: {text}"
    );
    let e = PgStore::connect("mysql://x").await.unwrap_err().to_string();
    assert!(e.contains("not a PostgreSQL connection string"), "{e}");

    // A server that goes away while a replica runs: calls through a limited subject are refused
    // with the reason (fail closed), not admitted unchecked.
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("gone");
    let store = PgStore::connect(&url).await.unwrap();
    let team = token("gone");
    store
        .set_budget(
            &team,
            BudgetUnit::Tokens,
            1000.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .await
        .unwrap();
    drop(pg);
    let e = store
        .reserve(&[team], None, 10, std::time::Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::SharedStore(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_counted_in_redis_hold_across_replicas_and_fail_closed() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let Some(redis) = crate::support::redis::TestRedis::start() else {
        return;
    };
    let url = pg.database("redis_limits");
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(
            PgStore::connect_with(&url, Some(&redis.url()))
                .await
                .expect("connect with Redis"),
        ));
    }
    let team = token("redis-rpm");
    stores[0]
        .set_rate_limit(&team, RateUnit::Requests, Window::Day, 100, &Actor::Cli)
        .await
        .unwrap();
    let day = || chrono::Utc::now().date_naive();
    let first_day = day();
    let mut callers = Vec::new();
    for c in 0..32usize {
        let store = stores[c % 3].clone();
        let team = team.clone();
        callers.push(tokio::spawn(async move {
            let mut admitted = 0;
            for _ in 0..6 {
                match store
                    .reserve(
                        std::slice::from_ref(&team),
                        None,
                        10,
                        std::time::Duration::from_secs(60),
                    )
                    .await
                    .unwrap()
                {
                    Ok(r) => {
                        admitted += 1;
                        store.settle(&r, None, 10, &Actor::System).await.unwrap();
                    }
                    Err(Refusal::Rate { message, .. }) => {
                        assert!(
                            message.contains("rate limit of 100 requests per day"),
                            "{message}"
                        );
                    }
                    Err(other) => panic!("unexpected refusal {other:?}"),
                }
            }
            admitted
        }));
    }
    let mut admitted = 0;
    for c in callers {
        admitted += c.await.unwrap();
    }
    if day() == first_day {
        assert_eq!(admitted, 100, "exactly the limit, counted in Redis");
    } else {
        assert!(admitted <= 200, "{admitted} over two windows");
    }

    // A call refused by its rate limit holds nothing of its budget.
    let both = token("both");
    stores[1]
        .set_budget(
            &both,
            BudgetUnit::Tokens,
            1_000_000.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .await
        .unwrap();
    stores[1]
        .set_rate_limit(&both, RateUnit::Requests, Window::Day, 2, &Actor::Cli)
        .await
        .unwrap();
    let lease = std::time::Duration::from_secs(60);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            stores[2]
                .reserve(std::slice::from_ref(&both), None, 500, lease)
                .await
                .unwrap(),
        );
    }
    assert!(held[0].is_ok() && held[1].is_ok());
    assert!(
        matches!(held[2], Err(Refusal::Rate { .. })),
        "{:?}",
        held[2]
    );
    assert_eq!(
        stores[0]
            .budget_amounts(SubjectKind::Token, &both.id)
            .await
            .unwrap(),
        Some((0, 1000)),
        "two calls' estimates held, not three"
    );

    // Token windows get back what a call did not use.
    let tpd = token("tokens");
    stores[0]
        .set_rate_limit(&tpd, RateUnit::Tokens, Window::Day, 1000, &Actor::Cli)
        .await
        .unwrap();
    for _ in 0..3 {
        let r = stores[0]
            .reserve(std::slice::from_ref(&tpd), None, 300, lease)
            .await
            .unwrap()
            .expect("900 of 1000 tokens");
        stores[1]
            .settle(&r, None, 100, &Actor::System)
            .await
            .unwrap();
    }
    for _ in 0..2 {
        stores[2]
            .reserve(std::slice::from_ref(&tpd), None, 300, lease)
            .await
            .unwrap()
            .expect("300 used once settled: room for 600 more");
    }

    // Redis gone: a rate-limited subject is refused with the reason; one with only a budget
    // goes on.
    drop(redis);
    let e = stores[0]
        .reserve(std::slice::from_ref(&team), None, 10, lease)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RateLimiter(_)), "{e:?}");
    assert!(e.to_string().contains("cannot be reached"), "{e}");
    let budget_only = token("budget-only");
    stores[0]
        .set_budget(
            &budget_only,
            BudgetUnit::Tokens,
            1000.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .await
        .unwrap();
    let r = stores[0]
        .reserve(std::slice::from_ref(&budget_only), None, 10, lease)
        .await
        .unwrap()
        .expect("no rate limit, no Redis needed");
    stores[0].settle(&r, None, 5, &Actor::System).await.unwrap();
}

/// A call record as a replica would log it.
fn call(id: &str, trace: &str, created_at: i64, model: &str) -> portolan::logs::CallRecord {
    portolan::logs::CallRecord {
        id: id.into(),
        trace_id: trace.into(),
        created_at,
        source: "gateway".into(),
        prompt_id: None,
        prompt_version: None,
        provider: Some("openai".into()),
        model: Some(model.into()),
        key_name: Some("team".into()),
        status: 200,
        success: true,
        error: None,
        stream: false,
        cache_status: portolan::cache::CacheStatus::Miss,
        latency_ms: 42,
        ttft_ms: None,
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        cached_tokens: None,
        cost_usd: Some(0.000_123),
        retry_count: 0,
        target_path: None,
        request: Some(format!("{{\"q\": \"question {id}\"}}")),
        response: Some("an answer".into()),
        metadata: [("team".to_owned(), "search".to_owned())].into(),
        variables: None,
        attempts: Vec::new(),
        parent_span_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_call_log_written_once_per_call() {
    use portolan::logs::LogFilter;
    use portolan::store::CallLog;
    use portolan::store::postgres::{Durability, PgCallLog};
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("call_log");
    let spool = tempfile::tempdir().unwrap();
    let mut logs = Vec::new();
    for (i, store) in replicas(&url).await.into_iter().enumerate() {
        logs.push(Arc::new(
            PgCallLog::start(store, spool.path().join(format!("r{i}")), Durability::Async).unwrap(),
        ));
    }
    let now = chrono::Utc::now().timestamp_millis();
    // Three replicas log 200 calls each at once; replica 0 sends its first 50 twice (a
    // spool replayed after a crash).
    let mut writers = Vec::new();
    for (r, log) in logs.iter().enumerate() {
        let log = log.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..200 {
                log.log(call(
                    &format!("call_{r}_{i}"),
                    &format!("trace_{r}_{}", i / 2),
                    now - i as i64,
                    if i % 2 == 0 {
                        "gpt-4o-mini"
                    } else {
                        "claude-haiku-4-5"
                    },
                ));
            }
            if r == 0 {
                for i in 0..50 {
                    log.log(call(
                        &format!("call_0_{i}"),
                        &format!("trace_0_{}", i / 2),
                        now - i as i64,
                        if i % 2 == 0 {
                            "gpt-4o-mini"
                        } else {
                            "claude-haiku-4-5"
                        },
                    ));
                }
            }
            log.flush().await;
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(logs.iter().all(|l| l.dropped() == 0));
    assert_eq!(logs[1].count().await.unwrap(), 600, "each call once");
    // Any replica searches all of them.
    let mini = logs[2]
        .list_calls(&LogFilter {
            model: Some("gpt-4o-mini".into()),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mini.len(), 300);
    let tagged = logs[2]
        .list_calls(&LogFilter {
            tags: [("team".to_owned(), "search".to_owned())].into(),
            search: Some("question call_1_7\"".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0].id, "call_1_7");
    assert_eq!(tagged[0].cost_usd, Some(0.000_123));
    // Feedback written through one replica for a trace another logged, and for one not logged
    // yet (its call may still be in a queue).
    logs[0]
        .add_feedback("trace_2_3", 1, 1.0, Default::default())
        .await
        .unwrap();
    logs[0]
        .add_feedback("trace_not_yet", -1, 0.5, Default::default())
        .await
        .unwrap();
    let detail = logs[1].get_call("trace_2_3").await.unwrap().unwrap();
    assert_eq!(detail.call.trace_id, "trace_2_3");
    assert_eq!(detail.feedback.len(), 1);
    assert!(
        logs[1]
            .add_feedback("trace_2_3", 42, 1.0, Default::default())
            .await
            .is_err()
    );

    // Retention drops whole days: calls of 40 days ago go, today's stay.
    let old = now - 40 * 86_400_000;
    logs[0].log(call("call_old", "trace_old", old, "gpt-4o-mini"));
    logs[0].flush().await;
    assert_eq!(logs[0].count().await.unwrap(), 601);
    assert_eq!(logs[0].drop_expired_partitions(30).await.unwrap(), 1);
    assert_eq!(logs[0].count().await.unwrap(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_logged_while_the_database_is_away_are_spooled_and_sent_when_it_returns() {
    use portolan::store::CallLog;
    use portolan::store::postgres::{Durability, PgCallLog};
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("spool");
    let spool = tempfile::tempdir().unwrap();
    let store = Arc::new(PgStore::connect(&url).await.unwrap());
    let log =
        PgCallLog::start(store.clone(), spool.path().to_path_buf(), Durability::Sync).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    // Sync: committed when the call returns, visible to another replica at once.
    log.log_durable(call("call_a", "trace_a", now, "gpt-4o-mini"))
        .await;
    let other = PgStore::connect(&url).await.unwrap();
    assert_eq!(
        PgCallLog::start(
            Arc::new(other),
            spool.path().join("other"),
            Durability::Async
        )
        .unwrap()
        .count()
        .await
        .unwrap(),
        1
    );
    // The database goes away: calls are spooled to disk (and the durable call returns once
    // its record is there).
    pg.stop();
    for i in 0..20 {
        log.log_durable(call(
            &format!("call_s{i}"),
            "trace_s",
            now + i,
            "gpt-4o-mini",
        ))
        .await;
    }
    assert!(log.spooled(), "records wait in the spool");
    // It returns: the spool is sent, oldest first, and emptied; nothing twice, nothing lost.
    pg.start_again();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        log.log(call("call_after", "trace_after", now + 100, "gpt-4o-mini"));
        log.flush().await;
        if !log.spooled() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the spool was never sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        log.count().await.unwrap(),
        22,
        "call_a, 20 spooled, call_after"
    );
}

fn answer(text: &str) -> portolan::chat::ChatResponse {
    serde_json::from_value(serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    }))
    .unwrap()
}

/// A unit vector pointing mostly along axis `i` of 8.
fn direction(i: usize, lean: f32) -> Vec<f32> {
    let mut v = [lean; 8];
    v[i] = 1.0;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cache_entry_or_a_kept_response_written_by_one_replica_is_found_by_another() {
    use portolan::cache::CacheEntry;
    use portolan::store::postgres::{PgCache, PgConversations};
    use portolan::store::{CacheStore, Conversations, StoredResponse};
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("cache");
    let stores = replicas(&url).await;
    let caches: Vec<PgCache> = stores.iter().map(|s| PgCache::new(s.clone())).collect();
    // scripts/setup.sh --test builds pgvector: the semantic search then runs in the database.
    let pgvector = caches[0].pgvector().await.unwrap();
    if std::env::var("PORTOLAN_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        assert!(pgvector.is_some(), "pgvector is not installed");
    }
    let now = chrono::Utc::now().timestamp_millis();
    let entry = |key: &str, text: &str, axis: usize| CacheEntry {
        key: key.into(),
        partition: "gpt-4o-mini".into(),
        response: answer(text),
        embedding: Some(("test-embedder".into(), direction(axis, 0.0))),
        query: Some(format!("question {axis}")),
        now_ms: now,
        max_age_secs: 3600,
    };
    // Replica 2 searches first (an empty partition, now loaded), then replica 0 writes.
    assert!(
        caches[2]
            .get_nearest(
                "gpt-4o-mini",
                "test-embedder",
                &direction(0, 0.0),
                0.9,
                now,
                4
            )
            .await
            .unwrap()
            .is_empty()
    );
    caches[0].put(entry("k0", "zero", 0)).await.unwrap();
    caches[0].put(entry("k1", "one", 1)).await.unwrap();
    // Exact: a hit on another replica.
    let hit = caches[1].get_exact("k1", now).await.unwrap().unwrap();
    assert_eq!(hit.text(), "one");
    assert!(
        caches[1]
            .get_exact("k1", now + 3_600_001)
            .await
            .unwrap()
            .is_none()
    );
    // Semantic: replica 2 (already loaded) and replica 1 (loading now) both find it.
    for c in [&caches[2], &caches[1]] {
        let near = c
            .get_nearest(
                "gpt-4o-mini",
                "test-embedder",
                &direction(0, 0.05),
                0.9,
                now,
                4,
            )
            .await
            .unwrap();
        assert_eq!(
            near.len(),
            1,
            "{:?}",
            near.iter().map(|n| &n.key).collect::<Vec<_>>()
        );
        assert_eq!(near[0].key, "k0");
    }
    // A rewrite of the key through another replica is what every replica finds.
    caches[1].put(entry("k0", "zero, again", 2)).await.unwrap();
    let near = caches[2]
        .get_nearest(
            "gpt-4o-mini",
            "test-embedder",
            &direction(2, 0.0),
            0.9,
            now,
            4,
        )
        .await
        .unwrap();
    assert_eq!(near[0].key, "k0");
    assert_eq!(
        caches[2]
            .get_exact("k0", now)
            .await
            .unwrap()
            .unwrap()
            .text(),
        "zero, again"
    );
    // A filtered search still finds the partition's entry among many closer ones elsewhere.
    for i in 0..300 {
        let mut e = entry(&format!("other{i}"), "elsewhere", 3);
        e.partition = "another-model".into();
        e.embedding = Some(("test-embedder".into(), direction(3, (i % 7) as f32 * 0.01)));
        caches[i % 3].put(e).await.unwrap();
    }
    caches[0].put(entry("k3", "three", 3)).await.unwrap();
    let mut lean = direction(3, 0.0);
    lean[4] = 0.3;
    let near = caches[1]
        .get_nearest("gpt-4o-mini", "test-embedder", &lean, 0.8, now, 4)
        .await
        .unwrap();
    assert_eq!(
        near.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(),
        ["k3"]
    );
    assert_eq!(caches[0].purge_expired(now + 3_600_001).await.unwrap(), 303);
    assert_eq!(caches[1].len(now).await.unwrap(), 0);

    // A response kept through one replica continues through another.
    let conv: Vec<PgConversations> = stores
        .iter()
        .map(|s| PgConversations::new(s.clone()))
        .collect();
    let kept = StoredResponse {
        id: "resp_1".into(),
        created_at_ms: now,
        owner: "team".into(),
        previous_id: None,
        items: vec![serde_json::json!({"role": "user", "content": "hi"})],
        response: serde_json::json!({"id": "resp_1", "object": "response"}),
    };
    conv[0].save_response(kept.clone(), 30).await.unwrap();
    assert_eq!(conv[2].get_response("resp_1").await.unwrap(), Some(kept));
    assert!(conv[1].delete_response("resp_1").await.unwrap());
    assert_eq!(conv[0].get_response("resp_1").await.unwrap(), None);
}

/// One replica of a team gateway, serving on 127.0.0.1.
struct Replica {
    _dir: tempfile::TempDir,
    team: portolan::store::postgres::TeamStore,
    engine: portolan::routing::Engine,
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// `master`: the team's master key as PORTOLAN_MASTER_KEY gives it (the same on every replica).
async fn replica(url: &str, master: &str) -> Replica {
    use portolan::routing::{Engine, EngineSettings};
    use portolan::secrets::{MasterKey, MasterKeySource};
    use portolan::store::postgres::{Durability, TeamStore};
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::parse(master, MasterKeySource::Environment).unwrap();
    let team = TeamStore::connect(url, None, Some(master), dir.path(), Durability::Async)
        .await
        .unwrap();
    let settings = EngineSettings {
        backoff_base_ms: 5,
        backoff_max_ms: 10,
        ..EngineSettings::load_shared(team.catalog.as_ref())
            .await
            .unwrap()
    };
    let prices = portolan::pricing::PriceTable::for_data_dir(dir.path()).unwrap();
    let engine = Engine::with_backends(team.backends.clone(), settings, prices).unwrap();
    let bound = portolan::gateway::bind(
        engine.clone(),
        &portolan::gateway::GatewayConfig {
            port: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", bound.local_addr().unwrap().port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.serve(async {
        let _ = stopped.await;
    }));
    Replica {
        _dir: dir,
        team,
        engine,
        base,
        _stop: stop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_serve_one_team_catalog_with_shared_budgets_tokens_and_logs() {
    use fake_providers::{Behavior, FakeServer};
    use portolan::prompts::{Message, PromptContent, Role};
    use portolan::secrets::SecretString;
    use portolan::store::CallLog;
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("team");
    const SECRET: &str = "sk-team-0123456789abcdefghijklmnop";
    let fake = FakeServer::start().await;
    fake.expect_key(SECRET);
    fake.set_default(Behavior::reply("hello from the provider"));
    let master = "cd".repeat(32);
    let (a, b) = (replica(&url, &master).await, replica(&url, &master).await);

    // The team's key, token and prompt, written once through the shared catalog.
    let admin = &a.team.catalog;
    admin
        .add_key(
            &portolan::keys::NewKey {
                name: "openai".into(),
                provider: "openai".into(),
                base_url: Some(format!("{}/v1", fake.base_url())),
                notes: None,
            },
            &SecretString::new(SECRET.into()),
            &Actor::Cli,
        )
        .await
        .unwrap();
    let alice = admin
        .create_token("alice", Default::default(), None, &Actor::Cli)
        .await
        .unwrap();
    let content = |text: &str| PromptContent {
        model: Some("@openai/gpt-4o-mini".into()),
        messages: vec![Message::new(Role::User, text)],
        ..Default::default()
    };
    let greet = admin
        .create_prompt("greet", &content("Say hi to {{name}}"), None, &Actor::Cli)
        .await
        .unwrap();
    admin
        .set_label("greet", 1, "production", &Actor::Cli)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let call = |base: &str| {
        http.post(format!("{base}/v1/prompts/{}/completions", greet.prompt_id))
            .bearer_auth(&alice.secret)
            .json(&serde_json::json!({"variables": {"name": "Ada"}}))
            .send()
    };
    let r = call(&a.base).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = fake.last_request().unwrap();
    assert_eq!(sent.body["messages"][0]["content"], "Say hi to Ada");

    // A new production version saved through one replica is what the other serves next.
    admin
        .save_version(
            "greet",
            &content("Greet {{name}} warmly"),
            None,
            &Actor::Cli,
        )
        .await
        .unwrap();
    admin
        .set_label("greet", 2, "production", &Actor::Cli)
        .await
        .unwrap();
    let r = call(&b.base).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        fake.last_request().unwrap().body["messages"][0]["content"],
        "Greet Ada warmly"
    );

    // A budget set once holds on both replicas: exhausted, both refuse with 412.
    let subject = Subject {
        kind: SubjectKind::Token,
        id: alice.token.id.clone(),
        name: "alice".into(),
    };
    a.team
        .store
        .set_budget(
            &subject,
            BudgetUnit::Tokens,
            1.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .await
        .unwrap();
    // The replica it was set through refuses at once; the other once its memory of "no
    // limits" for the token lapses (within a second).
    let r = call(&a.base).await.unwrap();
    assert_eq!(r.status(), 412, "{}", r.text().await.unwrap());
    let mut served = 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = call(&b.base).await.unwrap();
        if r.status() == 412 {
            break;
        }
        served += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "replica 2 never applied the budget"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Both replicas' calls are in the one log.
    a.engine.flush_logs_async().await;
    b.engine.flush_logs_async().await;
    let logged = b
        .team
        .calls
        .list_calls(&portolan::logs::LogFilter {
            prompt_id: Some(greet.prompt_id.clone()),
            success: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        logged.len(),
        served,
        "every answered call, from either replica"
    );
    assert_eq!(
        logged
            .iter()
            .filter(|c| c.prompt_version == Some(1))
            .count(),
        1
    );

    // A token revoked through one replica is refused by the other once its token cache
    // lapses (a second).
    admin.revoke_token("alice").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    while call(&b.base).await.unwrap().status() != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[test]
fn the_cli_manages_the_shared_store_with_store() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("cli");
    let admin = crate::support::Env::empty().with_master_key(&"ef".repeat(32));
    let file = admin.write_str(
        "greet.prompt.md",
        &crate::support::prompt_file("greet", "Be brief.", "Hello {{name}}"),
    );
    let out = admin.ok(&[
        "--store", &url, "prompts", "create", "greet", "--file", &file,
    ]);
    assert!(out.contains("in the shared store"), "{out}");
    admin.ok(&[
        "--store",
        &url,
        "prompts",
        "label",
        "greet",
        "1",
        "production",
    ]);
    // Another machine (another data directory) sees it through the same store, not locally.
    let other = crate::support::Env::empty();
    let list = other.json(&["--store", &url, "prompts", "list", "--json"]);
    assert_eq!(list[0]["slug"], "greet");
    assert_eq!(list[0]["labels"][0]["name"], "production");
    assert_eq!(
        other.json(&["prompts", "list", "--json"]),
        serde_json::json!([])
    );
    // Keys need the team's master key; the secret never comes back.
    let e = other.fails_with_stdin(
        &[
            "--store",
            &url,
            "keys",
            "add",
            "openai",
            "--provider",
            "openai",
        ],
        "sk-team-0123456789abcdefghij\n",
    );
    assert!(e.contains("PORTOLAN_MASTER_KEY"), "{e}");
    let out = admin.ok_with_stdin(
        &[
            "--store",
            &url,
            "keys",
            "add",
            "openai",
            "--provider",
            "openai",
        ],
        "sk-team-0123456789abcdefghij\n",
    );
    assert!(out.contains("added virtual key openai"), "{out}");
    let keys = other.ok(&["--store", &url, "keys", "list", "--json"]);
    assert!(
        keys.contains("\"openai\"") && !keys.contains("0123456789abcdefghij"),
        "{keys}"
    );
    // Tokens, budgets and limits.
    let out = admin.ok(&["--store", &url, "tokens", "create", "alice"]);
    assert!(out.contains("pt_"), "{out}");
    admin.ok(&["--store", &url, "tokens", "budget", "alice", "--usd", "5"]);
    admin.ok(&["--store", &url, "tokens", "limit", "alice", "--rpm", "100"]);
    let tokens = other.json(&["--store", &url, "tokens", "list", "--json"]);
    assert_eq!(tokens[0]["name"], "alice");
    admin.ok(&["--store", &url, "tokens", "revoke", "alice"]);
    assert_eq!(
        other.json(&["--store", &url, "tokens", "list", "--json"]),
        serde_json::json!([])
    );
    // Settings every replica follows.
    admin.ok(&[
        "--store",
        &url,
        "settings",
        "set",
        "log_retention_days",
        "30",
    ]);
    let shown = other.json(&["--store", &url, "settings", "show", "--json"]);
    assert_eq!(shown["log_retention_days"], 30);
    let e = other.fails(&["--store", &url, "settings", "set", "no_such", "1"]);
    assert!(e.contains("there is no setting 'no_such'"), "{e}");
    // What does not work on the shared store yet says so.
    let e = other.fails(&["--store", &url, "logs"]);
    assert!(e.contains("not on the shared store yet"), "{e}");
    // A store that cannot be reached is one clear sentence.
    let e = other.fails(&[
        "--store",
        "postgres://nobody@127.0.0.1:1/none",
        "prompts",
        "list",
    ]);
    assert!(e.contains("127.0.0.1:1 cannot be reached"), "{e}");
}

/// A `portolan serve --store` process: a replica of the team gateway on its own data directory.
struct Process {
    child: std::process::Child,
    base: String,
    _home: tempfile::TempDir,
}

impl Process {
    fn start(url: &str, master: &str) -> Process {
        use std::io::BufRead;
        let home = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portolan"))
            .args(["serve", "--port", "0", "--log-durability", "sync"])
            .env("PORTOLAN_STORE", url)
            .env("PORTOLAN_MASTER_KEY", master)
            .env("PORTOLAN_HOME", home.path())
            .env("PORTOLAN_KEYRING", "0")
            .env("PORTOLAN_SEED", "0")
            .env_remove("PORTOLAN_REDIS")
            .env_remove("PORTOLAN_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a replica");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the replica printed where it listens")
                .unwrap();
            if let Some(rest) = line.strip_prefix("Portolan gateway listening on ") {
                break rest.trim_end_matches("/v1").to_owned();
            }
        };
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Process {
            child,
            base,
            _home: home,
        }
    }

    fn kill_9(&mut self) {
        // SAFETY: SIGKILL to the child we started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call through the gateway at `base`: its trace id when it was answered, its status
/// otherwise (0: the replica could not be reached).
async fn gateway_call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> std::result::Result<String, u16> {
    let sent = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "model": "@openai/gpt-4o-mini",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "Tell me something short."}]
        }))
        .send()
        .await;
    let Ok(r) = sent else { return Err(0) };
    let status = r.status().as_u16();
    let trace = r
        .headers()
        .get("x-portolan-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Answered means the whole body arrived.
    match (status, r.bytes().await, trace) {
        (200, Ok(_), Some(trace)) => Ok(trace),
        (200, Err(_), _) => Err(0),
        (s, ..) => Err(s),
    }
}

#[test]
fn acceptance_three_replicas_32_clients_budgets_limits_and_a_replica_killed() {
    use fake_providers::{Behavior, FakeServer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("acceptance");
    let master = "5a".repeat(32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    const SECRET: &str = "sk-acceptance-0123456789abcdefghij";
    // The upstream answers in 40 to 200 ms.
    let fake = rt.block_on(FakeServer::start());
    fake.expect_key(SECRET);
    for i in 0..2000u64 {
        fake.push(Behavior::reply_after(
            "A short answer.",
            std::time::Duration::from_millis(40 + (i * 37) % 161),
        ));
    }
    fake.set_default(Behavior::reply_after(
        "A short answer.",
        std::time::Duration::from_millis(120),
    ));
    // The team's key and tokens, through the CLI; leases of two seconds.
    let admin = crate::support::Env::empty().with_master_key(&master);
    admin.ok_with_stdin(
        &[
            "--store",
            &url,
            "keys",
            "add",
            "openai",
            "--provider",
            "openai",
            "--base-url",
            &format!("{}/v1", fake.base_url()),
        ],
        &format!("{SECRET}\n"),
    );
    let token = |name: &str| {
        let out = admin.ok(&["--store", &url, "tokens", "create", name]);
        out.lines().last().unwrap().trim().to_owned()
    };
    let (budgeted, rpm, crash, probe_token) = (
        token("budgeted"),
        token("rpm"),
        token("crash"),
        token("probe"),
    );
    let greet = |text: &str| {
        admin.write_str(
            "greet.prompt.md",
            &format!("---\nname: greet\nmodel: \"@openai/gpt-4o-mini\"\n---\nuser:\n{text}\n"),
        )
    };
    admin.ok(&[
        "--store",
        &url,
        "prompts",
        "create",
        "greet",
        "--file",
        &greet("Say hi to {{name}}"),
    ]);
    admin.ok(&[
        "--store",
        &url,
        "prompts",
        "label",
        "greet",
        "1",
        "production",
    ]);
    let team = rt.block_on(async {
        let store = Arc::new(PgStore::connect(&url).await.unwrap());
        let catalog = portolan::store::postgres::PgCatalog::new(store.clone(), None);
        catalog
            .set_setting("engine", &serde_json::json!({"reservation_lease_secs": 2}))
            .await
            .unwrap();
        (store, catalog)
    });
    let mut replicas: Vec<Process> = (0..3).map(|_| Process::start(&url, &master)).collect();
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    // One call's cost, as logged; the budget is 200 of them. (With a token of its own: a
    // replica that served a token without limits takes it to have none for up to a second.)
    let probe = rt
        .block_on(gateway_call(&http, &bases[0], &probe_token))
        .expect("a first call");
    let one_call: i64 = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query_one(
                "SELECT cost_nanos FROM calls WHERE trace_id = $1",
                &[&probe],
            )
            .await
            .unwrap()
            .get(0)
    });
    assert!(one_call > 0);
    admin.ok(&[
        "--store",
        &url,
        "tokens",
        "budget",
        "budgeted",
        "--usd",
        &format!("{}", one_call as f64 * 200.0 / 1e9),
        "--alert",
        "0.5",
    ]);
    admin.ok(&["--store", &url, "tokens", "limit", "rpm", "--rpm", "100"]);
    admin.ok(&[
        "--store", &url, "tokens", "budget", "crash", "--usd", "1000",
    ]);
    let subject = |name: &str| {
        let id = rt.block_on(team.1.token_id(name)).unwrap();
        (SubjectKind::Token, id)
    };

    // 1. The budget, 32 clients round-robin over the three replicas until refused.
    let answered = rt.block_on(async {
        let mut clients = Vec::new();
        for c in 0..32usize {
            let (http, bases, token) = (http.clone(), bases.clone(), budgeted.clone());
            clients.push(tokio::spawn(async move {
                let mut answered = 0;
                for i in 0..100 {
                    match gateway_call(&http, &bases[(c + i) % 3], &token).await {
                        Ok(_) => answered += 1,
                        Err(412) => break,
                        Err(s) => panic!("unexpected status {s}"),
                    }
                }
                answered
            }));
        }
        let mut total = 0;
        for c in clients {
            total += c.await.unwrap();
        }
        total
    });
    let (kind, id) = subject("budgeted");
    let (spent, reserved) = rt
        .block_on(team.0.budget_amounts(kind, &id))
        .unwrap()
        .unwrap();
    let logged: i64 = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query_one(
                "SELECT COALESCE(sum(cost_nanos), 0)::bigint FROM calls
                 WHERE record->'metadata'->>'_gateway_token' = 'budgeted'",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    });
    assert!(
        answered >= 150,
        "{answered} calls answered before the budget ran out"
    );
    assert!(
        spent <= 200 * one_call + one_call,
        "spent {spent} > limit {} + one call",
        200 * one_call
    );
    assert_eq!(spent, logged, "spent equals the sum of the logged costs");
    assert_eq!(reserved, 0, "nothing held once every call settled");
    let alerts = rt
        .block_on(team.0.audit_actions(10_000))
        .unwrap()
        .iter()
        .filter(|a| *a == "budget.alert")
        .count();
    assert_eq!(alerts, 1, "exactly one budget alert");

    // 2. An rpm limit of 100 across the three replicas.
    let minute = || chrono::Utc::now().timestamp() / 60;
    let first_minute = minute();
    let admitted = rt.block_on(async {
        let mut clients = Vec::new();
        for c in 0..32usize {
            let (http, bases, token) = (http.clone(), bases.clone(), rpm.clone());
            clients.push(tokio::spawn(async move {
                let mut admitted = 0;
                for i in 0..5 {
                    match gateway_call(&http, &bases[(c + i) % 3], &token).await {
                        Ok(_) => admitted += 1,
                        Err(429) => {}
                        Err(s) => panic!("unexpected status {s}"),
                    }
                }
                admitted
            }));
        }
        let mut total = 0;
        for c in clients {
            total += c.await.unwrap();
        }
        total
    });
    if minute() == first_minute {
        assert_eq!(admitted, 100, "at most 100 admitted in the minute");
    } else {
        assert!(admitted <= 200, "{admitted} over two minutes");
    }

    // 3. kill -9 of a replica mid-run (sync log): every call a client saw answered is logged
    //    exactly once; the dead replica's leases are charged within lease + 5 s.
    let done = Arc::new(AtomicUsize::new(0));
    let seen = rt.block_on(async {
        let mut clients = Vec::new();
        for c in 0..32usize {
            let (http, bases, token, done) =
                (http.clone(), bases.clone(), crash.clone(), done.clone());
            clients.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in 0..12 {
                    if let Ok(trace) = gateway_call(&http, &bases[(c + i) % 3], &token).await {
                        seen.push(trace);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                seen
            }));
        }
        // Kill replica 3 once about a third of the calls are answered.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while done.load(Ordering::Relaxed) < 120 {
            assert!(std::time::Instant::now() < deadline, "the run stalled");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        replicas[2].kill_9();
        let mut seen = Vec::new();
        for c in clients {
            seen.extend(c.await.unwrap());
        }
        seen
    });
    assert!(seen.len() > 150, "{} answered", seen.len());
    let counts: Vec<i64> = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut counts = Vec::new();
        for t in &seen {
            counts.push(
                client
                    .query_one("SELECT count(*) FROM calls WHERE trace_id = $1", &[t])
                    .await
                    .unwrap()
                    .get(0),
            );
        }
        counts
    });
    assert!(
        counts.iter().all(|c| *c == 1),
        "{} answered calls not logged exactly once",
        counts.iter().filter(|c| **c != 1).count()
    );
    let (kind, id) = subject("crash");
    let killed = std::time::Instant::now();
    loop {
        let (_, reserved) = rt
            .block_on(team.0.budget_amounts(kind, &id))
            .unwrap()
            .unwrap();
        if reserved == 0 {
            break;
        }
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(2 + 5),
            "the dead replica's leases were not charged within lease + 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // 4. A prompt saved and labelled through the CLI is what another replica serves next, and a
    //    cache entry written through one replica is a hit on another.
    admin.ok(&[
        "--store",
        &url,
        "prompts",
        "save",
        "greet",
        "--file",
        &greet("Greet {{name}} warmly"),
    ]);
    admin.ok(&[
        "--store",
        &url,
        "prompts",
        "label",
        "greet",
        "2",
        "production",
    ]);
    let saved = std::time::Instant::now();
    let (status, sent) = rt.block_on(async {
        let r = http
            .post(format!("{}/v1/prompts/greet/completions", bases[1]))
            .bearer_auth(&probe_token)
            .json(&serde_json::json!({"variables": {"name": "Ada"}}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), fake.last_request().unwrap())
    });
    assert_eq!(status, 200);
    assert_eq!(sent.body["messages"][0]["content"], "Greet Ada warmly");
    assert!(saved.elapsed() < std::time::Duration::from_secs(1));
    let cached = |base: &str| {
        let http = http.clone();
        let (base, token) = (base.to_owned(), probe_token.clone());
        rt.block_on(async move {
            let r = http
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&token)
                .header("x-portkey-cache", "simple")
                .json(&serde_json::json!({
                    "model": "@openai/gpt-4o-mini",
                    "messages": [{"role": "user", "content": "Cache me across replicas."}]
                }))
                .send()
                .await
                .unwrap();
            r.headers()["x-portolan-cache-status"]
                .to_str()
                .unwrap()
                .to_owned()
        })
    };
    assert_eq!(cached(&bases[0]), "MISS");
    assert_eq!(cached(&bases[1]), "HIT");
    drop(replicas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_pgvector_replicas_search_in_memory_and_catch_up_on_each_other() {
    use portolan::store::CacheStore;
    use portolan::store::postgres::PgCache;
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("cache_memory");
    let stores = replicas(&url).await;
    let caches: Vec<PgCache> = stores
        .iter()
        .map(|s| PgCache::searching_in_memory(s.clone()))
        .collect();
    assert_eq!(caches[0].pgvector().await.unwrap(), None);
    let now = chrono::Utc::now().timestamp_millis();
    let entry = |key: &str, axis: usize| portolan::cache::CacheEntry {
        key: key.into(),
        partition: "m".into(),
        response: answer(key),
        embedding: Some(("e".into(), direction(axis, 0.0))),
        query: None,
        now_ms: now,
        max_age_secs: 60,
    };
    // Replica 2 loads the partition empty, replica 0 writes, replica 2 finds it next search.
    assert!(
        caches[2]
            .get_nearest("m", "e", &direction(0, 0.0), 0.9, now, 4)
            .await
            .unwrap()
            .is_empty()
    );
    caches[0].put(entry("a", 0)).await.unwrap();
    caches[1].put(entry("b", 1)).await.unwrap();
    for (axis, key) in [(0, "a"), (1, "b")] {
        let near = caches[2]
            .get_nearest("m", "e", &direction(axis, 0.05), 0.9, now, 4)
            .await
            .unwrap();
        assert_eq!(near.len(), 1);
        assert_eq!(near[0].key, key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_drops_logged_days_past_the_shared_retention() {
    use portolan::store::CallLog;
    use portolan::store::postgres::{Durability, PgCallLog, PgCatalog, TeamStore};
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("retention");
    let store = Arc::new(PgStore::connect(&url).await.unwrap());
    let spool = tempfile::tempdir().unwrap();
    let log = PgCallLog::start(store.clone(), spool.path().join("a"), Durability::Sync).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    log.log_durable(call("old", "t_old", now - 45 * 86_400_000, "m"))
        .await;
    log.log_durable(call("new", "t_new", now, "m")).await;
    PgCatalog::new(store.clone(), None)
        .set_setting("engine", &serde_json::json!({"log_retention_days": 30}))
        .await
        .unwrap();
    // A replica starting applies the retention at once (then every hour).
    let home = tempfile::tempdir().unwrap();
    let _replica = TeamStore::connect(&url, None, None, home.path(), Durability::Async)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log.count().await.unwrap() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the 45-day-old call was not dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(log.get_call("t_new").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_database_cannot_hold_as_is_does_not_stop_the_log() {
    use portolan::store::CallLog;
    use portolan::store::postgres::{Durability, PgCallLog};
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.database("nul");
    let store = Arc::new(PgStore::connect(&url).await.unwrap());
    let spool = tempfile::tempdir().unwrap();
    let log = PgCallLog::start(store, spool.path().to_path_buf(), Durability::Async).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    // A client's metadata header can carry a NUL; PostgreSQL's text cannot.
    let mut odd = call("odd", "t_odd", now, "m");
    odd.metadata.insert("t".into(), "a\u{0}b".into());
    odd.response = Some("x\u{0}y".into());
    log.log(odd);
    for i in 0..5 {
        log.log(call(&format!("c{i}"), "t_rest", now + i, "m"));
    }
    log.flush().await;
    assert!(!log.spooled(), "nothing waits in the spool");
    assert_eq!(log.count().await.unwrap(), 6);
    let stored = log.get_call("t_odd").await.unwrap().unwrap();
    assert_eq!(stored.call.metadata["t"], "a\u{FFFD}b");
}
