//! Commands that call models through the routing engine: `run`, `chat`, `compare`, and the log
//! commands `logs` and `feedback`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use portolan::chat::{ChatMessage, ChatRequest, StreamOptions};
use portolan::compare::{self, CompareEvent, CompareSpec};
use portolan::logs::LogFilter;
use portolan::prompts::VersionSelector;
use portolan::routing::{CallBody, CallInfo, CallOptions, Engine, PromptRef, RouteConfig};
use portolan::tools::simulate::ToolSimulation;
use portolan::{Error, Store};

use super::{CliError, CliResult, collect_vars, print_json};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Prompt id or slug
    prompt: String,
    /// Model string (default: the prompt's model): gpt-4o-mini, anthropic/claude-…, @key/model, demo/small
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    version: Option<i64>,
    #[arg(long, conflicts_with = "version")]
    label: Option<String>,
    #[arg(long = "var", value_name = "K=V")]
    vars: Vec<String>,
    #[arg(long, value_name = "F.json")]
    vars_file: Option<PathBuf>,
    /// Routing config (Portkey vocabulary) as a JSON file
    #[arg(long, value_name = "F.json")]
    config: Option<PathBuf>,
    /// Print the answer as it streams
    #[arg(long)]
    stream: bool,
    /// Tag the call: --tag key=value (repeatable)
    #[arg(long = "tag", value_name = "K=V")]
    tags: Vec<String>,
    #[command(flatten)]
    tools: ToolArgs,
    #[arg(long)]
    json: bool,
}

/// Simulated tool results, so a tool-using prompt runs to its final answer.
#[derive(Args, Debug, Default)]
pub struct ToolArgs {
    /// A tool's simulated result (repeatable): NAME=JSON, NAME=var:VARIABLE (the row's value),
    /// or NAME=template:TEXT (Handlebars over the call's arguments, the row under `row`)
    #[arg(long = "tool-result", value_name = "NAME=…")]
    results: Vec<String>,
    /// The most model calls one exchange may make
    #[arg(long, default_value_t = portolan::tools::simulate::DEFAULT_MAX_STEPS)]
    max_tool_steps: u32,
}

impl ToolArgs {
    fn simulation(&self) -> Result<ToolSimulation, Error> {
        let mut sim = ToolSimulation {
            max_steps: self.max_tool_steps,
            ..Default::default()
        };
        for r in &self.results {
            sim.parse_cli(r)?;
        }
        sim.validate()?;
        Ok(sim)
    }
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[arg(long)]
    model: String,
    /// The message to send
    message: String,
    /// An optional system prompt
    #[arg(long)]
    system: Option<String>,
    #[arg(long, value_name = "F.json")]
    config: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    prompt: String,
    /// A model to compare (2–8 usually; repeatable)
    #[arg(long = "model", required = true)]
    models: Vec<String>,
    #[arg(long)]
    version: Option<i64>,
    #[arg(long, conflicts_with = "version")]
    label: Option<String>,
    /// Variable sets, one JSON object per line (one row each)
    #[arg(long, value_name = "F.jsonl")]
    vars_file: Option<PathBuf>,
    /// Variables for a single row (ignored with --vars-file)
    #[arg(long = "var", value_name = "K=V")]
    vars: Vec<String>,
    /// Calls in flight at once per provider
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[command(flatten)]
    tools: ToolArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[arg(long, default_value_t = 20)]
    limit: u32,
    #[arg(long)]
    model: Option<String>,
    /// HTTP-style status (200, 429, 502…)
    #[arg(long)]
    status: Option<u16>,
    /// Show the call with this trace id in detail (attempts, bodies, feedback)
    #[arg(long)]
    trace: Option<String>,
    /// Calls tagged key=value (repeatable)
    #[arg(long = "tag", value_name = "K=V")]
    tags: Vec<String>,
    /// Text the request or response contains
    #[arg(long)]
    search: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct FeedbackArgs {
    trace_id: String,
    /// -10 … 10 (e.g. 1 for thumbs up, -1 for thumbs down)
    #[arg(allow_hyphen_values = true)]
    value: i64,
    #[arg(long, default_value_t = 1.0)]
    weight: f64,
    #[arg(long = "meta", value_name = "K=V")]
    metadata: Vec<String>,
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "could not start the async runtime".into(),
            source: e,
        })
}

