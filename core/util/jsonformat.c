/*
 * jsonformat.c — validators for the string formats of JSON Schema draft 7 (see jsonformat.h). Each is a
 * small recursive-descent reading of the format's grammar, linear in the string; nothing is allocated.
 * Never decides anything about schemas and never echoes the string it checks.
 */
#include "jsonformat.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "regex.h"
#include "utf8.h"
#include "util.h"

static const struct {
	const char *name, *description;
} FORMATS[TFMT_COUNT] = {
	[TFMT_UNCHECKED] = {"", ""},
	[TFMT_DATE_TIME] = {"date-time", "an RFC 3339 date-time"},
	[TFMT_DATE] = {"date", "an RFC 3339 full-date"},
	[TFMT_TIME] = {"time", "an RFC 3339 full-time"},
	[TFMT_EMAIL] = {"email", "an email address"},
	[TFMT_HOSTNAME] = {"hostname", "an RFC 1123 host name"},
	[TFMT_IPV4] = {"ipv4", "an IPv4 address"},
	[TFMT_IPV6] = {"ipv6", "an IPv6 address"},
	[TFMT_URI] = {"uri", "an absolute RFC 3986 URI"},
	[TFMT_URI_REFERENCE] = {"uri-reference", "an RFC 3986 URI reference"},
	[TFMT_IRI] = {"iri", "an absolute RFC 3987 IRI"},
	[TFMT_IRI_REFERENCE] = {"iri-reference", "an RFC 3987 IRI reference"},
	[TFMT_URI_TEMPLATE] = {"uri-template", "an RFC 6570 URI template"},
	[TFMT_JSON_POINTER] = {"json-pointer", "an RFC 6901 JSON pointer"},
	[TFMT_RELATIVE_JSON_POINTER] = {"relative-json-pointer", "a relative JSON pointer"},
	[TFMT_REGEX] = {"regex", "an ECMA-262 regular expression"},
};

tfmt_kind tfmt_lookup(const char *name)
{
	for (int k = 1; k < TFMT_COUNT; k++)
		if (strcmp(FORMATS[k].name, name) == 0)
			return (tfmt_kind)k;
	return TFMT_UNCHECKED;
}

const char *tfmt_name(tfmt_kind kind)
{
	return FORMATS[kind].name;
}

const char *tfmt_description(tfmt_kind kind)
{
	return FORMATS[kind].description;
}

const char *tfmt_checked_names(void)
{
	return "date-time, date, time, email, hostname, ipv4, ipv6, uri, uri-reference, iri, iri-reference, "
	       "uri-template, json-pointer, relative-json-pointer, regex";
}

/* ------------------------------------------------------------------ characters */

/* ------------------------------------------------------------------ dates and times (RFC 3339) */

/* Exactly n ASCII digits (stops at the terminator, so never reads past the string). */
static int read_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!tascii_digit(s[i]))
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

static int days_in_month(int year, int month)
{
	static const int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
		return 29;
	return DAYS[month - 1];
}

