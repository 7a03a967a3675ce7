-- Reference data: agency kinds, categories and subcategories, risk levels
-- and the nine statutory situations.  Data, not code: editable by admins.
set role hotline_owner;
set search_path = hotline, pg_temp;

insert into agency_kinds (kind, name) values
	('police', '公安机关'),
	('procuratorate', '人民检察院'),
	('education', '教育行政部门'),
	('civil_affairs', '民政部门'),
	('health', '卫生健康部门'),
	('legal_aid', '法律援助中心'),
	('coordination', '未成年人保护工作协调机制办公室');

insert into categories (code, name) values
	('bullying', '校园欺凌'),
	('abuse', '侵害'),
	('psychological', '心理'),
	('legal', '法律');

insert into subcategories (category, code, name) values
	('bullying', 'physical', '肢体欺凌'),
	('bullying', 'verbal', '言语欺凌'),
	('bullying', 'relational', '关系欺凌/孤立排斥'),
	('bullying', 'cyber', '网络欺凌'),
	('bullying', 'sexual_harassment', '性骚扰'),
	('bullying', 'extortion', '敲诈勒索'),
	('abuse', 'sexual_abuse', '性侵害'),
	('abuse', 'physical_abuse', '身体虐待'),
	('abuse', 'domestic_violence', '家庭暴力'),
	('abuse', 'neglect', '忽视/遗弃'),
	('abuse', 'trafficking_missing', '拐卖/失踪'),
	('abuse', 'exploitation', '剥削(劳动、乞讨)'),
	('abuse', 'other_serious', '其他严重侵害'),
	('psychological', 'suicidal', '自杀意念或行为'),
	('psychological', 'self_harm', '自伤'),
	('psychological', 'crisis_trauma', '危机/创伤'),
	('psychological', 'anxiety_depression', '焦虑抑郁'),
	('psychological', 'relationship_distress', '家庭或同伴关系困扰'),
	('psychological', 'study_pressure', '学业压力'),
	('legal', 'legal_consultation', '法律咨询'),
	('legal', 'legal_aid', '法律援助申请'),
	('legal', 'rights_complaint', '权益侵害投诉'),
	('legal', 'delinquency_prevention', '预防未成年人犯罪'),
	('legal', 'custody_guardianship', '监护/抚养问题');

insert into risk_levels (level, colour, name) values
	(1, '红', 'critical'),
	(2, '橙', 'high'),
	(3, '黄', 'medium'),
	(4, '蓝', 'low');

insert into situations (situation, description_zh, description_en, min_risk, category, subcategory) values
	(1, '未成年人的生殖器官或隐私部位遭受或疑似遭受非正常损伤',
	    'abnormal injury, or suspected abnormal injury, to the genitals or private parts', 2, 'abuse', 'sexual_abuse'),
	(2, '不满十四周岁的女性未成年人遭受或疑似遭受性侵害、怀孕、流产',
	    'a girl under 14 sexually assaulted or suspected so, or pregnant or miscarried', 2, 'abuse', 'sexual_abuse'),
	(3, '十四周岁以上女性未成年人遭受或疑似遭受性侵害所致怀孕、流产',
	    'a girl aged 14 or over pregnant or miscarried because of sexual assault, or suspected so', 2, 'abuse', 'sexual_abuse'),
	(4, '未成年人身体存在多处损伤、严重营养不良、意识不清，存在或疑似存在受到家庭暴力、欺凌、虐待、殴打或者被人麻醉等情形',
	    'multiple injuries, severe malnutrition or impaired consciousness where domestic violence, bullying, abuse, beating or drugging is present or suspected', 2, 'abuse', 'physical_abuse'),
	(5, '未成年人因自杀、自残、工伤、中毒、被人麻醉、殴打等非正常原因导致伤残、死亡情形',
	    'disability or death from suicide, self-harm, work injury, poisoning, drugging, beating or other abnormal causes', 2, 'psychological', 'self_harm'),
	(6, '未成年人被遗弃或长期处于无人照料状态',
	    'abandonment or long-term lack of care', 3, 'abuse', 'neglect'),
	(7, '发现未成年人来源不明、失踪或者被拐卖、收买',
	    'a minor of unknown origin, missing, trafficked or bought', 1, 'abuse', 'trafficking_missing'),
	(8, '发现未成年人被组织乞讨',
	    'a minor made to beg by an organiser', 2, 'abuse', 'exploitation'),
	(9, '其他严重侵害未成年人身心健康的情形或未成年人正在面临不法侵害危险',
	    'other serious infringement of a minor''s physical or mental health, or a minor in imminent danger of unlawful harm', 2, 'abuse', 'other_serious');

reset role;
