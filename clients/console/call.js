// The operator's call form, laid out for the pace of a call: the
// disposition first, categories and risk as buttons, the child's details
// optional except the county; POST /v1/calls with one Idempotency-Key per
// call. The daemon validates (the form sends what was typed and shows the
// daemon's error beside the field it names); nothing is stored in the
// browser (autocomplete off, no storage).

import { ApiError, newKey, post } from './api.js';
import { datalist } from './reference.js';
import { CATEGORIES, LABELS, label } from './labels.js';
import { recent } from './cases.js';
import {
  add, choices, clearErrors, fieldName, fill, h, input, localInput, nextId, radioValue, rfc3339,
  say, showFieldError, span, statusLine, timeEl,
} from './ui.js';

const CATEGORIES_MAX = 8;       // open_case.categories
const LANGUAGES = [['zh', '普通话'], ['yue', '粤语'], ['en', '英语'], ['bo', '藏语'], ['ug', '维吾尔语']];

// The trimmed-or-absent value of a text control: blank means not sent.
function text(form, name) {
  const el = form.elements.namedItem(name);
  return el && el.value.trim() !== '' ? el.value : undefined;
}

// A number typed in a control, or what was typed when it is not one (the
// daemon then says why), or undefined.
function number(form, name) {
  const v = text(form, name);
  if (v === undefined) return undefined;
  return /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
}

// An object without its undefined members, or undefined if none is left.
function compact(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

// A datetime-local value as RFC 3339 in the browser's zone (or as typed).
function stamp(form, name) {
  const v = form.elements.namedItem(name).value;
  const d = new Date(v);
  return v && !Number.isNaN(d.getTime()) ? rfc3339(d) : v || undefined;
}

// The body of POST /v1/calls from the form.
function callBody(form) {
  const disposition = radioValue(form, 'disposition');
  const category = radioValue(form, 'topic_category');
  const body = compact({
    started_at: stamp(form, 'started_at'),
    ended_at: stamp(form, 'ended_at'),
    caller_type: radioValue(form, 'caller_type') || undefined,
    caller_phone: text(form, 'caller_phone'),
    language: form.elements.namedItem('language').value,
    topic: category && category !== '-' ? compact({
      category, subcategory: radioValue(form, 'topic_sub') || undefined,
    }) : undefined,
    summary: text(form, 'summary'),
    disposition: disposition || undefined,
  });
  if (disposition === 'case_opened') {
    body.open_case = compact({
      categories: [...form.querySelectorAll('input[name="case_category"]:checked')]
        .map((el) => {
          const [c, s] = el.value.split('/');
          return { category: c, subcategory: s };
        }),
      risk_level: radioValue(form, 'risk_level') ? Number(radioValue(form, 'risk_level')) :
        undefined,
      child: compact({
        name: text(form, 'child_name'),
        gender: radioValue(form, 'child_gender') || undefined,
        age: number(form, 'child_age'),
        birth_date: text(form, 'child_birth_date'),
        id_number: text(form, 'child_id_number'),
        phone: text(form, 'child_phone'),
        school: text(form, 'child_school'),
        address: text(form, 'child_address'),
        region_code: text(form, 'child_region_code'),
      }) || {},
      narrative: text(form, 'narrative'),
    });
  }
  return body;
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
  // SLOT: "open the case now, while the call goes on" (POST /v1/cases, from
  // the operator endpoints' branch) belongs at the head of this section: it
  // would send this section alone and show the case number here, and the
  // call would then be filed with that case's number.
  return h('section', { class: 'open-case', 'aria-labelledby': 'oc-h', hidden: true },
    h('h2', { id: 'oc-h' }, '开案'),
    cats, riskChoices, child,
    input('情况描述', { tag: 'textarea', name: 'narrative', rows: 5, maxlength: 16000 },
      { field: 'open_case.narrative', required: true }));
}

// What the daemon answered to a filed call, with the way to the case.
function filed(res) {
  const items = [
    h('p', null, '来电已登记，', timeEl(res.received_at), '。'),
  ];
  if (res.case_number) {
    items.push(h('p', null, '已开案：',
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
        // SLOT: caller-number lookup (operator endpoints' branch): the
        // number's earlier calls and cases, shown under this field.
        input('语言', { tag: 'select', name: 'language',
          options: LANGUAGES.map(([v, t]) => h('option', { value: v }, t)) },
        { field: 'language' })),
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
      if (res.case_number) recent.unshift({ case_number: res.case_number, at: res.received_at });
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
