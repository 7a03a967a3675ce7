// An operator's work on a case of its centre (any seat of the centre):
// a later call about the child logged on the case (回访), a note, the risk
// re-graded with a reason (raised, the case reaches the agencies the level
// brings in and its clocks are brought forward), categories added (routed
// for them), the child's details corrected (the values replaced are kept),
// and a link to another case about the same child (also the agency that
// holds the case's live primary assignment). Each is a history event, and
// the agencies see the case as updated.

import { seg } from './api.js';
import { actionForm, compact, number, stamp, val } from './form.js';
import { CATEGORIES, LABELS, label } from './labels.js';
import { choices, h, input, localInput, radioValue } from './ui.js';

// A form folded under its title, opened when wanted: a case page shows
// the case first, the work below it.
function fold(form, open = false) {
  const title = form.querySelector('h3');
  const summary = h('summary', null, title.textContent);
  title.remove();
  return h('details', { class: 'fold', open }, summary, form);
}

// The path of a piece of work on a case.
function workPath(c, what) {
  return `/v1/cases/${seg(c.case_number)}/${what}`;
}

// A later call about the child, logged on the case (disposition follow_up).
export function followUpForm(c, reload) {
  const now = localInput(new Date());
  return fold(actionForm('追加来电（回访）', [
    h('div', { class: 'grid' },
      input('来电开始', { name: 'started_at', type: 'datetime-local', step: 1, value: now },
        { field: 'started_at', required: true }),
      input('来电结束', { name: 'ended_at', type: 'datetime-local', step: 1, value: now },
        { field: 'ended_at', required: true }),
      input('来电号码（选填）', { name: 'caller_phone', inputmode: 'tel' },
        { field: 'caller_phone' })),
    choices('caller_type', '来电人', Object.entries(LABELS.callerType),
      { field: 'caller_type', required: true }),
    input('通话摘要（选填）', { tag: 'textarea', name: 'summary', rows: 2, maxlength: 4000 },
      { field: 'summary' }),
  ], '/v1/calls', (form) => compact({
    started_at: stamp(form, 'started_at'),
    ended_at: stamp(form, 'ended_at'),
    caller_type: radioValue(form, 'caller_type') || undefined,
    caller_phone: val(form, 'caller_phone'),
    summary: val(form, 'summary'),
    disposition: 'follow_up',
    case_number: c.case_number,
  }), '来电已记入本案', reload));
}

// A note of the centre's.
function noteForm(c, reload) {
  return actionForm('添加备注', [
    input('备注内容', { tag: 'textarea', name: 'text', rows: 3, maxlength: 4000 },
      { field: 'text', required: true }),
  ], workPath(c, 'notes'), (form) => compact({ text: val(form, 'text') }) || {},
  '备注已添加', reload);
}

// The risk re-graded, with why.
function riskForm(c, reload) {
  return actionForm('调整风险等级', [
    choices('risk_level', '新的风险等级', [1, 2, 3, 4].filter((n) => n !== c.risk_level)
      .map((n) => [String(n), label('riskName', n), `risk-choice risk-${n}`]),
    { field: 'risk_level', required: true }),
    input('调整理由', { tag: 'textarea', name: 'reason', rows: 2, maxlength: 4000 },
      { field: 'reason', required: true, hint: '调高时，新等级涉及的机构立即收到，时限按新等级提前' }),
  ], workPath(c, 'risk'), (form) => compact({
    risk_level: radioValue(form, 'risk_level') ? Number(radioValue(form, 'risk_level')) :
      undefined,
    reason: val(form, 'reason'),
  }) || {}, '风险等级已调整', reload);
}

