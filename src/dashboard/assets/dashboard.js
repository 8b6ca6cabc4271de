// Coda's dashboard page: listens to the event stream and redraws from each
// snapshot. Plain browser JavaScript, no build step; every value from the
// server is put in the page as text, never as HTML.
'use strict';

const base = document.body.dataset.base;
const status = document.getElementById('status');

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function ms(value) {
  if (value === null || value === undefined) return '–';
  if (value < 1) return `${value.toFixed(2)} ms`;
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(1)} s`;
  return `${Math.round(value / 60_000)} min`;
}

function rate(value) {
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
}

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

function fill(tbody, rows, columns, empty) {
  tbody.replaceChildren(...(rows.length === 0 ? [el('tr', {}, el('td', { class: 'empty', colspan: String(columns) }, empty))] : rows));
}

function num(value) {
  return el('td', { class: 'num' }, value);
}

function drawOverview(snapshot) {
  const { requests, after, durable } = snapshot;
  setText('rps', rate(requests.perSecond));
  setText('requests-total', requests.total);
  setText('in-flight', requests.inFlight);
  setText('p95', ms(requests.p95Ms));
  const waits = [after.oldestWaitingMs, durable && durable.oldestWaitingMs].filter((w) => w !== null && w !== undefined);
  setText('oldest', waits.length === 0 ? 'none' : ms(Math.max(...waits)));
}

function drawStates(snapshot) {
  const ended = { after: {}, durable: {} };
  for (const line of snapshot.tasks) {
    for (const [state, count] of Object.entries(line.states)) ended[line.kind][state] = (ended[line.kind][state] || 0) + count;
  }
  const rows = [el('tr', { 'data-kind': 'after' }, el('td', {}, 'after-response'), num(snapshot.after.pending), num(snapshot.after.running),
    num(ended.after.completed || 0), num('–'), num(ended.after.failed || 0), num(ended.after.timedOut || 0), num(ended.after.skipped || 0), num(snapshot.after.shed))];
  const { durable } = snapshot;
  if (durable !== null) {
    rows.push(el('tr', { 'data-kind': 'durable' }, el('td', {}, 'durable'), num(durable.held + durable.ready + durable.delayed), num(durable.running),
      num(durable.completed), num(ended.durable.retrying || 0), num(durable.failed), num('–'), num('–'), num('–')));
  }
  fill(document.querySelector('#states tbody'), rows, 9, '');
  const storeError = document.getElementById('store-error');
  storeError.hidden = !(durable && durable.error);
  storeError.textContent = durable && durable.error ? `The task store did not answer: ${durable.error}` : '';
}

function drawTasks(snapshot) {
  const rows = snapshot.tasks.map((line) => el('tr', { 'data-task': line.name },
    el('td', {}, el('code', {}, line.name)), el('td', {}, line.kind),
    num(line.states.completed || 0), num(line.states.failed || 0), num(rate(line.perSecond)), num(ms(line.waitP95Ms)), num(ms(line.runP95Ms))));
  fill(document.querySelector('#tasks tbody'), rows, 7, 'No task has ended yet.');
}

async function act(id, what, buttons) {
  for (const button of buttons) button.disabled = true;
  try {
    const response = await fetch(`${base}/tasks/${encodeURIComponent(id)}/${what}`, { method: 'POST', headers: { 'x-coda-dashboard': '1' } });
    setText('action-error', response.ok ? '' : `Could not ${what} task ${id}: ${response.status} ${await response.text()}`);
  } catch (error) {
    // No answer at all (the server down or restarting, the network gone): said as a refusal is, not left to the console.
    setText('action-error', `Could not ${what} task ${id}: no answer from the server (${error.message})`);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

function drawFailed(snapshot) {
  const container = document.getElementById('failed');
  if (snapshot.failed.length === 0) {
    container.replaceChildren(el('p', { class: 'empty' }, snapshot.durable === null ? 'This app has no durable tasks.' : 'No failed task.'));
    return;
  }
  container.replaceChildren(...snapshot.failed.map((task) => {
    const retry = el('button', { 'data-action': 'retry' }, 'Retry');
    const discard = el('button', { class: 'secondary', 'data-action': 'discard' }, 'Discard');
    retry.addEventListener('click', () => act(task.id, 'retry', [retry, discard]));
    discard.addEventListener('click', () => act(task.id, 'discard', [retry, discard]));
    const from = task.request ? ` · from ${task.request.method} ${task.request.path} (${task.request.id})` : '';
    return el('div', { class: 'failed-task', 'data-id': task.id },
      el('div', {}, el('strong', {}, task.name), ' ', el('span', { class: 'meta' }, `${task.id} · ${task.attempts} of ${task.maxAttempts} attempts${from}`)),
      el('pre', {}, task.payload),
      el('ol', {}, ...task.errors.map((error) => el('li', { value: String(error.attempt) }, error.message))),
      el('div', {}, retry, discard));
  }));
}

function drawRecent(snapshot) {
  const rows = snapshot.recent.map((request) => el('tr', { 'data-request': request.id },
    el('td', {}, new Date(request.at).toLocaleTimeString()),
    el('td', {}, `${request.method} ${request.path}`),
    el('td', { class: `num s${String(request.status ?? '')[0] ?? ''}` }, request.status ?? '…'),
    num(ms(request.durationMs)),
    el('td', {}, ...request.tasks.map((task) => el('span', { class: `chip ${task.state}`, title: task.error || '' }, `${task.name} ${task.state}${task.attempt ? ` #${task.attempt}` : ''}`)))));
  fill(document.querySelector('#recent tbody'), rows, 5, 'No request yet.');
}

function draw(snapshot) {
  drawOverview(snapshot);
  drawStates(snapshot);
  drawTasks(snapshot);
  drawFailed(snapshot);
  drawRecent(snapshot);
}

// EventSource reconnects by itself when a stream drops, but not after an
// answer other than 200 (a 503 while maxClients pages are open or the server
// shuts down, a 403): it closes for good, so the page tries again itself, as
// often as the 503's Retry-After says.
const RETRY_MS = 5000;

function connect() {
  const events = new EventSource(`${base}/events`);
  events.addEventListener('snapshot', (event) => {
    draw(JSON.parse(event.data));
    status.textContent = 'live';
    status.className = 'live';
  });
  events.addEventListener('error', () => {
    status.className = 'down';
    if (events.readyState !== EventSource.CLOSED) {
      status.textContent = 'reconnecting…';
      return;
    }
    status.textContent = `disconnected: trying again in ${RETRY_MS / 1000} s`;
    setTimeout(connect, RETRY_MS);
  });
}

connect();
