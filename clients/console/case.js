// A case as this client may see it (GET /v1/cases/{number}): full, or
// redacted with what is withheld said so, and the work this agency may do
// on it: acknowledge, outcomes (受案, 立案 with the police case number,
// 不予立案 with a reason, 不属于本机关管辖 and then a transfer within 24
// hours, 移送审查起诉, 办结, 结案), closing an inform or supervise
// assignment, notes, feedback to the reporting unit (and the notice before
// 移送审查起诉), a procuratorate's supervision records addressed to an agency
// of its region (with or without an assignment), transfer, and a request to
// see the personal data when the view is redacted, and a link to another
// case about the same child (the live primary assignee). An operator of
// the case's centre has its own work on it (casework.js), a later call on
// the case among it.

import { ApiError, get, newKey, post, seg } from './api.js';
import { categoriesText, FIELDS, label, LABELS } from './labels.js';
import { followUpForm, linkForm, operatorWork } from './casework.js';
import { actionForm, val } from './form.js';
import { datalist } from './reference.js';
import { learnAgency, me } from './session.js';
import {
  add, choices, clocks, fill, h, input, radioValue, risk, say, sealed, statusLine, tag, tick,
  timeEl,
} from './ui.js';

// An assignment in these states has ended: its agency acts no more on it.
const ENDED = ['transferred', 'closed', 'returned'];
const TRANSFER_FROM = ['open', 'acknowledged', 'accepted', 'outside_jurisdiction'];
const ACCESS_HOURS_DEFAULT = 24;

// The outcomes an assignment in a state may record (the protocol's table).
const OUTCOMES_FROM = {
  accepted: ['open', 'acknowledged'],
  case_opened: ['open', 'acknowledged', 'accepted'],
  declined: ['open', 'acknowledged', 'accepted'],
  outside_jurisdiction: ['open', 'acknowledged', 'accepted'],
  prosecution: ['case_opened'],
  resolved: ['open', 'acknowledged', 'accepted', 'case_opened', 'prosecution'],
  closed: ['declined', 'resolved', 'prosecution'],
};

// A definition list of [term, value] pairs, the empty ones left out.
function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined).map(([t, v]) =>
    h('div', null, h('dt', null, t), h('dd', null, v))));
}

// The child, with what is withheld said so.
function childSection(c) {
  const k = c.child || {};
  const hidden = k.withheld || k.purged;
  return h('section', { 'aria-labelledby': 'child-h' },
    h('h2', { id: 'child-h' }, '儿童'),
    facts([
      ['所在区县', k.region_code],
      ['性别', label('gender', k.gender) || '—'],
      ['年龄', k.age !== undefined ? `${k.age} 岁` : '—'],
      ...(hidden ? [] : [
        ['姓名', sealed(k.name)], ['出生日期', sealed(k.birth_date)],
        ['身份证号', sealed(k.id_number)], ['联系电话', sealed(k.phone)],
        ['学校', sealed(k.school)], ['住址', sealed(k.address)],
      ]),
    ]),
    k.withheld ? h('p', { class: 'notice' },
      '姓名、证件号、联系方式、住址等个人信息已隐去。确需查阅的，请在上方提交查阅申请，',
      me.role === 'admin' ? '经另一位管理员批准后在有效期内可见。' : '经本机构审批人批准后在有效期内可见。') :
      null,
    k.purged ? h('p', { class: 'notice' }, '该案件的个人信息已按保存期限销毁。') : null);
}

// The calls of a case from the hotline.
function callsSection(c) {
  if (!c.calls || c.calls.length === 0) return null;
  return h('section', { 'aria-labelledby': 'calls-h' }, h('h2', { id: 'calls-h' }, '来电'),
    h('table', { class: 'list' },
      h('thead', null, h('tr', null, ['开始', '结束', '来电人', '处置', '来电号码', '摘要'].map((t) =>
        h('th', { scope: 'col' }, t)))),
      h('tbody', null, c.calls.map((k) => h('tr', null,
        h('td', null, timeEl(k.started_at)), h('td', null, timeEl(k.ended_at)),
        h('td', null, label('callerType', k.caller_type)),
        h('td', null, label('disposition', k.disposition)),
        h('td', null, c.access === 'full' ? sealed(k.caller_phone) : sealed({ withheld: true })),
        h('td', { class: 'prose' }, sealed(k.summary)))))));
}

