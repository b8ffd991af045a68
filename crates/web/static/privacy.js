// The privacy page's proof of work (security review H2). It fetches a challenge as the page opens,
// solves it with WebCrypto while the person types, and sends the solution with the form in the
// `altcha` field. The protocol is ALTCHA's proof of work v2: count up from zero until
// PBKDF2-SHA-256(nonce ‖ counter as 4 big-endian bytes, salt) starts with the published key prefix.
'use strict';
(() => {
  const form = document.getElementById('privacy');
  const field = form.elements.namedItem('altcha');
  const button = document.getElementById('send');
  const status = document.getElementById('proof-status');
  const fromHex = (text) => Uint8Array.from(text.match(/../g), (byte) => parseInt(byte, 16));
  const toHex = (bytes) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

  async function solve(challenge) {
    const p = challenge.parameters;
    const nonce = fromHex(p.nonce);
    const salt = fromHex(p.salt);
    const password = new Uint8Array(nonce.length + 4);
    password.set(nonce);
    const counterBytes = new DataView(password.buffer, nonce.length, 4);
    for (let counter = 0; counter <= 0xffffffff; counter += 1) {
      counterBytes.setUint32(0, counter);
      const key = await crypto.subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
      const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: p.cost }, key, p.keyLength * 8);
      const derivedKey = toHex(new Uint8Array(bits));
      if (derivedKey.startsWith(p.keyPrefix)) return { counter, derivedKey };
    }
    throw new Error('no counter solves the challenge');
  }

  async function prove() {
    const response = await fetch(form.dataset.challenge, { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`the challenge could not be fetched: ${response.status}`);
    const challenge = await response.json();
    const solution = await solve(challenge);
    return btoa(JSON.stringify({ challenge, solution }));
  }

  // Started at once, so the work is done by the time the person has typed their address.
  let proof;
  function start() {
    field.value = '';
    proof = prove();
    proof.catch(() => {});
  }
  start();
  // A page restored from the back-forward cache (Firefox and Safari keep even no-store pages
  // there) keeps this script's state: the solution already spent and a disabled button. Start over.
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted) return;
    button.disabled = false;
    status.textContent = '';
    start();
  });
  form.addEventListener('submit', async (event) => {
    if (field.value) return;
    event.preventDefault();
    button.disabled = true;
    status.textContent = form.dataset.working;
    try {
      field.value = await proof;
    } catch (error) {
      console.error(error);
      start();
      status.textContent = form.dataset.failed;
      button.disabled = false;
      return;
    }
    form.submit();
  });
})();
