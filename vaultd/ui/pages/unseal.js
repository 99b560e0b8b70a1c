// Unseal page: submit key shares one at a time and follow the progress.
import { call } from '../api.js';
import { clearError, currentError, field, h, message, on, showError, title } from '../dom.js';

const POLL_MS = 5000;

export function render(root, ctx) {
  const state = h('span', { id: 'unseal-state', class: 'badge' }, 'loading');
  const progress = h('span', { id: 'unseal-progress' }, '-');
  const nonce = h('span', { id: 'unseal-nonce' }, '-');
  const msg = message('unseal-message');
  const key = h('input', { id: 'unseal-key', type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const reset = h('button', { id: 'unseal-reset', type: 'button' }, 'Reset attempt');
  const form = h('form', { id: 'unseal-form', novalidate: true },
    field('unseal-key', 'Unseal key share', key),
    h('div', { class: 'actions' }, h('button', { id: 'unseal-submit', type: 'submit' }, 'Submit share'), reset));

  root.append(
    title('Unseal'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Seal state'), h('dd', {}, state),
      h('dt', {}, 'Progress'), h('dd', {}, progress),
      h('dt', {}, 'Attempt nonce'), h('dd', {}, h('code', {}, nonce))),
    msg,
    form,
  );

  // Renders a seal-status shaped answer (sys/unseal answers the same way).
  function showState(s) {
    if (!s) return;
    state.textContent = s.sealed ? 'sealed' : 'unsealed';
    state.className = `badge ${s.sealed ? 'state-sealed' : 'state-unsealed'}`;
    progress.textContent = `${s.progress ?? 0} of ${s.t ?? '?'}`;
    nonce.textContent = s.nonce || '-';
    form.hidden = !s.sealed || s.initialized === false;
    if (s.initialized === false) msg.textContent = 'The vault is not initialized yet.';
    else if (!s.sealed) msg.textContent = 'The vault is unsealed.';
    else if (s.progress > 0) msg.textContent = `${s.progress} of ${s.t} shares entered; ${s.t - s.progress} more needed.`;
    else msg.textContent = '';
  }

  let ownError = null;
  async function refresh() {
    try {
      const s = await call('GET', 'sys/seal-status');
      if (!ctx.alive()) return;
      showState(s);
      if (ownError !== null && currentError() === ownError) clearError();
      ownError = null;
    } catch (err) {
      if (ctx.alive()) ownError = showError(err);
    }
  }

  async function send(body, note) {
    try {
      const s = await call('PUT', 'sys/unseal', body);
      if (!ctx.alive()) return;
      clearError();
      showState(s);
      if (note && s && s.sealed) msg.textContent = note;
      // Once unsealed the form hides; keep keyboard focus somewhere sensible.
      if (form.hidden && (form.contains(document.activeElement) || document.activeElement === document.body)) document.getElementById('page-title').focus();
    } catch (err) {
      if (ctx.alive()) showError(err);
    }
  }

  on(form, 'submit', (event) => {
    event.preventDefault();
    // The share is taken out of the input before anything is awaited so it
    // lingers in the DOM as briefly as possible.
    const share = key.value.trim();
    key.value = '';
    if (!share) {
      showError(new Error('Enter an unseal key share.'));
      key.focus();
      return;
    }
    send({ key: share });
  });

  on(reset, 'click', () => send({ reset: true }, 'Unseal attempt reset.'));

  refresh();
  const timer = setInterval(refresh, POLL_MS);
  return () => clearInterval(timer);
}