// The mandatory report behind a case.
function reportSection(c) {
  const r = c.report;
  if (!r) return null;
  const rep = r.reporter || {};
  const inst = r.institution || {};
  return h('section', { 'aria-labelledby': 'report-h' }, h('h2', { id: 'report-h' }, '强制报告'),
    facts([
      ['回执号', r.receipt_id],
      ['报告人', rep.withheld || rep.purged ? sealed(rep) :
        [sealed(rep.name), '，', sealed(rep.phone), rep.profession ?
          `，${label('profession', rep.profession)}` : '']],
      ['报告单位', [label('institution', inst.type), '：',
        inst.withheld ? sealed({ withheld: true }) : sealed(inst.name),
        inst.region_code ? `（${inst.region_code}）` : '']],
      ['情形', (r.situations || []).map((n) => `第 ${n} 项`).join('、')],
      ['性质', r.suspected ? '疑似' : '已确认'],
      ['发现时间', timeEl(r.discovered_at)], ['报告时间', timeEl(r.reported_at)],
      ['紧急危险', r.immediate_danger ? '是' : '否'],
      ['已采取措施', r.actions_taken !== undefined ? sealed(r.actions_taken) : undefined],
    ]));
}

// Every assignment with its clocks.
function assignmentsSection(c) {
  return h('section', { 'aria-labelledby': 'asg-h' }, h('h2', { id: 'asg-h' }, '分派与时限'),
    h('table', { class: 'list' },
      h('thead', null, h('tr', null, ['机构', '角色', '状态', '时限', '分派时间'].map((t) =>
        h('th', { scope: 'col' }, t)))),
      h('tbody', null, (c.assignments || []).map((a) => h('tr', {
        class: a.agency === me.agency ? 'mine' : null,
      },
      h('td', null, a.agency, a.escalation_level > 0 ? h('span', { class: 'tag tag-warn' },
        `升级 ${a.escalation_level}`) : null,
      a.escalated_from ? h('span', { class: 'hint' }, `（自 ${a.escalated_from.agency}）`) : null),
      h('td', null, label('role', a.role)),
      h('td', null, tag(label('state', a.state))),
      h('td', null, clocks(a, { all: true })),
      h('td', null, timeEl(a.created_at)))))));
}

// The agency of one of the case's assignments by its id (or the id).
function agencyOf(c, id) {
  const a = id ? (c.assignments || []).find((x) => x.assignment_id === id) : null;
  return a ? a.agency : id || '';
}

// Why an assignment was returned or closed: an outcome, or a history kind.
function causeText(cause) {
  return LABELS.outcome[cause] || label('event', cause);
}

// One history item's details after its kind; an item that names only its
// assignment is given the assignment's agency.
function historyDetails(c, e) {
  const parts = [];
  const a = !e.agency && e.assignment ?
    (c.assignments || []).find((x) => x.assignment_id === e.assignment) : null;
  if (e.agency || a) parts.push(e.agency || a.agency);
  if (e.role) parts.push(label('role', e.role));
  if (e.outcome) parts.push(label('outcome', e.outcome));
  if (e.supervision) parts.push(label('supervision', e.supervision));
  if (e.recipient) parts.push(`致 ${e.recipient}`);
  if (e.notice) parts.push(label('notice', e.notice));
  if (e.cause) parts.push(`因：${causeText(e.cause)}`);
  if (e.clock) parts.push(`时限：${label('clock', e.clock)}`);
  if (e.disposition) parts.push(label('disposition', e.disposition));
  if (e.categories) parts.push(categoriesText(e.categories));
  if (e.fields) parts.push(e.fields.map((f) => FIELDS[f] || f).join('、'));
  if (typeof e.from === 'number') parts.push(`${label('risk', e.from)} → ${label('risk', e.to)}`);
  else if (e.from || e.to) parts.push(`${agencyOf(c, e.from)} → ${agencyOf(c, e.to)}`);
  if (e.level !== undefined) parts.push(`第 ${e.level} 级`);
  return parts.join(' · ');
}

