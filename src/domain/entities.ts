import { Schema } from "effect"
import { PLANE_PLAN } from "../connectors/plane/plan.js"
import { streamNames } from "../connectors/SourcePlan.js"

/**
 * The entity types synclog mirrors, in the order a sync walks them: the names of the streams
 * the source's plan declares (connectors/plane/plan.ts), so the API accepts and reports
 * exactly what the connector walks. This is domain/'s one import from connectors/: the names
 * are the plan's (pure data, no IO); a second source adds its plan's names here.
 */
export const ENTITY_TYPES = streamNames(PLANE_PLAN)
export const EntityType = Schema.Literal(...ENTITY_TYPES)
export type EntityType = typeof EntityType.Type

export const isEntityType = Schema.is(EntityType)

/** The workspace-scoped stream (walked first): its records are the projects, which belong to no project. */
export const WORKSPACE_ENTITY: EntityType = ENTITY_TYPES[0]
