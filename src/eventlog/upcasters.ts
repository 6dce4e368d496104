import { EVENT_VERSION } from "../domain/events.js"

/**
 * Upcasters turn a stored payload of an older schema version into the current shape, one
 * version step at a time, so history is never rewritten. Key: `${type}@${fromVersion}`.
 * Version 1 is the first; nothing to upcast yet.
 */
const upcasters: Record<string, (payload: Record<string, unknown>) => Record<string, unknown>> = {}

export const upcast = (type: string, version: number, payload: Record<string, unknown>): Record<string, unknown> => {
  let current = payload
  for (let v = version; v < EVENT_VERSION; v++) {
    const step = upcasters[`${type}@${v}`]
    if (step === undefined) throw new Error(`No upcaster for ${type} from schema version ${v}`)
    current = step(current)
  }
  return current
}
