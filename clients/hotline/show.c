/*
 * Output for people: the Chinese labels of the codes the API gives (a code
 * without a label is printed as it is, so new codes need no new client),
 * times in the local zone and the time left on a clock, columns of UTF-8
 * text aligned by display width (a Chinese character takes two columns),
 * and small accessors of json-c objects.  Text from the daemon is printed
 * with control characters replaced, so no stored text can drive the
 * terminal.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotline.h"

#define TABLE_GAP	2	/* spaces between columns */
#define TABLE_COLS_MAX	16	/* columns of a table made by table_add */

/* One code's label. */
struct label_row {
	enum label_kind	 lr_kind;
	const char	*lr_code;
	const char	*lr_text;
};

static const struct label_row labels[] = {
	{ LABEL_RISK, "1", "红" },
	{ LABEL_RISK, "2", "橙" },
	{ LABEL_RISK, "3", "黄" },
	{ LABEL_RISK, "4", "蓝" },
	{ LABEL_ROLE, "primary", "主办" },
	{ LABEL_ROLE, "inform", "知会" },
	{ LABEL_ROLE, "supervise", "监督" },
	{ LABEL_STATE, "open", "待接收" },
	{ LABEL_STATE, "acknowledged", "已接收" },
	{ LABEL_STATE, "accepted", "受案" },
	{ LABEL_STATE, "case_opened", "立案" },
	{ LABEL_STATE, "declined", "不予立案" },
	{ LABEL_STATE, "outside_jurisdiction", "不属于本机关管辖" },
	{ LABEL_STATE, "transferred", "已移送" },
	{ LABEL_STATE, "prosecution", "移送审查起诉" },
	{ LABEL_STATE, "resolved", "已办结" },
	{ LABEL_STATE, "closed", "已结案" },
	{ LABEL_STATE, "returned", "已撤回" },
	{ LABEL_CASE_STATUS, "open", "办理中" },
	{ LABEL_CASE_STATUS, "closed", "已结案" },
	{ LABEL_CLOCK, "acknowledge", "接收" },
	{ LABEL_CLOCK, "first_action", "首次处置" },
	{ LABEL_CLOCK, "resolve", "办结" },
	{ LABEL_CLOCK, "investigation", "调查" },
	{ LABEL_CLOCK, "feedback", "反馈" },
	{ LABEL_CLOCK, "decline_notice", "不立案告知" },
	{ LABEL_CLOCK, "transfer", "移送" },
	{ LABEL_CLOCK_STATUS, "running", "计时中" },
	{ LABEL_CLOCK_STATUS, "warning", "预警" },
	{ LABEL_CLOCK_STATUS, "missed", "超时" },
	{ LABEL_CLOCK_STATUS, "stopped", "已停止" },
	{ LABEL_EVENT, "created", "建档" },
	{ LABEL_EVENT, "assigned", "分派" },
	{ LABEL_EVENT, "acknowledged", "接收" },
	{ LABEL_EVENT, "outcome", "处理结果" },
	{ LABEL_EVENT, "note", "备注" },
	{ LABEL_EVENT, "feedback", "反馈报告单位" },
	{ LABEL_EVENT, "supervision", "检察监督" },
	{ LABEL_EVENT, "transferred", "移送" },
	{ LABEL_EVENT, "clock_warning", "时限预警" },
	{ LABEL_EVENT, "clock_missed", "超时" },
	{ LABEL_EVENT, "escalated", "升级" },
	{ LABEL_EVENT, "returned", "升级撤回" },
	{ LABEL_EVENT, "assignment_closed", "分派关闭" },
	{ LABEL_EVENT, "case_closed", "案件结案" },
	{ LABEL_EVENT, "access_requested", "申请查阅" },
	{ LABEL_EVENT, "access_approved", "批准查阅" },
	{ LABEL_EVENT, "access_denied", "驳回查阅" },
	{ LABEL_EVENT, "purged", "个人信息已销毁" },
	{ LABEL_EVENT, "call_logged", "来电记录" },
	{ LABEL_EVENT, "risk_changed", "风险调整" },
	{ LABEL_EVENT, "categories_added", "增加类别" },
	{ LABEL_EVENT, "child_corrected", "更正儿童信息" },
	{ LABEL_EVENT, "case_linked", "关联案件" },
	{ LABEL_EVENT, "supplement", "报告补充" },
	{ LABEL_OUTCOME, "accepted", "受案" },
	{ LABEL_OUTCOME, "case_opened", "立案" },
	{ LABEL_OUTCOME, "declined", "不予立案" },
	{ LABEL_OUTCOME, "outside_jurisdiction", "不属于本机关管辖" },
	{ LABEL_OUTCOME, "prosecution", "移送审查起诉" },
	{ LABEL_OUTCOME, "resolved", "已办结" },
	{ LABEL_OUTCOME, "closed", "已结案" },
	{ LABEL_SUPERVISION, "case_filing_supervision", "立案监督" },
	{ LABEL_SUPERVISION, "procuratorial_suggestion", "检察建议" },
	{ LABEL_MILESTONE, "received", "已接收" },
	{ LABEL_MILESTONE, "accepted", "已受案" },
	{ LABEL_MILESTONE, "case_opened", "已立案" },
	{ LABEL_MILESTONE, "declined", "不予立案" },
	{ LABEL_MILESTONE, "transferred", "已移送" },
	{ LABEL_MILESTONE, "prosecution_notice", "移送审查起诉告知" },
	{ LABEL_MILESTONE, "feedback_given", "已反馈" },
	{ LABEL_ACCESS_STATE, "pending", "待审批" },
	{ LABEL_ACCESS_STATE, "approved", "已批准" },
	{ LABEL_ACCESS_STATE, "denied", "已驳回" },
	{ LABEL_ACCESS_STATE, "expired", "已过期" },
	{ LABEL_SOURCE, "call", "热线来电" },
	{ LABEL_SOURCE, "report", "强制报告" },
	{ LABEL_DISPOSITION, "counselled", "心理疏导" },
	{ LABEL_DISPOSITION, "information", "信息咨询" },
	{ LABEL_DISPOSITION, "referred", "转介" },
	{ LABEL_DISPOSITION, "silent", "无声来电" },
	{ LABEL_DISPOSITION, "hang_up", "挂断" },
	{ LABEL_DISPOSITION, "prank", "恶作剧" },
	{ LABEL_DISPOSITION, "abusive", "辱骂" },
	{ LABEL_DISPOSITION, "case_opened", "开案" },
	{ LABEL_DISPOSITION, "follow_up", "回访" },
	{ LABEL_NOTICE, "prosecution", "移送审查起诉告知" },
	{ LABEL_BASIS, "admin", "管理员" },
	{ LABEL_BASIS, "centre", "本中心" },
	{ LABEL_BASIS, "creator", "登记人" },
	{ LABEL_BASIS, "primary", "主办" },
	{ LABEL_BASIS, "access_request", "查阅申请" },
	{ LABEL_BASIS, "lookup", "查询" },
	{ LABEL_CALLER, "child_self", "儿童本人" },
	{ LABEL_CALLER, "about_child", "代为求助" },
	{ LABEL_CALLER, "unknown", "不明" },
};

