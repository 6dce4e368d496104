/**
 * The part of autocannon's programmatic API the load worker uses (autocannon ships no types,
 * and @types/autocannon would be one more dependency for four fields).
 */
declare module "autocannon" {
  interface RequestParams {
    method?: string
    path?: string
    headers?: Record<string, string>
  }
  interface Request extends RequestParams {
    setupRequest?: (request: RequestParams, context: Record<string, unknown>) => RequestParams
  }
  interface Options {
    url: string
    connections?: number
    pipelining?: number
    duration?: number
    requests?: Array<Request>
    timeout?: number
  }
  interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p90: number
    p99: number
  }
  interface Result {
    requests: Histogram
    latency: Histogram
    errors: number
    timeouts: number
    non2xx: number
    duration: number
    "2xx": number
  }
  function autocannon(options: Options): Promise<Result>
  export default autocannon
}
