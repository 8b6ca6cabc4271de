// The shared after-response guarantees (guarantees.ts), on coda.
import { guarantees } from './guarantees.js';
import { targets } from './targets.js';

guarantees(targets.coda!);
