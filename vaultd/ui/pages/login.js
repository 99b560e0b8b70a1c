// Login page: a token, or a login method (userpass, LDAP, AppRole, JWT,
// Kubernetes), with a TOTP step when login MFA asks for one.
import { call, clearToken, encodePath, setIdentity, setToken } from '../api.js';
import { clearError, field, h, message, on, showError, title } from '../dom.js';

export function render(root, ctx) {
  // The pending MFA request lives only in this closure.
  let pendingMfa = null; // { requestId, methodIds }

  const method = h('select', { id: 'login-method' },
    h('option', { value: 'token' }, 'token'),
    h('option', { value: 'userpass' }, 'userpass'),
    h('option', { value: 'ldap' }, 'ldap'),
    h('option', { value: 'approle' }, 'approle'),
    h('option', { value: 'jwt' }, 'jwt'),
    h('option', { value: 'kubernetes' }, 'kubernetes'));
  const tokenInput = h('input', { id: 'login-token', type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const mount = h('input', { id: 'login-mount', type: 'text', value: 'userpass', autocomplete: 'off', spellcheck: 'false' });
  const username = h('input', { id: 'login-username', type: 'text', autocomplete: 'username', spellcheck: 'false' });
  const password = h('input', { id: 'login-password', type: 'password', autocomplete: 'off' });
  // Userpass's own second factor (a user enrolled at users/<name>/totp),
  // sent with the password; login MFA asks for its code after it instead.
  const ownTotp = h('input', { id: 'login-userpass-totp', type: 'password', inputmode: 'numeric', autocomplete: 'one-time-code' });
  const ownTotpBox = h('div', {}, field('login-userpass-totp', 'TOTP code (if your user has one)', ownTotp));
  // AppRole: a role id and a secret id. JWT and Kubernetes: a role and a
  // token the caller already holds (a JWT, a service account token).
  const roleId = h('input', { id: 'login-role-id', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const secretId = h('input', { id: 'login-secret-id', type: 'password', autocomplete: 'off' });
  const role = h('input', { id: 'login-role', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const jwt = h('input', { id: 'login-jwt', type: 'password', autocomplete: 'off' });
  const tokenBox = h('div', {}, field('login-token', 'Token', tokenInput));
  const userBox = h('div', {},
    field('login-username', 'Username', username),
    field('login-password', 'Password', password),
    ownTotpBox);
  const approleBox = h('div', { hidden: true },
    field('login-role-id', 'Role ID', roleId),
    field('login-secret-id', 'Secret ID', secretId));
  const jwtBox = h('div', { hidden: true },
    field('login-role', 'Role', role),
    field('login-jwt', 'JWT', jwt));
  const credBox = h('div', { hidden: true },
    field('login-mount', 'Auth mount path', mount),
    userBox, approleBox, jwtBox);
  const form = h('form', { id: 'login-form', novalidate: true },
    field('login-method', 'Method', method), tokenBox, credBox,
    h('div', { class: 'actions' }, h('button', { id: 'login-submit', type: 'submit' }, 'Log in')));

  const totp = h('input', { id: 'login-totp', type: 'password', inputmode: 'numeric', autocomplete: 'one-time-code' });
  const totpForm = h('form', { id: 'login-totp-form', novalidate: true, hidden: true },
    h('p', {}, 'This login needs a second factor. Enter the current code from your authenticator app.'),
    field('login-totp', 'TOTP code', totp),
    h('div', { class: 'actions' }, h('button', { id: 'login-totp-submit', type: 'submit' }, 'Verify')));
  const msg = message('login-message');

  root.append(title('Log in'), form, totpForm, msg);

  const fail = (err) => {
    if (ctx.alive()) showError(err);
  };

  function cancelMfa() {
    pendingMfa = null;
    totpForm.hidden = true;
  }

  on(method, 'change', () => {
    const m = method.value;
    tokenBox.hidden = m !== 'token';
    credBox.hidden = m === 'token';
    userBox.hidden = m !== 'userpass' && m !== 'ldap';
    ownTotpBox.hidden = m !== 'userpass';
    approleBox.hidden = m !== 'approle';
    jwtBox.hidden = m !== 'jwt' && m !== 'kubernetes';
    // Follow the method's default mount unless the user typed their own.
    const defaults = ['', 'userpass', 'ldap', 'approle', 'jwt', 'kubernetes'];
    if (m !== 'token' && defaults.includes(mount.value.trim())) mount.value = m;
    cancelMfa();
  });

  // Stores the token and a name for the session indicator, then moves on.
  async function finish(auth) {
    if (!auth || !auth.client_token) throw new Error('The server answered without a token.');
    setToken(auth.client_token);
    let name = auth.display_name || (auth.metadata && auth.metadata.username) || '';
    if (!name) {
      try {
        const self = await call('GET', 'auth/token/lookup-self');
        name = (self && self.data && self.data.display_name) || '';
      } catch {
        // the name is cosmetic; the login itself succeeded
      }
    }
    setIdentity(name);
    if (!ctx.alive()) return;
    clearError();
    location.hash = '#/secrets';
  }

  function startMfa(req) {
    const methodIds = [];
    for (const constraint of Object.values(req.mfa_constraints || {})) {
      const m = ((constraint && constraint.any) || []).find((x) => x && x.type === 'totp');
      if (!m) throw new Error('This login needs an MFA method other than TOTP, which this page does not support.');
      methodIds.push(m.id);
    }
    pendingMfa = { requestId: req.mfa_request_id, methodIds };
    totpForm.hidden = false;
    clearError();
    totp.focus();
  }

  on(form, 'submit', async (event) => {
    event.preventDefault();
    cancelMfa();
    const m = method.value;
    // Secrets leave the inputs before anything is awaited.
    const tokenValue = tokenInput.value.trim();
    const pass = password.value;
    const code = ownTotp.value.trim();
    const secret = secretId.value;
    const held = jwt.value.trim();
    for (const input of [tokenInput, password, ownTotp, secretId, jwt]) input.value = '';
    try {
      if (m === 'token') {
        if (!tokenValue) throw new Error('Enter a token.');
        setToken(tokenValue);
        let self;
        try {
          self = await call('GET', 'auth/token/lookup-self');
        } catch (err) {
          clearToken();
          throw err;
        }
        await finish({ client_token: tokenValue, display_name: self && self.data && self.data.display_name });
        return;
      }
      const path = encodePath(mount.value);
      if (!path) throw new Error('Enter the auth mount path.');
      let res;
      if (m === 'approle') {
        if (!roleId.value.trim()) throw new Error('Enter the role ID.');
        res = await call('POST', `auth/${path}/login`, { role_id: roleId.value.trim(), secret_id: secret });
      } else if (m === 'jwt' || m === 'kubernetes') {
        if (!role.value.trim() || !held) throw new Error('Enter the role and the JWT.');
        res = await call('POST', `auth/${path}/login`, { role: role.value.trim(), jwt: held });
      } else {
        const user = username.value.trim();
        if (!user) throw new Error('Enter a username.');
        const body = { password: pass };
        if (m === 'userpass' && code) body.totp = code;
        res = await call('POST', `auth/${path}/login/${encodeURIComponent(user)}`, body);
      }
      const auth = res && res.auth;
      if (auth && auth.mfa_requirement) startMfa(auth.mfa_requirement);
      else await finish(auth);
    } catch (err) {
      fail(err);
    }
  });

  on(totpForm, 'submit', async (event) => {
    event.preventDefault();
    const code = totp.value.trim();
    totp.value = '';
    try {
      if (!pendingMfa) throw new Error('Log in again: there is no pending MFA request.');
      if (!code) throw new Error('Enter the TOTP code.');
      const payload = Object.fromEntries(pendingMfa.methodIds.map((id) => [id, [code]]));
      const res = await call('POST', 'sys/mfa/validate', { mfa_request_id: pendingMfa.requestId, mfa_payload: payload });
      cancelMfa();
      await finish(res && res.auth);
    } catch (err) {
      fail(err);
    }
  });
}
