import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * The index on source `updated_at` cost more than the rest of a full sync's mirror writes
 * together (its keys arrive in random order, so every insert lands on another page:
 * bench/profile/mirror-write-cost.ts). The records endpoint now pages by source id on the
 * unique key and filters `updatedSince` as it goes.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX IF EXISTS mirror_by_updated`
})
