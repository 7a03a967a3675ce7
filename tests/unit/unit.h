/*
 * Minimal unit-test support: each check prints one TAP-style line
 * ("ok - name" or "not ok - name"); tests/run.sh counts them.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed;

/*
 * Line-buffer stdout before main runs: LeakSanitizer ends a leaking process
 * with _exit after its report, which would lose TAP lines still buffered.
 */
__attribute__((constructor)) static void
unit_line_buffered(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

#define CHECK(cond, ...) do {						\
	int c_ = !!(cond);	/* evaluated once */			\
	if (c_) {							\
		printf("ok - ");					\
	} else {							\
		printf("not ok - ");					\
		unit_failed++;						\
	}								\
	printf(__VA_ARGS__);						\
	printf("%s\n", c_ ? "" : "  [" #cond "]");			\
} while (0)

#define CHECK_STR(got, want, ...) do {					\
	const char *g_ = (got), *w_ = (want);				\
	int same_ = (g_ == NULL && w_ == NULL) ||			\
	    (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0);		\
	CHECK(same_, __VA_ARGS__);					\
	if (!same_)							\
		printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", \
		    w_ ? w_ : "(null)");				\
} while (0)

#define UNIT_EXIT() return (unit_failed ? 1 : 0)

#endif
