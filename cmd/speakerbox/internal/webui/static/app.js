// The owner's page of a Speakerbox: status, control and settings through the
// speaker's local API.
//
// Plain JavaScript, no framework: the page is one screen of values and a few
// buttons and forms. A framework would outweigh the page several times, and
// most need a build step, which the binary's go:embed does not have; the
// DOM's own APIs (fetch, streams, forms) do all this needs.
'use strict';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'speakerbox.token';
let current = null; // the last status
let volumeBusy = false; // the owner is moving the slider: status must not move it back
let volumeHold = 0; // until then, a status with another volume is an old one
let tokenWaiters = [];
let started = ''; // device.started of the speaker the page talks to
let restarting = false; // a restart was asked for: reconnect quickly

// Every request carries the token once the owner gave one (needed when the
// API is bound beyond loopback). State-changing requests always send a JSON
// body: the server refuses other content types, which keeps plain HTML forms
// of other sites from reaching it.
function headers(json) {
  const h = {};
  const t = localStorage.getItem(TOKEN_KEY);
  if (t) h.Authorization = 'Bearer ' + t;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

class APIError extends Error {
  constructor(code, body) {
    super(body.error || 'HTTP ' + code);
    this.code = code;
    this.body = body;
  }
}

async function api(method, path, body) {
  const json = method !== 'GET';
  const res = await fetch(path, {
    method, cache: 'no-store', headers: headers(json),
    body: json ? JSON.stringify(body ?? {}) : undefined,
  });
  if (res.status === 401) askToken();
  if (!res.ok) {
    let b = {};
    try { b = await res.json(); } catch { /* not JSON: keep the code */ }
    throw new APIError(res.status, b);
  }
  if (res.status === 204) return null;
  return res.json();
}

function askToken() {
  $('token').hidden = false;
  $('token-value').focus();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

$('token').addEventListener('submit', (ev) => {
  ev.preventDefault();
  localStorage.setItem(TOKEN_KEY, $('token-value').value.trim());
  $('token').hidden = true;
  tokenWaiters.forEach((w) => w());
  tokenWaiters = [];
  loadForms();
});

// --- live status through GET /events (server-sent events) ---
// Read with fetch rather than EventSource, which cannot send the
// Authorization header.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function stream() {
  let delay = 500;
  for (;;) {
    try {
      const res = await fetch('events', { headers: headers(false), cache: 'no-store' });
      if (res.status === 401) { await askToken(); continue; }
      if (!res.ok || !res.body) throw new Error('events: HTTP ' + res.status);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r/g, '');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          onEvent(block);
          delay = 500;
        }
      }
    } catch (e) {
      if (!(e instanceof TypeError)) console.warn('events:', e.message);
    }
    setLink(false);
    // A restart takes a few seconds: try every half second meanwhile,
    // rather than backing off as from a speaker that is gone.
    await sleep(restarting ? 500 : delay);
    delay = Math.min(delay * 2, 10000);
  }
}

function onEvent(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') name = val;
    else if (field === 'data') data.push(val);
  }
  if (!data.length) return;
  const msg = JSON.parse(data.join('\n'));
  setLink(true);
  render(name === 'status' ? msg : msg.status);
  if (name !== 'status') loadLog();
}

function setLink(up) {
  const l = $('link');
  l.textContent = up ? 'live' : 'reconnecting';
  l.className = 'pill ' + (up ? 'on' : 'off');
}

// --- rendering ---
const text = (id, v) => { const e = $(id); if (e.textContent !== v) e.textContent = v; };

