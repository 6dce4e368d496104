import { readFileSync } from "node:fs"
import { join } from "node:path"

/**
 * Where the test run's bundles of the server and the CLI are (built once per run by
 * test/globalSetup.ts). Child servers and CLI commands run from them: `npm start` runs the
 * server's bundle too, and a process started through tsx spends seconds of CPU transforming
 * and loading the sources first (about 3.5 s per CLI command on these machines, against
 * ~0.5 s for the bundle), which dominated the crash and CLI suites.
 */
export const root = join(import.meta.dirname, "..", "..")
export const bundleDir = join(root, "node_modules", ".cache", "synclog-tests")
export const serverBundle = join(bundleDir, "main.js")
export const cliBundle = join(bundleDir, "cli.js")
export const sseWriterBundle = join(bundleDir, "sse-writer.js")

/** Node's flags from package.json's `start` script (`node <flags> dist/main.js`), so children run as `npm start` does. */
const START_FLAGS: ReadonlyArray<string> = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  scripts: Record<string, string>
}).scripts.start!.split(/\s+/).slice(1).filter((w) => w.startsWith("--"))
export const startFlags = (): Array<string> => [...START_FLAGS]
