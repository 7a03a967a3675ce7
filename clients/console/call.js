// The operator's call form, laid out for the pace of a call: the
// disposition first, categories and risk as buttons, the child's details
// optional except the county; POST /v1/calls with one Idempotency-Key per
// call. While the call goes on, the operator may look the caller's number
// up (the centre's earlier calls and their cases) and open the case at once
// (POST /v1/cases: routed before the call ends); the call is then logged on
// that case, as a call on any case of the centre may be (回访, follow_up).
// The daemon validates (the form sends what was typed and shows the
// daemon's error beside the field it names); nothing is stored in the
// browser (autocomplete off, no storage).

import { ApiError, get, newKey, post, seg } from './api.js';
import { compact, number, stamp, val } from './form.js';
import { datalist } from './reference.js';
import { CATEGORIES, LABELS, categoriesText, label } from './labels.js';
import {
  add, choices, clearErrors, fieldName, fill, h, input, localInput, nextId, radioValue, risk, say,
  showFieldError, span, statusLine, tag, timeEl,
} from './ui.js';

const CATEGORIES_MAX = 8;       // open_case.categories
const LANGUAGES = [['zh', '普通话'], ['yue', '粤语'], ['en', '英语'], ['bo', '藏语'], ['ug', '维吾尔语']];

// The body of POST /v1/calls from the form.
function callBody(form) {
  const disposition = radioValue(form, 'disposition');
  const category = radioValue(form, 'topic_category');
  const body = compact({
    started_at: stamp(form, 'started_at'),
    ended_at: stamp(form, 'ended_at'),
    caller_type: radioValue(form, 'caller_type') || undefined,
    caller_phone: val(form, 'caller_phone'),
    language: form.elements.namedItem('language').value,
    topic: category && category !== '-' ? compact({
      category, subcategory: radioValue(form, 'topic_sub') || undefined,
    }) : undefined,
    summary: val(form, 'summary'),
    disposition: disposition || undefined,
  });
  const number = val(form, 'case_number');
  if (number !== undefined) body.case_number = number.trim();
  else if (disposition === 'case_opened') body.open_case = caseBody(form);
  return body;
}

// The case of the open-case section: a call's open_case, and the body of
// POST /v1/cases.
function caseBody(form) {
  return compact({
    categories: [...form.querySelectorAll('input[name="case_category"]:checked')]
      .map((el) => {
        const [c, s] = el.value.split('/');
        return { category: c, subcategory: s };
      }),
    risk_level: radioValue(form, 'risk_level') ? Number(radioValue(form, 'risk_level')) :
      undefined,
    child: compact({
      name: val(form, 'child_name'),
      gender: radioValue(form, 'child_gender') || undefined,
      age: number(form, 'child_age'),
      birth_date: val(form, 'child_birth_date'),
      id_number: val(form, 'child_id_number'),
      phone: val(form, 'child_phone'),
      school: val(form, 'child_school'),
      address: val(form, 'child_address'),
      region_code: val(form, 'child_region_code'),
    }) || {},
    narrative: val(form, 'narrative'),
  }) || {};
}

// The topic's subcategories for the chosen category.
function drawTopicSubs(form, box) {
  const cat = CATEGORIES.find((c) => c.code === radioValue(form, 'topic_category'));
  fill(box, cat ? choices('topic_sub', '主题细类（选填）', cat.subs, { field: 'topic.subcategory' }) :
    null);
}

