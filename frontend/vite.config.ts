/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// Built once, served by Django: WhiteNoise serves frontend/dist under /static/ (see settings.STATICFILES_DIRS),
// backend/sightline/spa.py reads dist/.vite/manifest.json to reference the hashed entry files.
export default defineConfig({
  base: "/static/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    target: "es2022",
    sourcemap: false,
    rollupOptions: { input: "index.html" },
  },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/ws": { target: "ws://127.0.0.1:8000", ws: true },
      "/admin": "http://127.0.0.1:8000",
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
