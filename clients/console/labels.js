// The Chinese labels of the codes the API speaks (the codes stay English on
// the wire), in one table, as in the hotline client's show.c. A code with no
// label is shown as it is, so a new code in the daemon needs no new console.

export const LABELS = {
  risk: { 1: '1 红', 2: '2 橙', 3: '3 黄', 4: '4 蓝' },
  riskName: { 1: '红（紧急）', 2: '橙（高）', 3: '黄（中）', 4: '蓝（低）' },
  role: { primary: '主办', inform: '知会', supervise: '监督' },
  state: {
    open: '待接收', acknowledged: '已接收', accepted: '受案', case_opened: '立案',
    declined: '不予立案', outside_jurisdiction: '不属于本机关管辖', transferred: '已移送',
    prosecution: '移送审查起诉', resolved: '已办结', closed: '已结案', returned: '已撤回',
  },
  caseStatus: { open: '办理中', closed: '已结案' },
  clock: {
    acknowledge: '接收', first_action: '首次处置', resolve: '办结', investigation: '调查',
    feedback: '反馈', decline_notice: '不立案告知', transfer: '移送',
  },
  clockStatus: { running: '计时中', warning: '预警', missed: '超时', stopped: '已停止' },
  event: {
    created: '建档', assigned: '分派', acknowledged: '接收', outcome: '处理结果', note: '备注',
    feedback: '反馈报告单位', supervision: '检察监督', transferred: '移送',
    clock_warning: '时限预警', clock_missed: '超时', escalated: '升级', returned: '升级撤回',
    assignment_closed: '分派关闭', case_closed: '案件结案', call_logged: '来电记录',
    risk_changed: '风险调整', categories_added: '增加类别', child_corrected: '更正儿童信息',
    case_linked: '关联案件', supplement: '报告补充',
    access_requested: '申请查阅', access_approved: '批准查阅', access_denied: '驳回查阅',
    purged: '个人信息已销毁',
  },
  outcome: {
    accepted: '受案', case_opened: '立案', declined: '不予立案',
    outside_jurisdiction: '不属于本机关管辖', prosecution: '移送审查起诉', resolved: '已办结',
    closed: '已结案',
  },
  notice: { prosecution: '移送审查起诉告知' },
  agencyKind: {
    police: '公安', procuratorate: '检察院', education: '教育', civil_affairs: '民政', health: '卫生健康',
    legal_aid: '法律援助', coordination: '未保办',
  },
  supervision: { case_filing_supervision: '立案监督', procuratorial_suggestion: '检察建议' },
  accessState: { pending: '待审批', approved: '已批准', denied: '已驳回', expired: '已过期' },
  access: { full: '完整', redacted: '已脱敏', purged: '个人信息已销毁' },
  basis: {
    admin: '管理员', centre: '本中心', creator: '登记人', primary: '主办', access_request: '查阅申请',
    lookup: '查询',
  },
  source: { call: '热线来电', report: '强制报告' },
  disposition: {
    counselled: '心理疏导', information: '信息咨询', referred: '转介', silent: '无声来电',
    hang_up: '挂断', prank: '恶作剧', abusive: '辱骂', case_opened: '开案', follow_up: '回访',
  },
  callerType: { child_self: '儿童本人', about_child: '代为求助', unknown: '不明' },
  gender: { female: '女', male: '男', unknown: '不详' },
  profession: {
    teacher: '教师', kindergarten_staff: '幼儿园工作人员', doctor: '医生', nurse: '护士',
    social_worker: '社会工作者', hotel_staff: '旅馆工作人员', community_worker: '社区工作人员',
    other: '其他',
  },
  institution: {
    school: '学校', kindergarten: '幼儿园', nursery: '托育机构', hospital: '医院', clinic: '诊所',
    welfare_institution: '福利机构', social_work_agency: '社会工作服务机构', hotel: '旅馆',
    residents_committee: '居民委员会', villagers_committee: '村民委员会', other: '其他',
  },
  milestone: {
    received: '已接收', accepted: '已受案', case_opened: '已立案', declined: '不予立案',
    transferred: '已移送', prosecution_notice: '移送审查起诉告知', feedback_given: '已反馈',
  },
  matched: { id: '身份证号', name_birth: '姓名与出生日期' },
  clientRole: { operator: '接线员席位', agency: '机构', admin: '管理员', gateway: '强制报告网关' },
};

