/**
 * What a storage failure means for the operator. SQLite reports a full disk, a read-only file,
 * a lock held by another process or a damaged file with a result code (better-sqlite3 puts it
 * on the error as `code`, and @effect/sql wraps that error as the `cause` of a SqlError whose
 * own message is only "Failed to execute statement"). This maps the code to one sentence that
 * names the file and the fix. Pure: no IO.
 */

type StorageProblemKind = "full" | "readonly" | "cantopen" | "busy" | "corrupt" | "io" | "unreachable"

export interface StorageProblem {
  readonly kind: StorageProblemKind
  /** The SQLite (or file-system, or PostgreSQL SQLSTATE) code, e.g. SQLITE_FULL, ENOSPC or 53100. */
  readonly code: string
  /** One sentence: what happened to which file, and what to do. */
  readonly message: string
}

/** The first string `code` on the error or along its `cause` chain (SqlError → SqliteError). */
const storageCode = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string" && code !== "") return code
    current = (current as { readonly cause?: unknown }).cause
  }
  return undefined
}

/** SQLite's extended codes (SQLITE_READONLY_DBMOVED) share the primary code's meaning. */
const kindOf = (code: string): StorageProblemKind | undefined => {
  const primary = code.startsWith("SQLITE_") ? code.split("_").slice(0, 2).join("_") : code
  switch (primary) {
    case "SQLITE_FULL":
    case "ENOSPC":
    case "EDQUOT":
      return "full"
    case "SQLITE_READONLY":
    case "SQLITE_PERM":
    case "EROFS":
    case "EACCES":
    case "EPERM":
      return "readonly"
    case "SQLITE_CANTOPEN":
    case "ENOTDIR":
    case "EISDIR":
      return "cantopen"
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
      return "busy"
    case "SQLITE_CORRUPT":
    case "SQLITE_NOTADB":
      return "corrupt"
    case "SQLITE_IOERR":
    case "EIO":
      return "io"
    // PostgreSQL (SQLSTATE codes from the server, socket codes from the driver).
    case "53100": // disk_full
      return "full"
    case "25006": // read_only_sql_transaction (a standby, or default_transaction_read_only)
      return "readonly"
    case "ECONNREFUSED":
    case "ECONNRESET":
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "ETIMEDOUT":
    case "57P01": // admin_shutdown
    case "57P03": // cannot_connect_now (starting up)
    case "3D000": // invalid_catalog_name: no such database
    case "28000": // invalid_authorization_specification
    case "28P01": // invalid_password
      return "unreachable"
    default:
      if (/^08/.test(primary)) return "unreachable" // connection exceptions
      return undefined
  }
}

/**
 * The operator's sentence for a storage failure of `file`, ending with `then` (what to do once
 * fixed: "resume job X", "start synclog again", "retry the request"); undefined when the error
 * is not a storage condition (a constraint violation or a bug stays what it is).
 */
export const describeStorageFailure = (error: unknown, file: string, then: string): StorageProblem | undefined => {
  const code = storageCode(error)
  const kind = code === undefined ? undefined : kindOf(code)
  if (code === undefined || kind === undefined) return undefined
  const message = ((): string => {
    switch (kind) {
      case "full":
        return `the disk holding ${file} is full (${code}): free space, then ${then}`
      case "readonly":
        return `${file} cannot be written (${code}: the file, its folder or the file system is read-only for this process): make them writable for the user running synclog, then ${then}`
      case "cantopen":
        return `${file} cannot be opened (${code}): check that SYNC_DB_PATH names a file, not a folder, in a folder synclog may create and write, then ${then}`
      case "busy":
        return `${file} is locked by another process (${code}, still busy after 5 s): stop whatever else holds a write on it (a sqlite3 shell, a backup tool, another program), then ${then}`
      case "corrupt":
        return `${file} is damaged or not a synclog database (${code}): restore it from a backup, or move it aside with its -wal and -shm files to start with an empty one, then ${then}`
      case "io":
        return `reading or writing ${file} failed (${code}): check the disk and its file system, then ${then}`
      case "unreachable":
        return `${file} cannot be reached (${code}): check SYNC_DATABASE_URL (host, port, database name, user and password) and that PostgreSQL is running, then ${then}`
    }
  })()
  return { kind, code, message }
}

/**
 * A UNIQUE (or other constraint) violation: SQLite's SQLITE_CONSTRAINT_*, PostgreSQL's class 23
 * (23505 unique_violation). The event log's per-stream version key reports a concurrent writer so.
 */
export const isConstraintViolation = (error: unknown): boolean => {
  const code = storageCode(error)
  return code !== undefined && (code.startsWith("SQLITE_CONSTRAINT") || /^23\d{3}$/.test(code))
}