/* Categories and subcategories as seeded (sql/002_reference.sql). */
static const struct {
	const char	*cl_category;
	const char	*cl_sub;	/* NULL: the category itself */
	const char	*cl_text;
} category_labels[] = {
	{ "bullying", NULL, "校园欺凌" },
	{ "bullying", "physical", "肢体欺凌" },
	{ "bullying", "verbal", "言语欺凌" },
	{ "bullying", "relational", "关系欺凌" },
	{ "bullying", "cyber", "网络欺凌" },
	{ "bullying", "sexual_harassment", "性骚扰" },
	{ "bullying", "extortion", "敲诈勒索" },
	{ "abuse", NULL, "侵害" },
	{ "abuse", "sexual_abuse", "性侵害" },
	{ "abuse", "physical_abuse", "身体虐待" },
	{ "abuse", "domestic_violence", "家庭暴力" },
	{ "abuse", "neglect", "忽视/遗弃" },
	{ "abuse", "trafficking_missing", "拐卖/失踪" },
	{ "abuse", "exploitation", "剥削" },
	{ "abuse", "other_serious", "其他严重侵害" },
	{ "psychological", NULL, "心理" },
	{ "psychological", "suicidal", "自杀意念或行为" },
	{ "psychological", "self_harm", "自伤" },
	{ "psychological", "crisis_trauma", "危机/创伤" },
	{ "psychological", "anxiety_depression", "焦虑抑郁" },
	{ "psychological", "relationship_distress", "关系困扰" },
	{ "psychological", "study_pressure", "学业压力" },
	{ "legal", NULL, "法律" },
	{ "legal", "legal_consultation", "法律咨询" },
	{ "legal", "legal_aid", "法律援助申请" },
	{ "legal", "rights_complaint", "权益侵害投诉" },
	{ "legal", "delinquency_prevention", "预防未成年人犯罪" },
	{ "legal", "custody_guardianship", "监护/抚养问题" },
};

/* The label of a code, or the code itself; "" for NULL. */
const char *
label(enum label_kind kind, const char *code)
{
	size_t i;

	if (code == NULL)
		return "";
	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (labels[i].lr_kind == kind &&
		    strcmp(labels[i].lr_code, code) == 0)
			return labels[i].lr_text;
	return code;
}

