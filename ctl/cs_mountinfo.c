/*
 * cs_mountinfo.c - decoding /proc/self/mountinfo's escapes (see
 * cs_mountinfo.h). Reading the file stays with each caller: each wants
 * other fields of it.
 */
#include "cs_mountinfo.h"

static int octal(char c)
{
	return c >= '0' && c <= '7';
}

void cs_mountinfo_unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && octal(s[1]) && octal(s[2]) && octal(s[3])) {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}
