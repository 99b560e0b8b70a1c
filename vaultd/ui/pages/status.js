// Status page: seal state, HA role, version and degraded reasons; polls every 5 s.
import { call } from '../api.js';
import { clearError, currentError, h, showError, title } from '../dom.js';

const POLL_MS = 5000;

export function render(root, ctx) {
  const sealed = h('span', { id: 'status-sealed', class: 'badge' }, 'loading');
  const initialized = h('span', { id: 'status-initialized' }, '-');
  const shares = h('span', { id: 'status-shares' }, '-');
  const ha = h('span', { id: 'status-ha' }, '-');
  const leader = h('span', { id: 'status-leader' }, '-');
  const version = h('span', { id: 'status-version' }, '-');
  // Either a <ul> of reasons or a <p>; swapped whole so that "no reasons"
  // leaves no list items behind.
  let degraded = h('p', { id: 'status-degraded' }, 'loading');

  root.append(
    title('Status'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Seal state'), h('dd', {}, sealed),
      h('dt', {}, 'Initialized'), h('dd', {}, initialized),
      h('dt', {}, 'Unseal threshold'), h('dd', {}, shares),
      h('dt', {}, 'High availability'), h('dd', {}, ha),
      h('dt', {}, 'Leader'), h('dd', {}, leader),
      h('dt', {}, 'Version'), h('dd', {}, version)),
    h('h2', { id: 'status-degraded-title' }, 'Degraded'),
    degraded,
  );

  function setDegraded(reasons) {
    const next = reasons.length
      ? h('ul', { id: 'status-degraded', 'aria-labelledby': 'status-degraded-title' },
        reasons.map((r) => h('li', {}, String(r))))
      : h('p', { id: 'status-degraded' }, 'nothing degraded');
    degraded.replaceWith(next);
    degraded = next;
  }

  let busy = false;
  let ownError = null; // error text this page put up, so a later success can take it down

  async function load() {
    if (busy) return;
    busy = true;
    try {
      // sys/leader may fail while sealed; seal-status alone is enough then.
      const [seal, lead] = await Promise.allSettled([call('GET', 'sys/seal-status'), call('GET', 'sys/leader')]);
      if (!ctx.alive()) return;
      if (seal.status === 'rejected') throw seal.reason;
      const s = seal.value || {};
      const l = (lead.status === 'fulfilled' && lead.value) || {};

      sealed.textContent = s.sealed ? 'sealed' : 'unsealed';
      sealed.className = `badge ${s.sealed ? 'state-sealed' : 'state-unsealed'}`;
      initialized.textContent = s.initialized ? 'yes' : 'no';
      shares.textContent = s.t ? `${s.t} of ${s.n} key shares` : '-';
      const haEnabled = l.ha_enabled ?? s.ha_enabled;
      const isSelf = l.is_self ?? s.is_self;
      ha.textContent = !haEnabled ? 'disabled' : isSelf ? 'active' : 'standby';
      leader.textContent = l.leader_address || s.leader_address || '-';
      version.textContent = s.version || '-';
      setDegraded(Array.isArray(s.degraded) ? s.degraded : []);

      if (ownError !== null && currentError() === ownError) clearError();
      ownError = null;
    } catch (err) {
      if (ctx.alive()) ownError = showError(err);
    } finally {
      busy = false;
    }
  }

  load();
  const timer = setInterval(load, POLL_MS);
  return () => clearInterval(timer);
}