// The open-case section: categories, risk, the child, the narrative.
function openCaseSection() {
  const cats = h('fieldset', { class: 'choices categories', 'data-field': 'open_case.categories' },
    h('legend', null, `案件类别（可多选，至多 ${CATEGORIES_MAX} 项）`,
      h('span', { class: 'req', 'aria-hidden': 'true' }, ' *')),
    CATEGORIES.map((c) => h('div', { class: 'category-group' },
      h('p', { class: 'category-name', id: `cat-${c.code}` }, c.label),
      h('div', { class: 'choice-row', role: 'group', 'aria-labelledby': `cat-${c.code}` },
        c.subs.map(([code, text]) => {
          const id = nextId('cc');
          return h('span', { class: 'choice' },
            h('input', { type: 'checkbox', id, name: 'case_category', value: `${c.code}/${code}` }),
            h('label', { for: id }, text));
        })))));
  const riskChoices = choices('risk_level', '风险等级', [1, 2, 3, 4].map((n) =>
    [String(n), label('riskName', n), `risk-choice risk-${n}`]),
  { field: 'open_case.risk_level', required: true });
  const child = h('fieldset', { class: 'child', 'data-field': 'open_case.child' },
    h('legend', null, '儿童信息（除所在区县外均为选填）'),
    h('div', { class: 'grid' },
      input('所在区县（行政区划代码）', {
        name: 'child_region_code', inputmode: 'numeric', list: 'regions', maxlength: 6,
        placeholder: '如 320102',
      }, { field: 'open_case.child.region_code', required: true }),
      datalist('regions', 'regions'),
      input('姓名', { name: 'child_name', maxlength: 64 }, { field: 'open_case.child.name' }),
      choices('child_gender', '性别', Object.entries(LABELS.gender),
        { field: 'open_case.child.gender' }),
      input('年龄', { name: 'child_age', type: 'number', inputmode: 'numeric' },
        { field: 'open_case.child.age' }),
      input('出生日期', { name: 'child_birth_date', type: 'date' },
        { field: 'open_case.child.birth_date' }),
      input('身份证号', { name: 'child_id_number', maxlength: 18 },
        { field: 'open_case.child.id_number' }),
      input('联系电话', { name: 'child_phone', inputmode: 'tel' },
        { field: 'open_case.child.phone' }),
      input('学校', { name: 'child_school', maxlength: 128 }, { field: 'open_case.child.school' }),
      input('住址', { name: 'child_address', maxlength: 256 },
        { field: 'open_case.child.address' })));
  return h('section', { class: 'open-case', 'aria-labelledby': 'oc-h', hidden: true },
    h('h2', { id: 'oc-h' }, '开案'),
    h('fieldset', { class: 'case-fields' },
      h('legend', { class: 'visually-hidden' }, '案件信息'),
      cats, riskChoices, child,
      input('情况描述', { tag: 'textarea', name: 'narrative', rows: 5, maxlength: 16000 },
        { field: 'open_case.narrative', required: true })));
}

// The bar that opens the case at once, while the call goes on: the
// section's case is sent alone (POST /v1/cases, its own key) and routed;
// the section is then fixed, and the call will be logged on the case.
function openNowBar(form, section, onOpened) {
  let key = newKey();
  const status = statusLine();
  const button = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    clearErrors(section);
    button.disabled = true;
    say(status, '正在开案……');
    try {
      const res = await post('/v1/cases', caseBody(form), key, {
        onRetry: (e, n) => say(status, `${e.text}，正在第 ${n + 1} 次尝试……`),
      });
      key = newKey();
      section.querySelector('fieldset.case-fields').disabled = true;
      fill(bar, h('p', { class: 'opened' }, '已开案并分派：',
        h('a', { href: `#/case/${encodeURIComponent(res.case_number)}`, class: 'case-link' },
          res.case_number), ' ', risk(res.risk_level)),
      h('ul', { class: 'routed' }, (res.assignments || []).map((a) => h('li', null,
        a.agency, ' ', label('role', a.role), ' ', tag(label('state', a.state))))),
      h('p', { class: 'hint' }, '通话结束后提交登记，来电即记入此案件；以下开案内容已锁定。'));
      onOpened(res);
      bar.querySelector('a.case-link').focus();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      // The case's fields are named without the call's "open_case.".
      const err = new ApiError(e.status, e.code, e.field ? `open_case.${e.field}` : null,
        e.message, e.retryAfter);
      const at = showFieldError(section, err);
      say(status, `开案未成功：${err.field ? fieldName(err.field) + '：' : ''}${e.text}`,
        'error');
      if (at) at.focus();
      button.disabled = false;
    }
  } }, '立即开案并分派');
  const bar = h('div', { class: 'open-now' }, button,
    h('span', { class: 'hint' }, '危急时先开案：各机构立即收到，通话继续'), status);
  return bar;
}

