// The DPO's console: signs every operator request in the browser, exactly as the CLI does
// (README "Signing an operator request"), with WebCrypto alone. The key is imported as a
// non-extractable HMAC key: kept in memory for this tab, or, when the operator ticks "remember",
// in this origin's IndexedDB as the same non-extractable key. It is never sent, shown or stored
// as text.
'use strict';

const TEXTS = {
  pl: {
    title: 'zgoda · konsola IOD', sign_in_title: 'Zaloguj się kluczem operatora',
    sign_in_help: 'Identyfikator i klucz (hex) operatora, te same co w CLI. Klucz nie opuszcza przeglądarki.',
    kid: 'Identyfikator klucza', key: 'Klucz (hex)', remember: 'Zapamiętaj na tym urządzeniu', sign_in: 'Zaloguj',
    sign_out: 'Wyloguj', signed_in_as: 'Operator', other_lang: 'English',
    register: 'Rejestr naruszeń', breach: 'Naruszenie', band: 'Poziom', deadline: 'Termin', left: 'Pozostało',
    no_breaches: 'Brak zarejestrowanych naruszeń.',
    bad_key_format: 'Klucz musi być zapisem szesnastkowym (hex), jak w CLI.',
    refused: 'Serwer nie przyjął podpisu: sprawdź identyfikator i klucz.',
    clock: 'Zegar tego urządzenia różni się od serwera o {s} s; podpis jest ważny przez 300 s. Ustaw czas automatycznie i spróbuj ponownie.',
    failed: 'Serwer odpowiedział błędem ({status}). Spróbuj ponownie za chwilę.',
    offline: 'Brak połączenia z serwerem.',
    no_crypto: 'Ta przeglądarka nie udostępnia WebCrypto (crypto.subtle); konsola wymaga HTTPS lub localhost.',
    band_low: 'niski', band_medium: 'średni', band_high: 'wysoki', band_very_high: 'bardzo wysoki',
    notify_authority: 'PUODO', notify_controller: 'administrator',
    status_not_required: 'zgłoszenie niewymagane', status_notified: 'zgłoszono', status_notified_late: 'zgłoszono po terminie',
    late_by: 'po terminie o',
  },
  en: {
    title: 'zgoda · DPO console', sign_in_title: 'Sign in with an operator key',
    sign_in_help: "The operator's key id and key (hex), the same as the CLI's. The key never leaves the browser.",
    kid: 'Key id', key: 'Key (hex)', remember: 'Remember on this device', sign_in: 'Sign in',
    sign_out: 'Sign out', signed_in_as: 'Operator', other_lang: 'Polski',
    register: 'Breach register', breach: 'Breach', band: 'Band', deadline: 'Deadline', left: 'Left',
    no_breaches: 'No breaches registered.',
    bad_key_format: 'The key must be hexadecimal, as the CLI takes it.',
    refused: 'The server did not accept the signature: check the key id and the key.',
    clock: "This device's clock is {s} s off the server's; a signature is valid for 300 s. Set the time automatically and try again.",
    failed: 'The server answered with an error ({status}). Try again in a moment.',
    offline: 'The server cannot be reached.',
    no_crypto: 'This browser offers no WebCrypto (crypto.subtle); the console needs HTTPS or localhost.',
    band_low: 'low', band_medium: 'medium', band_high: 'high', band_very_high: 'very high',
    notify_authority: 'authority', notify_controller: 'controller',
    status_not_required: 'no notification required', status_notified: 'notified', status_notified_late: 'notified late',
    late_by: 'late by',
  },
};

const query = new URLSearchParams(location.search);
const LANG = (query.get('lang') || navigator.language || 'pl').toLowerCase().startsWith('en') ? 'en' : 'pl';
const t = (k, vars = {}) => (TEXTS[LANG][k] || k).replace(/\{(\w+)\}/g, (_, v) => String(vars[v]));
const $ = (id) => document.getElementById(id);
const encoder = new TextEncoder();
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
// How far this clock may be from the server's (`operator_sig`'s window).
const CLOCK_WINDOW_SECS = 300;

/** The signed-in operator: `{kid, key}` with `key` a non-extractable CryptoKey. */
let session = null;

function unhex(text) {
  const clean = text.trim();
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) return null;
  return Uint8Array.from(clean.match(/../g), (h) => parseInt(h, 16));
}