fn read_config(path: Option<&Path>) -> Result<Option<RouteConfig>, CliError> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("could not read {}", path.display()),
        source: e,
    })?;
    RouteConfig::from_json(&text)
        .map(Some)
        .map_err(|e| CliError::Call(format!("{}: {e}", path.display())))
}

fn parse_tags(tags: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    tags.iter()
        .map(|t| {
            let (k, v) = t
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("tag '{t}' should look like key=value")))?;
            if portolan::logs::is_reserved_metadata_key(k) {
                return Err(CliError::Usage(format!(
                    "tag '{k}' is reserved: tags starting with '_' (but _user) are Portolan's own"
                )));
            }
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn engine(store: Store) -> Result<Engine, Error> {
    Engine::new(Arc::new(store))
}

fn fmt_cost(cost: Option<f64>) -> String {
    match cost {
        Some(0.0) => "$0".into(),
        Some(c) if c < 0.01 => format!("${c:.6}"),
        Some(c) => format!("${c:.4}"),
        None => "cost unknown".into(),
    }
}

/// `provider/model`, without repeating a provider the model name already starts with.
fn qualified(provider: Option<&str>, model: Option<&str>) -> String {
    let model = model.unwrap_or("?");
    match provider {
        Some(p) if !model.starts_with(&format!("{p}/")) => format!("{p}/{model}"),
        _ => model.to_owned(),
    }
}

fn footer(info: &CallInfo) -> String {
    let s = info.summary();
    let tokens = s
        .and_then(|s| s.usage)
        .map(|u| format!("{}→{} tokens", u.prompt_tokens, u.completion_tokens))
        .unwrap_or_else(|| "tokens unknown".into());
    let demo = if info.provider.as_deref() == Some("demo") {
        " (demo provider)"
    } else {
        ""
    };
    format!(
        "{}{demo} · {} ms · {tokens} · {} · cache {} · retries {} · trace {}",
        qualified(info.provider.as_deref(), Some(&info.model)),
        s.map_or(0, |s| s.latency_ms),
        fmt_cost(s.and_then(|s| s.cost_usd)),
        info.cache_status.as_str(),
        info.retry_count,
        info.trace_id
    )
}

/// Sends a request, printing the answer (streamed or whole); returns the call info.
async fn send_and_print(
    engine: &Engine,
    request: ChatRequest,
    options: CallOptions,
    json: bool,
) -> Result<(), CliError> {
    let call = engine
        .chat(request, options)
        .await
        .map_err(|e| CliError::Call(e.message))?;
    let mut text = String::new();
    let mut stream_error = None;
    match call.body {
        CallBody::Complete(resp) => {
            text = resp.text();
            if !json {
                println!("{text}");
            }
        }
        CallBody::Stream(mut s) => {
            let mut out = std::io::stdout().lock();
            while let Some(item) = s.next().await {
                match item {
                    Ok(chunk) => {
                        for c in &chunk.choices {
                            if let Some(t) = &c.delta.content {
                                text.push_str(t);
                                if !json {
                                    let _ = out.write_all(t.as_bytes());
                                    let _ = out.flush();
                                }
                            }
                        }
                    }
                    Err(e) => {
                        stream_error = Some(e.message);
                        break;
                    }
                }
            }
            if !json {
                let _ = writeln!(out);
            }
        }
    }
    engine.flush_logs();
    if json {
        print_json(&serde_json::json!({
            "output": text,
            "info": call.info,
            "summary": call.info.summary(),
            "error": stream_error,
        }))?;
    } else {
        eprintln!("{}", footer(&call.info));
    }
    match stream_error {
        Some(e) => Err(CliError::Call(format!("the stream broke off: {e}"))),
        None => Ok(()),
    }
}

pub fn run(store: Store, args: RunArgs) -> CliResult {
    let variables = collect_vars(&args.vars, args.vars_file.as_deref())?;
    let selector = match (args.version, &args.label) {
        (None, None) => VersionSelector::Default,
        (v, l) => VersionSelector::from_options(v, l.clone()),
    };
    let rendered = store.render(&args.prompt, &selector, &variables)?;
    let model = args
        .model
        .clone()
        .or(rendered.model.clone())
        .ok_or_else(|| {
            CliError::Call(format!(
                "prompt '{}' names no model; pass --model",
                rendered.slug
            ))
        })?;
    let mut request = ChatRequest {
        model,
        messages: rendered.chat_messages(portolan::images::ImageAccess::LocalFiles)?,
        stream: args.stream.then_some(true),
        stream_options: args.stream.then_some(StreamOptions {
            include_usage: Some(true),
        }),
        ..Default::default()
    };
    let mut params = rendered.params.clone();
    params.remove("model");
    request.apply_params(&params)?;
    let simulation = args.tools.simulation()?;
    if request.tools.as_ref().is_some_and(|t| !t.is_empty()) || simulation.is_active() {
        // A tool-using prompt runs as a one-cell comparison: the calls are checked and shown,
        // and simulated results carry it to its final answer.
        return run_tool_exchange(
            store,
            &args,
            request.model.clone(),
            selector,
            variables,
            simulation,
        );
    }
    let options = CallOptions {
        config: read_config(args.config.as_deref())?,
        metadata: parse_tags(&args.tags)?,
        prompt: Some(PromptRef {
            id: rendered.prompt_id.clone(),
            version: rendered.version,
        }),
        variables: Some(variables.clone()),
        source: Some("cli".into()),
        ..Default::default()
    };
    let engine = engine(store)?;
    runtime()?.block_on(send_and_print(&engine, request, options, args.json))
}

fn run_tool_exchange(
    store: Store,
    args: &RunArgs,
    model: String,
    selector: VersionSelector,
    variables: Map<String, Value>,
    tools: ToolSimulation,
) -> CliResult {
    let spec = CompareSpec {
        prompt: args.prompt.clone(),
        selector,
        models: vec![model],
        variable_sets: vec![variables],
        per_provider_concurrency: 1,
        metadata: parse_tags(&args.tags)?,
        tools,
        config: read_config(args.config.as_deref())?,
        source: Some("cli".into()),
    };
    let store = Arc::new(store);
    let engine = Engine::new(store.clone())?;
    // With --stream the model's text is printed as it comes (every step's); the calls and the
    // simulated results follow when the exchange ends.
    let live = args.stream && !args.json;
    let result = runtime()?.block_on(async {
        if !live {
            return compare::run(&engine, spec, None).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = tokio::spawn(async move {
            let mut out = std::io::stdout();
            while let Some(event) = rx.recv().await {
                if let compare::CompareEvent::Delta { text, .. } = event {
                    let _ = write!(out, "{text}");
                    let _ = out.flush();
                }
            }
        });
        let result = compare::run(&engine, spec, Some(tx)).await;
        let _ = printer.await;
        result
    })?;
    engine.flush_logs();
    let cell = &result.cells[0][0];
    if args.json {
        return print_json(cell);
    }
    if live {
        println!();
    }
    print_exchange(cell, "", true);
    if !live && !cell.output.is_empty() {
        println!("{}", cell.output);
    }
    eprintln!(
        "{} · {} ms · {}→{} tok · {}{} · trace {}",
        cell.model,
        cell.latency_ms,
        cell.usage.map_or(0, |u| u.prompt_tokens),
        cell.usage.map_or(0, |u| u.completion_tokens),
        fmt_cost(cell.cost_usd),
        if cell.steps.is_empty() {
            String::new()
        } else {
            format!(" · {} steps", cell.steps.len() + 1)
        },
        cell.trace_id.as_deref().unwrap_or("-")
    );
    match &cell.error {
        Some(e) => Err(CliError::Call(e.clone())),
        None => Ok(()),
    }
}

pub fn chat(store: Store, args: ChatArgs) -> CliResult {
    let mut messages = Vec::new();
    if let Some(s) = &args.system {
        messages.push(ChatMessage::new("system", s.clone()));
    }
    messages.push(ChatMessage::new("user", args.message.clone()));
    let request = ChatRequest {
        model: args.model.clone(),
        messages,
        stream: Some(true),
        stream_options: Some(StreamOptions {
            include_usage: Some(true),
        }),
        ..Default::default()
    };
    let options = CallOptions {
        config: read_config(args.config.as_deref())?,
        source: Some("cli".into()),
        ..Default::default()
    };
    let engine = engine(store)?;
    runtime()?.block_on(send_and_print(&engine, request, options, args.json))
}

fn read_jsonl(path: &Path) -> Result<Vec<Map<String, Value>>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("could not read {}", path.display()),
        source: e,
    })?;
    let mut sets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) => sets.push(m),
            Ok(_) => {
                return Err(Error::InvalidVariables(format!(
                    "{}:{}: each line must be a JSON object",
                    path.display(),
                    i + 1
                )));
            }
            Err(e) => {
                return Err(Error::InvalidVariables(format!(
                    "{}:{}: {e}",
                    path.display(),
                    i + 1
                )));
            }
        }
    }
    Ok(sets)
}