// The centre's earlier calls from a number and their cases (every lookup is
// logged by the daemon, so it is asked for, not made as one types); a case
// may be taken as the one this call is about.
function callerLookup(form, onCase) {
  const box = h('div', { class: 'caller-history', 'aria-live': 'polite' });
  const status = statusLine();
  const button = h('button', { type: 'button', class: 'small', onclick: async () => {
    const phone = val(form, 'caller_phone');
    if (phone === undefined) {
      say(status, '请先填写来电号码', 'error');
      return;
    }
    button.disabled = true;
    say(status, '正在查询……');
    try {
      const res = await get(`/v1/callers/${seg(phone.trim())}/history`);
      say(status, '');
      fill(box, res.total === 0 ? h('p', { class: 'muted' }, '本中心未接过此号码的来电。') : [
        h('p', { class: 'notice' }, `本中心此前接过此号码来电 ${res.total} 次。`),
        h('table', { class: 'list' },
          h('thead', null, h('tr', null, ['来电时间', '处置', '主题', '案件', '摘要'].map((t) =>
            h('th', { scope: 'col' }, t)))),
          h('tbody', null, res.calls.map((c) => h('tr', null,
            h('td', null, timeEl(c.started_at)),
            h('td', null, label('disposition', c.disposition)),
            h('td', null, c.topic ? categoriesText([c.topic]) : '—'),
            h('td', null, c.case_number ? h('a', {
              href: `#/case/${encodeURIComponent(c.case_number)}` }, c.case_number) : '—'),
            h('td', { class: 'prose' }, c.summary || '—'))))),
        res.cases.length > 0 ? h('ul', { class: 'found-cases' }, res.cases.map((c) => h('li', null,
          h('a', { href: `#/case/${encodeURIComponent(c.case_number)}` }, c.case_number), ' ',
          risk(c.risk_level), ' ', tag(label('caseStatus', c.status)), ' ',
          categoriesText(c.categories), ' ',
          h('button', { type: 'button', class: 'small', onclick: () => onCase(c.case_number) },
            '本次来电记入此案（回访）')))) : null,
      ]);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      say(status, `查询未成功：${e.text}`, 'error');
    } finally {
      button.disabled = false;
    }
  } }, '查询来电记录');
  return h('div', { class: 'lookup-caller' }, button, status, box);
}

// What the daemon answered to a filed call, with the way to the case.
function filed(res) {
  const items = [
    h('p', null, '来电已登记，', timeEl(res.received_at), '。'),
  ];
  if (res.case_number) {
    items.push(h('p', null, '案件：',
      h('a', { href: `#/case/${encodeURIComponent(res.case_number)}`, class: 'case-link' },
        res.case_number)));
  }
  if (res.earlier_calls && res.earlier_calls.count > 0) {
    items.push(h('p', { class: 'notice' }, `该号码此前来电 ${res.earlier_calls.count} 次，最近一次 `,
      timeEl(res.earlier_calls.last_at), '。'));
  }
  return items;
}