// The values a correction replaced (full access), or what stands for them.
function wasText(was) {
  if (was.withheld || was.purged || was.unreadable) return sealed(was);
  return Object.entries(was).map(([k, v]) => [FIELDS[k] || k, '：', sealed(v)])
    .flatMap((x, i) => (i > 0 ? ['；', ...x] : x));
}

// The history, in order.
function historySection(c) {
  return h('section', { 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, '处理记录'),
    h('ol', { class: 'history' }, (c.history || []).map((e) => h('li', null,
      timeEl(e.at), ' ', h('strong', null, label('event', e.kind)), ' ',
      h('span', null, historyDetails(c, e)),
      e.linked ? [' ', h('a', { href: `#/case/${encodeURIComponent(e.linked)}` }, e.linked)] :
        null,
      e.note !== undefined ? h('p', { class: 'prose note' }, sealed(e.note)) : null,
      e.was !== undefined ? h('p', { class: 'prose note' }, '原值：', wasText(e.was)) : null))));
}

// Cases linked to this one by hand.
function linkedSection(c) {
  if (!c.linked_cases || c.linked_cases.length === 0) return null;
  return h('section', { 'aria-labelledby': 'lnk-h' }, h('h2', { id: 'lnk-h' }, '人工关联案件'),
    h('ul', null, c.linked_cases.map((o) => h('li', null,
      h('a', { href: `#/case/${encodeURIComponent(o.case_number)}` }, o.case_number), ' ',
      risk(o.risk_level), ' ', label('caseStatus', o.status), ' · 关联于 ', timeEl(o.linked_at)))));
}

// Related cases about the same child.
function relatedSection(c) {
  if (!c.related_cases || c.related_cases.length === 0) return null;
  return h('section', { 'aria-labelledby': 'rel-h' }, h('h2', { id: 'rel-h' }, '关联案件'),
    h('ul', null, c.related_cases.map((o) => h('li', null,
      h('a', { href: `#/case/${encodeURIComponent(o.case_number)}` }, o.case_number), ' ',
      label('source', o.source), ' · ', label('caseStatus', o.status), ' · ', timeEl(o.created_at),
      ' · 匹配：', (o.matched || []).map((m) => label('matched', m)).join('、')))));
}

// Who read the case's personal data (an administrator's view), filled in
// when GET /v1/cases/{number}/access-log answers.
function accessLogSection(c, signal) {
  const box = h('section', { 'aria-labelledby': 'log-h' }, h('h2', { id: 'log-h' }, '查阅记录'));
  get(`/v1/cases/${seg(c.case_number)}/access-log`, { signal }).then((res) => {
    add(box, h('table', { class: 'list' },
      h('thead', null, h('tr', null, ['时间', '查阅方', '角色', '机构', '依据', '目的'].map((t) =>
        h('th', { scope: 'col' }, t)))),
      h('tbody', null, (res.reads || []).map((r) => h('tr', null,
        h('td', null, timeEl(r.at)), h('td', null, r.client),
        h('td', null, label('clientRole', r.role)),
        h('td', null, r.agency || '—'), h('td', null, label('basis', r.basis)),
        h('td', { class: 'prose' }, r.purpose || '—'))))));
  }).catch((e) => {
    if (e.name !== 'AbortError') {
      add(box, h('p', { class: 'status status-error' }, e.text || String(e)));
    }
  });
  return box;
}

