/*
 * String formats and the calendar: region codes, phone numbers, resident ID
 * numbers, codes, language tags, agency codes and case numbers (each a
 * struct format a
 * schema names, with the rule its error message states), calendar dates
 * and RFC 3339 timestamps.  Pure functions of their input and the clock
 * they are given.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hotlined.h"
#include "validate.h"

#define ID_NUMBER_LEN		18
#define CODE_MAX		32
#define LANGUAGE_MAX		35
#define LANGUAGE_SUBTAGS_MAX	3
#define AGENCY_CODE_MAX		64
#define FRACTION_DIGITS		9	/* most digits of a fraction (ns) */
#define OFFSET_MAX_MINUTES	(14 * 60)	/* widest UTC offset in use */
#define BIRTH_YEAR_MIN		1900	/* ID numbers: reporters are adults */
#define LOCAL_UTC_OFFSET	(8 * 3600)	/* dates: China Standard Time */
#define DAY_SECONDS		86400

/* Return nonzero if s starts with n ASCII digits (stops at a NUL). */
int
format_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* The value of n ASCII digits already checked. */
static int
num(const char *s, size_t n)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Days since 1970-01-01 of a calendar-valid (Gregorian) date, else -1. */
static int
civil_days(int y, int m, int d, long *days)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	long era, yoe, doy, doe;

	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*days = era * 146097 + doe - 719468;
	return 0;
}

/* Parse the YYYY-MM-DD at the start of s (any year); 0 if calendar-valid. */
int
format_date(const char *s, int *year, long *days)
{
	if (!format_digits(s, 4) || s[4] != '-' || !format_digits(s + 5, 2) ||
	    s[7] != '-' || !format_digits(s + 8, 2))
		return -1;
	*year = num(s, 4);
	return civil_days(*year, num(s + 5, 2), num(s + 8, 2), days);
}

/* Today's day number in China Standard Time. */
long
format_today(time_t now)
{
	long long t = (long long)now + LOCAL_UTC_OFFSET;

	return (long)(t >= 0 ? t / DAY_SECONDS :
	    -((-t + DAY_SECONDS - 1) / DAY_SECONDS));
}

/* Parse an RFC 3339 timestamp with offset (any year); 0 if well formed. */
int
format_timestamp(const char *s, int *year, struct instant *t)
{
	const char *p;
	long days;
	int hh, mi, ss, oh, om, off, i;

	if (format_date(s, year, &days) == -1 || s[10] != 'T')
		return -1;
	p = s + 11;
	if (!format_digits(p, 2) || p[2] != ':' || !format_digits(p + 3, 2) ||
	    p[5] != ':' || !format_digits(p + 6, 2))
		return -1;
	hh = num(p, 2);
	mi = num(p + 3, 2);
	ss = num(p + 6, 2);
	if (hh > 23 || mi > 59 || ss > 59)
		return -1;
	p += 8;
	t->nsec = 0;
	if (*p == '.') {
		for (i = 0, p++; p[i] >= '0' && p[i] <= '9'; i++)
			if (i < FRACTION_DIGITS)
				t->nsec = t->nsec * 10 + (p[i] - '0');
		if (i == 0 || i > FRACTION_DIGITS)
			return -1;
		p += i;
		for (; i < FRACTION_DIGITS; i++)
			t->nsec *= 10;
	}
	if (p[0] == 'Z' && p[1] == '\0')
		off = 0;
	else if ((p[0] == '+' || p[0] == '-') && format_digits(p + 1, 2) &&
	    p[3] == ':' && format_digits(p + 4, 2) && p[6] == '\0') {
		oh = num(p + 1, 2);
		om = num(p + 4, 2);
		off = oh * 60 + om;
		if (om > 59 || off > OFFSET_MAX_MINUTES)
			return -1;
		if (p[0] == '-')
			off = -off;
	} else
		return -1;
	t->sec = (long long)days * DAY_SECONDS + hh * 3600 + mi * 60 + ss -
	    (long long)off * 60;
	return 0;
}

/* Compare two instants: <0, 0 or >0. */
int
format_instant_cmp(const struct instant *a, const struct instant *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->nsec != b->nsec)
		return a->nsec < b->nsec ? -1 : 1;
	return 0;
}

/* Check a region code: six digits, the first not 0. */
static int
valid_region(const char *s, time_t now)
{
	(void)now;
	return strlen(s) == REGION_LEN && format_digits(s, REGION_LEN) &&
	    s[0] != '0';
}

