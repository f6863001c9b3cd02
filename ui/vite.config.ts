import { defineConfig } from "vitest/config";

// Tauri loads `dist/` from disk (relative asset paths) and the dev server from localhost:5173.
export default defineConfig({
  base: "./",
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  envPrefix: ["VITE_", "TAURI_ENV_"],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2021",
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
  test: {
    // Logic tests run in node; component tests (tests/components, *.test.tsx) ask for jsdom.
    include: ["tests/**/*.test.ts", "tests/**/*.test.tsx"],
    environment: "node",
    setupFiles: ["tests/components/setup.ts"],
  },
});