// The outcome form of a primary assignment, offering what its state allows.
function outcomeForm(c, a, reload) {
  const allowed = Object.keys(OUTCOMES_FROM).filter((o) => OUTCOMES_FROM[o].includes(a.state));
  if (allowed.length === 0) return null;
  const extra = h('div', { class: 'grid' });
  const choose = choices('outcome', '处理结果', allowed.map((o) => [o, label('outcome', o)]), {
    required: true,
    onchange: () => {
      const o = radioValue(choose.closest('form'), 'outcome');
      fill(extra,
        o === 'case_opened' ? input('刑事案件编号', { name: 'police_case_number', maxlength: 64 },
          { field: 'police_case_number', required: true }) : null,
        o === 'declined' ? input('不予立案理由', { tag: 'textarea', name: 'reason', rows: 2,
          maxlength: 4000 }, { field: 'reason', required: true }) : null,
        o === 'outside_jurisdiction' ? input('理由（选填）', { tag: 'textarea', name: 'reason',
          rows: 2, maxlength: 4000 }, {
          field: 'reason', hint: '记录后 24 小时内须移送有管辖权的机关（下方「移送其他机构」）',
        }) : null,
        input('说明（选填）', { tag: 'textarea', name: 'text', rows: 2, maxlength: 4000 },
          { field: 'text' }));
    },
  });
  return actionForm('记录处理结果', [choose, extra], `/v1/cases/${seg(c.case_number)}/events`,
    (form) => {
      const o = radioValue(form, 'outcome');
      const b = { type: 'outcome' };
      if (o) b.outcome = o;
      for (const k of ['police_case_number', 'reason', 'text']) {
        if (val(form, k) !== undefined) b[k] = val(form, k);
      }
      return b;
    }, '处理结果已记录', reload);
}

// The feedback form of a primary assignment: a text for the reporting
// unit, and after 立案 the notice before 移送审查起诉.
function feedbackForm(c, a, reload) {
  return actionForm('反馈报告单位', [
    a.state === 'case_opened' ? choices('notice', '告知事项（选填）',
      Object.entries(LABELS.notice), { type: 'checkbox', field: 'notice' }) : null,
    input('反馈内容（选填，报告人可见）', { tag: 'textarea', name: 'text', rows: 3, maxlength: 4000 },
      { field: 'text' }),
  ], `/v1/cases/${seg(c.case_number)}/events`, (form) => {
    const b = { type: 'feedback' };
    const notice = form.querySelector('input[name="notice"]:checked');
    if (notice) b.notice = notice.value;
    if (val(form, 'text') !== undefined) b.text = val(form, 'text');
    return b;
  }, '反馈已提交', reload);
}

// A note in the case's history.
function noteForm(c, reload) {
  return actionForm('添加备注', [
    input('备注内容', { tag: 'textarea', name: 'text', rows: 3, maxlength: 4000 },
      { field: 'text', required: true }),
  ], `/v1/cases/${seg(c.case_number)}/events`,
  (form) => ({ type: 'note', text: val(form, 'text') }),
  '备注已添加', reload);
}

// Finishing an acknowledged inform or supervise assignment (结案 of its
// own part), with what was done.
function closeForm(c, a, reload) {
  const title = a.role === 'supervise' ? '结束监督' : '结束知会';
  return actionForm(title, [
    h('p', { class: 'hint' }, '本机构的知会或监督事项已完成；结束后该案件移出本机构待办队列。'),
    input('说明（选填）', { tag: 'textarea', name: 'text', rows: 2, maxlength: 4000,
      placeholder: a.role === 'supervise' ? '如：监督结束' : '如：已知悉，无需处理' },
    { field: 'text' }),
  ], `/v1/cases/${seg(c.case_number)}/events`, (form) => {
    const b = { type: 'outcome', outcome: 'closed' };
    if (val(form, 'text') !== undefined) b.text = val(form, 'text');
    return b;
  }, `${title}：已记录`, reload);
}