function mmss(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

function render(s) {
  if (!s) return;
  current = s;
  const dev = s.device || {};
  if (dev.started && dev.started !== started) {
    // A new start (ours or not): what it runs with is read again.
    const again = started !== '';
    started = dev.started;
    text('started', new Date(started).toLocaleString());
    if (again) {
      if (restarting) {
        $('settings-result').className = '';
        text('settings-result', 'Restarted.');
      }
      restarting = false;
      $('restart-now').disabled = false;
      loadForms();
    }
  }
  text('name', dev.name || 'Speakerbox');
  document.title = (dev.name || 'Speakerbox') + ' – Speakerbox';
  const sess = s.session || {};
  text('session', sess.state || 'offline');
  $('session').className = 'pill ' + (sess.state === 'playing' ? 'on' : '');
  text('user', sess.user || '');

  const t = s.track;
  text('title', t ? t.name : 'Nothing playing');
  text('artists', t ? (t.artists || []).join(', ') : '');
  text('album', t ? t.album || '' : '');
  const cover = $('cover');
  if (t && t.cover_url) {
    if (cover.getAttribute('src') !== t.cover_url) cover.src = t.cover_url;
    cover.hidden = false;
  } else {
    cover.hidden = true;
    cover.removeAttribute('src');
  }
  const playing = sess.state === 'playing';
  $('play').setAttribute('aria-label', playing ? 'Pause' : 'Play');
  $('play').classList.toggle('playing', playing);
  for (const id of ['play', 'prev', 'next']) $(id).disabled = !t;
  tick();

  const vol = s.volume || { percent: 0 };
  if (!volumeBusy && (Date.now() > volumeHold || Number($('volume').value) === vol.percent)) {
    $('volume').value = vol.percent;
    volumeHold = 0;
  }
  text('volume-out', $('volume').value + '%');

  const relay = s.relay || { mode: 'none' };
  $('relay').hidden = relay.mode === 'none';
  text('relay-state', relay.on ? 'on' : 'off');
  $('relay-state').className = 'pill ' + (relay.on ? 'on' : 'off');
  for (const b of $('relay').querySelectorAll('[data-mode]')) {
    b.classList.toggle('active', b.dataset.mode === relay.mode);
  }

  const out = s.output || {};
  text('out-device', out.device || '–');
  text('out-format', out.format ? `${out.format}, ${out.rate} Hz, ${out.channels} ch` : '–');
  const buf = s.buffer || { fill: 0, underruns: 0 };
  $('fill').value = buf.fill;
  text('fill-pct', Math.round(buf.fill * 100) + '%');
  text('underruns', String(buf.underruns));
}

// tick moves the position on while playing: the status gives the position at
// a moment, not a stream of positions.
function tick() {
  const t = current && current.track;
  if (!t) { text('pos', '0:00'); text('dur', '0:00'); $('bar').value = 0; return; }
  let pos = t.position_ms;
  if (current.session && current.session.state === 'playing' && t.position_at) {
    pos += Date.now() - Date.parse(t.position_at);
  }
  pos = Math.min(Math.max(pos, 0), t.duration_ms || 0);
  text('pos', mmss(pos));
  text('dur', mmss(t.duration_ms || 0));
  $('bar').value = t.duration_ms ? pos / t.duration_ms : 0;
}
setInterval(tick, 250);

// --- controls ---
async function post(path, body) {
  try {
    await api('POST', path, body);
  } catch (e) {
    flash(e.message);
  }
}

function flash(msg) {
  const r = $('settings-result');
  r.textContent = msg;
  r.className = 'error';
}

document.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-post]');
  if (b) post(b.dataset.post).then(() => { if (b.id === 'logout') loadUsers(); });
});
$('play').addEventListener('click', () => {
  post(current && current.session && current.session.state === 'playing' ? 'player/pause' : 'player/play');
});

let volumeTimer = 0;
$('volume').addEventListener('input', () => {
  volumeBusy = true;
  text('volume-out', $('volume').value + '%');
  clearTimeout(volumeTimer);
  // A drag sends a value every 150 ms, not one per pixel.
  volumeTimer = setTimeout(async () => {
    await post('player/volume', { percent: Number($('volume').value) });
    volumeBusy = false;
    // The speaker's own event follows; until it does, or for two
    // seconds, an older status does not pull the slider back.
    volumeHold = Date.now() + 2000;
  }, 150);
});