/// A cell's tool exchange: each call (`→ name {args}`, flagged when its arguments break the
/// tool's schema) and each simulated result (`← …`); `full` prints arguments pretty and whole.
fn print_exchange(cell: &compare::CellResult, indent: &str, full: bool) {
    let pad = if full {
        indent.to_owned()
    } else {
        format!("{indent}{:<28} ", "")
    };
    let call_line = |c: &portolan::tools::CheckedCall| {
        let args = if full {
            c.pretty_arguments()
        } else {
            excerpt(&c.arguments, 70)
        };
        let flag = c
            .problem
            .as_ref()
            .map(|p| format!("\n{pad}  ✗ invalid arguments: {p}"))
            .unwrap_or_default();
        format!("{pad}→ {} {args}{flag}", c.name)
    };
    for step in &cell.steps {
        if !step.text.trim().is_empty() {
            println!("{pad}{}", excerpt(&step.text, 90));
        }
        for c in &step.calls {
            println!("{}", call_line(c));
        }
        for r in &step.results {
            println!("{pad}← {} {}", r.name, excerpt(&r.content, 70));
        }
    }
    for c in &cell.tool_calls {
        println!("{}", call_line(c));
    }
}

fn excerpt(text: &str, n: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= n {
        flat
    } else {
        flat.chars().take(n.saturating_sub(1)).collect::<String>() + "…"
    }
}

