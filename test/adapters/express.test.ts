// The shared after-response guarantees (guarantees.ts), on express.
import { guarantees } from './guarantees.js';
import { targets } from './targets.js';

guarantees(targets.express!);
