import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * The project index served only the project filters of selective syncs' deletion sweeps, which
 * read one entity type of one integration anyway (the unique key's prefix); it cost every
 * insert of a full sync an extra B-tree update.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX IF EXISTS mirror_by_project`
})
