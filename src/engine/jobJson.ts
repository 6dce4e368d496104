import type { JobDoc } from "../eventlog/jobProjection.js"
import { presentJob } from "./presenters.js"

/**
 * The API's JSON of a job, by (job id, version of its view). A job's view changes only with
 * its events, and each event bumps the version, so a job that did not change is served
 * without reading its doc, parsing it or encoding it again: a dashboard polling the job list
 * re-reads mostly unchanged jobs. Bounded: the least recently served entries go first.
 */
export const makeJobJson = (capacity = 5_000) => {
  const entries = new Map<string, { readonly version: number; readonly json: string }>()

  const remember = (id: string, version: number, json: string) => {
    entries.delete(id)
    entries.set(id, { version, json })
    if (entries.size > capacity) entries.delete(entries.keys().next().value!)
    return json
  }

  return {
    /** The JSON of this version of the job, if it was presented before. */
    cached: (id: string, version: number): string | undefined => {
      const hit = entries.get(id)
      return hit !== undefined && hit.version === version ? remember(id, version, hit.json) : undefined
    },
    /** Presents a doc (of its own version) and keeps the JSON. */
    present: (doc: JobDoc): string => remember(doc.id, doc.version, JSON.stringify(presentJob(doc)))
  }
}
