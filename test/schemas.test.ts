import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ENTITY_TYPES, type EntityType } from "../src/domain/entities.js"
import { decodeEnvelope, Envelope, fastChecks, recordSchemas, toSourceRecord } from "../src/connectors/plane/schemas.js"

/**
 * The connector checks records with hand-written predicates (the hot path of a full sync) and
 * falls back to the Schema definitions. Both must say the same about every input, or a record
 * the schema rejects could reach the mirror. Random records around valid ones decide it.
 */

const uuid = fc.uuid()
const dateTime = fc.oneof(
  fc.constantFrom(
    "2026-01-14T15:22:41.478363Z",
    "2026-01-14T15:22:41.478363+05:30",
    "2026-01-14 15:22:41Z",
    "2026-01-14T15:22Z",
    "2026-13-14T15:22:41.478363Z",
    "2026-02-31T10:00:00.000000Z",
    "2026-01-14",
    "yesterday",
    ""
  ),
  fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString())
)
/** Values a broken source might put anywhere. */
const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.constant("not-a-uuid"),
  fc.constant([]),
  fc.constant({}),
  uuid.map((u) => u.toUpperCase()),
  dateTime
)

const validOf = (entity: EntityType) =>
  fc.record({
    id: uuid,
    name: fc.string(),
    created_at: dateTime,
    updated_at: dateTime,
    project: uuid,
    identifier: fc.string(),
    group: fc.constantFrom("backlog", "started"),
    sequence_id: fc.integer(),
    archived_at: entity === "work_items" ? fc.constantFrom(null, "2026-01-14", "2026-01-14T00:00:00Z", "14.01.2026") : fc.option(dateTime),
    is_member: fc.boolean(),
    extra: fc.anything()
  })

/** A record near a valid one: some fields replaced by junk, some removed. */
const recordOf = (entity: EntityType) =>
  fc.tuple(
    validOf(entity),
    fc.dictionary(fc.constantFrom("id", "name", "created_at", "updated_at", "project", "identifier", "group", "sequence_id", "archived_at", "is_member"), junk, {
      maxKeys: 3
    }),
    fc.subarray(["id", "name", "created_at", "updated_at", "project", "identifier", "group", "sequence_id", "archived_at", "is_member"], {
      maxLength: 2
    })
  ).map(([base, replaced, removed]) => {
    const record: Record<string, unknown> = { ...base, ...replaced }
    for (const key of removed) delete record[key]
    return record
  })

describe("hand-written record checks", () => {
  for (const entity of ENTITY_TYPES) {
    it(`agree with the ${entity} schema on valid and broken records`, () => {
      const is = Schema.is(recordSchemas[entity], { onExcessProperty: "ignore" })
      let accepted = 0
      fc.assert(
        fc.property(recordOf(entity), (record) => {
          const schemaSays = is(record)
          expect(fastChecks[entity](record), JSON.stringify(record)).toBe(schemaSays)
          if (schemaSays) accepted++
          // The connector's verdict is the schema's either way.
          expect("payload" in toSourceRecord(entity, record)).toBe(schemaSays)
        }),
        { numRuns: 2000, seed: 42 }
      )
      // The generator reaches both sides of the line.
      expect(accepted).toBeGreaterThan(100)
      expect(accepted).toBeLessThan(1900)
    })
  }

  it("the envelope check agrees with the envelope schema", () => {
    const decode = Schema.decodeUnknownEither(Envelope, { onExcessProperty: "ignore" })
    const envelope = fc.record(
      {
        results: fc.oneof(fc.array(fc.anything(), { maxLength: 3 }), junk),
        next_page_results: fc.oneof(fc.boolean(), junk),
        total_count: fc.oneof(fc.integer(), junk),
        total_pages: fc.oneof(fc.integer(), junk)
      },
      { requiredKeys: [] }
    )
    fc.assert(
      fc.property(fc.oneof(envelope, junk), (body) => {
        expect(Either.isRight(decodeEnvelope(body))).toBe(Either.isRight(decode(body)))
      }),
      { numRuns: 2000, seed: 42 }
    )
  })
})
