import { useEffect, useState } from "react";
import { listen } from "@tauri-apps/api/event";
import { getCurrentWindow } from "@tauri-apps/api/window";
import type { BudgetAlertDto } from "./bindings/BudgetAlertDto";
import { Notices } from "./components/Notices";
import { api } from "./lib/api";
import { addNotice, dismissNotice, type Notice } from "./lib/notices";
import { CompareScreen } from "./screens/compare/CompareScreen";
import { DatasetsScreen } from "./screens/datasets/DatasetsScreen";
import { GatewayScreen } from "./screens/gateway/GatewayScreen";
import { KeysScreen } from "./screens/keys/KeysScreen";
import { LogsScreen } from "./screens/logs/LogsScreen";
import { PromptsScreen } from "./screens/prompts/PromptsScreen";

type Screen = "prompts" | "compare" | "datasets" | "logs" | "keys" | "gateway";

const NAV: { id: Screen; label: string; icon: string }[] = [
  { id: "prompts", label: "Prompts", icon: "✎" },
  { id: "compare", label: "Compare", icon: "▦" },
  { id: "datasets", label: "Datasets", icon: "⊞" },
  { id: "logs", label: "Logs", icon: "≡" },
  { id: "keys", label: "Keys", icon: "✦" },
  { id: "gateway", label: "Gateway", icon: "⇄" },
];

export function App() {
  const [screen, setScreen] = useState<Screen>("prompts");
  const [version, setVersion] = useState<string | null>(null);
  /** The prompt last opened in the editor, preselected on Compare and Gateway. */
  const [currentSlug, setCurrentSlug] = useState<string | null>(null);
  const [notices, setNotices] = useState<Notice[]>([]);

  useEffect(() => {
    // Budget alerts from the engine (the app's calls and the gateway's).
    const unlisten = listen<BudgetAlertDto>("budget-alert", (e) =>
      setNotices((list) =>
        addNotice(list, { key: `budget:${e.payload.kind}:${e.payload.name}`, tone: "warn", title: "Budget alert", message: e.payload.message }),
      ),
    ).catch(() => null);
    return () => {
      unlisten.then((f) => f?.());
    };
  }, []);

  useEffect(() => {
    api.appInfo().then(
      (i) => setVersion(i.version),
      () => setVersion(null),
    );
    // The window title says the library has loaded (bench/desktop.sh times start-up by it).
    api.listPrompts().then(
      (p) => getCurrentWindow().setTitle(`Portolan — ${p.length} prompts`).catch(() => undefined),
      () => undefined,
    );
  }, []);

  return (
    <div className="app">
      <nav className="nav" aria-label="Main">
        <div className="brand" title="Portolan">
          Portolan
        </div>
        {NAV.map((n) => (
          <button
            key={n.id}
            type="button"
            className={`nav-item ${screen === n.id ? "active" : ""}`}
            aria-current={screen === n.id ? "page" : undefined}
            data-testid={`nav-${n.id}`}
            onClick={() => setScreen(n.id)}
          >
            <span className="nav-icon" aria-hidden="true">
              {n.icon}
            </span>
            {n.label}
          </button>
        ))}
        <div className="nav-foot">{version ? `v${version}` : ""}</div>
      </nav>
      {/* Every screen stays mounted (hidden when not shown), so leaving one loses nothing: a
          running comparison goes on, an unsaved draft stays. Screens that show changing data
          refresh when they are shown again. */}
      <main className="screen">
        <div className="screen-page" hidden={screen !== "prompts"}>
          <PromptsScreen initialSlug={currentSlug} onOpen={setCurrentSlug} />
        </div>
        <div className="screen-page" hidden={screen !== "compare"}>
          <CompareScreen initialSlug={currentSlug} />
        </div>
        <div className="screen-page" hidden={screen !== "datasets"}>
          <DatasetsScreen active={screen === "datasets"} />
        </div>
        <div className="screen-page" hidden={screen !== "logs"}>
          <LogsScreen active={screen === "logs"} />
        </div>
        <div className="screen-page" hidden={screen !== "keys"}>
          <KeysScreen />
        </div>
        <div className="screen-page" hidden={screen !== "gateway"}>
          <GatewayScreen initialSlug={currentSlug} active={screen === "gateway"} />
        </div>
      </main>
      <Notices notices={notices} onDismiss={(key) => setNotices((list) => dismissNotice(list, key))} />
    </div>
  );
}