// Categories and their subcategories as seeded (sql/002_reference.sql), in
// the order the call form offers them.
export const CATEGORIES = [
  { code: 'abuse', label: '侵害', subs: [
    ['sexual_abuse', '性侵害'], ['physical_abuse', '身体虐待'], ['domestic_violence', '家庭暴力'],
    ['neglect', '忽视/遗弃'], ['trafficking_missing', '拐卖/失踪'], ['exploitation', '剥削'],
    ['other_serious', '其他严重侵害']] },
  { code: 'bullying', label: '校园欺凌', subs: [
    ['physical', '肢体欺凌'], ['verbal', '言语欺凌'], ['relational', '关系欺凌'], ['cyber', '网络欺凌'],
    ['sexual_harassment', '性骚扰'], ['extortion', '敲诈勒索']] },
  { code: 'psychological', label: '心理', subs: [
    ['suicidal', '自杀意念或行为'], ['self_harm', '自伤'], ['crisis_trauma', '危机/创伤'],
    ['anxiety_depression', '焦虑抑郁'], ['relationship_distress', '关系困扰'],
    ['study_pressure', '学业压力']] },
  { code: 'legal', label: '法律', subs: [
    ['legal_consultation', '法律咨询'], ['legal_aid', '法律援助申请'], ['rights_complaint', '权益侵害投诉'],
    ['delinquency_prevention', '预防未成年人犯罪'], ['custody_guardianship', '监护/抚养问题']] },
];

// What an error code means, for the message shown beside its field.
export const ERRORS = {
  invalid_json: '请求格式错误', not_an_object: '请求格式错误', missing_field: '必填',
  unknown_field: '不应填写此项', wrong_type: '类型不正确', invalid_value: '格式或取值不正确',
  out_of_range: '超出允许范围', too_long: '内容过长', empty: '不能为空', duplicate_item: '重复选择',
  inconsistent: '与其他填写项矛盾', missing_idempotency_key: '缺少幂等键',
  invalid_idempotency_key: '幂等键格式错误', bad_request: '请求错误',
  certificate_required: '需要客户端证书', client_unknown: '证书未登记', client_revoked: '证书已吊销',
  forbidden: '无此权限', not_found: '未找到（或无权查看）', method_not_allowed: '操作不允许',
  idempotency_in_flight: '上一次提交仍在处理，请稍候', invalid_transition: '当前状态下不能进行此操作',
  access_not_needed: '本机构已可查看完整信息，无需申请', case_purged: '该案件个人信息已销毁',
  body_too_large: '内容过大', unsupported_media_type: '请求格式错误',
  idempotency_key_reused: '此前的提交已成功，请勿重复提交', unknown_region: '行政区划代码不存在',
  unknown_category: '类别不存在', unknown_agency: '机构代码不存在', internal: '服务器内部错误',
  unavailable: '服务暂不可用，请稍后重试', network: '网络连接中断，请稍后重试',
};

// The people's names of request fields, for an error shown away from its
// field; array items are named by their array.
export const FIELDS = {
  started_at: '来电开始时间', ended_at: '来电结束时间', caller_type: '来电人', caller_phone: '来电号码',
  language: '语言', topic: '来电主题', 'topic.category': '主题大类', 'topic.subcategory': '主题细类',
  summary: '通话摘要', disposition: '处置方式', open_case: '开案信息',
  'open_case.categories': '案件类别', 'open_case.risk_level': '风险等级', 'open_case.child': '儿童信息',
  'open_case.child.name': '姓名', 'open_case.child.gender': '性别', 'open_case.child.age': '年龄',
  'open_case.child.birth_date': '出生日期', 'open_case.child.id_number': '身份证号',
  'open_case.child.phone': '联系电话', 'open_case.child.school': '学校',
  'open_case.child.address': '住址', 'open_case.child.region_code': '所在区县',
  'open_case.narrative': '情况描述', type: '类型', outcome: '处理结果',
  police_case_number: '刑事案件编号', reason: '理由', supervision: '监督类型', text: '内容',
  target_agency: '接收机构', purpose: '查阅目的', hours: '查阅时长',
  recipient_agency: '监督对象机构', notice: '告知事项', case_number: '案件编号',
  risk_level: '风险等级', categories: '类别', name: '姓名', gender: '性别', age: '年龄',
  birth_date: '出生日期', id_number: '身份证号', phone: '联系电话', school: '学校', address: '住址',
};

// The label of a code in one table, or the code itself.
export function label(table, code) {
  if (code === null || code === undefined) return '';
  const t = LABELS[table];
  return t && Object.prototype.hasOwnProperty.call(t, code) ? t[code] : String(code);
}

// The label of a category, or of one of its subcategories.
export function categoryLabel(category, sub) {
  const c = CATEGORIES.find((x) => x.code === category);
  if (!c) return sub || category || '';
  if (!sub) return c.label;
  const s = c.subs.find(([code]) => code === sub);
  return s ? s[1] : sub;
}

// A list of {category, subcategory} as "侵害/身体虐待、心理/自伤".
export function categoriesText(list) {
  return (list || []).map((c) => categoryLabel(c.category) +
    (c.subcategory ? '/' + categoryLabel(c.category, c.subcategory) : '')).join('、');
}
