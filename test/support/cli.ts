import { spawn, spawnSync } from "node:child_process"
import { join } from "node:path"
import { cliBundle, root } from "./bundle.js"

/**
 * The CLI's commands run from the test run's bundle of src/cli.ts (support/bundle.ts): the same
 * code as `npm run cli` and the `synclog` launcher run through tsx, without ~3 s of loading per
 * command. `runSynclogInTerminal` runs the launcher itself (bin/synclog.js).
 */

/** Runs `synclog …` (e.g. `replay`), returning exit code and output. */
export const runCli = (args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [cliBundle, ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly timeoutMs?: number
  /** Sees stdout as it arrives (to act while the command still runs). */
  readonly onStdout?: (stdoutSoFar: string) => void
  /** Written to the process's stdin (a pipe, then closed); without it stdin is /dev/null. */
  readonly stdin?: string
}

/** Runs a process to its end without blocking the event loop (the servers of the test keep serving). */
const runProcess = (
  command: string,
  args: ReadonlyArray<string>,
  options: RunOptions = {}
) =>
  new Promise<CliRun>((resolve, reject) => {
    // A process group of its own, so that a timeout kills its child processes too.
    const child = spawn(command, args, {
      cwd: root,
      detached: true,
      stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env }
    })
    if (options.stdin !== undefined) child.stdin!.end(options.stdin)
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      stdout += d
      options.onStdout?.(stdout)
    })
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        // already gone
      }
    }, options.timeoutMs ?? 60_000)
    child.once("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** `runCli` without blocking the event loop (the simulator and other servers of the test keep serving). */
export const runCliAsync = (args: ReadonlyArray<string>, timeoutMs = 60_000) =>
  runProcess(process.execPath, [cliBundle, ...args], { timeoutMs })

const synclogBin = join(root, "bin/synclog.js")

/** The `synclog` command (the CLI's bundle), stdout not a terminal. */
export const runSynclog = (args: ReadonlyArray<string>, options: RunOptions = {}) => runProcess(process.execPath, [cliBundle, ...args], { timeoutMs: 90_000, ...options })

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/**
 * `synclog` as `npx synclog` runs it (the package's bin launcher, through tsx) on a
 * pseudo-terminal `columns` wide, through util-linux `script` (always on Debian): stdout is a
 * TTY, so the CLI draws what a user sees. Returns the raw terminal output.
 */
export const runSynclogInTerminal = (
  args: ReadonlyArray<string>,
  options: RunOptions & { readonly columns?: number } = {}
) => {
  const command = [process.execPath, synclogBin, ...args].map(shellQuote).join(" ")
  return runProcess("script", ["-qfec", `stty cols ${options.columns ?? 120}; exec ${command}`, "/dev/null"], {
    timeoutMs: 90_000,
    ...options
  })
}

/**
 * What a terminal shows after `raw` was written to it, line by line: `\r` returns to the start
 * of the line, `ESC[2K` clears it, other control sequences (colours) draw nothing.
 */
export const screenOf = (raw: string): Array<string> => {
  const lines: Array<string> = []
  let line: Array<string> = []
  let column = 0
  const tokens = raw.match(/\x1b\[[0-9;?]*[A-Za-z]|\r\n|\r|\n|[^\x1b\r\n]/g) ?? []
  for (const token of tokens) {
    if (token === "\n" || token === "\r\n") {
      lines.push(line.join("").trimEnd())
      line = []
      column = 0
    } else if (token === "\r") {
      column = 0
    } else if (token === "\x1b[2K") {
      line = []
    } else if (!token.startsWith("\x1b")) {
      line[column] = token
      column++
    }
  }
  if (line.length > 0) lines.push(line.join("").trimEnd())
  return lines
}
