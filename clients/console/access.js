// Access requests (minors' online protection regulation art. 36): an
// agency's own, or every one for an administrator, pending first; an
// approver of the requesting agency (or an administrator) approves or
// denies a pending one. Who may decide is the daemon's to say: a requester
// pressing "批准" is told it may not.

import { ApiError, get, newKey, post, seg } from './api.js';
import { label, LABELS } from './labels.js';
import { fill, h, input, say, statusLine, tag, timeEl } from './ui.js';

// The page: a state to list, the list, and the decisions.
export function accessPage(main) {
  const stop = new AbortController();
  const status = statusLine();
  const box = h('div');
  const states = Object.entries(LABELS.accessState);
  const filter = input('状态', { tag: 'select', name: 'state', options: states.map(([v, t]) =>
    h('option', { value: v }, t)) });
  const select = filter.querySelector('select');

  // A decision button: approve or deny one request.
  function decide(r, verb, text) {
    return h('button', { type: 'button', class: verb === 'approve' ? 'primary small' : 'small',
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await post(`/v1/access-requests/${seg(r.access_request_id)}/${verb}`, undefined,
            newKey());
          await load(`${text}：案件 ${r.case_number}`);
        } catch (e) {
          if (!(e instanceof ApiError)) throw e;
          say(status, `${text}未成功：${e.text}`, 'error');
          ev.target.disabled = false;
        }
      } }, text);
  }

  // Read the list and draw it.
  async function load(done) {
    try {
      const res = await get(`/v1/access-requests?state=${seg(select.value)}`,
        { signal: stop.signal });
      const list = res.access_requests || [];
      fill(box, list.length === 0 ? h('p', { class: 'empty' }, '没有此状态的查阅申请。') :
        h('table', { class: 'list' },
          h('thead', null, h('tr', null, ['案件编号', '申请机构', '申请人', '查阅目的', '时长',
            '状态', '申请时间', '有效期至', '操作'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', null, list.map((r) => h('tr', { 'data-request': r.access_request_id },
            h('td', null, h('a', { href: `#/case/${encodeURIComponent(r.case_number)}` },
              r.case_number)),
            h('td', null, r.agency || '（管理员）'), h('td', null, r.requested_by),
            h('td', { class: 'prose' }, r.purpose), h('td', null, `${r.hours} 小时`),
            h('td', null, tag(label('accessState', r.state), r.state)),
            h('td', null, timeEl(r.created_at)),
            h('td', null, r.valid_until ? timeEl(r.valid_until) : '—'),
            h('td', null, r.state === 'pending' ? [decide(r, 'approve', '批准'), ' ',
              decide(r, 'deny', '驳回')] : '—'))))));
      say(status, done || '', done ? 'ok' : '');
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (!(e instanceof ApiError)) throw e;
      say(status, `读取失败：${e.text}`, 'error');
    }
  }

  select.addEventListener('change', () => load());
  main.append(h('h1', { tabindex: '-1' }, '查阅申请'), h('div', { class: 'toolbar' }, filter),
    status, box);
  load();
  return () => stop.abort();
}
