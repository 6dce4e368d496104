/**
 * Plain shapes of API bodies that both the server and the browser dashboard use. Types only and
 * no imports, so the dashboard (bundled for the browser) can import them without pulling in Node.
 */

/** Record counts of a job or a batch. */
export interface Counters {
  readonly processed: number
  readonly created: number
  readonly updated: number
  readonly deleted: number
  readonly errors: number
}

export type LogLevel = "debug" | "info" | "warn" | "error"

/** One line of a job's log. */
export interface LogLine {
  readonly timestamp: string
  readonly level: LogLevel
  readonly message: string
}

/** A mirrored record as `GET .../records` returns it; the server narrows `Entity` to its entity types. */
export interface MirroredRecord<Entity extends string = string> {
  readonly entity: Entity
  readonly id: string
  readonly projectId: string | null
  readonly updatedAt: string | null
  readonly firstSeenAt: string
  readonly lastSeenAt: string
  readonly archivedAt: string | null
  readonly deletedAt: string | null
  readonly payload: unknown
}
