#!/usr/bin/env node
// The CLI, built from src/cli by `npm run build:cli` (run by `npm ci` / `npm install` through `prepare`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