// --- log, settings, accounts ---
async function loadLog() {
  try {
    const l = await api('GET', 'log');
    const pre = $('log');
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    text('log', (l.lines || []).join('\n'));
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  } catch (e) { /* the next event tries again */ }
}

let settings = {};

function fillSettings(values) {
  settings = values;
  for (const el of $('settings').elements) {
    if (!el.name || !(el.name in values)) continue;
    if (el.type === 'checkbox') el.checked = values[el.name];
    else el.value = values[el.name];
  }
}

// showPending offers the restart while saved settings wait for one.
function showPending(keys) {
  $('restart').hidden = !keys || !keys.length;
  text('pending', (keys || []).join(', '));
}

$('restart-now').addEventListener('click', async () => {
  const r = $('settings-result');
  $('restart-now').disabled = true;
  try {
    const res = await api('POST', 'restart');
    restarting = true;
    r.className = '';
    r.textContent = res.message;
  } catch (e) {
    $('restart-now').disabled = false;
    flash(e.message);
  }
});

function clearErrors() {
  for (const p of $('settings').querySelectorAll('.error')) p.textContent = '';
  for (const el of $('settings').elements) el.removeAttribute('aria-invalid');
}

$('settings').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  const body = {};
  for (const el of $('settings').elements) {
    if (!el.name) continue;
    let v = el.type === 'checkbox' ? el.checked : el.value;
    // Numbers go as numbers when they are; anything else goes as typed
    // and the server names what is wrong with it.
    if (el.type === 'number' && v !== '' && !Number.isNaN(Number(v))) v = Number(v);
    if (v !== settings[el.name]) body[el.name] = v;
  }
  const r = $('settings-result');
  try {
    const res = await api('PUT', 'settings', body);
    fillSettings(res.values);
    showPending(res.pending_restart);
    r.className = '';
    r.textContent = res.message;
  } catch (e) {
    const key = e.body && e.body.key;
    const p = key && $('settings').querySelector(`.error[data-for="${key}"]`);
    if (p) {
      p.textContent = e.message;
      $('settings').elements[key].setAttribute('aria-invalid', 'true');
      r.textContent = 'Not saved.';
    } else {
      r.textContent = e.message;
    }
    r.className = 'error';
  }
});

async function loadUsers() {
  const ul = $('users');
  try {
    const res = await api('GET', 'credentials');
    ul.replaceChildren(...res.users.map((u) => {
      const li = document.createElement('li');
      li.textContent = u.user + (u.verified ? '' : ' (not verified yet)') + (u.current ? ' – playing now' : '');
      const b = document.createElement('button');
      b.textContent = 'Forget';
      b.addEventListener('click', async () => {
        try {
          await api('DELETE', 'credentials/' + encodeURIComponent(u.id));
        } catch (e) { flash(e.message); }
        loadUsers();
      });
      li.append(b);
      return li;
    }));
    if (!res.users.length) ul.textContent = 'No stored logins.';
  } catch (e) {
    ul.textContent = e.message;
  }
}

// The report is fetched rather than linked so that the token goes with it.
$('report').addEventListener('click', async (ev) => {
  ev.preventDefault();
  try {
    const res = await fetch('report', { headers: headers(false), cache: 'no-store' });
    if (!res.ok) throw new Error('report: HTTP ' + res.status);
    const name = (res.headers.get('Content-Disposition') || '').match(/filename="?([^";]+)/);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(await res.blob());
    a.download = name ? name[1] : 'speakerbox-report.txt';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) { flash(e.message); }
});

async function loadForms() {
  try {
    const res = await api('GET', 'settings');
    fillSettings(res.values);
    showPending(res.pending_restart);
  } catch (e) { flash(e.message); }
  loadUsers();
  loadLog();
}

loadForms();
stream();
