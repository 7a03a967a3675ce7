// Forms that post: a form of one action under its own Idempotency-Key,
// whose refusal the daemon explains beside the field it names, and the
// values of controls as the API wants them (blank left out, numbers as
// numbers when they are, times in RFC 3339).

import { ApiError, newKey, post } from './api.js';
import {
  clearErrors, fieldName, h, rfc3339, say, showFieldError, statusLine,
} from './ui.js';

// The value of a control as typed, or undefined when blank: a blank
// optional field is left out, not sent empty.
export function val(form, name) {
  const el = form.elements.namedItem(name);
  return el && el.value.trim() !== '' ? el.value : undefined;
}

// A number typed in a control, or what was typed when it is not one (the
// daemon then says why), or undefined.
export function number(form, name) {
  const v = val(form, name);
  if (v === undefined) return undefined;
  return /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
}

// An object without its undefined members, or undefined if none is left.
export function compact(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

// A datetime-local value as RFC 3339 in the browser's zone (or as typed).
export function stamp(form, name) {
  const v = form.elements.namedItem(name).value;
  const d = new Date(v);
  return v && !Number.isNaN(d.getTime()) ? rfc3339(d) : v || undefined;
}

// A form that posts under its own Idempotency-Key and, once accepted,
// reloads the case; the daemon's error is shown beside its field.
export function actionForm(title, fields, path, body, done, reload) {
  let key = newKey();
  const status = statusLine();
  const form = h('form', { class: 'action', novalidate: true, autocomplete: 'off' },
    h('h3', null, title), fields,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, '提交'), status));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    say(status, '正在提交……');
    try {
      await post(path, body(form), key, {
        onRetry: (e, n) => say(status, `${e.text}，正在第 ${n + 1} 次尝试……`),
      });
      key = newKey();
      reload(done);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const at = showFieldError(form, e);
      say(status, `未成功：${e.field ? fieldName(e.field) + '：' : ''}${e.text}`, 'error');
      if (at) at.focus();
      button.disabled = false;
    }
  });
  return form;
}
