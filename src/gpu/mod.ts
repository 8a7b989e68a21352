// This module is browser compatible.
/**
 * WebGPU device plumbing (the only code that touches `navigator.gpu`) and the `Backend` value that
 * says where work runs.
 *
 * @module
 */
export * from "./device.ts";
export * from "./backend.ts";