// A procuratorate's supervision record on a case of its region, addressed
// to an agency of the region; the case's agencies are suggested.
function supervisionForm(c, reload) {
  const agencies = [...new Set((c.assignments || []).map((a) => a.agency)
    .filter((code) => code !== me.agency))];
  return actionForm('检察监督', [
    choices('supervision', '监督类型', Object.entries(LABELS.supervision),
      { field: 'supervision', required: true }),
    input('监督对象机构代码', { name: 'recipient_agency', list: 'case-agencies',
      placeholder: agencies[0] ? `如 ${agencies[0]}` : '如 police-320102' },
    { field: 'recipient_agency', required: true }),
    h('datalist', { id: 'case-agencies' }, agencies.map((code) => h('option', { value: code }))),
    input('监督意见（选填）', { tag: 'textarea', name: 'text', rows: 3, maxlength: 4000 },
      { field: 'text' }),
  ], `/v1/cases/${seg(c.case_number)}/events`, (form) => {
    const b = { type: 'supervision' };
    if (radioValue(form, 'supervision')) b.supervision = radioValue(form, 'supervision');
    if (val(form, 'recipient_agency') !== undefined) {
      b.recipient_agency = val(form, 'recipient_agency').trim();
    }
    if (val(form, 'text') !== undefined) b.text = val(form, 'text');
    return b;
  }, '监督记录已提交', reload);
}

// The transfer form of a live assignment.
function transferForm(a, reload) {
  return actionForm('移送其他机构', [
    input('接收机构代码', { name: 'target_agency', list: 'agencies', placeholder: '如 police-320104' },
      { field: 'target_agency', required: true }),
    input('移送理由', { tag: 'textarea', name: 'reason', rows: 2, maxlength: 4000 },
      { field: 'reason', required: true }),
  ], `/v1/assignments/${seg(a.assignment_id)}/transfer`, (form) => ({
    target_agency: val(form, 'target_agency'), reason: val(form, 'reason'),
  }), '已移送', reload);
}

// The access request form of a redacted view.
function accessForm(c, reload) {
  return actionForm('申请查阅个人信息', [
    h('p', { class: 'hint' }, '依据《未成年人网络保护条例》第三十六条，说明查阅目的（勿填写个人信息）；',
      me.role === 'admin' ? '经另一位管理员批准后，在有效期内仅本人可见（报告人信息除外）。' :
        '经本机构审批人批准后在有效期内可见。'),
    input('查阅目的', { tag: 'textarea', name: 'purpose', rows: 2, maxlength: 500 },
      { field: 'purpose', required: true }),
    input('查阅时长（小时）', { name: 'hours', type: 'number', min: 1, value: ACCESS_HOURS_DEFAULT },
      { field: 'hours' }),
  ], `/v1/cases/${seg(c.case_number)}/access-requests`, (form) => {
    const b = { purpose: val(form, 'purpose') };
    const hrs = val(form, 'hours');
    if (hrs !== undefined) b.hours = /^\d+$/.test(hrs) ? Number(hrs) : hrs;
    return b;
  }, '查阅申请已提交，等待审批', reload);
}

// The acknowledge button of an open assignment.
function ackButton(a, reload) {
  return h('button', { type: 'button', class: 'primary', onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      await post(`/v1/assignments/${seg(a.assignment_id)}/ack`, undefined, newKey());
      reload('已接收');
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      reload(null, `接收失败：${e.text}`);
    }
  } }, '接收');
}