pub fn compare(store: Store, args: CompareArgs) -> CliResult {
    let variable_sets = match &args.vars_file {
        Some(p) => read_jsonl(p)?,
        None => vec![collect_vars(&args.vars, None)?],
    };
    let selector = match (args.version, &args.label) {
        (None, None) => VersionSelector::Default,
        (v, l) => VersionSelector::from_options(v, l.clone()),
    };
    let spec = CompareSpec {
        prompt: args.prompt.clone(),
        selector,
        models: args.models.clone(),
        variable_sets,
        per_provider_concurrency: args.concurrency,
        metadata: BTreeMap::new(),
        tools: args.tools.simulation()?,
        config: None,
        source: None,
    };
    let store = Arc::new(store);
    let engine = Engine::new(store.clone())?;
    let rt = runtime()?;
    let total = spec.models.len() * spec.variable_sets.len().max(1);
    let result = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let bar = if std::io::stderr().is_terminal() && !args.json {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos}/{len} cells {wide_bar} {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Some(b)
        } else {
            None
        };
        let progress = {
            let bar = bar.clone();
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    match (&ev, &bar) {
                        (CompareEvent::Finished { .. }, Some(b)) => b.inc(1),
                        (
                            CompareEvent::Throttled {
                                provider,
                                limit,
                                pause_ms,
                                ..
                            },
                            bar,
                        ) => {
                            let line = format!(
                                "{provider} answered 429: {limit} call(s) at a time now, next in {:.1} s",
                                *pause_ms as f64 / 1000.0
                            );
                            match bar {
                                Some(b) => b.println(line),
                                None => eprintln!("{line}"),
                            }
                        }
                        _ => {}
                    }
                }
            })
        };
        let result = compare::run(&engine, spec, Some(tx)).await;
        let _ = progress.await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        result
    })?;
    engine.flush_logs();
    let run_id = compare::save_run(&store, &result)?;
    if args.json {
        let mut value = serde_json::to_value(&result)?;
        value["run_id"] = serde_json::Value::String(run_id);
        return print_json(&value);
    }
    println!(
        "{} v{} · {} model{} × {} row{} · wall {} ms · saved as {run_id}",
        result.slug,
        result.version,
        result.models.len(),
        if result.models.len() == 1 { "" } else { "s" },
        result.cells.len(),
        if result.cells.len() == 1 { "" } else { "s" },
        result.wall_ms
    );
    for (r, row) in result.cells.iter().enumerate() {
        println!("\nrow {}", r + 1);
        for cell in row {
            let stats = match &cell.error {
                Some(e) => format!("ERROR {}", excerpt(e, 100)),
                None => format!(
                    "{} ms · {}→{} tok · {} · {}",
                    cell.latency_ms,
                    cell.usage.map_or(0, |u| u.prompt_tokens),
                    cell.usage.map_or(0, |u| u.completion_tokens),
                    fmt_cost(cell.cost_usd),
                    cell.cache_status.map_or("-", |c| c.as_str())
                ),
            };
            println!("  {:<28} {stats}", cell.model);
            print_exchange(cell, "  ", false);
            if cell.error.is_none() && (!cell.output.is_empty() || cell.tool_calls.is_empty()) {
                println!("  {:<28} {}", "", excerpt(&cell.output, 90));
            }
        }
    }
    println!("\ntotals");
    for t in &result.totals {
        println!(
            "  {:<28} {} cells, {} errors · {}→{} tok · {} · mean {} ms",
            t.model,
            t.cells,
            t.errors,
            t.prompt_tokens,
            t.completion_tokens,
            fmt_cost(t.cost_usd),
            t.mean_latency_ms
        );
    }
    Ok(())
}

