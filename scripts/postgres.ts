/**
 * A throwaway PostgreSQL server for `npm run cluster:demo` and the cluster benchmark, as `.ci/run`
 * starts one: Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`), `initdb` into
 * a folder of the caller's, `pg_ctl start` on loopback with that folder as its socket folder, one
 * user `synclog` with trust authentication. The server refuses to run as root, so as root it runs
 * as the `postgres` user (the package creates it).
 */
import { chownSync, existsSync, readdirSync } from "node:fs"
import { execFileSync } from "node:child_process"
import { join } from "node:path"

export interface ThrowawayPostgres {
  /** `postgres://synclog@127.0.0.1:<port>/postgres` (trust: no password). */
  readonly url: string
  /** A URL of another database of the same server (create it with `createDatabase`). */
  readonly databaseUrl: (name: string) => string
  readonly createDatabase: (name: string) => void
  /** Stops the server (fast shutdown); the folder is the caller's to remove. */
  readonly stop: () => void
}

/** The newest installed server's bin folder; throws with the install command when there is none. */
const postgresBin = (): string => {
  const base = "/usr/lib/postgresql"
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb"))) : []
  if (versions.length === 0) throw new Error("PostgreSQL is not installed: `apt-get install postgresql` (Debian/Ubuntu), then try again")
  return join(base, versions.sort((a, b) => Number(a) - Number(b)).at(-1)!, "bin")
}

const asRoot = process.getuid?.() === 0

/**
 * Runs a PostgreSQL program, as the `postgres` user when this runs as root, in a session of its
 * own (setsid): a Ctrl-C in the terminal reaches the caller's process group only, so the caller
 * stops the server after its clients, not while they still write to it.
 */
const run = (bin: string, program: string, args: ReadonlyArray<string>) =>
  asRoot
    ? execFileSync("setsid", ["runuser", "-u", "postgres", "--", join(bin, program), ...args], { stdio: "pipe" })
    : execFileSync("setsid", [join(bin, program), ...args], { stdio: "pipe" })

/** Creates a cluster in `dir/data` and starts it on `port`; `options` are extra `-c` settings. */
export const startThrowawayPostgres = (dir: string, port: number, settings: Readonly<Record<string, string>> = {}): ThrowawayPostgres => {
  const bin = postgresBin()
  if (asRoot) {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString().trim())
    chownSync(dir, id("-u"), id("-g"))
  }
  const data = join(dir, "data")
  run(bin, "initdb", ["-D", data, "-U", "synclog", "--auth=trust", "-E", "UTF8", "--no-sync"])
  const options = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses=127.0.0.1", "-c max_connections=300", ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)]
  run(bin, "pg_ctl", ["-D", data, "-l", join(dir, "postgres.log"), "-w", "start", "-o", options.join(" ")])
  const databaseUrl = (name: string) => `postgres://synclog@127.0.0.1:${port}/${name}`
  return {
    url: databaseUrl("postgres"),
    databaseUrl,
    createDatabase: (name) => void run(bin, "psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "synclog", "-d", "postgres", "-q", "-c", `CREATE DATABASE ${name}`]),
    stop: () => {
      try {
        run(bin, "pg_ctl", ["-D", data, "-m", "fast", "stop"])
      } catch {
        // already stopped
      }
    }
  }
}