// What this agency may do on the case (an administrator: ask to see a
// redacted case).
function workSection(c, reload) {
  if (me.role === 'admin' && c.access === 'redacted') return workBox([accessForm(c, reload)]);
  if (me.role !== 'agency') return null;
  const mine = (c.assignments || []).filter((a) => a.agency === me.agency);
  const live = mine.filter((a) => !ENDED.includes(a.state));
  const forms = [];
  for (const a of live) {
    forms.push(h('div', { class: 'my-assignment' },
      h('p', null, '本机构：', label('role', a.role), ' · ', tag(label('state', a.state)), ' ',
        clocks(a)),
      a.state === 'open' ? ackButton(a, reload) : null,
      a.state === 'outside_jurisdiction' ? h('p', { class: 'notice' },
        '已记录不属于本机关管辖：须在 24 小时内移送有管辖权的机关。') : null));
    if (a.role === 'primary') {
      forms.push(outcomeForm(c, a, reload));
      forms.push(feedbackForm(c, a, reload));
      forms.push(linkForm(c, reload));
    } else if (a.state === 'acknowledged') {
      forms.push(closeForm(c, a, reload));
    }
    if (TRANSFER_FROM.includes(a.state)) forms.push(transferForm(a, reload));
  }
  if (me.procuratorate) forms.push(supervisionForm(c, reload));
  if (live.length > 0 || !me.agency) forms.push(noteForm(c, reload));
  if (c.access === 'redacted') forms.push(accessForm(c, reload));
  return forms.length === 0 ? null : workBox(forms);
}

// The section of the work forms.
function workBox(forms) {
  return h('section', { class: 'work', 'aria-labelledby': 'work-h' },
    h('h2', { id: 'work-h' }, '办理'), h('div', { class: 'work-forms' }, forms));
}

// The page of one case.
export function casePage(main, number) {
  const stop = new AbortController();
  const status = statusLine();
  const box = h('div', { class: 'case' });
  main.append(h('h1', { tabindex: '-1' }, '案件 ', h('span', { class: 'case-number' }, number)),
    status, box);

  // Read the case again and draw it; ok or error is said after.
  async function load(ok, error) {
    try {
      if (me.role === 'agency' && !me.agency) {
        learnAgency((await get('/v1/queue?limit=500', { signal: stop.signal })).assignments);
      }
      const c = await get(`/v1/cases/${seg(number)}`, { signal: stop.signal });
      draw(c);
      if (ok) say(status, ok, 'ok');
      else if (error) say(status, error, 'error');
      else say(status, '');
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (!(e instanceof ApiError)) throw e;
      fill(box);
      say(status, e.status === 404 ? '未找到该案件，或本机构无权查看。' : `读取失败：${e.text}`, 'error');
    }
  }

  // Draw a case view.
  function draw(c) {
    fill(box,
      h('section', { class: 'summary', 'aria-label': '概况' },
        h('p', { class: 'badges' }, risk(c.risk_level), ' ',
          tag(label('caseStatus', c.status), `case-${c.status}`), ' ',
          tag(`查看权限：${label('access', c.access)}`, `access-${c.access}`), ' ',
          tag(label('source', c.source))),
        facts([
          ['类别', categoriesText(c.categories)],
          ['所在区县', c.region_code],
          ['建档时间', timeEl(c.created_at)],
          ['结案时间', c.closed_at ? timeEl(c.closed_at) : undefined],
        ])),
      me.role === 'operator' ? operatorWork(c, load) : workSection(c, load),
      h('div', { class: 'case-body' },
        h('div', { class: 'col' }, childSection(c),
          h('section', { 'aria-labelledby': 'narr-h' }, h('h2', { id: 'narr-h' }, '情况描述'),
            h('p', { class: 'prose' }, sealed(c.narrative))),
          reportSection(c), callsSection(c),
          me.role === 'operator' && c.access === 'full' ?
            h('section', { class: 'follow-up', 'aria-label': '追加来电' }, followUpForm(c, load)) :
            null,
          linkedSection(c), relatedSection(c)),
        h('div', { class: 'col' }, assignmentsSection(c), historySection(c),
          me.role === 'admin' ? accessLogSection(c, stop.signal) : null)));
    add(box, datalist('agencies', 'agencies'));
    tick(box);
  }

  load();
  return () => stop.abort();
}