/* Check a phone number: mainland mobile, landline or E.164. */
static int
valid_phone(const char *s, time_t now)
{
	const char *local;
	size_t n = strlen(s), area, len;

	(void)now;
	if (s[0] == '1')	/* mobile: 1[3-9] and 9 digits */
		return n == 11 && s[1] >= '3' && s[1] <= '9' && format_digits(s, n);
	if (s[0] == '+')	/* E.164: + and 7-15 digits, no leading 0 */
		return n >= 8 && n <= 16 && s[1] != '0' && format_digits(s + 1, n - 1);
	if (s[0] != '0' || s[1] < '1' || s[1] > '9')
		return 0;
	/* Landline: 0 and a 2-4 digit area code, '-'?, 7-8 digits. */
	for (area = 3; area <= 5 && format_digits(s, area); area++) {
		local = s + area + (s[area] == '-');
		len = strlen(local);
		if ((len == 7 || len == 8) && local[0] != '0' &&
		    format_digits(local, len))
			return 1;
	}
	return 0;
}

/* Check a case number (validate.c). */
static int
valid_case_number(const char *s, time_t now)
{
	(void)now;
	return validate_case_number(s) == 0;
}

/* Check a PRC resident ID number: shape, birth date, ISO 7064 MOD 11-2. */
static int
valid_id_number(const char *s, time_t now)
{
	static const int weight[ID_NUMBER_LEN - 1] = { 7, 9, 10, 5, 8, 4, 2,
	    1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
	static const char check[] = "10X98765432";
	long days;
	int i, sum = 0, year;

	if (strlen(s) != ID_NUMBER_LEN || !format_digits(s, ID_NUMBER_LEN - 1) ||
	    s[0] == '0')
		return 0;
	year = num(s + 6, 4);
	if (civil_days(year, num(s + 10, 2), num(s + 12, 2), &days) == -1 ||
	    year < BIRTH_YEAR_MIN || days > format_today(now))
		return 0;
	for (i = 0; i < ID_NUMBER_LEN - 1; i++)
		sum += (s[i] - '0') * weight[i];
	return s[ID_NUMBER_LEN - 1] == check[sum % 11];
}

/* Check a category or subcategory code: ^[a-z][a-z_]{0,31}$. */
static int
valid_code(const char *s, time_t now)
{
	size_t i, n = strlen(s);

	(void)now;
	if (n == 0 || n > CODE_MAX || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] < 'a' || s[i] > 'z') && s[i] != '_')
			return 0;
	return 1;
}

/* Return nonzero for an ASCII letter or digit. */
static int
alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Check a BCP 47-shaped tag: ^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$. */
static int
valid_language(const char *s, time_t now)
{
	size_t n;
	int subtags = 0;

	(void)now;
	if (strlen(s) > LANGUAGE_MAX)
		return 0;
	for (n = 0; s[n] >= 'a' && s[n] <= 'z'; n++)
		;
	if (n < 2 || n > 3)
		return 0;
	s += n;
	while (*s == '-') {
		for (s++, n = 0; alnum(s[n]); n++)
			;
		if (n < 2 || n > 8 || ++subtags > LANGUAGE_SUBTAGS_MAX)
			return 0;
		s += n;
	}
	return *s == '\0';
}

/* Check an agency code: ^[a-z0-9_-]{1,64}$. */
static int
valid_agency(const char *s, time_t now)
{
	size_t n = strlen(s);

	(void)now;
	return n >= 1 && n <= AGENCY_CODE_MAX && strspn(s,
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Decode one UTF-8 character (U+FFFD for a malformed byte); the next one. */

const struct format format_region = { valid_region,
    "must be a 6-digit region code not starting with 0" };
const struct format format_phone = { valid_phone,
    "must be a mainland mobile number, a landline number with area code "
    "or an E.164 number" };
const struct format format_id_number = { valid_id_number,
    "must be an 18-character resident ID number with a valid birth date "
    "and check character" };
const struct format format_code = { valid_code,
    "must be a code of 1-32 lowercase letters and underscores, starting "
    "with a letter" };
const struct format format_language = { valid_language,
    "must be a language tag such as zh, zh-yue or en, at most 35 "
    "characters" };
const struct format format_agency = { valid_agency,
    "must be an agency code such as police-320100" };
const struct format format_case_number = { valid_case_number,
    "must be a case number YYYY-RRRRRR-NNNNNNNN" };
