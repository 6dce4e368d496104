import { readdirSync, readFileSync } from "node:fs"

/** A process of a group, with its state letter from /proc (`Z` for a zombie). */
export interface GroupMember {
  readonly pid: number
  readonly state: string
}

/** The processes of a process group, read from /proc (Linux). */
export const groupMembers = (pgid: number): Array<GroupMember> =>
  readdirSync("/proc").flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return []
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return Number(pgrp) === pgid ? [{ pid: Number(entry), state: state! }] : []
    } catch {
      return [] // exited meanwhile
    }
  })

/** The pids of a process group (tsx's launcher and the server it runs). */
export const groupPids = (pgid: number): Array<number> => groupMembers(pgid).map((m) => m.pid)
