/*
 * jsonformat.h — the string formats of JSON Schema draft 7 that the validator checks: dates and times
 * (RFC 3339), e-mail addresses (RFC 5321), host names (RFC 1123), IP addresses, URIs and IRIs
 * (RFC 3986 / 3987, also as references), URI templates (RFC 6570), JSON pointers (RFC 6901 and the
 * relative form) and regular expressions (ECMA-262). Pure functions on one string; no schema rules.
 */
#ifndef TASKER_CORE_JSONFORMAT_H
#define TASKER_CORE_JSONFORMAT_H

typedef enum {
	TFMT_UNCHECKED = 0, /* a format this validator does not check (draft 7: accepted and ignored) */
	TFMT_DATE_TIME,
	TFMT_DATE,
	TFMT_TIME,
	TFMT_EMAIL,
	TFMT_HOSTNAME,
	TFMT_IPV4,
	TFMT_IPV6,
	TFMT_URI,
	TFMT_URI_REFERENCE,
	TFMT_IRI,
	TFMT_IRI_REFERENCE,
	TFMT_URI_TEMPLATE,
	TFMT_JSON_POINTER,
	TFMT_RELATIVE_JSON_POINTER,
	TFMT_REGEX,
	TFMT_COUNT
} tfmt_kind;

/* The checked format named `name`, or TFMT_UNCHECKED. */
tfmt_kind tfmt_lookup(const char *name);
/* "date-time", ...; static storage. */
const char *tfmt_name(tfmt_kind kind);
/* What a valid value is, for messages: "an RFC 3339 date-time"; static storage. */
const char *tfmt_description(tfmt_kind kind);
/* 1 if the NUL-terminated UTF-8 string `s` is a valid `kind`, else 0 (TFMT_UNCHECKED: always 1). */
int tfmt_valid(tfmt_kind kind, const char *s);
/* Comma-separated names of every checked format, for documentation; static storage. */
const char *tfmt_checked_names(void);

#endif
