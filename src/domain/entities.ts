import { Schema } from "effect"

/** The Plane entity types synclog mirrors, in the order a sync walks them. */
export const ENTITY_TYPES = ["projects", "states", "labels", "cycles", "modules", "work_items"] as const
export const EntityType = Schema.Literal(...ENTITY_TYPES)
export type EntityType = typeof EntityType.Type

export const isEntityType = Schema.is(EntityType)
