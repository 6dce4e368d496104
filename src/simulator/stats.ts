/**
 * Request statistics of the v1 API (admin requests are not counted): the number of
 * requests, and how many ended with each status (`"timeout"` for requests held open by
 * the timeout fault) and hit each route.
 */
export interface StatsSnapshot {
  readonly requests: number
  readonly byStatus: Readonly<Record<string, number>>
  readonly byRoute: Readonly<Record<string, number>>
}

export class RequestStats {
  private requests = 0
  private byStatus: Record<string, number> = {}
  private byRoute: Record<string, number> = {}

  /** Counts one finished (or abandoned) request. */
  record(status: number | "timeout", route: string): void {
    this.requests++
    const s = String(status)
    this.byStatus[s] = (this.byStatus[s] ?? 0) + 1
    this.byRoute[route] = (this.byRoute[route] ?? 0) + 1
  }

  snapshot(): StatsSnapshot {
    return { requests: this.requests, byStatus: { ...this.byStatus }, byRoute: { ...this.byRoute } }
  }

  reset(): void {
    this.requests = 0
    this.byStatus = {}
    this.byRoute = {}
  }
}
