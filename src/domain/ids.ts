import { Clock, Effect, Random, Schema } from "effect"

/** `sync-job-<time-sortable suffix>`: 9 base-36 chars of epoch ms, then 8 random ones. */
export const JobId = Schema.String.pipe(Schema.brand("JobId"))
export type JobId = typeof JobId.Type

export const IntegrationId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
    message: () => "an integration id is 1 to 128 letters, digits, '.', '_' or '-'"
  }),
  Schema.brand("IntegrationId")
)
export type IntegrationId = typeof IntegrationId.Type

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

/** Lexicographic order of ids equals creation order (to the millisecond), like a ULID. */
export const makeJobId: Effect.Effect<JobId> = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  let suffix = ""
  for (let i = 0; i < 8; i++) suffix += ALPHABET[yield* Random.nextIntBetween(0, 36)]
  return JobId.make(`sync-job-${now.toString(36).padStart(9, "0")}${suffix}`)
})
