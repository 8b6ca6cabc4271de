// The shared after-response guarantees (guarantees.ts), on koa.
import { guarantees } from './guarantees.js';
import { targets } from './targets.js';

guarantees(targets.koa!);
