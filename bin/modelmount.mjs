#!/usr/bin/env node
// Runs the TypeScript entry point on any Node >= 20.19 (Node 20 cannot strip types itself).
import { register } from 'tsx/esm/api';

register();
await import('../scripts/modelmount.ts');
