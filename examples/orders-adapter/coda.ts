// For the `coda` command: coda tasks stats ./examples/orders-adapter/coda.ts (or coda worker ./...).
// Its default export is the Coda app behind the Express middleware; nothing here listens.
import { ordersApp } from './app.js';
import { ordersStore } from './tasks.js';

export default ordersApp(ordersStore()).tasks.app;
