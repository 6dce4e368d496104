import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { fingerprintOf, open, seal } from "./cipher.js"

/** `SYNC_MASTER_KEY`, parsed (see cipher.ts); none: stored credentials are off. */
export class MasterKey extends Context.Tag("synclog/MasterKey")<MasterKey, Option.Option<Redacted.Redacted<Buffer>>>() {
  static none = Layer.succeed(MasterKey, Option.none())
}

/** What the store holds for an integration. */
type StoredKey =
  | { readonly _tag: "None" }
  | { readonly _tag: "Key"; readonly key: Redacted.Redacted<string>; readonly fingerprint: string }
  /** A row that this process cannot read: no master key, or another one than it was sealed with. */
  | { readonly _tag: "Unreadable"; readonly reason: string }

interface Row {
  readonly iv: Uint8Array
  readonly ciphertext: Uint8Array
  readonly tag: Uint8Array
  readonly fingerprint: string
}

/**
 * API keys stored over the API, encrypted at rest with the master key. The plain key exists
 * only inside a Redacted, on its way to the connector; the table holds IV, ciphertext and tag.
 */
export class CredentialStore extends Effect.Service<CredentialStore>()("synclog/CredentialStore", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const masterKey = yield* MasterKey
    // What `current` answers without a database read per request; `put` and `remove` drop an
    // entry, and a read that raced with one of them is not cached (the generation moved on).
    const cache = new Map<string, StoredKey>()
    let generation = 0
    const invalidate = (integrationId: string) =>
      Effect.sync(() => {
        generation++
        cache.delete(integrationId)
      })

    /** Seals and stores (replaces) a key; the caller checked `enabled`. Returns its fingerprint. */
    const put = (integrationId: string, apiKey: Redacted.Redacted<string>, at: string) =>
      Effect.gen(function*() {
        yield* invalidate(integrationId)
        const key = Option.getOrThrowWith(masterKey, () => new Error("stored credentials need SYNC_MASTER_KEY"))
        const secret = Redacted.value(apiKey)
        const sealed = seal(key, integrationId, secret)
        const fingerprint = fingerprintOf(secret)
        yield* sql`INSERT INTO credentials (integration_id, iv, ciphertext, tag, fingerprint, updated_at)
          VALUES (${integrationId}, ${sealed.iv}, ${sealed.ciphertext}, ${sealed.tag}, ${fingerprint}, ${at})
          ON CONFLICT (integration_id) DO UPDATE SET iv = excluded.iv, ciphertext = excluded.ciphertext,
            tag = excluded.tag, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at`
        return fingerprint
      })

    /** Deletes the stored key; whether there was one. */
    const remove = (integrationId: string) =>
      Effect.zipRight(
        invalidate(integrationId),
        Effect.map(
          sql<{ integration_id: string }>`DELETE FROM credentials WHERE integration_id = ${integrationId} RETURNING integration_id`,
          (rows) => rows.length > 0
        )
      )

    const get = (integrationId: string) =>
      Effect.map(
        sql<Row>`SELECT iv, ciphertext, tag, fingerprint FROM credentials WHERE integration_id = ${integrationId}`,
        (rows): StoredKey => {
          const row = rows[0]
          if (row === undefined) return { _tag: "None" }
          if (Option.isNone(masterKey)) {
            return { _tag: "Unreadable", reason: "a key is stored but SYNC_MASTER_KEY is not set; set it to the key it was stored with" }
          }
          const secret = open(masterKey.value, integrationId, row)
          return secret === undefined
            ? {
              _tag: "Unreadable",
              reason: "the stored key does not decrypt with this SYNC_MASTER_KEY; restore the previous master key or store the API key again"
            }
            : { _tag: "Key", key: Redacted.make(secret), fingerprint: row.fingerprint }
        }
      )

    /**
     * The stored key as of the last `put` or `remove`, decrypted once and then kept in memory:
     * what a connector reads before each request, so a rotated key applies from the next one.
     * (Queries wait while a transaction holds the connection, so a read never sees a key that
     * a rolled-back `put` wrote.)
     */
    const current = (integrationId: string) =>
      Effect.suspend(() => {
        const hit = cache.get(integrationId)
        if (hit !== undefined) return Effect.succeed(hit)
        const seen = generation
        return Effect.tap(get(integrationId), (value) =>
          Effect.sync(() => {
            if (generation === seen) cache.set(integrationId, value)
          }))
      })

    return { enabled: Option.isSome(masterKey), put, remove, get, current } as const
  })
}) {}