/* The label of a category (sub NULL) or of its subcategory, or the code. */
const char *
label_category(const char *category, const char *sub)
{
	size_t i;

	if (category == NULL)
		return "";
	for (i = 0; i < sizeof(category_labels) / sizeof(category_labels[0]);
	    i++)
		if (strcmp(category_labels[i].cl_category, category) == 0 &&
		    (sub == NULL ? category_labels[i].cl_sub == NULL :
		    category_labels[i].cl_sub != NULL &&
		    strcmp(category_labels[i].cl_sub, sub) == 0))
			return category_labels[i].cl_text;
	return sub != NULL ? sub : category;
}

/* A risk level as its number and colour: "2 橙". */
void
show_risk(char *buf, size_t len, struct json_object *risk)
{
	char n[16];

	if (risk == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(n, sizeof(n), "%d", json_object_get_int(risk));
	snprintf(buf, len, "%s %s", n, label(LABEL_RISK, n));
}

/* Categories as "侵害/性侵害, 心理/自伤". */
void
show_categories(char *buf, size_t len, struct json_object *cats)
{
	struct json_object *c;
	size_t i, n = 0;
	const char *cat, *sub;

	buf[0] = '\0';
	for (i = 0; i < jlen(cats) && n < len; i++) {
		c = jidx(cats, i);
		cat = jstr(c, "category");
		sub = jstr(c, "subcategory");
		n += (size_t)snprintf(buf + n, len - n, "%s%s%s%s",
		    i > 0 ? ", " : "", label_category(cat, NULL),
		    sub != NULL ? "/" : "", sub != NULL ?
		    label_category(cat, sub) : "");
	}
}

/* Parse an RFC 3339 timestamp (fraction and offset allowed); 0 or -1. */
int
time_parse(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;
	int sign, oh, om;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	*out = timegm(&tm);
	if (*p == 'Z' && p[1] == '\0')
		return 0;
	if ((*p != '+' && *p != '-') || sscanf(p + 1, "%2d:%2d", &oh, &om) !=
	    2 || strlen(p) != 6)
		return -1;
	sign = *p == '+' ? 1 : -1;
	*out -= sign * (oh * 3600 + om * 60);
	return 0;
}

/* A timestamp as local time "2026-11-27 23:47"; -1 (and the text as it
 * is) if it does not parse. */
int
show_time(char *buf, size_t len, const char *ts)
{
	struct tm tm;
	time_t t;

	if (time_parse(ts, &t) == -1 || localtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "%s", ts != NULL ? ts : "-");
		return -1;
	}
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
	return 0;
}

/* The time from now to due: "52m", "3h 05m", "13d 23h", or
 * "overdue 5m" once it has passed. */
void
show_left(char *buf, size_t len, time_t due, time_t now)
{
	long long d = (long long)due - (long long)now, a = d < 0 ? -d : d;
	const char *pre = d < 0 ? "overdue " : "";

	if (a >= 86400)
		snprintf(buf, len, "%s%lldd %lldh", pre, a / 86400,
		    a % 86400 / 3600);
	else if (a >= 3600)
		snprintf(buf, len, "%s%lldh %02lldm", pre, a / 3600,
		    a % 3600 / 60);
	else if (a >= 60)
		snprintf(buf, len, "%s%lldm", pre, a / 60);
	else
		snprintf(buf, len, "%s<1m", pre);
}

/* Decode one UTF-8 character at s; its length (1 for a bad byte). */
static int
utf8_decode(const unsigned char *s, uint32_t *cp)
{
	int n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4;
	else {
		*cp = 0xfffd;
		return 1;
	}
	*cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return 1;
		}
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	return n;
}

/* Columns a character takes on a terminal: 2 for East Asian wide and
 * full-width ones, 0 for combining marks, else 1. */
