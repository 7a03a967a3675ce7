// Building blocks of the pages: elements made without HTML strings (the
// policy forbids them: no innerHTML anywhere, so no text from a case can
// become markup), times in the browser's zone, risk badges, clocks whose
// time left ticks locally, and errors placed beside their field.

import { ApiError, get, seg, sleep } from './api.js';
import { FIELDS, label } from './labels.js';

const CLOCK_WARN_SHARE = 0.2;   // under this share of its time left: orange

// An element: h('p', {class: 'x', onclick: f}, 'text', child, [more]).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

// Append children (nodes, texts, arrays; null and false are skipped).
export function add(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// Replace an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  return add(el, children);
}

let uid = 0;
// A unique id for labels and descriptions.
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

const dateFmt = new Intl.DateTimeFormat('zh-CN', {
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  hour12: false,
});

// A timestamp of the API as local date and time: "2026/11/27 16:45".
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateFmt.format(d);
}

// A <time> element for a timestamp.
export function timeEl(iso) {
  return h('time', { datetime: iso }, when(iso));
}

// A duration as "2天3小时", "3小时5分", "12分30秒".
export function span(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}天${hr}小时`;
  if (hr > 0) return `${hr}小时${m}分`;
  return `${m}分${s % 60}秒`;
}

// A date as RFC 3339 in the browser's zone, with seconds and offset.
export function rfc3339(d) {
  const p = (n) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:` +
    `${p(d.getMinutes())}:${p(d.getSeconds())}${sign}${p(Math.floor(Math.abs(off) / 60))}:` +
    `${p(Math.abs(off) % 60)}`;
}

// A date as the value of an <input type="datetime-local" step="1">.
export function localInput(d) {
  return rfc3339(d).slice(0, 19);
}

// A risk level as a coloured badge.
export function risk(level) {
  return h('span', { class: `risk risk-${level}`, title: label('riskName', level) },
    label('risk', level));
}

// A short coloured word: a state, an access level.
export function tag(text, kind) {
  return h('span', { class: `tag ${kind ? 'tag-' + kind : ''}` }, text);
}

// A personal value of a case view: a text, or what the daemon says of it
// ({withheld}, {purged}, {unreadable}).
export function sealed(v) {
  if (v && typeof v === 'object') {
    if (v.withheld) return h('span', { class: 'withheld' }, '（已隐去）');
    if (v.purged) return h('span', { class: 'withheld' }, '（已销毁）');
    if (v.unreadable) return h('span', { class: 'withheld' }, '（无法解密）');
  }
  if (v === null || v === undefined || v === '') return h('span', { class: 'muted' }, '—');
  return String(v);
}

// The clocks of an assignment, each with its time left, ticking (see tick).
export function clocks(assignment, { all = false } = {}) {
  const list = (assignment.clocks || []).filter((c) => all || c.status !== 'stopped');
  if (list.length === 0) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'clocks' }, list.map((c) => h('li', {
    class: 'clock',
    'data-due': c.status === 'stopped' ? null : c.due_at,
    'data-from': assignment.created_at,
    'data-status': c.status,
  }, h('span', { class: 'clock-kind' }, label('clock', c.kind)), ' ',
  h('span', { class: 'clock-left' }, label('clockStatus', c.status)))));
}

// Bring every clock on the page up to date: its time left and its colour
// (red past due, orange on the daemon's warning or under a fifth of its
// time, green otherwise).
export function tick(root, now = Date.now()) {
  for (const li of root.querySelectorAll('li.clock[data-due]')) {
    const due = Date.parse(li.dataset.due);
    const from = Date.parse(li.dataset.from);
    const left = due - now;
    const share = from < due ? left / (due - from) : 0;
    let colour = 'ok';
    if (left <= 0 || li.dataset.status === 'missed') colour = 'over';
    else if (li.dataset.status === 'warning' || share < CLOCK_WARN_SHARE) colour = 'warn';
    li.className = `clock clock-${colour}`;
    li.querySelector('.clock-left').textContent = left > 0 ? `剩余 ${span(left)}` :
      `超时 ${span(left)}`;
  }
}

// A status line that screen readers announce.
export function statusLine() {
  return h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
}

// Show a message in a status line: kind "ok", "error" or "" (progress).
export function say(el, text, kind = '') {
  el.className = `status ${kind ? 'status-' + kind : ''}`;
  el.textContent = text;
}

