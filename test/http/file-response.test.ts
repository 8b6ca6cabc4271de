// FileResponse: Django's tests/responses/test_fileresponse.py, ported by name
// (a file object's cases as a path, a buffer's as bytes, a named pipe's as a
// Readable), then what a socket adds: a client that leaves mid-download, HEAD.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createApp, FileResponse, NotFound, ProgrammingError, route, type Outcome } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, openUnder, served } from '../helpers.js';

const folder = mkdtempSync(path.join(tmpdir(), 'coda-file-response-'));
const notes = path.join(folder, 'test_fileresponse.txt');
writeFileSync(notes, 'the notes of a file response\n');
const big = Buffer.alloc(4 * 1024 * 1024, 'abcdefghij');
const bigFile = path.join(folder, 'big.bin');
writeFileSync(bigFile, big);
process.on('exit', () => rmSync(folder, { recursive: true, force: true }));

/** The response `make()` gives, asked for with `method` through the test client; `make` runs in the view. */
async function ask(make: () => FileResponse, method = 'GET'): Promise<{ status: number; headers: Headers; body: Buffer; outcome: Outcome; response: FileResponse }> {
  let made: FileResponse | undefined;
  const outcome = deferred<Outcome>();
  const app = createApp({
    routes: [route(['GET', 'HEAD'], '/file', () => (made = make()).after(({ outcome: done }) => outcome.resolve(done)))],
  });
  const client = createTestClient(app);
  const answer = await client.request(method, '/file');
  assert.ifError(answer.error);
  return { status: answer.status, headers: answer.headers, body: answer.body, outcome: await outcome.promise, response: made! };
}

