// Access page: ACL policies, capability checks and tokens by accessor.
import { call, encodePath, hasToken } from '../api.js';
import { action, clear, fillDl, field, h, loginRequired, message, on, show, title } from '../dom.js';

// A cheap client-side sanity check for HCL/JSON policy text: balanced
// brackets and closed quotes, ignoring comments. It only catches typos early;
// the server's parser is authoritative. (HCL heredocs are not understood.)
export function checkPolicy(text) {
  if (!text.trim()) return 'Policy text is empty.';
  const closers = { '}': '{', ']': '[', ')': '(' };
  const stack = [];
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) return `Comment opened on line ${line} is never closed.`;
      line += text.slice(i, end).split('\n').length - 1;
      i = end + 1;
    } else if (c === '"') {
      const start = line;
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\n') return `Quote opened on line ${start} is not closed on that line.`;
        if (text[i] === '\\') i++;
      }
      if (i >= text.length) return `Quote opened on line ${start} is never closed.`;
    } else if (c === '{' || c === '[' || c === '(') {
      stack.push({ c, line });
    } else if (Object.hasOwn(closers, c)) {
      const open = stack.pop();
      if (!open) return `Unexpected "${c}" on line ${line}: nothing to close.`;
      if (open.c !== closers[c]) return `"${c}" on line ${line} does not match "${open.c}" from line ${open.line}.`;
    }
  }
  const open = stack.pop();
  return open ? `"${open.c}" opened on line ${open.line} is never closed.` : null;
}

// The first array among the candidates: capability answers come in
// slightly different shapes (top level, under data, keyed by path).
function firstArray(...candidates) {
  return candidates.find((c) => Array.isArray(c)) || [];
}

