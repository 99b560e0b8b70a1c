// Entry point: hash router, session indicator and logout.
import { call, clearToken, hasToken, identity } from './api.js';
import { clear, clearError, on } from './dom.js';
import * as status from './pages/status.js';
import * as unseal from './pages/unseal.js';
import * as login from './pages/login.js';
import * as secrets from './pages/secrets.js';
import * as leases from './pages/leases.js';
import * as access from './pages/access.js';
import * as audit from './pages/audit.js';

const routes = { status, unseal, login, secrets, leases, access, audit };
const DEFAULT_PAGE = 'status';

let leave = null; // cleanup returned by the page being shown
let generation = 0; // bumps on each navigation so stale answers can be dropped

function pageName() {
  const match = /^#\/([a-z]+)$/.exec(location.hash);
  return match && Object.hasOwn(routes, match[1]) ? match[1] : null;
}

function updateSession() {
  const name = identity();
  document.getElementById('session').textContent =
    hasToken() ? (name ? `logged in as ${name}` : 'logged in') : 'not logged in';
  document.getElementById('logout').hidden = !hasToken();
}

function markNav(name) {
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#/${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function route() {
  let name = pageName();
  if (!name) {
    // replaceState does not fire hashchange and adds no history entry.
    history.replaceState(null, '', `#/${DEFAULT_PAGE}`);
    name = DEFAULT_PAGE;
  }
  if (leave) {
    try {
      leave();
    } catch {
      // a failing cleanup must not block navigation
    }
    leave = null;
  }
  const gen = ++generation;
  const ctx = { alive: () => gen === generation };

  clearError();
  updateSession();
  markNav(name);
  const page = clear(document.getElementById('page'));
  const result = routes[name].render(page, ctx);
  if (typeof result === 'function') leave = result;

  const heading = document.getElementById('page-title');
  if (heading) heading.focus();
}

// Goes to a page even when it is already the current one.
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

on(document.getElementById('logout'), 'click', async () => {
  try {
    await call('POST', 'auth/token/revoke-self');
  } catch {
    // the token may already be expired or revoked; log out locally anyway
  }
  clearToken();
  go('#/login');
});

on(window, 'hashchange', route);
route();
