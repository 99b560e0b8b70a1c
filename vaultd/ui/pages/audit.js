// Audit page: audit devices with their health, and audit-related degraded reasons.
import { call, hasToken } from '../api.js';
import { action, fillTable, h, loginRequired, message, on, show, title } from '../dom.js';

// Health fields may sit on the device itself or under "health".
function healthField(device, name) {
  if (device[name] !== undefined) return device[name];
  return device.health && typeof device.health === 'object' ? device.health[name] : undefined;
}

function healthyCell(value) {
  if (value === true) return h('td', {}, h('span', { class: 'badge state-unsealed' }, 'yes'));
  if (value === false) return h('td', {}, h('span', { class: 'badge state-sealed' }, 'no'));
  return h('td', {}, '-');
}

export function render(root, ctx) {
  root.append(title('Audit'));
  if (!hasToken()) {
    root.append(loginRequired());
    return;
  }
  const msg = message('audit-message');
  const devices = h('table', { id: 'audit-devices' });
  const refresh = h('button', { id: 'audit-refresh', type: 'button' }, 'Refresh');
  let degraded = h('p', { id: 'audit-degraded' }, 'loading');

  root.append(
    h('div', { class: 'actions' }, refresh), msg,
    h('section', { 'aria-labelledby': 'audit-devices-title' },
      h('h2', { id: 'audit-devices-title' }, 'Audit devices'), devices),
    h('section', { 'aria-labelledby': 'audit-degraded-title' },
      h('h2', { id: 'audit-degraded-title' }, 'Degraded (audit)'), degraded),
  );

  async function loadDevices() {
    const res = await call('GET', 'sys/audit');
    if (!ctx.alive()) return '';
    // Vault puts the devices both at the top level and under "data".
    const all = res && res.data && typeof res.data === 'object' ? res.data : res || {};
    const rows = Object.entries(all)
      .filter(([, d]) => d && typeof d === 'object' && typeof d.type === 'string')
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([path, d]) => {
        const options = Object.entries(d.options || {}).map(([k, v]) => `${k}=${show(v)}`).join(', ');
        const failures = healthField(d, 'failures');
        const lastError = healthField(d, 'last_error');
        return [path, d.type, d.description || '', options || '-', healthyCell(healthField(d, 'healthy')),
          lastError == null || lastError === '' ? '-' : show(lastError), failures === undefined ? '-' : show(failures)];
      });
    fillTable(devices, ['Path', 'Type', 'Description', 'Options', 'Healthy', 'Last error', 'Failures'], rows);
    return rows.length ? '' : 'No audit device is enabled.';
  }

  async function loadDegraded() {
    let body;
    try {
      // Ask for 200 in every state; a node that ignores the parameters still
      // sends the body with its 429/503/501, which is just as useful.
      body = await call('GET', 'sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200');
    } catch (err) {
      if (err.body && typeof err.body === 'object' && !Array.isArray(err.body.errors)) body = err.body;
      else {
        if (ctx.alive()) setDegraded(null, `health not available: ${err.message}`);
        return;
      }
    }
    if (!ctx.alive()) return;
    const reasons = Array.isArray(body && body.degraded) ? body.degraded.filter((r) => /audit/i.test(String(r))) : [];
    setDegraded(reasons, 'No audit problems reported.');
  }

  function setDegraded(reasons, text) {
    const next = reasons && reasons.length
      ? h('ul', { id: 'audit-degraded' }, reasons.map((r) => h('li', {}, String(r))))
      : h('p', { id: 'audit-degraded' }, text);
    degraded.replaceWith(next);
    degraded = next;
  }

  const load = action(ctx, msg, async () => {
    loadDegraded();
    return loadDevices();
  });
  on(refresh, 'click', load);
  load();
}
