//! Render throughput: how many times per second one core renders a compiled 3-message prompt,
//! and the same through the store (prompt lookup, version selection and the compiled-template
//! cache). Prints figures; it asserts nothing. Run with `cargo bench --bench render`.
//! `PORTOLAN_BENCH_SECS` sets the time per measurement (default 2).

use std::hint::black_box;
use std::time::{Duration, Instant};

use portolan::prompts::{Message, PromptContent, Role, VersionSelector};
use portolan::{Store, StoreOptions};
use serde_json::{Map, Value, json};

fn measure(label: &str, budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..256 {
            f();
        }
        n += 256;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    println!("{label:<48} {rate:>12.0} /s   {:>8.2} µs each", 1e6 / rate);
    rate
}

fn main() {
    let secs: f64 = std::env::var("PORTOLAN_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(secs);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            seed_samples: false,
            use_keyring: false,
            master_key: None,
        },
    )
    .expect("store");
    let content = PromptContent {
        model: Some("gpt-4o-mini".into()),
        messages: vec![
            Message::new(
                Role::System,
                "You are a {{tone}} support agent for {{product}}. Keep replies under {{limit}} words.",
            ),
            Message::new(
                Role::User,
                "Customer {{customer.name}} ({{customer.plan}} plan) writes:\n\n{{ticket}}",
            ),
            Message::new(
                Role::Assistant,
                "{{#if draft}}Draft so far: {{draft}}{{else}}(no draft){{/if}}",
            ),
        ],
        ..Default::default()
    };
    store
        .create_prompt("bench", &content, None, &portolan::store::Actor::Cli)
        .expect("create");
    let vars: Map<String, Value> = json!({
        "tone": "friendly", "product": "Portolan", "limit": 150,
        "customer": {"name": "Ada", "plan": "team"},
        "ticket": "The comparison view froze when I ran 8 models at once. Is there a limit?",
        "draft": "",
    })
    .as_object()
    .cloned()
    .expect("object");

    println!("render benchmark: 3-message prompt, 6 variables, one thread, {secs} s per line");
    let start = Instant::now();
    let n_compile = 2000;
    for _ in 0..n_compile {
        black_box(content.compile(&[]).expect("compile"));
    }
    let compile_us = start.elapsed().as_secs_f64() * 1e6 / n_compile as f64;
    println!(
        "{:<48} {:>12.2} µs each",
        "compile (cold, no cache)", compile_us
    );

    let compiled = store
        .compiled("bench", &VersionSelector::Latest)
        .expect("compiled")
        .compiled;
    let hot = measure("render compiled prompt (cache hit)", budget, || {
        black_box(compiled.render(black_box(&vars)).expect("render"));
    });
    measure(
        "store.render by slug (lookup + cache + render)",
        budget,
        || {
            black_box(
                store
                    .render("bench", &VersionSelector::Default, black_box(&vars))
                    .expect("render"),
            );
        },
    );
    println!(
        "target: >= 100000 renders/s of the compiled prompt on one core: {}",
        if hot >= 100_000.0 { "met" } else { "NOT met" }
    );
}