// The page: a fresh call, its clock started when the page opened.
export function callPage(main) {
  let key = newKey();
  const started = new Date();
  const form = h('form', { class: 'call-form', novalidate: true, autocomplete: 'off' });
  const elapsed = h('span', { class: 'elapsed', 'aria-live': 'off' }, '00:00');
  const status = statusLine();
  const result = h('section', { class: 'filed', 'aria-labelledby': 'filed-h', hidden: true,
    tabindex: '-1' });
  const openCase = openCaseSection();
  const topicSubs = h('div', { class: 'topic-subs' });
  let ended = null;

  // Log this call on a case: its number in the case field.
  function onCase(number, disposition) {
    form.elements.namedItem('case_number').value = number;
    if (disposition) {
      form.querySelector(`input[name="disposition"][value="${disposition}"]`).click();
    }
  }

  const endButton = h('button', { type: 'button', class: 'secondary', onclick: () => {
    ended = new Date();
    form.elements.namedItem('ended_at').value = localInput(ended);
    endButton.disabled = true;
    endButton.textContent = '通话已结束';
  } }, '结束通话');

  const noCase = h('section', { class: 'no-case' },
    h('p', { class: 'muted' }, '处置方式选择「开案」后，在此填写案件类别、风险等级、儿童信息和情况描述。'));
  const dispositions = choices('disposition', '处置方式', Object.entries(LABELS.disposition).map(
    ([code, text]) => [code, text, code === 'case_opened' ? 'choice-strong' : '']),
  { required: true, onchange: () => {
    const d = radioValue(form, 'disposition');
    openCase.hidden = d !== 'case_opened';
    noCase.hidden = !openCase.hidden;
    // A silent call or a hang-up has no caller to tell about: 不明.
    if ((d === 'silent' || d === 'hang_up') && !radioValue(form, 'caller_type')) {
      form.querySelector('input[name="caller_type"][value="unknown"]').checked = true;
    }
  } });

  openCase.insertBefore(openNowBar(form, openCase, (res) => {
    onCase(res.case_number);
    form.elements.namedItem('case_number').readOnly = true;
  }), openCase.querySelector('fieldset.case-fields'));

  add(form, [
    h('section', { class: 'call-head', 'aria-label': '通话' },
      h('p', { class: 'timer' }, '通话计时 ', elapsed), endButton,
      h('details', { class: 'times' }, h('summary', null, '更正时间'),
        h('div', { class: 'grid' },
          input('来电开始', { name: 'started_at', type: 'datetime-local', step: 1,
            value: localInput(started) }, { field: 'started_at' }),
          input('来电结束', { name: 'ended_at', type: 'datetime-local', step: 1 },
            { field: 'ended_at', hint: '未填写时取提交时刻' })))),
    dispositions,
    h('section', { class: 'caller', 'aria-labelledby': 'caller-h' },
      h('h2', { id: 'caller-h' }, '来电'),
      h('div', { class: 'grid' },
        choices('caller_type', '来电人', Object.entries(LABELS.callerType), { required: true }),
        input('来电号码（选填，号码隐藏时不填）', { name: 'caller_phone', inputmode: 'tel' },
          { field: 'caller_phone' }),
        input('语言', { tag: 'select', name: 'language',
          options: LANGUAGES.map(([v, t]) => h('option', { value: v }, t)) },
        { field: 'language' }),
        input('案件编号（回访必填；来电涉及本中心已有案件时填写）', { name: 'case_number',
          placeholder: '2026-320102-00000001' }, { field: 'case_number' })),
      callerLookup(form, (n) => onCase(n, 'follow_up')),
      choices('topic_category', '来电主题',
        [['-', '无/未定'], ...CATEGORIES.map((c) => [c.code, c.label])],
        { field: 'topic', onchange: () => drawTopicSubs(form, topicSubs) }),
      topicSubs,
      input('通话摘要（选填）', { tag: 'textarea', name: 'summary', rows: 3, maxlength: 4000 },
        { field: 'summary' })),
    openCase, noCase,
    h('div', { class: 'submit-bar' },
      h('button', { type: 'submit', class: 'primary' }, '提交登记'),
      h('span', { class: 'hint' }, 'Ctrl+Enter 提交'), status),
  ]);

  // Enter in a one-line field must not file the call half-way.
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      form.requestSubmit();
    } else if (ev.key === 'Enter' && ev.target.matches('input')) {
      ev.preventDefault();
    }
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    if (!form.elements.namedItem('ended_at').value) {
      form.elements.namedItem('ended_at').value = localInput(ended || new Date());
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    say(status, '正在提交……');
    try {
      const res = await post('/v1/calls', callBody(form), key, {
        onRetry: (e, n) => say(status, `${e.text}，正在第 ${n + 1} 次尝试（同一幂等键，不会重复登记）……`),
      });
      key = newKey();
      form.hidden = true;
      fill(result, h('h2', { id: 'filed-h' }, '登记成功'), filed(res),
        h('p', null, h('button', { type: 'button', class: 'primary', onclick: () => {
          main.replaceChildren();
          stop();
          stop = callPage(main);
        } }, '登记下一通来电')));
      result.hidden = false;
      result.focus();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const at = showFieldError(form, e);
      say(status, e.field ? `提交未成功：${fieldName(e.field)}：${e.text}` : `提交未成功：${e.text}`,
        'error');
      if (at) at.focus();
    } finally {
      button.disabled = false;
    }
  });

  const timer = setInterval(() => {
    const s = Math.floor(((ended || new Date()) - started) / 1000);
    elapsed.textContent = s >= 3600 ? span(s * 1000) :
      `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  }, 1000);
  main.append(h('h1', { tabindex: '-1' }, '来电登记'), form, result);
  let stop = () => clearInterval(timer);
  return () => stop();
}
