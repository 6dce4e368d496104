import Sqlite from "better-sqlite3"
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { join } from "node:path"

/**
 * The backend the suites run on. With SYNC_TEST_DATABASE_URL (a PostgreSQL URL whose user may
 * create databases; `.ci/run` starts a throwaway server and sets it), every test database is a
 * fresh PostgreSQL database, dropped afterwards; without it, a SQLite file in a temp folder.
 * Tests reach the database only through these helpers and the server under test.
 */
const adminUrl = process.env.SYNC_TEST_DATABASE_URL || undefined
export const backend: "sqlite" | "postgres" = adminUrl === undefined ? "sqlite" : "postgres"

const isUrl = (location: string) => /^postgres(ql)?:\/\//i.test(location)

/** psql: the real client, synchronous, so helpers keep the shape of better-sqlite3's. */
const psql = (url: string, script: string, variables: Readonly<Record<string, string>> = {}) =>
  execFileSync("psql", [url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", ...Object.entries(variables).flatMap(([k, v]) => ["-v", `${k}=${v}`])], {
    input: script,
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"]
  })

const withDatabase = (url: string, name: string) => {
  const parsed = new URL(url)
  parsed.pathname = `/${name}`
  return parsed.toString()
}

/** A new, empty PostgreSQL database on the test server; its URL and how to drop it. */
const createPostgresDatabase = (admin: string) => {
  const name = `synclog_test_${process.pid}_${randomBytes(4).toString("hex")}`
  psql(admin, `CREATE DATABASE ${name};`)
  return {
    location: withDatabase(admin, name),
    drop: () => void psql(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE);`)
  }
}

/** The database a test server uses: `<dir>/synclog.db`, or a fresh PostgreSQL database. */
export const freshDatabase = (dir: string): { readonly location: string; readonly drop: () => void } =>
  adminUrl === undefined ? { location: join(dir, "synclog.db"), drop: () => {} } : createPostgresDatabase(adminUrl)

/** Rows of a read-only query (`?` parameters), on either backend. */
export const queryRows = <A>(location: string, text: string, params: ReadonlyArray<string | number> = []): Array<A> => {
  if (!isUrl(location)) {
    const db = new Sqlite(location, { readonly: true })
    try {
      return db.prepare(text).all(...params) as Array<A>
    } finally {
      db.close()
    }
  }
  const variables = Object.fromEntries(params.map((p, i) => [`p${i}`, String(p)]))
  let i = 0
  const query = text.replace(/\?/g, () => `:'p${i++}'`)
  const out = psql(location, `SELECT COALESCE(json_agg(t), '[]') FROM (${query}) t;`, variables)
  return JSON.parse(out) as Array<A>
}

/** A write (`?` parameters) behind the server's back, on either backend: tampering in tests. */
export const execute = (location: string, text: string, params: ReadonlyArray<string | number> = []) => {
  if (!isUrl(location)) {
    const db = new Sqlite(location)
    try {
      db.prepare(text).run(...params)
    } finally {
      db.close()
    }
    return
  }
  const variables = Object.fromEntries(params.map((p, i) => [`p${i}`, String(p)]))
  let i = 0
  psql(location, `${text.replace(/\?/g, () => `:'p${i++}'`)};`, variables)
}

/** A copy of a database (a SQLite backup, or pg_dump into a fresh database) at a new location. */
export const copyDatabase = async (from: string, dir: string) => {
  const target = freshDatabase(dir)
  if (!isUrl(from)) {
    const db = new Sqlite(from, { readonly: true })
    try {
      await db.backup(target.location)
    } finally {
      db.close()
    }
    return target
  }
  const dump = execFileSync("pg_dump", ["--no-owner", from], { encoding: "utf8", maxBuffer: 1 << 28 })
  psql(target.location, dump)
  return target
}
