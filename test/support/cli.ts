import { spawnSync } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")

/** Runs `npm run replay -- …` the way a user does (tsx src/cli.ts), returning exit code and output. */
export const runCli = (args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), join(root, "src/cli.ts"), ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}
