// The shared after-response guarantees (guarantees.ts), on express4.
import { guarantees } from './guarantees.js';
import { targets } from './targets.js';

guarantees(targets.express4!);
