/**
 * Checks of parsed JSON, written by hand for speed (viewDocs.ts says why): each proves a type,
 * and on failure says where (keys from the root), what it expected and what it found.
 */

/** What a check found wrong: where (keys from the doc's root), what it expected, what it found. */
export interface Problem {
  readonly path: ReadonlyArray<string>
  readonly expected: string
  readonly actual: unknown
}

/** A check of one value that proves it is an `A` (a compile-time tag, invariant in `A`). */
export interface Check<A> {
  readonly run: (u: unknown) => Problem | undefined
  readonly optional?: true
  readonly _A?: (a: A) => A
}

type Proven<C> = C extends Check<infer A> ? A : never

const problem = (expected: string, actual: unknown): Problem => ({ path: [], expected, actual })
const under = (key: string, p: Problem): Problem => ({ ...p, path: [key, ...p.path] })
export const isObject = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const primitive = <A>(expected: string, ok: (u: unknown) => boolean): Check<A> => ({
  run: (u) => (ok(u) ? undefined : problem(expected, u))
})

export const str = primitive<string>("a string", (u) => typeof u === "string")
export const num = primitive<number>("a number", (u) => typeof u === "number")
export const int = primitive<number>("an integer", Number.isInteger)
export const bool = primitive<boolean>("a boolean", (u) => typeof u === "boolean")
export const anything = primitive<unknown>("anything", () => true)

export const literal = <const L extends ReadonlyArray<string>>(values: L): Check<L[number]> => {
  const allowed = new Set<unknown>(values)
  return primitive(`one of ${values.join(", ")}`, (u) => allowed.has(u))
}

export const nullOr = <A>(check: Check<A>): Check<A | null> => ({
  run: (u) => {
    if (u === null) return undefined
    const p = check.run(u)
    return p !== undefined && p.path.length === 0 ? { ...p, expected: `${p.expected} or null` } : p
  }
})

/** A field that may be absent (never `undefined`: JSON has none). */
export const optional = <A>(check: Check<A>): Check<A> & { readonly optional: true } => ({ ...check, optional: true })

export const arrayOf = <A>(item: Check<A>): Check<ReadonlyArray<A>> => ({
  run: (u) => {
    if (!Array.isArray(u)) return problem("an array", u)
    for (let i = 0; i < u.length; i++) {
      const p = item.run(u[i])
      if (p !== undefined) return under(String(i), p)
    }
    return undefined
  }
})

export const recordOf = <A>(value: Check<A>): Check<Readonly<Record<string, A>>> => ({
  run: (u) => {
    if (!isObject(u)) return problem("an object", u)
    for (const key in u) {
      const p = value.run(u[key])
      if (p !== undefined) return under(key, p)
    }
    return undefined
  }
})

type Fields = Readonly<Record<string, Check<any>>>
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends { readonly optional: true } ? K : never }[keyof F]
type StructOf<F extends Fields> =
  & { readonly [K in Exclude<keyof F, OptionalKeys<F>>]: Proven<F[K]> }
  & { readonly [K in OptionalKeys<F>]?: Proven<F[K]> }

/** An object with these fields (others are ignored, as Schema.Struct does). */
export const struct = <F extends Fields>(fields: F): Check<StructOf<F>> => {
  const entries = Object.entries(fields)
  return {
    run: (u) => {
      if (!isObject(u)) return problem("an object", u)
      for (const [key, check] of entries) {
        const value = u[key]
        if (value === undefined && check.optional) continue
        const p = check.run(value)
        if (p !== undefined) return under(key, p)
      }
      return undefined
    }
  }
}

/** One of several shapes, told apart by a key only that shape has (a schedule's `every` or `cron`). */
export const byKey = <M extends Fields>(members: M): Check<Proven<M[keyof M]>> => {
  const keys = Object.keys(members)
  return {
    run: (u) => {
      if (!isObject(u)) return problem("an object", u)
      const key = keys.find((k) => k in u)
      return key === undefined ? problem(`an object with ${keys.join(" or ")}`, u) : members[key]!.run(u)
    }
  }
}
