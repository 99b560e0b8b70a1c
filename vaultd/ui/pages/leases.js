// Leases page: browse lease prefixes, look up and revoke leases, lease health.
import { call, encodePath, hasToken } from '../api.js';
import { action, clear, fillDl, fillTable, field, h, loginRequired, message, on, title } from '../dom.js';

function trimSlashes(s) {
  return String(s).trim().replace(/^\/+|\/+$/g, '');
}

// Counts as a table with a <meter> bar per row: a bar chart without inline styles.
function countTable(id, label, counts) {
  const entries = Object.entries(counts || {}).map(([k, v]) => [k, Number(v) || 0]).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map(([, v]) => v));
  return fillTable(h('table', { id, class: 'counts' }), [label, 'Leases', ''], entries.map(([k, v]) => [
    k, String(v), h('meter', { min: '0', max: String(max), value: String(v), 'aria-label': `${k}: ${v}` }, String(v)),
  ]));
}

export function render(root, ctx) {
  root.append(title('Leases'));
  if (!hasToken()) {
    root.append(loginRequired());
    return;
  }
  const msg = message('lease-message');

  // --- browse -------------------------------------------------------------------
  const where = h('p', { id: 'lease-where', class: 'hint' });
  const prefixes = h('ul', { id: 'lease-prefixes', class: 'keys' });

  // --- lookup / revoke -----------------------------------------------------
  const leaseId = h('input', { id: 'lease-id', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const revokeBtn = h('button', { id: 'lease-revoke', type: 'button', class: 'danger' }, 'Revoke');
  const lookupForm = h('form', { id: 'lease-form', class: 'row', novalidate: true },
    field('lease-id', 'Lease ID', leaseId),
    h('div', { class: 'actions' }, h('button', { id: 'lease-lookup', type: 'submit' }, 'Look up'), revokeBtn));
  const detail = h('dl', { id: 'lease-detail', class: 'facts' });

  const prefixInput = h('input', { id: 'lease-prefix', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const revokePrefixBtn = h('button', { id: 'lease-revoke-prefix', type: 'button', class: 'danger' }, 'Revoke all under prefix');

  // --- health ------------------------------------------------------------------
  const health = h('div', { id: 'lease-failing' }, 'loading');
  const healthRefresh = h('button', { id: 'lease-failing-refresh', type: 'button' }, 'Refresh');

  root.append(
    msg,
    h('section', { 'aria-labelledby': 'lease-browse-title' },
      h('h2', { id: 'lease-browse-title' }, 'Browse'), where, prefixes),
    h('section', { 'aria-labelledby': 'lease-lookup-title' },
      h('h2', { id: 'lease-lookup-title' }, 'Look up a lease'), lookupForm, detail),
    h('section', { 'aria-labelledby': 'lease-prefix-title' },
      h('h2', { id: 'lease-prefix-title' }, 'Revoke by prefix'),
      h('div', { class: 'row' }, field('lease-prefix', 'Lease prefix', prefixInput),
        h('div', { class: 'actions' }, revokePrefixBtn))),
    h('section', { 'aria-labelledby': 'lease-health-title' },
      h('h2', { id: 'lease-health-title' }, 'Lease health'),
      h('div', { class: 'actions' }, healthRefresh), health),
  );

  async function list(prefix) {
    const base = trimSlashes(prefix);
    let keys = [];
    try {
      const res = await call('GET', `sys/leases/lookup/${base ? encodePath(base) + '/' : ''}?list=true`);
      keys = (res && res.data && res.data.keys) || [];
    } catch (err) {
      if (err.status !== 404) throw err; // 404: no leases under this prefix
    }
    if (!ctx.alive()) return '';
    where.textContent = `Leases under ${base ? base + '/' : '(all)'}`;
    if (base) prefixInput.value = base + '/';
    clear(prefixes);
    if (base) {
      const parent = base.includes('/') ? base.slice(0, base.lastIndexOf('/')) : '';
      const up = h('button', { class: 'lease-up', type: 'button' }, '../');
      on(up, 'click', action(ctx, msg, () => list(parent)));
      prefixes.append(h('li', {}, up));
    }
    for (const key of keys) {
      const full = (base ? `${base}/` : '') + key;
      const isPrefix = key.endsWith('/');
      const button = h('button', { class: isPrefix ? 'lease-prefix' : 'lease-key', type: 'button' }, String(key));
      on(button, 'click', action(ctx, msg, () => {
        if (isPrefix) return list(full);
        leaseId.value = full;
        return lookup(full);
      }));
      prefixes.append(h('li', {}, button));
    }
    return keys.length ? '' : 'No leases found here.';
  }

  async function lookup(id) {
    const res = await call('PUT', 'sys/leases/lookup', { lease_id: id });
    if (!ctx.alive()) return '';
    fillDl(detail, Object.entries((res && res.data) || {}));
    return '';
  }

  function wantedLease() {
    const id = leaseId.value.trim();
    if (!id) throw new Error('Enter a lease ID.');
    return id;
  }

  async function revoke(id) {
    await call('PUT', 'sys/leases/revoke', { lease_id: id });
    return `Lease ${id} revoked.`;
  }

  on(lookupForm, 'submit', action(ctx, msg, () => lookup(wantedLease())));

  on(revokeBtn, 'click', action(ctx, msg, async () => {
    const text = await revoke(wantedLease());
    clear(detail);
    return text;
  }));

  on(revokePrefixBtn, 'click', action(ctx, msg, async () => {
    const prefix = trimSlashes(prefixInput.value);
    // An empty prefix would mean every lease in the vault; refuse it here.
    if (!prefix) throw new Error('Enter a lease prefix.');
    if (!confirm(`Revoke every lease under "${prefix}/"? This cannot be undone.`)) return '';
    await call('PUT', `sys/leases/revoke-prefix/${encodePath(prefix)}`);
    return `All leases under ${prefix}/ revoked.`;
  }));

  // Lease health from three calls, each shown or refused on its own (the
  // ACL decides): counts by state (sys/leases/count), by mount (the
  // vault_leases_by_mount gauges of sys/metrics) and the leases whose
  // revocation keeps failing (sys/leases/failing).
  async function loadHealth() {
    const [count, metrics, failing] = await Promise.allSettled([
      call('GET', 'sys/leases/count'),
      call('GET', 'sys/metrics'),
      call('GET', 'sys/leases/failing'),
    ]);
    if (!ctx.alive()) return '';
    const refused = (result) => h('p', { class: 'hint' }, `could not load: ${result.reason.message}`);

    let byState;
    if (count.status === 'fulfilled') {
      const d = (count.value && count.value.data) || {};
      const states = {};
      for (const state of ['active', 'revoking', 'irrevocable']) states[state] = d[state];
      byState = countTable('lease-by-state', 'State', states);
    } else {
      byState = refused(count);
    }

    let byMount;
    if (metrics.status === 'fulfilled') {
      const mounts = {};
      for (const gauge of (metrics.value && metrics.value.Gauges) || []) {
        if (gauge.Name === 'vault_leases_by_mount' && gauge.Labels) mounts[gauge.Labels.mount] = gauge.Value;
      }
      byMount = countTable('lease-by-mount', 'Mount', mounts);
    } else {
      byMount = refused(metrics);
    }

    let failingView;
    if (failing.status === 'fulfilled') {
      const leases = (failing.value && failing.value.data && failing.value.data.leases) || [];
      const table = fillTable(h('table', { id: 'lease-failing-table' }),
        ['Lease ID', 'State', 'Last error', 'Attempts', 'Next attempt', ''],
        leases.map((f) => {
          const button = h('button', { class: 'lease-failing-revoke', type: 'button', 'aria-label': `Revoke ${f.id}` }, 'Revoke');
          on(button, 'click', action(ctx, msg, async () => {
            const text = await revoke(f.id);
            await loadHealth();
            return text;
          }));
          return [f.id, f.state || '', f.last_error || '', f.attempts ?? '', f.next_attempt || '', button];
        }));
      failingView = h('div', {}, table, leases.length ? null : h('p', {}, 'No failing leases.'));
    } else {
      failingView = refused(failing);
    }

    clear(health).append(
      h('h3', {}, 'By state'), byState,
      h('h3', {}, 'By mount'), byMount,
      h('h3', {}, 'Failing to revoke'), failingView);
    return '';
  }

  on(healthRefresh, 'click', action(ctx, msg, loadHealth));

  action(ctx, msg, () => list(''))();
  loadHealth();
}
