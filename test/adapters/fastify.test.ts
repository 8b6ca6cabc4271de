// The shared after-response guarantees (guarantees.ts), on fastify.
import { guarantees } from './guarantees.js';
import { targets } from './targets.js';

guarantees(targets.fastify!);
