//! Portolan's desktop shell: opens the engine on the user's data directory and exposes it to the
//! web view as Tauri commands. Every command is a thin wrapper over
//! `portolan_desktop_api::Desktop`, where the logic (and its tests) live.

mod commands;

use portolan_desktop_api::Desktop;
use tauri::{Emitter, Manager};

pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTOLAN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let desktop = match Desktop::open(None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(desktop)
        .setup(|app| {
            // Budget alerts (from the app's own calls and the gateway's) become notifications.
            let mut alerts = app.state::<Desktop>().budget_alerts();
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                while let Some(alert) = alerts.next().await {
                    let _ = handle.emit("budget-alert", alert);
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_prompts,
            commands::get_version,
            commands::list_versions,
            commands::create_prompt,
            commands::save_prompt,
            commands::preview,
            commands::check_params,
            commands::image_data_url,
            commands::set_label,
            commands::diff_versions,
            commands::list_models,
            commands::run_compare,
            commands::cancel_compare,
            commands::list_compare_runs,
            commands::get_compare_run,
            commands::send_feedback,
            commands::list_logs,
            commands::get_log,
            commands::cost_by_day,
            commands::latency_by_model,
            commands::list_keys,
            commands::add_key,
            commands::rotate_key,
            commands::remove_key,
            commands::test_key,
            commands::gateway_status,
            commands::gateway_start,
            commands::gateway_stop,
            commands::create_token,
            commands::revoke_token,
            commands::list_datasets,
            commands::get_dataset,
            commands::save_dataset,
            commands::read_dataset_file,
            commands::export_dataset,
            commands::rows_from_calls,
            commands::check_assertion,
            commands::plan_experiment,
            commands::run_experiment,
            commands::list_experiments,
            commands::get_experiment,
            commands::diff_experiments,
            commands::list_evals,
            commands::save_eval,
            commands::version_evals,
            commands::set_label_gated,
            commands::set_label_override,
            commands::pick_file,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("error: the window could not start: {e}");
        std::process::exit(1);
    }
}