describe("Django's FileResponseTests", () => {
  test('test_file_from_disk_response, test_content_length_file, test_content_type_file: a path sends its bytes, its size, its type and an inline disposition', async () => {
    const { status, headers, body, outcome } = await ask(() => new FileResponse(notes));
    assert.equal(status, 200);
    assert.equal(headers.get('content-length'), String(statSync(notes).size));
    assert.equal(headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(headers.get('content-disposition'), 'inline; filename="test_fileresponse.txt"');
    assert.equal(body.toString(), 'the notes of a file response\n');
    assert.equal(outcome.completed, true);
    assert.equal(outcome.bytesSent, statSync(notes).size);
  });

  test('test_file_from_buffer_response, test_content_length_buffer, test_content_type_buffer, test_content_disposition_buffer, test_response_buffer: bytes', async () => {
    const { headers, body, outcome } = await ask(() => new FileResponse(Buffer.from('binary content')));
    assert.equal(headers.get('content-length'), '14');
    assert.equal(headers.get('content-type'), 'application/octet-stream');
    assert.equal(headers.get('content-disposition'), null);
    assert.equal(body.toString(), 'binary content');
    assert.equal(outcome.bytesSent, 14);
  });

  test('test_file_from_buffer_unnamed_attachment, test_content_disposition_buffer_attachment: attachment alone', async () => {
    const { headers, body } = await ask(() => new FileResponse(Buffer.from('binary content'), { asAttachment: true }));
    assert.equal(headers.get('content-length'), '14');
    assert.equal(headers.get('content-type'), 'application/octet-stream');
    assert.equal(headers.get('content-disposition'), 'attachment');
    assert.equal(body.toString(), 'binary content');
  });

  test('test_file_from_named_pipe_response: a Readable of unknown length is sent without a Content-Length', { skip: process.platform === 'win32' }, async () => {
    const fifo = path.join(folder, 'named_pipe');
    execFileSync('mkfifo', [fifo]);
    try {
      const writer = createWriteStream(fifo);
      writer.end('binary content');
      const { headers, body, response } = await ask(() => new FileResponse(createReadStream(fifo)));
      assert.equal(body.toString(), 'binary content');
      assert.equal(headers.get('content-length'), null);
      // Named by its stream's path, as Django names a file object by its name.
      assert.equal(headers.get('content-disposition'), 'inline; filename="named_pipe"');
      await response.closed;
    } finally {
      unlinkSync(fifo);
    }
  });

  test('test_file_from_disk_as_attachment, test_content_disposition_file: inline or attachment, the path\'s name or the one given', async () => {
    for (const [filename, shown] of [[undefined, 'test_fileresponse.txt'], ['', 'test_fileresponse.txt'], ['custom_name.py', 'custom_name.py']] as const) {
      for (const [asAttachment, disposition] of [[false, 'inline'], [true, 'attachment']] as const) {
        const { headers } = await ask(() => new FileResponse(notes, { filename, asAttachment }));
        assert.equal(headers.get('content-disposition'), `${disposition}; filename="${shown}"`, `${filename} ${disposition}`);
        assert.equal(headers.get('content-length'), String(statSync(notes).size));
      }
    }
  });

  test('test_content_disposition_buffer_explicit_filename, test_buffer_explicit_absolute_filename: bytes named, by a path\'s last segment', async () => {
    for (const [asAttachment, disposition] of [[false, 'inline'], [true, 'attachment']] as const) {
      const { headers } = await ask(() => new FileResponse(Buffer.from('binary content'), { asAttachment, filename: 'custom_name.py' }));
      assert.equal(headers.get('content-disposition'), `${disposition}; filename="custom_name.py"`);
    }
    const { headers } = await ask(() => new FileResponse(Buffer.from('binary content'), { filename: notes }));
    assert.equal(headers.get('content-length'), '14');
    assert.equal(headers.get('content-disposition'), 'inline; filename="test_fileresponse.txt"');
  });

  test('test_content_disposition_escaping: a quote and a backslash in a filename are escaped in its quoted-string', async () => {
    const cases = [
      ['multi-part-one";" dummy".txt', String.raw`multi-part-one\";\" dummy\".txt`],
      ['multi-part-one\\";" dummy".txt', String.raw`multi-part-one\\\";\" dummy\".txt`],
      ['multi-part-one\\";\\" dummy".txt', String.raw`multi-part-one\\\";\\\" dummy\".txt`],
    ];
    for (const [filename, escaped] of cases) {
      const { headers } = await ask(() => new FileResponse(Buffer.from('binary content'), { filename, asAttachment: true }));
      assert.equal(headers.get('content-disposition'), `attachment; filename="${escaped}"`, filename);
    }
  });

  test('test_content_type_buffer_explicit, test_content_type_buffer_explicit_default: a Content-Type given is kept', async () => {
    for (const type of ['video/webm', 'text/html; charset=utf-8']) {
      const { headers } = await ask(() => new FileResponse(Buffer.from('binary content'), { headers: { 'content-type': type } }));
      assert.equal(headers.get('content-type'), type);
    }
  });

  test('test_content_type_buffer_named: the type by the name\'s extension, octet-stream for one unknown', async () => {
    const cases = [[notes, 'text/plain; charset=utf-8'], [`${notes}nosuchfile`, 'application/octet-stream'], ['report.pdf', 'application/pdf'], ['data.json', 'application/json; charset=utf-8']];
    for (const [filename, type] of cases) {
      const { headers } = await ask(() => new FileResponse(Buffer.from('binary content'), { filename }));
      assert.equal(headers.get('content-type'), type, filename);
    }
  });

  test('test_compressed_response: a compressed file goes with its own type, never a Content-Encoding a browser would undo', async () => {
    // @fastify/send's types, as staticFiles() sends them: Python's mimetypes names .bz2 application/x-bzip, and knows .br and .Z.
    const cases = [['.tar.gz', 'application/gzip'], ['.tar.br', 'application/octet-stream'], ['.tar.bz2', 'application/x-bzip2'], ['.tar.xz', 'application/x-xz'], ['.tar.Z', 'application/octet-stream']];
    for (const [extension, type] of cases) {
      const file = path.join(folder, `archive${extension}`);
      writeFileSync(file, 'not really compressed');
      const { headers } = await ask(() => new FileResponse(file));
      assert.equal(headers.get('content-type'), type, extension);
      assert.equal(headers.get('content-encoding'), null, extension);
    }
  });

  test('test_unicode_attachment: a name beyond ASCII goes as filename* (RFC 8187), after an ASCII fallback', async () => {
    const { headers } = await ask(() => new FileResponse(Buffer.from('binary content'), {
      filename: '祝您平安.odt', asAttachment: true, headers: { 'content-type': 'application/vnd.oasis.opendocument.text' },
    }));
    assert.equal(headers.get('content-type'), 'application/vnd.oasis.opendocument.text');
    assert.equal(headers.get('content-disposition'), "attachment; filename=\"____.odt\"; filename*=UTF-8''%E7%A5%9D%E6%82%A8%E5%B9%B3%E5%AE%89.odt");
  });
});

describe('FileResponse beyond Django\'s cases', () => {
  test('a filename with a control character, a quote or an astral character goes as filename*: no header injection, a fallback of visible ASCII', async () => {
    const { headers } = await ask(() => new FileResponse(Buffer.from('x'), { filename: 'a\r\nb"😀 (1)%.txt' }));
    assert.equal(headers.get('content-disposition'), "inline; filename=\"a__b__ (1)_.txt\"; filename*=UTF-8''a%0D%0Ab%22%F0%9F%98%80%20%281%29%25.txt");
  });

  test('a filename that is no well-formed Unicode is a TypeError naming it', () => {
    assert.throws(() => new FileResponse(Buffer.from('x'), { filename: 'a\ud800.txt' }), { name: 'TypeError', message: 'FileResponse: the filename "a\\ud800.txt" is not well-formed Unicode (a lone surrogate)' });
  });

  test('a missing file is a 404 naming its last segment only (a 404 reaches the client); a folder is a ProgrammingError naming the path', async () => {
    const missing = path.join(folder, 'gone.pdf');
    assert.throws(() => new FileResponse(missing), (error: unknown) => error instanceof NotFound && error.message === 'no file at gone.pdf');
    assert.throws(() => new FileResponse(folder), (error: unknown) => error instanceof ProgrammingError && error.message === `FileResponse: ${JSON.stringify(folder)} is a folder, not a file it can send`);
    const client = createTestClient(createApp({ routes: [route('GET', '/file', () => new FileResponse(missing))] }));
    const answer = await client.get('/file');
    assert.equal(answer.status, 404);
    assert.equal(await answer.text(), 'no file at gone.pdf');
  });

  test('a path is opened when the response is sent, not when it is made: a file removed in between is a 404, one replaced a 503', async () => {
    const doomed = path.join(folder, 'doomed.txt');
    writeFileSync(doomed, 'soon gone');
    const removed = createTestClient(createApp({ routes: [route('GET', '/file', () => {
      const response = new FileResponse(doomed);
      unlinkSync(doomed);
      return response;
    })] }));
    const gone = await removed.get('/file');
    assert.equal(gone.status, 404);
    assert.equal(await gone.text(), 'no file at doomed.txt');
    const swapped = path.join(folder, 'swapped.txt');
    writeFileSync(swapped, 'first');
    let made: FileResponse | undefined;
    const replaced = createTestClient(createApp({ routes: [route('GET', '/file', () => {
      made = new FileResponse(swapped);
      writeFileSync(`${swapped}.new`, 'second, longer');
      renameSync(`${swapped}.new`, swapped);
      return made;
    })] }));
    const changed = await replaced.get('/file');
    assert.equal(changed.status, 503);
    assert.equal(await changed.text(), 'swapped.txt changed between the response was made and sent: try again');
    // The old file, opened and found replaced, is closed too (its close is asynchronous: the next test counts open files).
    await made!.closed;
    if (process.platform === 'linux') assert.deepEqual(openUnder(folder), []);
  });

  test('HEAD: the headers a GET has, no body, and no file left open', { skip: process.platform !== 'linux' }, async () => {
    const { status, headers, body, response, outcome } = await ask(() => new FileResponse(bigFile, { asAttachment: true }), 'HEAD');
    assert.equal(status, 200);
    assert.equal(headers.get('content-length'), String(big.length));
    assert.equal(headers.get('content-disposition'), 'attachment; filename="big.bin"');
    assert.equal(body.length, 0);
    assert.equal(outcome.bytesSent, 0);
    await response.closed;
    assert.deepEqual(openUnder(folder), []);
  });

  test('options are checked: an unknown one is named, a wrong type refused', () => {
    assert.throws(() => new FileResponse(notes, { as_attachment: true } as never), { name: 'TypeError', message: /FileResponse: unknown option "as_attachment"; did you mean "asAttachment"\?/ });
    assert.throws(() => new FileResponse(42 as never), { name: 'TypeError', message: 'FileResponse takes a path, a Uint8Array or a Readable, got number 42' });
    assert.throws(() => new FileResponse(notes, { filename: 7 as never }), { name: 'TypeError', message: 'FileResponse: filename must be a string, got number 7' });
  });
});

describe('FileResponse over a real socket', () => {
  test('a 4 MB download: every byte, and after() tasks see the bytes sent; the file is closed after', { skip: process.platform !== 'linux' }, async (t) => {
    const done = deferred<Outcome>();
    let made: FileResponse | undefined;
    const { url } = await served(t, { routes: [route('GET', '/big', () => (made = new FileResponse(bigFile, { asAttachment: true })).after(({ outcome }) => done.resolve(outcome)))] });
    const response = await fetch(`${url}/big`);
    assert.equal(response.headers.get('content-length'), String(big.length));
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), big);
    const outcome = await done.promise;
    assert.equal(outcome.completed, true);
    assert.equal(outcome.bytesSent, big.length);
    await made!.closed;
    assert.deepEqual(openUnder(folder), []);
  });

  test('a client that leaves mid-download: the outcome is aborted with the bytes sent so far, and the file descriptor is closed', { skip: process.platform !== 'linux' }, async (t) => {
    const done = deferred<Outcome>();
    let made: FileResponse | undefined;
    const { url } = await served(t, { routes: [route('GET', '/big', () => (made = new FileResponse(bigFile)).after(({ outcome }) => done.resolve(outcome)))] });
    await new Promise<void>((resolve) => {
      const request = http.get(`${url}/big`, (response) => response.once('data', () => request.destroy()));
      request.on('close', resolve);
      request.on('error', () => {});
    });
    const outcome = await done.promise;
    assert.equal(outcome.aborted, true);
    assert.equal(outcome.completed, false);
    assert.ok(outcome.bytesSent > 0 && outcome.bytesSent < big.length, `bytesSent ${outcome.bytesSent} of ${big.length}`);
    await made!.closed;
    assert.deepEqual(openUnder(folder), []);
  });

  test('a Readable given is destroyed when the client leaves: its descriptor closed too', { skip: process.platform !== 'linux' }, async (t) => {
    let made: FileResponse | undefined;
    const done = deferred<Outcome>();
    const sub = path.join(folder, 'streams');
    mkdirSync(sub, { recursive: true });
    const file = path.join(sub, 'stream.bin');
    writeFileSync(file, big);
    const { url } = await served(t, { routes: [route('GET', '/big', () => (made = new FileResponse(createReadStream(file))).after(({ outcome }) => done.resolve(outcome)))] });
    let framing: string | undefined;
    await new Promise<void>((resolve) => {
      const request = http.get(`${url}/big`, (response) => {
        framing = response.headers['transfer-encoding'];
        response.once('data', () => request.destroy());
      });
      request.on('close', resolve);
      request.on('error', () => {});
    });
    // Its length unknown (test_file_from_named_pipe_response): chunked.
    assert.equal(framing, 'chunked');
    assert.equal((await done.promise).aborted, true);
    await made!.closed;
    assert.deepEqual(openUnder(sub), []);
  });
});