pub fn logs(store: Store, args: LogsArgs) -> CliResult {
    if let Some(trace) = &args.trace {
        let detail = store
            .get_call(trace)?
            .ok_or_else(|| Error::TraceNotFound(trace.clone()))?;
        if args.json {
            return print_json(&detail);
        }
        let c = &detail.call;
        println!("call       {}  trace {}", c.id, c.trace_id);
        println!(
            "when       {}",
            chrono::DateTime::from_timestamp_millis(c.created_at)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
                .unwrap_or_default()
        );
        println!(
            "model      {}  key {}",
            qualified(c.provider.as_deref(), c.model.as_deref()),
            c.key_name.as_deref().unwrap_or("-")
        );
        println!(
            "status     {}{}",
            c.status,
            c.error
                .as_deref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default()
        );
        println!(
            "latency    {} ms (first token {} ms)  cache {}",
            c.latency_ms,
            c.ttft_ms.map_or("-".into(), |t| t.to_string()),
            c.cache_status
        );
        println!(
            "tokens     {} in, {} out, {} cached  cost {}",
            c.prompt_tokens.unwrap_or(0),
            c.completion_tokens.unwrap_or(0),
            c.cached_tokens.unwrap_or(0),
            fmt_cost(c.cost_usd)
        );
        if !c.metadata.is_empty() {
            println!(
                "tags       {}",
                c.metadata
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        println!("attempts");
        for a in &c.attempts {
            println!(
                "  #{} target {:<5} {} → {} {} ({} ms)",
                a.n + 1,
                a.target_path,
                qualified(a.provider.as_deref(), a.model.as_deref()),
                a.status,
                a.error.as_deref().unwrap_or(""),
                a.latency_ms
            );
        }
        for f in &detail.feedback {
            println!("feedback   {} (weight {})", f.value, f.weight);
        }
        return Ok(());
    }
    let filter = LogFilter {
        limit: Some(args.limit),
        model: args.model.clone(),
        status: args.status,
        tags: parse_tags(&args.tags)?,
        search: args.search.clone(),
        ..Default::default()
    };
    let calls = store.list_calls(&filter)?;
    if args.json {
        return print_json(&calls);
    }
    if calls.is_empty() {
        println!("No calls logged yet. Try: portolan chat --model demo/small \"hello\"");
        return Ok(());
    }
    println!(
        "{:<19}  {:<24}  {:>6}  {:>8}  {:>11}  {:>11}  {:<12}  TRACE",
        "TIME", "MODEL", "STATUS", "LATENCY", "TOKENS", "COST", "CACHE"
    );
    for c in calls {
        let when = chrono::DateTime::from_timestamp_millis(c.created_at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let model = qualified(c.provider.as_deref(), c.model.as_deref());
        println!(
            "{when:<19}  {:<24}  {:>6}  {:>6} ms  {:>11}  {:>11}  {:<12}  {}",
            excerpt(&model, 24),
            c.status,
            c.latency_ms,
            format!(
                "{}→{}",
                c.prompt_tokens.unwrap_or(0),
                c.completion_tokens.unwrap_or(0)
            ),
            fmt_cost(c.cost_usd),
            c.cache_status,
            c.trace_id
        );
    }
    Ok(())
}

pub fn feedback(store: Store, args: FeedbackArgs) -> CliResult {
    let fb = store.add_feedback(
        &args.trace_id,
        args.value,
        args.weight,
        parse_tags(&args.metadata)?,
    )?;
    println!(
        "feedback {} recorded on trace {} (value {}, weight {})",
        fb.id, fb.trace_id, fb.value, fb.weight
    );
    Ok(())
}
