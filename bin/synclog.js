#!/usr/bin/env node
// `npx synclog ...`: the CLI runs from its TypeScript sources, through tsx's loader (as
// `npm run cli` does with `node --import tsx`).
import { register } from "tsx/esm/api"

register()
await import("../src/cli.ts")
