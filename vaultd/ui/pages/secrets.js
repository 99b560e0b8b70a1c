// Secrets page: browse, read, write, delete and destroy KV version 2 secrets.
import { call, encodePath, hasToken } from '../api.js';
import { action, clear, fillDl, fillTable, field, h, loginRequired, message, on, show, showError, title } from '../dom.js';

const MASK = '••••••••';

function isKv2(mount) {
  if (!mount) return false;
  if (mount.type === 'kv-v2') return true;
  return mount.type === 'kv' && mount.options != null && String(mount.options.version) === '2';
}

function trimSlashes(s) {
  return String(s).trim().replace(/^\/+|\/+$/g, '');
}

function versionState(v, n, current) {
  if (v.destroyed) return 'destroyed';
  if (v.deletion_time) return 'deleted';
  return n === current ? 'current' : '';
}

export function render(root, ctx) {
  root.append(title('Secrets'));
  if (!hasToken()) {
    root.append(loginRequired());
    return;
  }

  // --- controls -----------------------------------------------------------
  let mountEl = h('select', { id: 'kv-mount' });
  const pathEl = h('input', { id: 'kv-path', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const browseBtn = h('button', { id: 'kv-browse', type: 'button' }, 'Browse');
  const form = h('form', { id: 'kv-form', class: 'row', novalidate: true },
    field('kv-mount', 'Mount', mountEl),
    field('kv-path', 'Path', pathEl),
    h('div', { class: 'actions' }, h('button', { id: 'kv-open', type: 'submit' }, 'Open'), browseBtn));
  const msg = message('kv-message');
  const listing = h('p', { id: 'kv-listing', class: 'hint' });
  const keys = h('ul', { id: 'kv-keys', class: 'keys' });

  // --- the secret being shown -------------------------------------------
  const heading = h('h2', { id: 'kv-heading' });
  const secretTable = h('table', { id: 'kv-secret' });
  const editBtn = h('button', { id: 'kv-edit', type: 'button' }, 'Copy values into editor');
  const deleteBtn = h('button', { id: 'kv-delete', type: 'button' }, 'Delete latest version');
  const undeleteBtn = h('button', { id: 'kv-undelete', type: 'button' }, 'Undelete this version');
  const destroyBtn = h('button', { id: 'kv-destroy', type: 'button', class: 'danger' }, 'Destroy this version');
  const metadata = h('dl', { id: 'kv-metadata', class: 'facts' });
  const versions = h('table', { id: 'kv-versions' });
  const view = h('section', { id: 'kv-view', hidden: true, 'aria-labelledby': 'kv-heading' },
    heading, secretTable,
    h('div', { class: 'actions' }, editBtn, deleteBtn, undeleteBtn, destroyBtn),
    h('h3', {}, 'Metadata'), metadata,
    h('h3', {}, 'Versions'), versions);

  // --- writing --------------------------------------------------------------
  const writeData = h('textarea', { id: 'kv-write-data', rows: '6', spellcheck: 'false', autocomplete: 'off' });
  const writeBtn = h('button', { id: 'kv-write-submit', type: 'button' }, 'Write new version');
  const writeSection = h('section', { 'aria-labelledby': 'kv-write-title' },
    h('h2', { id: 'kv-write-title' }, 'Write'),
    field('kv-write-data', 'New version (JSON object)', writeData,
      'Replaces all keys of the secret at the mount and path above, e.g. {"username": "app", "password": "…"}.'),
    h('div', { class: 'actions' }, writeBtn));

  root.append(form, msg, listing, keys, view, writeSection);

  // What is on screen: actions on the shown secret use this, not the inputs.
  let current = null; // { mount, path, version, data }

  function target(needPath) {
    const mount = trimSlashes(mountEl.value);
    const path = trimSlashes(pathEl.value);
    if (!mount) throw new Error('Choose a mount.');
    if (needPath && !path) throw new Error('Enter a secret path.');
    return { mount, path };
  }

  const url = (mount, kind, path) => `${encodePath(mount)}/${kind}/${encodePath(path)}`;

  // --- mounts -------------------------------------------------------------------
  // Without a usable list the operator can still type a mount by hand.
  function useTextMount() {
    const input = h('input', { id: 'kv-mount', type: 'text', value: 'secret', autocomplete: 'off', spellcheck: 'false' });
    mountEl.replaceWith(input);
    mountEl = input;
  }

  async function loadMounts() {
    try {
      const res = await call('GET', 'sys/internal/ui/mounts');
      if (!ctx.alive()) return;
      const secret = (res && res.data && res.data.secret) || {};
      const names = Object.entries(secret).filter(([, m]) => isKv2(m)).map(([p]) => trimSlashes(p)).sort();
      if (!names.length) {
        useTextMount();
        msg.textContent = 'No KV version 2 mount is visible to this token; type the mount path.';
        return;
      }
      for (const name of names) mountEl.append(h('option', { value: name }, name));
    } catch (err) {
      if (!ctx.alive()) return;
      showError(err);
      useTextMount();
    }
  }

  // --- reading ------------------------------------------------------------------
  function valueCell(value) {
    const span = h('span', { class: 'kv-value masked' }, MASK);
    const button = h('button', { class: 'kv-reveal', type: 'button' }, 'Reveal');
    on(button, 'click', () => {
      const hidden = span.classList.contains('masked');
      span.textContent = hidden ? show(value) : MASK;
      span.classList.toggle('masked', !hidden);
      button.textContent = hidden ? 'Hide' : 'Reveal';
    });
    return h('td', {}, span, ' ', button);
  }

  function showSecret(mount, path, data, meta) {
    const version = meta.version;
    current = { mount, path, version, data };
    heading.textContent = `${mount}/${path}`;
    let caption = version ? `Version ${version}` : 'Latest version';
    if (meta.destroyed) caption += ' (destroyed)';
    else if (!data) caption += ' (deleted)';
    else if (meta.created_time) caption += `, created ${meta.created_time}`;
    const rows = data
      ? Object.keys(data).sort().map((k) => [h('th', { scope: 'row', class: 'kv-field' }, k), valueCell(data[k])])
      : [];
    fillTable(secretTable, null, rows, caption);
    editBtn.hidden = !data;
    view.hidden = false;
  }

  async function loadMetadata(mount, path) {
    let res;
    try {
      res = await call('GET', url(mount, 'metadata', path));
    } catch (err) {
      // Reading data may be allowed while metadata is not; say so in place.
      if (!ctx.alive()) return;
      fillDl(metadata, [['metadata', `not readable: ${err.message}`]]);
      clear(versions);
      return;
    }
    if (!ctx.alive()) return;
    const d = (res && res.data) || {};
    fillDl(metadata, [
      ['current_version', d.current_version],
      ['max_versions', d.max_versions],
      ['created_time', d.created_time],
      ['updated_time', d.updated_time],
    ]);
    const list = Object.entries(d.versions || {}).map(([n, v]) => [Number(n), v || {}]).sort((a, b) => b[0] - a[0]);
    fillTable(versions, ['Version', 'Created', 'State', ''], list.map(([n, v]) => {
      const open = h('button', { class: 'kv-version-open', type: 'button', 'aria-label': `Open version ${n}` }, 'Open');
      on(open, 'click', action(ctx, msg, () => read(mount, path, n)));
      return [String(n), v.created_time || '', versionState(v, n, d.current_version), open];
    }));
  }

  async function deletedFromMetadata(mount, path, version, notFound) {
    const m = await call('GET', url(mount, 'metadata', path)).catch(() => null);
    const d = (m && m.data) || {};
    const n = version || d.current_version;
    const v = d.versions && Object.hasOwn(d.versions, String(n)) ? d.versions[String(n)] : null;
    if (!v) throw notFound;
    return { data: { data: null, metadata: { ...v, version: n } } };
  }

  async function read(mount, path, version) {
    const query = version ? `?version=${encodeURIComponent(version)}` : '';
    let res;
    try {
      res = await call('GET', url(mount, 'data', path) + query);
    } catch (err) {
      if (err.status !== 404) throw err;
      // A deleted or destroyed version answers 404 but still carries metadata;
      // if the body lacks it, the metadata endpoint tells the same story.
      if (err.body && err.body.data && err.body.data.metadata) res = err.body;
      else res = await deletedFromMetadata(mount, path, version, err);
    }
    if (!ctx.alive()) return;
    const d = (res && res.data) || {};
    showSecret(mount, path, d.data || null, d.metadata || {});
    await loadMetadata(mount, path);
  }

  async function browse(mount, folder) {
    const base = trimSlashes(folder);
    const where = base ? `${encodePath(base)}/` : '';
    let names = [];
    try {
      const res = await call('GET', `${encodePath(mount)}/metadata/${where}?list=true`);
      names = (res && res.data && res.data.keys) || [];
    } catch (err) {
      if (err.status !== 404) throw err; // 404: nothing stored under this folder
    }
    if (!ctx.alive()) return '';
    listing.textContent = `Keys under ${mount}/${base ? base + '/' : ''}`;
    clear(keys);
    if (base) {
      const up = h('button', { class: 'kv-up', type: 'button' }, '../');
      const parent = base.includes('/') ? base.slice(0, base.lastIndexOf('/')) : '';
      on(up, 'click', action(ctx, msg, () => {
        pathEl.value = parent;
        return browse(mount, parent);
      }));
      keys.append(h('li', {}, up));
    }
    for (const name of names) {
      const full = (base ? `${base}/` : '') + name;
      const button = h('button', { class: 'kv-key', type: 'button' }, String(name));
      on(button, 'click', action(ctx, msg, () => {
        pathEl.value = trimSlashes(full);
        return name.endsWith('/') ? browse(mount, full) : read(mount, trimSlashes(full));
      }));
      keys.append(h('li', {}, button));
    }
    return names.length ? '' : `Nothing stored under ${mount}/${base}.`;
  }

  // --- actions ----------------------------------------------------------------
  on(form, 'submit', action(ctx, msg, () => {
    const { mount, path } = target(true);
    return read(mount, path);
  }));

  on(browseBtn, 'click', action(ctx, msg, () => {
    const { mount, path } = target(false);
    return browse(mount, path);
  }));

  on(writeBtn, 'click', action(ctx, msg, async () => {
    const { mount, path } = target(true);
    let data;
    try {
      data = JSON.parse(writeData.value);
    } catch (err) {
      throw new Error(`New version is not valid JSON: ${err.message}`);
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new Error('New version must be a JSON object, e.g. {"key": "value"}.');
    }
    const res = await call('POST', url(mount, 'data', path), { data });
    writeData.value = ''; // it holds secret values; do not leave them on screen
    const version = res && res.data && res.data.version;
    await read(mount, path);
    return version ? `Version ${version} written.` : 'New version written.';
  }));

  on(editBtn, 'click', () => {
    if (current && current.data) writeData.value = JSON.stringify(current.data, null, 2);
    writeData.focus();
  });

  function shown() {
    if (!current) throw new Error('Open a secret first.');
    return current;
  }

  function shownVersion() {
    const c = shown();
    if (!c.version) throw new Error('The shown version is not known.');
    return c;
  }

  on(deleteBtn, 'click', action(ctx, msg, async () => {
    const { mount, path } = shown();
    await call('DELETE', url(mount, 'data', path));
    await read(mount, path);
    return `Latest version of ${mount}/${path} deleted.`;
  }));

  on(undeleteBtn, 'click', action(ctx, msg, async () => {
    const { mount, path, version } = shownVersion();
    await call('POST', url(mount, 'undelete', path), { versions: [version] });
    await read(mount, path, version);
    return `Version ${version} undeleted.`;
  }));

  on(destroyBtn, 'click', action(ctx, msg, async () => {
    const { mount, path, version } = shownVersion();
    if (!confirm(`Permanently destroy version ${version} of ${mount}/${path}? This cannot be undone.`)) return '';
    await call('POST', url(mount, 'destroy', path), { versions: [version] });
    await read(mount, path, version);
    return `Version ${version} destroyed.`;
  }));

  loadMounts();
}