export function render(root, ctx) {
  root.append(title('Access'));
  if (!hasToken()) {
    root.append(loginRequired());
    return;
  }

  // --- policies -----------------------------------------------------------
  const policyList = h('ul', { id: 'policy-list', class: 'keys' });
  const policyName = h('span', { id: 'policy-name' }, '-');
  const policyText = h('textarea', { id: 'policy-text', rows: '12', spellcheck: 'false' });
  const saveBtn = h('button', { id: 'policy-save', type: 'button' }, 'Save policy');
  const deleteBtn = h('button', { id: 'policy-delete', type: 'button', class: 'danger' }, 'Delete policy');
  const newName = h('input', { id: 'policy-new-name', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const newBtn = h('button', { id: 'policy-new', type: 'button' }, 'Start new policy');
  const policyMsg = message('policy-message');

  // --- capabilities ---------------------------------------------------------
  const capToken = h('input', { id: 'cap-token', type: 'password', autocomplete: 'off' });
  const capPath = h('input', { id: 'cap-path', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const capForm = h('form', { id: 'cap-form', novalidate: true },
    field('cap-token', 'Token (optional)', capToken, 'Leave empty to check your own token.'),
    field('cap-path', 'Path', capPath),
    h('div', { class: 'actions' }, h('button', { id: 'cap-check', type: 'submit' }, 'Check')));
  const capResult = h('p', { id: 'cap-result', role: 'status' });

  // --- accessors ----------------------------------------------------------------
  const accessor = h('input', { id: 'accessor', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const revokeBtn = h('button', { id: 'accessor-revoke', type: 'button', class: 'danger' }, 'Revoke token');
  const accessorForm = h('form', { id: 'accessor-form', class: 'row', novalidate: true },
    field('accessor', 'Token accessor', accessor),
    h('div', { class: 'actions' }, h('button', { id: 'accessor-lookup', type: 'submit' }, 'Look up'), revokeBtn));
  const accessorDetail = h('dl', { id: 'accessor-detail', class: 'facts' });
  const accessorMsg = message('accessor-message');

  root.append(
    h('section', { 'aria-labelledby': 'policy-title' },
      h('h2', { id: 'policy-title' }, 'ACL policies'),
      policyList,
      h('div', { class: 'row' }, field('policy-new-name', 'New policy name', newName), h('div', { class: 'actions' }, newBtn)),
      h('h3', {}, 'Policy: ', policyName),
      field('policy-text', 'Policy text', policyText),
      h('div', { class: 'actions' }, saveBtn, deleteBtn),
      policyMsg),
    h('section', { 'aria-labelledby': 'cap-title' },
      h('h2', { id: 'cap-title' }, 'Capabilities'), capForm, capResult),
    h('section', { 'aria-labelledby': 'accessor-title' },
      h('h2', { id: 'accessor-title' }, 'Token by accessor'), accessorForm, accessorDetail, accessorMsg),
  );

  let selected = null; // name of the policy in the editor

  async function loadPolicies() {
    const res = await call('GET', 'sys/policies/acl?list=true');
    if (!ctx.alive()) return '';
    clear(policyList);
    for (const name of (res && res.data && res.data.keys) || []) {
      const button = h('button', { class: 'policy-name', type: 'button' }, String(name));
      on(button, 'click', action(ctx, policyMsg, () => openPolicy(name)));
      policyList.append(h('li', {}, button));
    }
    return '';
  }

  async function openPolicy(name) {
    const res = await call('GET', `sys/policies/acl/${encodePath(name)}`);
    if (!ctx.alive()) return '';
    selected = name;
    policyName.textContent = name;
    policyText.value = (res && res.data && res.data.policy) || '';
    return '';
  }

  on(newBtn, 'click', action(ctx, policyMsg, () => {
    const name = newName.value.trim();
    if (!name) throw new Error('Enter a name for the new policy.');
    selected = name;
    policyName.textContent = name;
    policyText.value = '';
    newName.value = '';
    policyText.focus();
    return `Editing new policy ${name}; it is created when saved.`;
  }));

  on(saveBtn, 'click', action(ctx, policyMsg, async () => {
    if (!selected) throw new Error('Choose a policy or start a new one first.');
    const problem = checkPolicy(policyText.value);
    if (problem) throw new Error(`Policy not saved: ${problem}`);
    await call('PUT', `sys/policies/acl/${encodePath(selected)}`, { policy: policyText.value });
    await loadPolicies();
    return `Policy ${selected} saved.`;
  }));

  on(deleteBtn, 'click', action(ctx, policyMsg, async () => {
    if (!selected) throw new Error('Choose a policy first.');
    const name = selected;
    if (!confirm(`Delete policy ${name}? Tokens that carry it lose its permissions.`)) return '';
    await call('DELETE', `sys/policies/acl/${encodePath(name)}`);
    selected = null;
    policyName.textContent = '-';
    policyText.value = '';
    await loadPolicies();
    return `Policy ${name} deleted.`;
  }));

  on(capForm, 'submit', action(ctx, null, async () => {
    // The other token leaves the input before anything is awaited.
    const token = capToken.value.trim();
    capToken.value = '';
    const path = capPath.value.trim();
    capResult.textContent = '';
    if (!path) throw new Error('Enter a path to check.');
    const res = token
      ? await call('POST', 'sys/capabilities', { token, paths: [path] })
      : await call('POST', 'sys/capabilities-self', { paths: [path] });
    const d = (res && res.data) || {};
    const own = (o) => (o && Object.hasOwn(o, path) ? o[path] : undefined);
    const caps = firstArray(own(d), own(res), d.capabilities, res && res.capabilities);
    capResult.textContent = `${path}: ${caps.join(', ') || 'none'}`;
    return '';
  }));

  function wantedAccessor() {
    const a = accessor.value.trim();
    if (!a) throw new Error('Enter a token accessor.');
    return a;
  }

  on(accessorForm, 'submit', action(ctx, accessorMsg, async () => {
    const res = await call('POST', 'auth/token/lookup-accessor', { accessor: wantedAccessor() });
    if (!ctx.alive()) return '';
    const d = (res && res.data) || {};
    const meta = d.meta && typeof d.meta === 'object'
      ? Object.entries(d.meta).map(([k, v]) => `${k}=${show(v)}`).join(', ') : '';
    fillDl(accessorDetail, [
      ['display_name', d.display_name || '-'],
      ['policies', Array.isArray(d.policies) ? d.policies.join(', ') : show(d.policies)],
      ['ttl', d.ttl ?? '-'],
      ['expire_time', d.expire_time || '-'],
      ['creation_time', d.creation_time ?? '-'],
      ['meta', meta || '-'],
    ]);
    return '';
  }));

  on(revokeBtn, 'click', action(ctx, accessorMsg, async () => {
    const a = wantedAccessor();
    if (!confirm(`Revoke the token with accessor ${a} and its children?`)) return '';
    await call('POST', 'auth/token/revoke-accessor', { accessor: a });
    clear(accessorDetail);
    return 'Token revoked.';
  }));

  action(ctx, policyMsg, loadPolicies)();
}