function importKey(bytes) {
  return crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/**
 * A request to the operator API, signed: `ts \n METHOD \n host \n path-and-query \n
 * idempotency-key \n hex(SHA-256(body))`, HMAC-SHA256 under the operator key. A random `_n`
 * parameter (signed with the rest) keeps two identical requests in one second from being
 * taken for a replay, as in the CLI.
 */
async function signedFetch(method, path, body, idempotencyKey) {
  const url = new URL(path, location.origin);
  url.searchParams.set('_n', hex(crypto.getRandomValues(new Uint8Array(8))));
  const pathAndQuery = url.pathname + url.search;
  const bytes = body === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(body));
  const ts = Math.floor(Date.now() / 1000);
  const digest = hex(await crypto.subtle.digest('SHA-256', bytes));
  const message = [ts, method, location.host.toLowerCase(), pathAndQuery, idempotencyKey || '', digest].join('\n');
  const sig = hex(await crypto.subtle.sign('HMAC', session.key, encoder.encode(message)));
  const headers = { authorization: `Zgoda-HMAC-SHA256 kid=${session.kid}, ts=${ts}, sig=${sig}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  return fetch(url, { method, headers, body: body === undefined ? undefined : bytes, credentials: 'omit', cache: 'no-store' });
}

/** Why a request was refused, in words: a stale clock is told apart by the server's `Date`. */
function refusal(response) {
  if (response.status === 401) {
    const server = Date.parse(response.headers.get('date') || '');
    const skew = Number.isNaN(server) ? 0 : Math.round((Date.now() - server) / 1000);
    return Math.abs(skew) > CLOCK_WINDOW_SECS - 30 ? t('clock', { s: skew }) : t('refused');
  }
  return t('failed', { status: response.status });
}

function show(message) {
  const box = $('message');
  box.textContent = message || '';
  box.hidden = !message;
}

// Remembered keys: IndexedDB keeps a CryptoKey as it is (still non-extractable).
const DB = { name: 'zgoda-console', store: 'operator', id: 'key' };

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB.name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(DB.store);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function remembered(action, value) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(DB.store, action === 'get' ? 'readonly' : 'readwrite');
    const store = tx.objectStore(DB.store);
    const req = action === 'get' ? store.get(DB.id) : action === 'put' ? store.put(value, DB.id) : store.delete(DB.id);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function translate() {
  document.documentElement.lang = LANG;
  document.title = t('title');
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  const other = LANG === 'pl' ? 'en' : 'pl';
  $('switch-lang').textContent = t('other_lang');
  $('switch-lang').href = `?lang=${other}`;
}

async function signIn(event) {
  event.preventDefault();
  show('');
  const bytes = unhex($('key').value);
  if (!bytes) {
    show(t('bad_key_format'));
    return;
  }
  const candidate = { kid: $('kid').value.trim(), key: await importKey(bytes) };
  bytes.fill(0);
  $('key').value = '';
  session = candidate;
  const ok = await loadRegister();
  if (!ok) {
    session = null;
    return;
  }
  if ($('remember').checked) await remembered('put', candidate);
  enter();
}

async function signOut() {
  session = null;
  await remembered('delete').catch(() => {});
  clearInterval(ticker);
  $('breaches').replaceChildren();
  $('register').hidden = true;
  $('nav').hidden = true;
  $('sign-in').hidden = false;
  show('');
}

function enter() {
  $('who').textContent = `${t('signed_in_as')}: ${session.kid}`;
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('register').hidden = false;
}

let ticker = null;

/** Loads the register; false (with a message shown) when the server refused or failed. */
async function loadRegister() {
  let response;
  try {
    response = await signedFetch('GET', '/v1/breaches');
  } catch (e) {
    show(t('offline'));
    return false;
  }
  if (!response.ok) {
    show(refusal(response));
    return false;
  }
  const list = await response.json();
  renderRegister(list.items || []);
  return true;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderRegister(items) {
  const rows = items.map((b) => {
    const tr = document.createElement('tr');
    tr.dataset.breach = b.breach_id;
    const d = b.deadline || {};
    tr.append(
      cell(b.title),
      cell(t(`band_${b.severity && b.severity.band}`)),
      cell(d.due_at ? `${t(`notify_${d.notify}`)} · ${new Date(d.due_at).toLocaleString(LANG)}` : '—'),
    );
    const left = cell('', 'countdown');
    left.dataset.due = d.due_at || '';
    left.dataset.status = d.status || '';
    tr.append(left);
    return tr;
  });
  $('breaches').replaceChildren(...rows);
  $('no-breaches').hidden = items.length > 0;
  tick();
  clearInterval(ticker);
  ticker = setInterval(tick, 1000);
}

function duration(seconds) {
  const s = Math.abs(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return `${h} h ${String(m).padStart(2, '0')} min ${String(sec).padStart(2, '0')} s`;
}

/** Each open deadline counts down live, coloured by urgency (late, under 24 h, open). */
function tick() {
  for (const el of document.querySelectorAll('.countdown')) {
    const status = el.dataset.status;
    if (status !== 'open' && status !== 'late') {
      el.textContent = t(`status_${status}`);
      el.className = 'countdown done';
      continue;
    }
    const left = Math.round((Date.parse(el.dataset.due) - Date.now()) / 1000);
    el.textContent = left >= 0 ? duration(left) : `${t('late_by')} ${duration(left)}`;
    el.className = `countdown ${left < 0 ? 'late' : left < 24 * 3600 ? 'urgent' : 'open'}`;
  }
}

async function start() {
  translate();
  if (!window.crypto || !crypto.subtle) {
    show(t('no_crypto'));
    return;
  }
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  const kept = await remembered('get').catch(() => undefined);
  if (kept && kept.key) {
    session = kept;
    if (await loadRegister()) {
      enter();
      return;
    }
    session = null;
  }
  $('sign-in').hidden = false;
}

start();
