// Cases for an operator's seat (and an administrator): open one by its
// number, the cases this page opened since it was loaded, and the centre's
// caseload once the daemon lists it.

import { ApiError, get } from './api.js';
import { categoriesText, label } from './labels.js';
import { fill, h, input, risk, say, statusLine, timeEl } from './ui.js';

// Cases opened from this page since it was loaded (numbers only; nothing is
// kept in the browser's storage).
export const recent = [];

const CASE_NUMBER = /^\d{4}-[1-9]\d{5}-\d{8}$/;

// A table of cases: number, risk, status, categories, created.
function caseTable(list) {
  return h('table', { class: 'list' },
    h('thead', null, h('tr', null, ['案件编号', '风险', '状态', '类别', '建档时间'].map((t) =>
      h('th', { scope: 'col' }, t)))),
    h('tbody', null, list.map((c) => h('tr', null,
      h('td', null, h('a', { href: `#/case/${encodeURIComponent(c.case_number)}` }, c.case_number)),
      h('td', null, c.risk_level ? risk(c.risk_level) : '—'),
      h('td', null, label('caseStatus', c.status) || '—'),
      h('td', null, categoriesText(c.categories) || '—'),
      h('td', null, timeEl(c.created_at || c.at))))));
}

// SLOT: the centre's caseload, GET /v1/cases (operator endpoints' branch).
// Until the daemon has it, the path is unknown (404) and only this page's
// own cases are listed; the list is read as {"cases": [case summaries]}.
async function caseload(box, status) {
  try {
    const res = await get('/v1/cases?limit=100');
    fill(box, h('h2', null, '本中心案件'), caseTable(res.cases || []));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status !== 404) say(status, `案件列表读取失败：${e.text}`, 'error');
    fill(box, h('h2', null, '本次登记开案'), recent.length > 0 ? caseTable(recent) :
      h('p', { class: 'muted' }, '本页打开以来尚未开案。'));
  }
}

// The page.
export function casesPage(main) {
  const status = statusLine();
  const box = h('section', { class: 'caseload' });
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
  main.append(h('h1', { tabindex: '-1' }, '案件'), form, status, box);
  caseload(box, status);
}
