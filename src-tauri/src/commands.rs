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
