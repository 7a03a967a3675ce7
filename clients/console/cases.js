// Cases for an operator's seat: open one by its number, the centre's
// caseload (GET /v1/cases, newest first, a page at a time, by state and
// risk: no personal data, each case's agencies and the clock due first,
// ticking), and the centre's cases about a child, found by ID number or by
// name and birth date (exact matches by the daemon's keyed digests; every
// lookup is logged). An administrator has the number alone.

import { ApiError, get } from './api.js';
import { categoriesText, label, LABELS } from './labels.js';
import { me } from './session.js';
import {
  fieldName, fill, h, input, pagedList, risk, say, statusLine, tag, tick, timeEl,
} from './ui.js';

const CASE_NUMBER = /^\d{4}-[1-9]\d{5}-\d{8,18}$/;
const PAGE_LIMIT = 50;          // cases of a page of the caseload
const REFRESH_MS = 30000;       // the caseload's first page is read again this often

// A link to a case's page.
function caseLink(number) {
  return h('a', { href: `#/case/${encodeURIComponent(number)}` }, number);
}

// The clock due first of a case, ticking (see ui.js tick).
function dueFirst(c) {
  const d = c.next_due;
  if (!d) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'clocks' }, h('li', { class: 'clock', 'data-due': d.due_at,
    'data-from': c.created_at, 'data-status': 'running' },
  h('span', { class: 'clock-kind' }, label('clock', d.kind)), ' ',
  h('span', { class: 'clock-left' }, ''), ' ', h('span', { class: 'hint' }, d.agency)));
}

// The caseload's table.
function caseTable(list) {
  if (list.length === 0) return h('p', { class: 'empty' }, '没有符合条件的案件。');
  return h('table', { class: 'list cases' },
    h('thead', null, h('tr', null, ['案件编号', '风险', '状态', '类别', '区县', '建档时间', '最近更新',
      '最先到期', '承办机构'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, list.map((c) => h('tr', { 'data-case': c.case_number },
      h('td', null, caseLink(c.case_number)),
      h('td', null, risk(c.risk_level)),
      h('td', null, tag(label('caseStatus', c.status), `case-${c.status}`)),
      h('td', null, categoriesText(c.categories)),
      h('td', null, c.region_code),
      h('td', null, timeEl(c.created_at)),
      h('td', null, c.updated_at ? timeEl(c.updated_at) : '—'),
      h('td', null, dueFirst(c)),
      h('td', null, h('ul', { class: 'agencies' }, (c.assignments || []).map((a) => h('li', null,
        a.agency, ' ', label('role', a.role), ' ', tag(label('state', a.state))))))))));
}

// The centre's cases about a child: by ID number, or name and birth date.
function childLookup() {
  const status = statusLine();
  const box = h('div');
  const form = h('form', { class: 'lookup child-lookup', novalidate: true, autocomplete: 'off',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const k of ['id_number', 'name', 'birth_date']) {
        const v = form.elements.namedItem(k).value.trim();
        if (v) q.set(k, v);
      }
      say(status, '正在查询……');
      try {
        const res = await get(`/v1/children/cases?${q}`);
        say(status, `找到 ${res.cases.length} 件`, 'ok');
        fill(box, res.cases.length === 0 ? null : h('ul', { class: 'found-cases' },
          res.cases.map((c) => h('li', null, caseLink(c.case_number), ' ', risk(c.risk_level),
            ' ', tag(label('caseStatus', c.status)), ' ', categoriesText(c.categories),
            ' · 匹配：', label('matched', c.matched), ' · ', timeEl(c.created_at)))));
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        say(status, `查询未成功：${e.field ? fieldName(e.field) + '：' : ''}${e.text}`, 'error');
        fill(box);
      }
    } },
  input('身份证号', { name: 'id_number', maxlength: 18 }),
  h('span', { class: 'or' }, '或'),
  input('姓名', { name: 'name', maxlength: 64 }),
  input('出生日期', { name: 'birth_date', type: 'date' }),
  h('button', { type: 'submit', class: 'primary' }, '查找'));
  return h('section', { class: 'child-search', 'aria-labelledby': 'cs-h' },
    h('h2', { id: 'cs-h' }, '查找儿童的案件'),
    h('p', { class: 'hint' }, '精确匹配本中心的案件；每次查询均记录在案。'), form, status, box);
}

// The centre's caseload, with its filters.
function caseload(signal) {
  const status = statusLine();
  const box = h('div');
  const state = input('状态', { tag: 'select', name: 'state', options: [['', '全部'],
    ...Object.entries(LABELS.caseStatus)].map(([v, t]) => h('option', { value: v }, t)) });
  const level = input('风险', { tag: 'select', name: 'risk', options: [['', '全部'],
    ...Object.entries(LABELS.riskName)].map(([v, t]) => h('option', { value: v }, t)) });
  const value = (f) => f.querySelector('select').value;
  const restart = pagedList(box, status, {
    signal, refreshMs: REFRESH_MS,
    query: () => `/v1/cases?limit=${PAGE_LIMIT}` +
      (value(state) ? `&state=${value(state)}` : '') +
      (value(level) ? `&risk=${value(level)}` : ''),
    items: (res) => res.cases || [],
    draw: caseTable,
  });
  for (const f of [state, level]) f.querySelector('select').addEventListener('change', restart);
  return h('section', { class: 'caseload', 'aria-labelledby': 'cl-h' },
    h('h2', { id: 'cl-h' }, '本中心案件'), h('div', { class: 'toolbar' }, state, level, status),
    box);
}

// The page.
export function casesPage(main) {
  const stop = new AbortController();
  const status = statusLine();
  const form = h('form', { class: 'lookup', novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    const n = form.elements.namedItem('case_number').value.trim();
    if (!CASE_NUMBER.test(n)) {
      say(status, '案件编号格式为 年份-区划代码-8位序号，如 2026-320102-00000001', 'error');
      return;
    }
    location.hash = `#/case/${encodeURIComponent(n)}`;
  } },
  input('案件编号', { name: 'case_number', placeholder: '2026-320102-00000001' }),
  h('button', { type: 'submit', class: 'primary' }, '查看'));
  main.append(h('h1', { tabindex: '-1' }, '案件'), form, status);
  if (me.role === 'operator') main.append(caseload(stop.signal), childLookup());
  tick(main);
  return () => stop.abort();
}
