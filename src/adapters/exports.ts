// What every adapter module exports besides its own middleware or plugin.
export type { AdapterOptions, AfterFunction, Adapter } from './adapter.js';
export type { AttachableServer, AttachedServer, AttachOptions } from '../server/attach.js';
export type { ShutdownReport } from '../server/close.js';
export { after } from '../after/context.js';
