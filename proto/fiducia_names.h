/*
 * The API's identifier rule, shared by the server (URLs, token claims) and
 * the CLI: an organisation name is a lowercase slug of 1-63 bytes,
 * ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ (a DNS label, so it is safe in
 * URLs, logs and file names).
 */
#ifndef FIDUCIA_NAMES_H
#define FIDUCIA_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* s need not be NUL-terminated; n is its length. */
static inline bool fiducia_slug_valid(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

#endif
