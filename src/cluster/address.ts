import { Either, Schema } from "effect"

/** The runner's own socket could not be opened (SYNC_RUNNER_ADDRESS / SYNC_RUNNER_LISTEN). */
export class RunnerAddressUnavailable
  extends Schema.TaggedError<RunnerAddressUnavailable>()("RunnerAddressUnavailable", { message: Schema.String })
{}

/** What a failed listen on the runner's address means, and what to change: one line. */
export const runnerListenProblem = (endpoint: RunnerEndpoint, error: unknown): string => {
  const code = (error as { readonly code?: unknown } | undefined)?.code
  const where = formatRunnerAddress(endpoint)
  switch (code) {
    case "EADDRINUSE":
      return `the runner's address ${where} is in use (EADDRINUSE): give SYNC_RUNNER_ADDRESS (or SYNC_RUNNER_LISTEN) a free port, or stop the other process`
    case "EACCES":
      return `the runner's address ${where} needs privileges this process lacks (EACCES): use a port of 1024 or above`
    case "EADDRNOTAVAIL":
      return `the runner's address ${where} is not an address of this machine (EADDRNOTAVAIL): set SYNC_RUNNER_LISTEN to one that is (0.0.0.0:<port> listens on every interface)`
    default:
      return `could not listen on the runner's address ${where} (${error instanceof Error ? error.message : String(error)}): set SYNC_RUNNER_ADDRESS or SYNC_RUNNER_LISTEN`
  }
}

/** A runner's address as the cluster uses it: where other runners reach its socket. */
export interface RunnerEndpoint {
  readonly host: string
  readonly port: number
}

/**
 * `host:port` (SYNC_RUNNER_ADDRESS, SYNC_RUNNER_LISTEN): a host name, an IPv4 address or a
 * bracketed IPv6 address (`[::1]:7101`), and a port from 1 to 65535. Answers what is wrong
 * otherwise, with an example.
 */
export const parseRunnerAddress = (text: string): Either.Either<RunnerEndpoint, string> => {
  const value = text.trim()
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value)
  if (match === null) {
    return Either.left(`expected host:port, such as 127.0.0.1:7101 or runner-1.internal:7101 (got '${value.slice(0, 100)}')`)
  }
  const port = Number(match[2])
  if (port < 1 || port > 65535) return Either.left(`the port must be from 1 to 65535 (got ${match[2]})`)
  const host = match[1]!.startsWith("[") ? match[1]!.slice(1, -1) : match[1]!
  return Either.right({ host, port })
}

export const formatRunnerAddress = (address: RunnerEndpoint) =>
  address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
