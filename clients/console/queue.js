// An agency's queue, most urgent first as the daemon orders it, kept up to
// date without reloading: while none of its assignments waits to be
// acknowledged, a long poll (GET /v1/queue?state=open&wait=) is held and
// answered the moment a new assignment is made by any daemon; while some
// do, the daemon answers such a poll at once, so the queue is read again
// every POLL_MS instead. Each clock's time left ticks locally, in colour;
// a case that learned something from outside its agencies (a call on it, an
// operator's change, a supplement to the report) says when.
// Also a procuratorate's two lists of its region, a page at a time (newest
// first, "更多" follows the daemon's cursor): the overdue and escalated work,
// by agency kind and state, and its own supervision records.

import { ApiError, get, newKey, post, seg, sleep } from './api.js';
import { categoriesText, label, LABELS } from './labels.js';
import { learnAgency, me } from './session.js';
import {
  clocks, fill, h, input, pagedList, risk, say, statusLine, tag, tick, timeEl,
} from './ui.js';

const LIST_LIMIT = 200;         // assignments shown
const WAIT_S = 20;              // a long poll's wait= (under request_timeout - 5)
const POLL_MS = 10000;          // between reads while the long poll cannot be held
const RETRY_MIN_MS = 1000;      // after a failed read, doubling
const RETRY_MAX_MS = 30000;
const SUPERVISION_MS = 30000;   // the supervision list is read again this often
const PAGE_LIMIT = 100;         // items of a supervision list's page

// A table of assignments; ack(a) makes the acknowledge button, fresh the ids
// to mark as new.
export function assignmentTable(list, { ack, fresh = new Set() } = {}) {
  if (list.length === 0) return h('p', { class: 'empty' }, '暂无分派。');
  return h('table', { class: 'list queue' },
    h('thead', null, h('tr', null, ['风险', '案件编号', '类别', '本机构角色', '状态', '时限（剩余）',
      '分派时间', ack ? '操作' : '机构'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, list.map((a) => h('tr', {
      class: fresh.has(a.assignment_id) ? 'fresh' : null, 'data-assignment': a.assignment_id,
    },
    h('td', null, risk(a.risk_level)),
    h('td', null, h('a', { href: `#/case/${encodeURIComponent(a.case_number)}` }, a.case_number),
      a.escalation_level > 0 ? h('span', { class: 'tag tag-warn' }, `升级 ${a.escalation_level}`) :
        null,
      a.case_updated_at ? h('span', { class: 'updated' }, ' 案件更新于 ', timeEl(a.case_updated_at)) :
        null),
    h('td', null, categoriesText(a.categories)),
    h('td', null, label('role', a.role)),
    h('td', null, tag(label('state', a.state), a.state === 'open' ? 'open' : '')),
    h('td', null, clocks(a)),
    h('td', null, timeEl(a.created_at)),
    h('td', null, ack ? ack(a) : a.agency)))));
}

// The agency's queue page.
export function queuePage(main) {
  const stop = new AbortController();
  let nap = null;               // the current wait, aborted to read at once
  let known = null;             // assignment ids of the last answer
  const live = statusLine();
  const announce = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const box = h('div', { class: 'queue-box' });
  const states = [['', '全部在办'], ...Object.entries(LABELS.state)];
  const filter = input('状态', { tag: 'select', name: 'state', options: states.map(([v, t]) =>
    h('option', { value: v }, t)) });
  filter.querySelector('select').addEventListener('change', () => {
    known = null;
    wake();
  });

  // Cut the current wait short: the loop reads the queue again.
  function wake() {
    if (nap) nap.abort();
  }

  // The acknowledge button of an open assignment.
  function ackButton(a) {
    if (a.state !== 'open') return null;
    return h('button', { type: 'button', class: 'small', onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await post(`/v1/assignments/${seg(a.assignment_id)}/ack`, undefined, newKey());
        say(live, `已接收案件 ${a.case_number}`, 'ok');
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        say(live, `接收失败：${e.text}`, 'error');
        ev.target.disabled = false;
      }
      wake();
    } }, '接收');
  }

  // Show an answer, marking and announcing what was not in the last one.
  function show(list) {
    const ids = new Set(list.map((a) => a.assignment_id));
    const fresh = new Set(known ? [...ids].filter((id) => !known.has(id)) : []);
    known = ids;
    fill(box, assignmentTable(list, { ack: ackButton, fresh }));
    tick(box);
    if (fresh.size > 0) {
      const cases = list.filter((a) => fresh.has(a.assignment_id)).map((a) => a.case_number);
      announce.textContent = `新分派：${cases.join('、')}`;
    }
  }

  // Read, show, then wait for news; on failure retry with back-off.
  async function loop() {
    let retry = RETRY_MIN_MS;
    while (!stop.signal.aborted) {
      nap = new AbortController();
      const signal = AbortSignal.any([stop.signal, nap.signal]);
      const state = filter.querySelector('select').value;
      try {
        const q = await get(`/v1/queue?limit=${LIST_LIMIT}${state ? '&state=' + seg(state) : ''}`,
          { signal });
        learnAgency(q.assignments);
        show(q.assignments);
        retry = RETRY_MIN_MS;
        const mayHold = state === '' || state === 'open';
        if (mayHold && !q.assignments.some((a) => a.state === 'open')) {
          say(live, '实时更新：有新分派时立即显示');
          await get(`/v1/queue?state=open&limit=1&wait=${WAIT_S}`, { signal });
        } else {
          say(live, `每 ${POLL_MS / 1000} 秒刷新`);
          await sleep(POLL_MS, signal);
        }
      } catch (e) {
        if (e.name === 'AbortError') continue;
        if (!(e instanceof ApiError)) throw e;
        say(live, `连接中断（${e.text}），${Math.round(retry / 1000)} 秒后重试`, 'error');
        await sleep(retry, stop.signal).catch(() => {});
        retry = Math.min(retry * 2, RETRY_MAX_MS);
      }
    }
  }

  main.append(h('h1', { tabindex: '-1' }, '待办队列', me.agency ? h('span', { class: 'sub' },
    me.agency) : null), h('div', { class: 'toolbar' }, filter, live), announce, box);
  loop();
  return () => stop.abort();
}

