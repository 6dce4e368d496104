import type { RunContext } from "./context.js"
import { walkProjectList } from "./projectsWalk.js"
import type { RequestPool } from "./requestPool.js"
import { finalize } from "./sweep.js"
import { walkProjects } from "./walk.js"

/**
 * The step stage `stageIndex` of the job's plan takes, by the stream it walks: the workspace
 * stream lists the projects (projectsWalk.ts), a project-scoped stream is walked project by
 * project (walk.ts), and the stage without a stream is the finalizing sweep (sweep.ts).
 */
export const walkStage = (ctx: RunContext, pool: RequestPool, stageIndex: number) => {
  const stream = ctx.plan.streams[stageIndex]
  if (stream === null || stream === undefined) return finalize(ctx, pool)
  if (stream.scope === "workspace") return walkProjectList(ctx, pool)
  return walkProjects(ctx, pool, ctx.plan.stages[stageIndex]!, stream)
}