// Remove the error marks of a form.
export function clearErrors(form) {
  for (const e of form.querySelectorAll('.field-error')) e.remove();
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

// The element of a field path: the one marked data-field with that path,
// else that of its parent ("open_case.categories[1].subcategory" falls back
// to "open_case.categories"), else null.
function fieldElement(form, path) {
  let p = path;
  while (p) {
    const el = form.querySelector(`[data-field="${CSS.escape(p)}"]`);
    if (el) return el;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut > 0 ? p.slice(0, cut) : '';
  }
  return null;
}

// The people's name of a field path.
export function fieldName(path) {
  let p = path || '';
  while (p) {
    if (FIELDS[p]) return FIELDS[p];
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut > 0 ? p.slice(0, cut) : '';
  }
  return path || '';
}

// Show an API error beside its field (the daemon names the field), the
// field marked invalid and described by it; returns the field's element, or
// null when the error has no field on this form.
export function showFieldError(form, err) {
  const box = err.field ? fieldElement(form, err.field) : null;
  if (!box) return null;
  const id = nextId('err');
  const msg = h('p', { class: 'field-error', id },
    `${fieldName(err.field)}：${err.text}`,
    err.message ? h('span', { class: 'detail', lang: 'en' }, `（${err.message}）`) : null);
  const control = box.matches('input, select, textarea') ? box :
    box.querySelector('input, select, textarea');
  const holder = box.matches('input, select, textarea') ? box.parentElement : box;
  holder.append(msg);
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    const was = control.getAttribute('aria-describedby');
    control.setAttribute('aria-describedby', was ? `${was} ${id}` : id);
  }
  return control || box;
}

// A group of choices as buttons: native radio inputs (or checkboxes) with
// their labels styled as buttons, so the keyboard and screen readers work as
// with any radio group. choices: [[value, text, extraClass]].
export function choices(name, legend, list, { type = 'radio', field, required, onchange } = {}) {
  const fs = h('fieldset', { class: 'choices', 'data-field': field || name },
    h('legend', null, legend,
      required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null));
  const row = h('div', { class: 'choice-row' });
  for (const [value, text, extra] of list) {
    const id = nextId(name);
    row.append(h('span', { class: `choice ${extra || ''}` },
      h('input', { type, id, name, value, onchange }),
      h('label', { for: id }, text)));
  }
  fs.append(row);
  return fs;
}

// The value of a radio group (or null).
export function radioValue(form, name) {
  const el = form.querySelector(`input[name="${CSS.escape(name)}"]:checked`);
  return el ? el.value : null;
}

// A labelled control (tag "input", "textarea" or "select" with options);
// field is its path in the API, for errors.
export function input(labelText, { tag: kind = 'input', options, ...attrs },
  { field, hint, required } = {}) {
  const id = nextId('f');
  const ctl = kind === 'input' ? h('input', { id, autocomplete: 'off', ...attrs }) :
    h(kind, { id, ...attrs }, options || []);
  return h('div', { class: 'field', 'data-field': field },
    h('label', { for: id }, labelText,
      required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
      required ? h('span', { class: 'visually-hidden' }, '（必填）') : null),
    ctl, hint ? h('p', { class: 'hint' }, hint) : null);
}

// A list read a page at a time: the first page again every refreshMs
// while no later page was asked for, the next (from the daemon's
// next_cursor) appended on "更多". query() gives the path (with a query)
// without its cursor, draw(items) the list's element, items(answer) its
// items. Returns what reads it afresh from the first page (a filter
// changed).
export function pagedList(box, status, { query, items, draw, signal, refreshMs }) {
  let shown = [];
  let cursor = null;
  let paged = false;
  const more = h('button', { type: 'button', class: 'small', hidden: true, onclick: async () => {
    more.disabled = true;
    paged = true;
    await read(`${query()}&cursor=${seg(cursor)}`, true);
    more.disabled = false;
  } }, '更多');

  // Read one page; append it to what is shown, or replace it.
  async function read(path, append) {
    try {
      const res = await get(path, { signal });
      shown = append ? shown.concat(items(res)) : items(res);
      cursor = res.next_cursor || null;
      fill(box, draw(shown), h('p', null, more));
      more.hidden = cursor === null;
      tick(box);
      say(status, paged ? `已显示 ${shown.length} 条` : `每 ${refreshMs / 1000} 秒刷新`);
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (!(e instanceof ApiError)) throw e;
      say(status, `读取失败：${e.text}`, 'error');
    }
  }

  // Start again from the first page (a filter changed).
  function restart() {
    paged = false;
    return read(query(), false);
  }

  (async () => {
    while (!signal.aborted) {
      if (!paged) await read(query(), false);
      await sleep(refreshMs, signal).catch(() => {});
    }
  })();
  return restart;
}
