import { mkdirSync, renameSync } from "node:fs"
import { build } from "esbuild"
import { bundleDir, cliBundle, root, serverBundle, sseWriterBundle } from "./support/bundle.js"

/**
 * Bundles the server (and its SSE writer process) and the CLI once per test run, with the options of package.json's
 * `build` script (esm for node20, better-sqlite3 external, a `require` for the bundled CommonJS
 * modules). With two projects (SQLite, then PostgreSQL) vitest calls this for each: the first
 * call builds, the second finds the marker it left in this process's environment.
 */
const MARKER = "SYNCLOG_TEST_BUNDLES_BUILT"

export default async function setup() {
  if (process.env[MARKER] === "1") return
  mkdirSync(bundleDir, { recursive: true })
  // The SSE writer process's bundle sits beside the server's, as `npm run build` puts it in dist/.
  for (const [entry, outfile] of [["src/main.ts", serverBundle], ["src/cli.ts", cliBundle], ["src/http/sseWriterProcess.ts", sseWriterBundle]] as const) {
    // Built beside, then renamed: a child started meanwhile never reads half a file.
    const partial = `${outfile}.${process.pid}.partial`
    await build({
      absWorkingDir: root,
      entryPoints: [entry],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      external: ["better-sqlite3"],
      outfile: partial,
      logLevel: "warning",
      banner: { js: "import { createRequire as bannerCreateRequire } from 'node:module'; const require = bannerCreateRequire(import.meta.url);" }
    })
    renameSync(partial, outfile)
  }
  process.env[MARKER] = "1"
}
