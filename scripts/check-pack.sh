#!/usr/bin/env bash
# Packs coda-http as `npm publish` would, installs the tarball into a new project
# in a temporary folder and uses it there as a consumer would: ESM imports of
# 'coda-http', 'coda-http/testing' and the four adapters, one request in-process, and a strict
# type-check against the shipped .d.ts. Exits non-zero on any failure.
# Run it with the Node it should check on first on PATH (`npm run check-pack`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coda-check-pack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "== npm pack (Node $(node --version))"
mkdir "$tmp/pack"
(cd "$root" && npm pack --silent --pack-destination "$tmp/pack" >/dev/null)
tarballs=("$tmp"/pack/*.tgz)
[ "${#tarballs[@]}" -eq 1 ] || { echo "expected one tarball, got: ${tarballs[*]}" >&2; exit 1; }
tarball="${tarballs[0]}"
listing="$(tar -tzf "$tarball")"
echo "$(basename "$tarball"): $(wc -l <<<"$listing") files"

for file in package/package.json package/README.md package/LICENSE package/dist/index.js package/dist/index.d.ts \
  package/dist/testing/index.js package/dist/testing/index.d.ts \
  package/dist/adapters/express.js package/dist/adapters/fastify.js package/dist/adapters/koa.js package/dist/adapters/hono.js \
  package/dist/adapters/express.d.ts package/dist/adapters/fastify.d.ts package/dist/adapters/koa.d.ts package/dist/adapters/hono.d.ts \
  package/dist/cli/main.js package/dist/dashboard/assets/dashboard.html package/dist/dashboard/assets/dashboard.js \
  package/dist/bullmq/index.js package/dist/bullmq/index.d.ts; do
  grep -qx "$file" <<<"$listing" || { echo "missing from the tarball: $file" >&2; exit 1; }
done
if grep -E '^package/(src|test|bench|examples|scripts)/' <<<"$listing"; then
  echo "the tarball ships files it should not (above)" >&2; exit 1
fi

echo "== install into a new project"
app="$tmp/app"
mkdir "$app"
echo '{ "name": "coda-pack-check", "private": true, "type": "module" }' > "$app/package.json"
(cd "$app" && npm install --prefer-offline --no-audit --no-fund --silent "$tarball")
[ -f "$app/node_modules/coda-http/dist/index.d.ts" ] || { echo "dist/index.d.ts is not in the installed package" >&2; exit 1; }

cat > "$app/check.mjs" <<'EOF'
import assert from 'node:assert/strict';
import { createApp, get, HttpResponse } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

const app = createApp({ routes: [get('/hello/:name', (request) => new HttpResponse(`hello ${request.params.name}`))] });
const client = createTestClient(app);
const res = await client.get('/hello/pack');
assert.equal(res.status, 200);
assert.equal(await res.text(), 'hello pack');
await client.settle();
const web = await app.fetch(new Request('http://localhost/hello/fetch'));
assert.equal(await web.text(), 'hello fetch');
console.log('ok: GET /hello/pack answered 200 "hello pack" from the installed package, and through app.fetch()');

// The adapters resolve and load without their frameworks installed (those are optional peers, used for types only).
for (const name of ['express', 'fastify', 'koa', 'hono']) {
  const adapter = await import(`coda-http/${name}`);
  assert.equal(typeof adapter.coda, 'function', `coda-http/${name} exports coda()`);
  assert.equal(typeof adapter.after, 'function', `coda-http/${name} exports after()`);
}
console.log('ok: coda-http/express, /fastify, /koa and /hono load from the installed package, without their frameworks');

// coda-http/bullmq resolves without its optional peers installed; opening a store says what to install.
const { bullmqStore } = await import('coda-http/bullmq');
const store = bullmqStore({ connection: { host: '127.0.0.1', port: 6379 } });
await assert.rejects(store.open(), /bullmqStore\(\) needs the bullmq and ioredis packages: npm install bullmq ioredis/);
console.log('ok: coda-http/bullmq imports without bullmq, and open() names the packages to install');
EOF
(cd "$app" && node check.mjs)

echo "== the coda command from the installed package"
(cd "$app" && npx --no-install coda --help) | grep -q '^Usage: coda <command>' || { echo "coda --help did not print its usage" >&2; exit 1; }
# The version is read from the package.json two folders above dist/cli.
expected="coda-http $(node -p "require('$root/package.json').version")"
actual="$(cd "$app" && npx --no-install coda --version)"
[ "$actual" = "$expected" ] || { echo "coda --version printed \"$actual\", expected \"$expected\"" >&2; exit 1; }
cat > "$app/app.mjs" <<'APP'
import { createApp, dashboard, get, HttpResponse } from 'coda-http';
export default createApp({ routes: [get('/', () => new HttpResponse('hi')), ...dashboard({ authorize: () => true })] });
APP
code=0; (cd "$app" && npx --no-install coda serve app.mjs --bogus 2>/dev/null) || code=$?
[ "$code" -eq 2 ] || { echo "coda serve --bogus exited $code, expected 2" >&2; exit 1; }
# The dashboard's page and script are read from the installed package's files.
cat > "$app/dashboard.mjs" <<'CHECK'
import assert from 'node:assert/strict';
import { createTestClient } from 'coda-http/testing';
const { default: app } = await import('./app.mjs');
const client = createTestClient(app);
assert.match(await (await client.get('/coda')).text(), /<title>Coda dashboard<\/title>/);
assert.match(await (await client.get('/coda/dashboard.js')).text(), /EventSource/);
await client.settle();
CHECK
(cd "$app" && node dashboard.mjs)
echo "ok: coda --help, --version, a usage error (exit 2) and the dashboard's page and script, from the installed package"

echo "== type-check a consumer against the shipped .d.ts"
cat > "$app/check.ts" <<'EOF'
import { createApp, get, HttpResponse, serve, type MiddlewareHooks, type Outcome } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { bullmqStore, type BullmqStoreOptions } from 'coda-http/bullmq';

const bullmqOptions: BullmqStoreOptions = { connection: { host: 'redis', port: 6379 }, prefix: 'shop', keepCompleted: { count: 100 } };
export const store = bullmqStore(bullmqOptions);
const audit: MiddlewareHooks = { afterResponse: (_request, _response, outcome: Outcome) => void outcome.status };
const app = createApp({
  middleware: [audit],
  routes: [get('/hello/:name', (request) => new HttpResponse(`hello ${request.params.name}`))],
});
const res = await createTestClient(app).get('/hello/pack');
const body: string = await res.text();
const web: Response = await app.fetch(new Request('http://localhost/hello/fetch'));
// Typed, not run: serve() with http2 answers a Server of node:http2's server.
const secure = (): Promise<import('coda-http').Server<import('node:http2').Http2SecureServer>> => serve(app, { tls: { key: '', cert: '' }, http2: true });
export { body, secure, web };

// Internal state is not in the published types: each line must fail to compile.
const request = {} as import('coda-http').HttpRequest;
const response = new HttpResponse('x');
// @ts-expect-error internal
app.scheduler;
// @ts-expect-error internal
app.dispatch;
// @ts-expect-error internal
app.closing;
// @ts-expect-error internal
app.afterWork;
// @ts-expect-error internal
request.afterEntries;
// @ts-expect-error internal
request.bodyLimit;
// @ts-expect-error internal
request.afterJob;
// @ts-expect-error internal
response.afterEntries;
EOF
cat > "$app/tsconfig.json" <<EOF
{
  "compilerOptions": {
    "target": "ES2023", "module": "NodeNext", "moduleResolution": "NodeNext", "lib": ["ES2023"],
    "strict": true, "noEmit": true, "skipLibCheck": false,
    "types": ["node"], "typeRoots": ["$root/node_modules/@types"]
  },
  "files": ["check.ts", "api-usage.ts"]
}
EOF
# api.md's snippets and the wrong uses it implies (@ts-expect-error), as the repository's tests write them.
cp "$root/test/architecture/api-usage.ts" "$app/api-usage.ts"
(cd "$app" && node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json)
echo "ok: check.ts and api.md's usage (test/architecture/api-usage.ts) type-check against coda-http's dist/*.d.ts"

# Members keyed by the internal symbols are @internal: a published type that imports symbols.js shows one to editors.
leaks="$(cd "$app/node_modules/coda-http/dist" && grep -rl --include='*.d.ts' "from '.*symbols\.js'" . || true)"
[ -z "$leaks" ] || { echo "published types show internal symbol-keyed members:" $leaks >&2; exit 1; }
echo "ok: no published type shows a member keyed by an internal symbol"
