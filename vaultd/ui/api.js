// Talks to the vault HTTP API; holds the session token in memory only.

// The token lives in this module variable and nowhere else (no storage, no
// cookies, no URL), so a reload or a closed tab ends the session.
let token = null;
let displayName = '';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    // Some answers carry useful data even on failure (a deleted KV version,
    // sys/health on a sealed node), so pages may look at it.
    this.body = body;
  }
}

export function setToken(t) {
  token = t ? String(t) : null;
}

export function clearToken() {
  token = null;
  displayName = '';
}

export function hasToken() {
  return token !== null;
}

export function setIdentity(name) {
  displayName = name ? String(name) : '';
}

export function identity() {
  return displayName;
}

// Encodes a slash-separated path segment by segment. "." and ".." are refused
// because the browser would resolve them and silently call another endpoint.
export function encodePath(path) {
  const segments = String(path ?? '').split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..')) {
    throw new Error('Path segments "." and ".." are not allowed.');
  }
  return segments.map(encodeURIComponent).join('/');
}

// Calls /v1/<path>. Resolves to the parsed JSON answer (null when empty) or
// rejects with an ApiError whose message is "<status>: <server errors>".
export async function call(method, path, data) {
  const headers = {};
  if (token !== null) headers['X-Vault-Token'] = token;
  const init = {
    method,
    headers,
    credentials: 'omit',
    cache: 'no-store',
    referrerPolicy: 'no-referrer',
  };
  if (data !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(data);
  }

  let res;
  try {
    res = await fetch('/v1/' + path, init);
  } catch (err) {
    throw new ApiError(0, `0: ${(err && err.message) || 'network error'}`);
  }

  const text = res.status === 204 ? '' : await res.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!res.ok) {
    const errors = body && Array.isArray(body.errors) ? body.errors.filter((e) => e !== '') : [];
    const detail = errors.length ? errors.join('; ') : text.trim() && !body ? text.trim() : res.statusText || 'request failed';
    throw new ApiError(res.status, `${res.status}: ${detail}`, body);
  }
  return body;
}
