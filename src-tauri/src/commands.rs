//! Tauri commands: one line each over [`Desktop`]. Errors reach the UI as `AppError`
//! (`{kind, message}`); long work (comparisons) streams through a [`Channel`].

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
    d.list_prompts()
}

#[tauri::command]
pub async fn get_version(
    d: State<'_, Desktop>,
    prompt: String,
    version: Option<i64>,
) -> Res<VersionDto> {
    d.get_version(&prompt, version)
}

#[tauri::command]
pub async fn list_versions(d: State<'_, Desktop>, prompt: String) -> Res<Vec<VersionDto>> {
    d.list_versions(&prompt)
}

#[tauri::command]
pub async fn create_prompt(
    d: State<'_, Desktop>,
    slug: String,
    draft: PromptDraft,
    message: Option<String>,
) -> Res<SaveResult> {
    d.create_prompt(&slug, &draft, message.as_deref())
}

#[tauri::command]
pub async fn save_prompt(
    d: State<'_, Desktop>,
    prompt: String,
    draft: PromptDraft,
    message: Option<String>,
) -> Res<SaveResult> {
    d.save_prompt(&prompt, &draft, message.as_deref())
}

#[tauri::command]
pub async fn preview(
    d: State<'_, Desktop>,
    slug: String,
    draft: PromptDraft,
    variables: Map<String, Value>,
) -> Res<PreviewDto> {
    d.preview(&slug, &draft, &variables)
}

#[tauri::command]
pub async fn set_label(
    d: State<'_, Desktop>,
    prompt: String,
    version: i64,
    label: String,
) -> Res<()> {
    d.set_label(&prompt, version, &label)
}

#[tauri::command]
pub async fn diff_versions(
    d: State<'_, Desktop>,
    prompt: String,
    from: i64,
    to: i64,
) -> Res<DiffDto> {
    d.diff(&prompt, from, to)
}

#[tauri::command]
pub async fn list_models(d: State<'_, Desktop>) -> Res<Vec<ModelOption>> {
    d.list_models()
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
    d.list_compare_runs()
}

#[tauri::command]
pub async fn get_compare_run(d: State<'_, Desktop>, id: String) -> Res<CompareResultDto> {
    d.get_compare_run(&id)
}

#[tauri::command]
pub fn cancel_compare(d: State<'_, Desktop>) {
    d.cancel_compare()
}

#[tauri::command]
pub async fn send_feedback(d: State<'_, Desktop>, trace_id: String, value: i64) -> Res<()> {
    d.feedback(&trace_id, value)
}

#[tauri::command]
pub async fn list_logs(d: State<'_, Desktop>, query: LogQuery) -> Res<Vec<LogRow>> {
    d.list_logs(&query)
}

#[tauri::command]
pub async fn get_log(d: State<'_, Desktop>, id: String) -> Res<LogDetail> {
    d.get_log(&id)
}

#[tauri::command]
pub async fn cost_by_day(d: State<'_, Desktop>, days: u32) -> Res<Vec<DayCostDto>> {
    d.cost_by_day(days)
}

#[tauri::command]
pub async fn latency_by_model(d: State<'_, Desktop>, days: u32) -> Res<Vec<ModelLatencyDto>> {
    d.latency_by_model(days)
}

#[tauri::command]
pub async fn list_keys(d: State<'_, Desktop>) -> Res<Vec<KeyDto>> {
    d.list_keys()
}

#[tauri::command]
pub async fn add_key(d: State<'_, Desktop>, key: NewKeyDto) -> Res<KeyDto> {
    d.add_key(&key)
}

#[tauri::command]
pub async fn rotate_key(d: State<'_, Desktop>, name: String, secret: String) -> Res<()> {
    d.rotate_key(&name, &secret)
}

#[tauri::command]
pub async fn remove_key(d: State<'_, Desktop>, name: String) -> Res<()> {
    d.remove_key(&name)
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
    d.create_token(&name)
}

#[tauri::command]
pub async fn revoke_token(d: State<'_, Desktop>, name: String) -> Res<()> {
    d.revoke_token(&name)
}
