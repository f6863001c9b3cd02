//! Tauri commands: one line each over [`Desktop`]. Errors reach the UI as `AppError`
//! (`{kind, message}`); long work (comparisons) streams through a [`Channel`]. Work that blocks
//! (SQLite) runs on the blocking pool through [`Desktop::blocking`], never on the threads that
//! serve the window's other commands.

use portolan_desktop_api::*;
use serde::Serialize;
use serde_json::{Map, Value};
use tauri::State;
use tauri::ipc::Channel;

type Res<T> = Result<T, AppError>;

#[derive(Serialize)]
pub struct AppInfo {
    data_dir: String,
    version: String,
}

#[tauri::command]
pub fn app_info(d: State<'_, Desktop>) -> AppInfo {
    AppInfo {
        data_dir: d.data_dir(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

#[tauri::command]
pub async fn list_prompts(d: State<'_, Desktop>) -> Res<Vec<PromptSummary>> {
    d.blocking(move |d| d.list_prompts()).await
}

#[tauri::command]
pub async fn get_version(
    d: State<'_, Desktop>,
    prompt: String,
    version: Option<i64>,
) -> Res<VersionDto> {
    d.blocking(move |d| d.get_version(&prompt, version)).await
}

#[tauri::command]
pub async fn list_versions(d: State<'_, Desktop>, prompt: String) -> Res<Vec<VersionDto>> {
    d.blocking(move |d| d.list_versions(&prompt)).await
}

#[tauri::command]
pub async fn create_prompt(
    d: State<'_, Desktop>,
    slug: String,
    draft: PromptDraft,
    message: Option<String>,
) -> Res<SaveResult> {
    d.blocking(move |d| d.create_prompt(&slug, &draft, message.as_deref()))
        .await
}

#[tauri::command]
pub async fn save_prompt(
    d: State<'_, Desktop>,
    prompt: String,
    draft: PromptDraft,
    message: Option<String>,
) -> Res<SaveResult> {
    d.blocking(move |d| d.save_prompt(&prompt, &draft, message.as_deref()))
        .await
}

#[tauri::command]
pub async fn check_params(d: State<'_, Desktop>, params_json: String) -> Res<()> {
    d.blocking(move |d| d.check_params(&params_json)).await
}

#[tauri::command]
pub async fn image_data_url(d: State<'_, Desktop>, path: String) -> Res<String> {
    d.blocking(move |d| d.image_data_url(&path)).await
}

#[tauri::command]
pub async fn preview(
    d: State<'_, Desktop>,
    slug: String,
    draft: PromptDraft,
    variables: Map<String, Value>,
) -> Res<PreviewDto> {
    d.blocking(move |d| d.preview(&slug, &draft, &variables))
        .await
}

#[tauri::command]
pub async fn set_label(
    d: State<'_, Desktop>,
    prompt: String,
    version: i64,
    label: String,
) -> Res<()> {
    d.blocking(move |d| d.set_label(&prompt, version, &label))
        .await
}

#[tauri::command]
pub async fn diff_versions(
    d: State<'_, Desktop>,
    prompt: String,
    from: i64,
    to: i64,
) -> Res<DiffDto> {
    d.blocking(move |d| d.diff(&prompt, from, to)).await
}

#[tauri::command]
pub async fn list_models(d: State<'_, Desktop>) -> Res<Vec<ModelOption>> {
    d.list_models().await
}

#[tauri::command]
pub async fn run_compare(
    d: State<'_, Desktop>,
    request: CompareRequest,
    on_event: Channel<Vec<CompareEventDto>>,
) -> Res<CompareResultDto> {
    // A closed window makes `send` fail; the run goes on and its calls are still logged.
    d.run_compare(request, move |e| {
        let _ = on_event.send(e);
    })
    .await
}

#[tauri::command]
pub async fn list_compare_runs(d: State<'_, Desktop>) -> Res<Vec<CompareRunSummary>> {
    d.blocking(move |d| d.list_compare_runs()).await
}

#[tauri::command]
pub async fn get_compare_run(d: State<'_, Desktop>, id: String) -> Res<CompareResultDto> {
    d.blocking(move |d| d.get_compare_run(&id)).await
}

#[tauri::command]
pub fn cancel_compare(d: State<'_, Desktop>) {
    d.cancel_compare()
}

#[tauri::command]
pub async fn send_feedback(d: State<'_, Desktop>, trace_id: String, value: i64) -> Res<()> {
    d.blocking(move |d| d.feedback(&trace_id, value)).await
}

#[tauri::command]
pub async fn list_logs(d: State<'_, Desktop>, query: LogQuery) -> Res<Vec<LogRow>> {
    d.blocking(move |d| d.list_logs(&query)).await
}

#[tauri::command]
pub async fn get_log(d: State<'_, Desktop>, id: String) -> Res<LogDetail> {
    d.blocking(move |d| d.get_log(&id)).await
}

#[tauri::command]
pub async fn cost_by_day(d: State<'_, Desktop>, days: u32) -> Res<Vec<DayCostDto>> {
    d.blocking(move |d| d.cost_by_day(days)).await
}

#[tauri::command]
pub async fn latency_by_model(d: State<'_, Desktop>, days: u32) -> Res<Vec<ModelLatencyDto>> {
    d.blocking(move |d| d.latency_by_model(days)).await
}

#[tauri::command]
pub async fn list_keys(d: State<'_, Desktop>) -> Res<Vec<KeyDto>> {
    d.blocking(move |d| d.list_keys()).await
}

#[tauri::command]
pub async fn add_key(d: State<'_, Desktop>, key: NewKeyDto) -> Res<KeyDto> {
    d.blocking(move |d| d.add_key(&key)).await
}

#[tauri::command]
pub async fn rotate_key(d: State<'_, Desktop>, name: String, secret: String) -> Res<()> {
    d.blocking(move |d| d.rotate_key(&name, &secret)).await
}

#[tauri::command]
pub async fn remove_key(d: State<'_, Desktop>, name: String) -> Res<()> {
    d.blocking(move |d| d.remove_key(&name)).await
}

#[tauri::command]
pub async fn test_key(
    d: State<'_, Desktop>,
    name: String,
    model: Option<String>,
) -> Res<KeyTestDto> {
    d.test_key(&name, model.as_deref()).await
}

#[tauri::command]
pub async fn gateway_status(d: State<'_, Desktop>) -> Res<GatewayStatus> {
    d.gateway_status().await
}

#[tauri::command]
pub async fn gateway_start(d: State<'_, Desktop>, port: u16) -> Res<GatewayStatus> {
    d.gateway_start(port).await
}

#[tauri::command]
pub async fn gateway_stop(d: State<'_, Desktop>) -> Res<GatewayStatus> {
    d.gateway_stop().await
}

#[tauri::command]
pub async fn create_token(d: State<'_, Desktop>, name: String) -> Res<String> {
    d.blocking(move |d| d.create_token(&name)).await
}

#[tauri::command]
pub async fn revoke_token(d: State<'_, Desktop>, name: String) -> Res<()> {
    d.blocking(move |d| d.revoke_token(&name)).await
}

// ---- Datasets, experiments and the label gate ------------------------------------------------

#[tauri::command]
pub async fn list_datasets(d: State<'_, Desktop>) -> Res<Vec<portolan::store::DatasetSummary>> {
    d.blocking(move |d| d.list_datasets()).await
}

#[tauri::command]
pub async fn get_dataset(
    d: State<'_, Desktop>,
    name: String,
    version: Option<i64>,
) -> Res<DatasetDto> {
    d.blocking(move |d| d.get_dataset(&name, version)).await
}

#[tauri::command]
pub async fn save_dataset(
    d: State<'_, Desktop>,
    name: String,
    rows: Vec<portolan::datasets::Row>,
    message: Option<String>,
) -> Res<portolan::store::DatasetSave> {
    d.blocking(move |d| d.save_dataset(&name, &rows, message.as_deref()))
        .await
}

#[tauri::command]
pub async fn read_dataset_file(
    d: State<'_, Desktop>,
    path: String,
) -> Res<Vec<portolan::datasets::Row>> {
    d.blocking(move |d| d.read_dataset_file(&path)).await
}

#[tauri::command]
pub async fn export_dataset(
    d: State<'_, Desktop>,
    name: String,
    version: Option<i64>,
    path: String,
) -> Res<u32> {
    d.blocking(move |d| d.export_dataset(&name, version, &path))
        .await
}

#[tauri::command]
pub async fn rows_from_calls(
    d: State<'_, Desktop>,
    ids: Vec<String>,
    with_answers: bool,
) -> Res<Vec<portolan::datasets::Row>> {
    d.blocking(move |d| d.rows_from_calls(&ids, with_answers))
        .await
}

#[tauri::command]
pub async fn check_assertion(
    d: State<'_, Desktop>,
    spec: portolan::evals::assertions::AssertionSpec,
) -> Res<()> {
    d.blocking(move |d| d.check_assertion(&spec)).await
}

#[tauri::command]
pub async fn plan_experiment(d: State<'_, Desktop>, request: ExperimentRequest) -> Res<PlanDto> {
    d.plan_experiment(&request).await
}

#[tauri::command]
pub async fn run_experiment(
    d: State<'_, Desktop>,
    request: ExperimentRequest,
    on_event: Channel<Vec<ExperimentEventDto>>,
) -> Res<portolan::evals::Experiment> {
    d.run_experiment(&request, move |e| {
        let _ = on_event.send(e);
    })
    .await
}

#[tauri::command]
pub async fn list_experiments(
    d: State<'_, Desktop>,
) -> Res<Vec<portolan::store::ExperimentSummary>> {
    d.blocking(move |d| d.list_experiments()).await
}

#[tauri::command]
pub async fn get_experiment(d: State<'_, Desktop>, id: String) -> Res<portolan::evals::Experiment> {
    d.blocking(move |d| d.get_experiment(&id)).await
}

#[tauri::command]
pub async fn diff_experiments(
    d: State<'_, Desktop>,
    before: String,
    after: String,
) -> Res<Vec<portolan::evals::report::RowChange>> {
    d.blocking(move |d| d.diff_experiments(&before, &after))
        .await
}

#[tauri::command]
pub async fn list_evals(d: State<'_, Desktop>) -> Res<Vec<EvalDefDto>> {
    d.blocking(move |d| d.list_evals()).await
}

#[tauri::command]
pub async fn save_eval(d: State<'_, Desktop>, name: String, body: String) -> Res<()> {
    d.blocking(move |d| d.save_eval(&name, &body)).await
}

#[tauri::command]
pub async fn version_evals(d: State<'_, Desktop>, prompt: String) -> Res<Vec<VersionEvalDto>> {
    d.blocking(move |d| d.version_evals(&prompt)).await
}

#[tauri::command]
pub async fn set_label_gated(
    d: State<'_, Desktop>,
    prompt: String,
    version: i64,
    label: String,
    eval: String,
) -> Res<portolan::evals::gate::GateOutcome> {
    d.set_label_gated(&prompt, version, &label, &eval).await
}

#[tauri::command]
pub async fn set_label_override(
    d: State<'_, Desktop>,
    prompt: String,
    version: i64,
    label: String,
    eval: String,
    reason: String,
) -> Res<()> {
    d.blocking(move |d| d.set_label_override(&prompt, version, &label, &eval, &reason))
        .await
}

/// The system's file dialog: a file to open (`save` false) or a place to save to, filtered by
/// `kind`: `rows` (dataset files, the default), `image` (PNG, JPEG, GIF, WebP) or `any`. None
/// when the person cancels. (`PORTOLAN_E2E_FILE_DIALOG`, or `PORTOLAN_E2E_IMAGE_DIALOG` for
/// images, answers it instead, for the end-to-end test: WebDriver cannot drive a native dialog.)
#[tauri::command]
pub async fn pick_file(
    app: tauri::AppHandle,
    save: bool,
    default_name: Option<String>,
    kind: Option<String>,
) -> Res<Option<String>> {
    let kind = kind.as_deref().unwrap_or("rows");
    let answer = if kind == "image" {
        "PORTOLAN_E2E_IMAGE_DIALOG"
    } else {
        "PORTOLAN_E2E_FILE_DIALOG"
    };
    if let Ok(path) = std::env::var(answer) {
        return Ok(Some(path));
    }
    use tauri_plugin_dialog::DialogExt;
    let dialog = app.dialog().file();
    let dialog = match kind {
        "image" => dialog.add_filter("Images", &["png", "jpg", "jpeg", "gif", "webp"]),
        "any" => dialog,
        _ => dialog.add_filter("Rows", &["jsonl", "csv", "yaml", "yml"]),
    };
    let picked = tauri::async_runtime::spawn_blocking(move || {
        if save {
            let d = match default_name {
                Some(n) => dialog.set_file_name(n),
                None => dialog,
            };
            d.blocking_save_file()
        } else {
            dialog.blocking_pick_file()
        }
    })
    .await
    .map_err(|e| AppError::new("internal", format!("the file dialog stopped: {e}")))?;
    Ok(picked
        .and_then(|p| p.into_path().ok())
        .map(|p| p.display().to_string()))
}