static int
char_width(uint32_t c)
{
	if ((c >= 0x0300 && c <= 0x036f) || (c >= 0x200b && c <= 0x200f))
		return 0;
	if ((c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) ||
	    (c >= 0x3041 && c <= 0x33ff) || (c >= 0x3400 && c <= 0x4dbf) ||
	    (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) ||
	    (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
	    (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
	    (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
	    (c >= 0x20000 && c <= 0x3fffd))
		return 2;
	return 1;
}

/* Columns a UTF-8 text takes on a terminal. */
int
text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	int w = 0;

	while (*p != '\0') {
		p += utf8_decode(p, &cp);
		w += char_width(cp);
	}
	return w;
}

/* A copy of a text for the terminal: control characters (C0 but tab and
 * line feed, DEL, C1) become a space; NULL if out of memory. */
static char *
text_clean(const char *s, int keep_lines)
{
	char *out, *o;
	const unsigned char *p;

	if ((out = strdup(s)) == NULL)
		return NULL;
	for (o = out, p = (const unsigned char *)s; *p != '\0'; p++, o++) {
		if ((*p < 0x20 && !(keep_lines && (*p == '\n' ||
		    *p == '\t'))) || *p == 0x7f)
			*o = ' ';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			*o++ = ' ';
			*o = ' ';
			p++;
		}
	}
	return out;
}

/* Print a text of several lines, each after indent spaces. */
void
show_text(FILE *f, const char *text, int indent)
{
	char *clean, *line, *next;

	if ((clean = text_clean(text, 1)) == NULL)
		return;
	for (line = clean; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (next == NULL && *line == '\0' && line != clean)
			break;
		fprintf(f, "%*s%s\n", indent, "", line);
	}
	free(clean);
}

/* After a full page of a list: how to ask for the next. */
void
show_more(struct json_object *answer)
{
	const char *next = jstr(answer, "next_cursor");

	if (next != NULL)
		printf("more: the same command with --cursor %s\n", next);
}

/* A member of an object, or NULL. */
struct json_object *
jget(struct json_object *obj, const char *name)
{
	struct json_object *v;

	if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, name, &v))
		return NULL;
	return v;
}

/* A string member of an object, or NULL. */
const char *
jstr(struct json_object *obj, const char *name)
{
	struct json_object *v = jget(obj, name);

	return v != NULL && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

/* The length of an array (0 for anything else). */
size_t
jlen(struct json_object *arr)
{
	return arr != NULL && json_object_is_type(arr, json_type_array) ?
	    json_object_array_length(arr) : 0;
}

/* An item of an array. */
struct json_object *
jidx(struct json_object *arr, size_t i)
{
	return i < jlen(arr) ? json_object_array_get_idx(arr, i) : NULL;
}

/* An empty table of cols columns. */
void
table_init(struct table *t, int cols)
{
	memset(t, 0, sizeof(*t));
	t->tb_cols = cols;
}

/* Add a row of tb_cols texts (NULL prints as "-"). */
void
table_row(struct table *t, const char *const *texts)
{
	const char *s;
	char **cells;
	int i, base;

	if (t->tb_rows == t->tb_alloc) {
		if ((cells = reallocarray(t->tb_cells,
		    (size_t)(t->tb_alloc * 2 + 8) * (size_t)t->tb_cols,
		    sizeof(*cells))) == NULL)
			return;
		t->tb_cells = cells;
		t->tb_alloc = t->tb_alloc * 2 + 8;
	}
	base = t->tb_rows * t->tb_cols;
	for (i = 0; i < t->tb_cols; i++) {
		s = texts[i];
		t->tb_cells[base + i] = text_clean(s != NULL && *s != '\0' ?
		    s : "-", 0);
	}
	t->tb_rows++;
}

/* Add a row: tb_cols texts as arguments (at most TABLE_COLS_MAX). */
void
table_add(struct table *t, ...)
{
	const char *texts[TABLE_COLS_MAX];
	va_list ap;
	int i;

	va_start(ap, t);
	for (i = 0; i < t->tb_cols && i < TABLE_COLS_MAX; i++)
		texts[i] = va_arg(ap, const char *);
	va_end(ap);
	table_row(t, texts);
}

/* Print a table, its columns aligned. */
void
table_print(struct table *t, FILE *f)
{
	int *w, r, c, cw;
	const char *s;

	if ((w = calloc((size_t)t->tb_cols, sizeof(*w))) == NULL)
		return;
	for (r = 0; r < t->tb_rows; r++)
		for (c = 0; c < t->tb_cols; c++)
			if ((s = t->tb_cells[r * t->tb_cols + c]) != NULL &&
			    (cw = text_width(s)) > w[c])
				w[c] = cw;
	for (r = 0; r < t->tb_rows; r++) {
		fprintf(f, "%*s", t->tb_indent, "");
		for (c = 0; c < t->tb_cols; c++) {
			s = t->tb_cells[r * t->tb_cols + c];
			if (s == NULL)
				s = "";
			fputs(s, f);
			if (c < t->tb_cols - 1)
				fprintf(f, "%*s", w[c] - text_width(s) +
				    TABLE_GAP, "");
		}
		fputc('\n', f);
	}
	free(w);
}

/* Free a table's cells. */
void
table_clear(struct table *t)
{
	int i;

	for (i = 0; i < t->tb_rows * t->tb_cols; i++)
		free(t->tb_cells[i]);
	free(t->tb_cells);
	memset(t, 0, sizeof(*t));
}
