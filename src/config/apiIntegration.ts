import { ParseResult, Schema } from "effect"
import type { Issue } from "../domain/errors.js"
import { IntegrationConfigFields, oneSchedule } from "./ConfigFile.js"

/**
 * An integration created over the API: the config file's keys and checks (so a key added to
 * the file's schema is accepted here too), but `apiKeyEnv` is optional, since the key may be
 * stored later through `PUT /api/sync/integrations/:id/credentials`.
 */
export const ApiIntegrationConfig = Schema.Struct({
  ...IntegrationConfigFields,
  apiKeyEnv: Schema.optionalWith(IntegrationConfigFields.apiKeyEnv, { exact: true })
}).pipe(Schema.filter(oneSchedule))
export type ApiIntegrationConfig = typeof ApiIntegrationConfig.Type

/** Ids a path under /api/sync/integrations/ already means something else for. */
const RESERVED_IDS: ReadonlySet<string> = new Set(["status"])

const decode = Schema.decodeUnknownEither(ApiIntegrationConfig, { errors: "all", onExcessProperty: "error" })
const encode = Schema.encodeSync(ApiIntegrationConfig)

/**
 * Checks an integration as the config file would, naming each bad key. On success also gives
 * the input in its encoded form with the defaults filled in: what the events keep and PATCH
 * merges into.
 */
export const checkApiIntegration = (
  input: unknown
):
  | { readonly ok: true; readonly config: ApiIntegrationConfig; readonly encoded: Record<string, unknown> }
  | { readonly ok: false; readonly issues: ReadonlyArray<Issue> } =>
{
  const result = decode(input)
  if (result._tag === "Left") {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(result.left).map((i) => ({
      path: i.path.length > 0 ? i.path.map(String).join(".") : "(body)",
      message: i.message
    }))
    return { ok: false, issues }
  }
  if (RESERVED_IDS.has(result.right.id)) {
    return { ok: false, issues: [{ path: "id", message: `'${result.right.id}' is reserved (GET /api/sync/integrations/status)` }] }
  }
  return { ok: true, config: result.right, encoded: { ...encode(result.right) } }
}
