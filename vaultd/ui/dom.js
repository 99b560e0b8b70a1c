// Small DOM helpers: build elements from text only, and report errors.

// Builds an element. String/number children become text nodes (never parsed
// as HTML); attributes go through setAttribute, and event-handler or style
// attributes are refused because the CSP forbids them anyway.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    const lower = name.toLowerCase();
    if (lower.startsWith('on') || lower === 'style' || lower === 'srcdoc') {
      throw new Error(`refused attribute ${name}`);
    }
    if (value === false || value === null || value === undefined) continue;
    const text = value === true ? '' : String(value);
    if ((lower === 'href' || lower === 'src') && /^\s*(javascript|data|vbscript):/i.test(text)) {
      throw new Error(`refused URL in ${name}`);
    }
    el.setAttribute(name, text);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

export function on(el, event, fn) {
  el.addEventListener(event, fn);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Shows an error as text in the alert region and returns the text shown.
export function showError(err) {
  const text = (err && err.message) || String(err);
  document.getElementById('error').textContent = text;
  return text;
}

export function clearError() {
  document.getElementById('error').textContent = '';
}

export function currentError() {
  return document.getElementById('error').textContent;
}

// A value from the vault as display text: strings as they are, anything
// else as JSON.
export function show(value) {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// The page's single h1; focusable so the router can move focus to it.
export function title(text) {
  return h('h1', { id: 'page-title', tabindex: '-1' }, text);
}

// A label + control pair; the label points at the control's id.
export function field(id, label, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control,
    hint ? h('p', { class: 'hint' }, hint) : null);
}

export function message(id) {
  return h('p', { id, class: 'message', role: 'status' });
}

export function loginRequired() {
  return h('p', { class: 'notice' }, 'This page needs a token. ', h('a', { href: '#/login' }, 'Log in'), ' first.');
}

// Replaces the content of a <dl> with [term, description] pairs.
export function fillDl(dl, pairs) {
  clear(dl);
  for (const [term, desc] of pairs) {
    dl.append(h('dt', {}, term), h('dd', {}, desc instanceof Node ? desc : show(desc)));
  }
  return dl;
}

// Replaces the content of a <table>. Cells may be text or nodes; ready-made
// <td>/<th> nodes are used as they are.
export function fillTable(table, headers, rows, caption) {
  clear(table);
  if (caption) table.append(h('caption', {}, caption));
  if (headers && headers.length) {
    table.append(h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))));
  }
  const body = h('tbody');
  for (const row of rows) {
    body.append(h('tr', {}, row.map((cell) =>
      cell instanceof Element && (cell.tagName === 'TD' || cell.tagName === 'TH') ? cell
        : h('td', {}, cell instanceof Node ? cell : show(cell)))));
  }
  table.append(body);
  return table;
}

// Wraps a user action: on success clears #error and shows the returned text
// in the page's message element; on failure shows the error. Results that
// arrive after the user left the page are dropped. A busy flag (rather than
// disabling the button, which would drop keyboard focus) stops double runs.
export function action(ctx, messageEl, fn) {
  let busy = false;
  return async (event) => {
    if (event && event.type === 'submit') event.preventDefault();
    if (busy) return;
    busy = true;
    if (messageEl) messageEl.textContent = '';
    try {
      const text = await fn(event);
      if (!ctx.alive()) return;
      clearError();
      if (messageEl && text) messageEl.textContent = text;
    } catch (err) {
      if (ctx.alive()) showError(err);
    } finally {
      busy = false;
    }
  };
}
