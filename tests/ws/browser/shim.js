// Node globals the SSB modules expect, from their npm browser builds
// (esbuild --inject).
export const Buffer = require('buffer/').Buffer
export const process = require('process/browser.js')
export const global = globalThis