/* full-date: YYYY-MM-DD, a day that exists. *end receives the first byte after it. */
static int full_date(const char *s, const char **end)
{
	int y, mo, d;
	if (!read_digits(s, 4, &y) || s[4] != '-' || !read_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !read_digits(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return 0;
	*end = s + 10;
	return 1;
}

/* full-time: hh:mm:ss[.frac] ("Z" | ±hh:mm), Z in either case, and nothing after it. A leap second
 * (:60) is accepted only where it can fall: at 23:59:60 UTC. */
static int full_time(const char *s)
{
	int h, mi, sec, oh = 0, om = 0, sign = 0;
	if (!read_digits(s, 2, &h) || s[2] != ':' || !read_digits(s + 3, 2, &mi) || s[5] != ':' ||
	    !read_digits(s + 6, 2, &sec))
		return 0;
	const char *p = s + 8;
	if (*p == '.') {
		if (!tascii_digit(*++p))
			return 0;
		while (tascii_digit(*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!read_digits(p + 1, 2, &oh) || p[3] != ':' || !read_digits(p + 4, 2, &om))
			return 0;
		p += 6;
	} else {
		return 0;
	}
	if (*p || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return 0;
	if (sec == 60) {
		int utc = ((h * 60 + mi - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
		return utc == 23 * 60 + 59;
	}
	return 1;
}

static int is_date(const char *s)
{
	const char *end;
	return full_date(s, &end) && *end == '\0';
}

/* date-time: full-date "T" full-time, T in either case. */
static int is_date_time(const char *s)
{
	const char *end;
	return full_date(s, &end) && (*end == 'T' || *end == 't') && full_time(end + 1);
}

/* ------------------------------------------------------------------ host names and addresses */

/* RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, each 1..63 octets,
 * 253 in all. */
static int is_hostname_n(const char *s, size_t len)
{
	size_t label = 0;
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return 0;
			label = 0;
		} else if (tascii_alnum(s[i]) || s[i] == '-') {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

/* Dotted quad of decimal 0..255 without leading zeros (a leading zero reads as octal elsewhere). */
static int is_ipv4_n(const char *s, size_t len)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part && (i >= len || s[i++] != '.'))
			return 0;
		size_t start = i;
		int v = 0;
		while (i < len && tascii_digit(s[i]) && i - start < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return 0;
	}
	return i == len;
}

static int is_ipv6_n(const char *s, size_t len)
{
	char buf[64];
	unsigned char addr[16];
	if (len == 0 || len >= sizeof buf)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, addr) == 1;
}

/* RFC 5321 address literal: [192.0.2.1] or [IPv6:2001:db8::1]. */
static int is_address_literal(const char *s, size_t len)
{
	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return 0;
	if (len > 7 && strncmp(s + 1, "IPv6:", 5) == 0)
		return is_ipv6_n(s + 6, len - 7);
	return is_ipv4_n(s + 1, len - 2);
}

static int is_atext(unsigned char c)
{
	return tascii_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 5321 Mailbox: a dot-atom or quoted local part (1..64 octets), "@", a host name or an address
 * literal. ASCII only: internationalized addresses are the separate "idn-email" format. */
static int is_email(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	if (s[0] == '"') {
		for (i = 1; s[i] != '"'; i++) {
			if (s[i] == '\\' && s[i + 1] >= 0x20 && s[i + 1] <= 0x7E)
				i++;
			else if (s[i] < 0x20 || s[i] > 0x7E || s[i] == '\\')
				return 0;
		}
		i++;
	} else {
		for (; s[i] != '@'; i++)
			if (s[i] == '.' ? i == 0 || s[i - 1] == '.' || s[i + 1] == '@' : !is_atext(s[i]))
				return 0;
	}
	if (s[i] != '@' || i == 0 || i > 64)
		return 0;
	const char *domain = str + i + 1;
	size_t len = strlen(domain);
	return is_hostname_n(domain, len) || is_address_literal(domain, len);
}

/* ------------------------------------------------------------------ URIs and IRIs (RFC 3986, 3987) */

typedef struct {
	const char *s;
	size_t len, pos;
	int iri;        /* RFC 3987: ucschar (and iprivate in queries) are allowed too */
} uri_reader;

static int is_unreserved(int c)
{
	return tascii_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_sub_delim(int c)
{
	return c && strchr("!$&'()*+,;=", c) != NULL;
}

static int is_ucschar(uint32_t c)
{
	return (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFDCF) || (c >= 0xFDF0 && c <= 0xFFEF) ||
	       (c >= 0x10000 && c <= 0xEFFFD && (c & 0xFFFF) <= 0xFFFD);
}

static int is_iprivate(uint32_t c)
{
	return (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD) || (c >= 0x100000 && c <= 0x10FFFD);
}

/* Consumes one character of the class `extra` (ASCII set) ∪ unreserved ∪ pct-encoded (∪ ucschar for
 * IRIs, ∪ iprivate when `private_ok`). 0 when the next character is not one of them. */
static int uri_char(uri_reader *r, const char *extra, int private_ok)
{
	if (r->pos >= r->len)
		return 0;
	unsigned char c = (unsigned char)r->s[r->pos];
	if (c == '%') {
		if (r->pos + 2 >= r->len || tascii_hex(r->s[r->pos + 1]) < 0 || tascii_hex(r->s[r->pos + 2]) < 0)
			return 0;
		r->pos += 3;
		return 1;
	}
	if (c < 0x80) {
		if (!is_unreserved(c) && !(c && strchr(extra, c)))
			return 0;
		r->pos++;
		return 1;
	}
	size_t adv;
	uint32_t cp = tutf8_decode((const unsigned char *)r->s + r->pos, r->len - r->pos, &adv);
	if (!r->iri || cp == TUTF8_INVALID || !(is_ucschar(cp) || (private_ok && is_iprivate(cp))))
		return 0;
	r->pos += adv;
	return 1;
}

#define SUB_DELIMS "!$&'()*+,;="
#define PCHAR_EXTRA SUB_DELIMS ":@"

static void uri_chars(uri_reader *r, const char *extra, int private_ok)
{
	while (uri_char(r, extra, private_ok))
		;
}

/* scheme ":" — consumed when present; 0 (nothing consumed) otherwise. */
static int uri_scheme(uri_reader *r)
{
	size_t i = 0;
	if (!tascii_alpha(r->s[0]))
		return 0;
	while (i < r->len && (tascii_alnum(r->s[i]) || r->s[i] == '+' || r->s[i] == '-' || r->s[i] == '.'))
		i++;
	if (i >= r->len || r->s[i] != ':')
		return 0;
	r->pos = i + 1;
	return 1;
}

/* "[" IPv6address / IPvFuture "]" spanning s[start..end). */
static int uri_ip_literal(const char *s, size_t start, size_t end)
{
	if (end - start < 3 || s[end - 1] != ']')
		return 0;
	const char *in = s + start + 1;
	size_t n = end - start - 2;
	if (in[0] == 'v' || in[0] == 'V') {
		size_t i = 1;
		while (i < n && tascii_hex(in[i]) >= 0)
			i++;
		if (i == 1 || i >= n || in[i] != '.' || i + 1 >= n)
			return 0;
		for (i++; i < n; i++)
			if (!is_unreserved(in[i]) && !is_sub_delim(in[i]) && in[i] != ':')
				return 0;
		return 1;
	}
	return is_ipv6_n(in, n);
}

/* authority = [ userinfo "@" ] host [ ":" port ], up to the next "/", "?", "#" or the end. */
static int uri_authority(uri_reader *r)
{
	size_t end = r->pos;
	while (end < r->len && r->s[end] != '/' && r->s[end] != '?' && r->s[end] != '#')
		end++;
	const char *at = memchr(r->s + r->pos, '@', end - r->pos);
	uri_reader part = {r->s, end, r->pos, r->iri};
	if (at) {
		part.len = (size_t)(at - r->s);
		uri_chars(&part, SUB_DELIMS ":", 0);
		if (part.pos != part.len)
			return 0;
		part.pos = part.len + 1;
		part.len = end;
	}
	size_t host = part.pos;
	if (host < end && r->s[host] == '[') {
		const char *close = memchr(r->s + host, ']', end - host);
		if (!close || !uri_ip_literal(r->s, host, (size_t)(close - r->s) + 1))
			return 0;
		part.pos = (size_t)(close - r->s) + 1;
	} else {
		uri_chars(&part, SUB_DELIMS, 0);
	}
	if (part.pos < end && r->s[part.pos] == ':')
		for (part.pos++; part.pos < end && tascii_digit(r->s[part.pos]);)
			part.pos++;
	r->pos = end;
	return part.pos == end;
}

/* The path, then [ "?" query ] [ "#" fragment ], to the end of the string. `first_no_colon`: the first
 * segment may not hold a ":" (a relative reference that would read as a scheme). */
static int uri_rest(uri_reader *r, int first_no_colon)
{
	if (first_no_colon) {
		uri_chars(r, SUB_DELIMS "@", 0);
		if (r->pos < r->len && r->s[r->pos] == ':')
			return 0;
	}
	uri_chars(r, PCHAR_EXTRA "/", 0);
	if (r->pos < r->len && r->s[r->pos] == '?') {
		r->pos++;
		uri_chars(r, PCHAR_EXTRA "/?", 1);
	}
	if (r->pos < r->len && r->s[r->pos] == '#') {
		r->pos++;
		uri_chars(r, PCHAR_EXTRA "/?", 0);
	}
	return r->pos == r->len;
}

/* URI (scheme required) or, when `reference`, a URI-reference (RFC 3986 §4.1); IRIs when `iri`. */
static int is_uri(const char *s, int reference, int iri)
{
	uri_reader r = {s, strlen(s), 0, iri};
	int scheme = uri_scheme(&r);
	if (!scheme && !reference)
		return 0;
	if (r.pos + 1 < r.len && r.s[r.pos] == '/' && r.s[r.pos + 1] == '/') {
		r.pos += 2;
		if (!uri_authority(&r))
			return 0;
		return uri_rest(&r, 0);
	}
	return uri_rest(&r, !scheme);
}

/* ------------------------------------------------------------------ URI templates (RFC 6570) */

/* varspec = varname [ ":" 1*4DIGIT (no leading zero) / "*" ]; *p advanced past it. */
static int template_varspec(const char **p)
{
	const char *s = *p;
	int chars = 0;
	for (;;) {
		if (*s == '%' && tascii_hex(s[1]) >= 0 && tascii_hex(s[2]) >= 0)
			s += 3;
		else if (tascii_alnum(*s) || *s == '_')
			s++;
		else
			break;
		chars++;
		if (*s == '.' && (tascii_alnum(s[1]) || s[1] == '_' || s[1] == '%'))
			s++;
	}
	if (!chars)
		return 0;
	if (*s == '*') {
		s++;
	} else if (*s == ':') {
		int digits = 0;
		if (s[1] < '1' || s[1] > '9')
			return 0;
		for (s++; tascii_digit(*s) && digits < 5; s++)
			digits++;
		if (digits > 4)
			return 0;
	}
	*p = s;
	return 1;
}

static int is_uri_template(const char *s)
{
	size_t adv;
	while (*s) {
		unsigned char c = (unsigned char)*s;
		if (c == '{') {
			s++;
			if (*s && strchr("+#./;?&=,!@|", *s))
				s++;
			do {
				if (!template_varspec(&s))
					return 0;
			} while (*s == ',' && s++);
			if (*s++ != '}')
				return 0;
		} else if (c == '%') {
			if (tascii_hex(s[1]) < 0 || tascii_hex(s[2]) < 0)
				return 0;
			s += 3;
		} else if (c < 0x80) {
			if (c <= 0x20 || c == 0x7F || strchr("\"'<>\\^`|}", c))
				return 0;
			s++;
		} else {
			uint32_t cp = tutf8_decode((const unsigned char *)s, strlen(s), &adv);
			if (cp == TUTF8_INVALID || !(is_ucschar(cp) || is_iprivate(cp)))
				return 0;
			s += adv;
		}
	}
	return 1;
}

/* ------------------------------------------------------------------ JSON pointers */

/* "" or ( "/" reference-token )*, where "~" is always followed by "0" or "1". */
static int is_json_pointer(const char *s)
{
	if (*s && *s != '/')
		return 0;
	for (; *s; s++)
		if (*s == '~' && s[1] != '0' && s[1] != '1')
			return 0;
	return 1;
}

/* non-negative-integer ( "#" / json-pointer ). */
static int is_relative_json_pointer(const char *s)
{
	if (!tascii_digit(*s) || (s[0] == '0' && tascii_digit(s[1])))
		return 0;
	while (tascii_digit(*s))
		s++;
	return strcmp(s, "#") == 0 || is_json_pointer(s);
}

static int is_regex(const char *s)
{
	char err[96];
	return trx_check_syntax(s, err, sizeof err);
}

int tfmt_valid(tfmt_kind kind, const char *s)
{
	switch (kind) {
	case TFMT_DATE_TIME: return is_date_time(s);
	case TFMT_DATE: return is_date(s);
	case TFMT_TIME: return full_time(s);
	case TFMT_EMAIL: return is_email(s);
	case TFMT_HOSTNAME: return is_hostname_n(s, strlen(s));
	case TFMT_IPV4: return is_ipv4_n(s, strlen(s));
	case TFMT_IPV6: return is_ipv6_n(s, strlen(s));
	case TFMT_URI: return is_uri(s, 0, 0);
	case TFMT_URI_REFERENCE: return is_uri(s, 1, 0);
	case TFMT_IRI: return is_uri(s, 0, 1);
	case TFMT_IRI_REFERENCE: return is_uri(s, 1, 1);
	case TFMT_URI_TEMPLATE: return is_uri_template(s);
	case TFMT_JSON_POINTER: return is_json_pointer(s);
	case TFMT_RELATIVE_JSON_POINTER: return is_relative_json_pointer(s);
	case TFMT_REGEX: return is_regex(s);
	default: return 1;
	}
}
