// The web process: node --import tsx examples/orders-adapter/main.ts (PORT, REDIS_HOST, REDIS_PORT).
import { ordersApp } from './app.js';
import { ordersStore } from './tasks.js';

const { app, tasks } = ordersApp(ordersStore());
const server = app.listen(Number(process.env.PORT ?? 3002), '127.0.0.1', () => {
  console.log(`orders on http://127.0.0.1:${(server.address() as { port: number }).port} (SIGTERM drains requests and tasks)`);
});
tasks.attach(server);
