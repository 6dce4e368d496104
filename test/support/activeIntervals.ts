import { queryRows } from "./database.js"

const ACTIVE_ENDS = new Set(["JobPaused", "JobStopped", "JobCompleted", "JobFailed", "JobResumed"])

/**
 * Reads the event log in order and returns every moment where a job of an integration started
 * while another job of the same integration was still active (started, not yet paused, stopped,
 * completed, failed or re-queued). An empty list is the "one job per integration" invariant.
 */
export const overlappingStarts = (dbPath: string): Array<string> => {
  const rows = queryRows<{ position: number; stream_id: string; type: string; payload: string }>(
    dbPath,
    "SELECT position, stream_id, type, payload FROM events WHERE stream_id LIKE 'job-%' ORDER BY position"
  )
  const integrationOf = new Map<string, string>()
  const active = new Map<string, Set<string>>()
  const overlaps: Array<string> = []
  for (const row of rows) {
    const jobId = row.stream_id.slice("job-".length)
    if (row.type === "JobQueued") integrationOf.set(jobId, (JSON.parse(row.payload) as { integrationId: string }).integrationId)
    const integration = integrationOf.get(jobId)
    if (integration === undefined) continue
    const set = active.get(integration) ?? new Set<string>()
    active.set(integration, set)
    if (row.type === "JobStarted") {
      if (set.size > 0) overlaps.push(`position ${row.position}: ${jobId} started while ${[...set].join(", ")} active on ${integration}`)
      set.add(jobId)
    } else if (ACTIVE_ENDS.has(row.type)) set.delete(jobId)
  }
  return overlaps
}