// Categories the case lacks, added and routed.
function categoriesForm(c, reload) {
  const has = new Set((c.categories || []).map((k) => `${k.category}/${k.subcategory}`));
  return actionForm('增加类别', [
    h('fieldset', { class: 'choices', 'data-field': 'categories' },
      h('legend', null, '类别（可多选）', h('span', { class: 'req', 'aria-hidden': 'true' }, ' *')),
      h('div', { class: 'choice-row' }, CATEGORIES.flatMap((k) => k.subs
        .filter(([code]) => !has.has(`${k.code}/${code}`))
        .map(([code, text]) => {
          const id = `add-cat-${k.code}-${code}`;
          return h('span', { class: 'choice' },
            h('input', { type: 'checkbox', id, name: 'add_category', value: `${k.code}/${code}` }),
            h('label', { for: id }, `${k.label}/${text}`));
        })))),
    input('理由（选填）', { tag: 'textarea', name: 'reason', rows: 2, maxlength: 4000 },
      { field: 'reason' }),
  ], workPath(c, 'categories'), (form) => compact({
    categories: [...form.querySelectorAll('input[name="add_category"]:checked')].map((el) => {
      const [category, subcategory] = el.value.split('/');
      return { category, subcategory };
    }),
    reason: val(form, 'reason'),
  }) || {}, '类别已增加', reload);
}

// The child's details corrected (the county, which routed the case, stays).
function childForm(c, reload) {
  return actionForm('更正儿童信息', [
    h('p', { class: 'hint' }, '只填写需要更正的项；原值保留备查。所在区县不能更正。'),
    h('div', { class: 'grid' },
      input('姓名', { name: 'name', maxlength: 64 }, { field: 'name' }),
      input('年龄', { name: 'age', type: 'number', inputmode: 'numeric' }, { field: 'age' }),
      input('出生日期', { name: 'birth_date', type: 'date' }, { field: 'birth_date' }),
      input('身份证号', { name: 'id_number', maxlength: 18 }, { field: 'id_number' }),
      input('联系电话', { name: 'phone', inputmode: 'tel' }, { field: 'phone' }),
      input('学校', { name: 'school', maxlength: 128 }, { field: 'school' }),
      input('住址', { name: 'address', maxlength: 256 }, { field: 'address' })),
    choices('gender', '性别', Object.entries(LABELS.gender), { field: 'gender' }),
    input('理由（选填）', { tag: 'textarea', name: 'reason', rows: 2, maxlength: 4000 },
      { field: 'reason' }),
  ], workPath(c, 'child'), (form) => compact({
    name: val(form, 'name'),
    gender: radioValue(form, 'gender') || undefined,
    age: number(form, 'age'),
    birth_date: val(form, 'birth_date'),
    id_number: val(form, 'id_number'),
    phone: val(form, 'phone'),
    school: val(form, 'school'),
    address: val(form, 'address'),
    reason: val(form, 'reason'),
  }) || {}, '儿童信息已更正', reload);
}

// A link to another case about the same child.
export function linkForm(c, reload) {
  return actionForm('关联案件', [
    input('另一案件编号', { name: 'case_number', placeholder: '2026-320102-00000001' },
      { field: 'case_number', required: true, hint: '同一儿童的另一案件；两案互相可见关联' }),
  ], workPath(c, 'links'), (form) => compact({
    case_number: val(form, 'case_number') && val(form, 'case_number').trim(),
  }) || {}, '已关联', reload);
}

// What an operator of the case's centre may do on it
// (a closed case is noted and linked, no longer re-graded or corrected).
export function operatorWork(c, reload) {
  if (c.access !== 'full') return null;
  const open = c.status !== 'closed';
  const forms = [noteForm(c, reload), open ? riskForm(c, reload) : null,
    open ? categoriesForm(c, reload) : null, open ? childForm(c, reload) : null,
    linkForm(c, reload)];
  return h('section', { class: 'work', 'aria-labelledby': 'work-h' },
    h('h2', { id: 'work-h' }, '案件处理'),
    h('div', { class: 'work-folds' }, forms.filter((f) => f).map((f) => fold(f))));
}
