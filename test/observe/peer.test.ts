// Optional peer dependencies (prom-client, @opentelemetry/api): a missing one
// is named with its install command; any other failure to load is not hidden.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { loadPeer } from '../../src/observe/peer.js';

test('a peer that is not installed is named with the option that needs it and its install command', () => {
  assert.throws(() => loadPeer('coda-no-such-peer', 'createApp(): metrics'), {
    message: 'createApp(): metrics needs the package coda-no-such-peer, which is not installed: npm install coda-no-such-peer',
  });
});

test('a peer that is installed but cannot load (a dependency of its own missing) fails with its own error, not "not installed"', () => {
  const peer = fileURLToPath(new URL('./fixtures/broken-peer.cjs', import.meta.url));
  assert.throws(() => loadPeer(peer, 'createApp(): metrics'), (error: Error) => {
    assert.match(error.message, /^Cannot find module 'coda-no-such-dependency'/);
    return true;
  });
});
