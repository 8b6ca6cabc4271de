// The shared after-response guarantees (guarantees.ts), on hono.
import { guarantees } from './guarantees.js';
import { targets } from './targets.js';

guarantees(targets.hono!);
