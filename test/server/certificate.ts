// A self-signed certificate for 127.0.0.1 and localhost, made by openssl when
// the tests run (test-only, never committed); one per process, in a
// temporary folder removed at exit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificate {
  key: string;
  cert: string;
}

let made: Certificate | undefined;

/** A key and its self-signed certificate (EC P-256, valid one day), as PEM; clients trust it with `ca: cert`. */
export function selfSigned(): Certificate {
  if (made !== undefined) return made;
  const dir = mkdtempSync(join(tmpdir(), 'coda-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'pipe' });
    made = { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
    return made;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