// The procuratorate's list of overdue and escalated work in its region:
// live work by default, or one state; every kind of agency, or one.
export function supervisionPage(main) {
  const stop = new AbortController();
  const status = statusLine();
  const box = h('div');
  const kind = input('机构类别', { tag: 'select', name: 'kind', options: [['', '全部'],
    ...Object.entries(LABELS.agencyKind)].map(([v, t]) => h('option', { value: v }, t)) });
  const state = input('状态', { tag: 'select', name: 'state', options: [['', '在办'],
    ...Object.entries(LABELS.state)].map(([v, t]) => h('option', { value: v }, t)) });
  const value = (f) => f.querySelector('select').value;
  main.append(h('h1', { tabindex: '-1' }, '超时与升级（检察监督）'),
    h('div', { class: 'toolbar' }, kind, state, status), box);
  const restart = pagedList(box, status, {
    signal: stop.signal, refreshMs: SUPERVISION_MS,
    query: () => `/v1/supervision/overdue?limit=${PAGE_LIMIT}` +
      (value(kind) ? `&kind=${seg(value(kind))}` : '') +
      (value(state) ? `&state=${seg(value(state))}` : ''),
    items: (res) => res.assignments || [],
    draw: (list) => assignmentTable(list),
  });
  for (const f of [kind, state]) f.querySelector('select').addEventListener('change', restart);
  return () => stop.abort();
}

// The procuratorate's own supervision records, newest first.
export function recordsPage(main) {
  const stop = new AbortController();
  const status = statusLine();
  const box = h('div');
  main.append(h('h1', { tabindex: '-1' }, '监督记录'),
    h('p', { class: 'hint' }, '本院作出的立案监督、检察建议（在案件页面「检察监督」中记录）。'),
    h('div', { class: 'toolbar' }, status), box);
  pagedList(box, status, {
    signal: stop.signal, refreshMs: SUPERVISION_MS,
    query: () => `/v1/supervision/records?limit=${PAGE_LIMIT}`,
    items: (res) => res.records || [],
    draw: (list) => (list.length === 0 ? h('p', { class: 'empty' }, '暂无监督记录。') :
      h('table', { class: 'list records' },
        h('thead', null, h('tr', null, ['时间', '案件编号', '监督类型', '监督对象', '本院分派'].map((t) =>
          h('th', { scope: 'col' }, t)))),
        h('tbody', null, list.map((r) => h('tr', null,
          h('td', null, timeEl(r.at)),
          h('td', null, h('a', { href: `#/case/${encodeURIComponent(r.case_number)}` },
            r.case_number)),
          h('td', null, label('supervision', r.supervision)),
          h('td', null, r.recipient_agency),
          h('td', null, r.assignment ? '有' : '无（区域监督）')))))),
  });
  return () => stop.abort();
}
