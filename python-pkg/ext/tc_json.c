/*
 * tc_json.c — JSON text <-> Python values, in C (no `json` module on the way).
 *
 * Reading: the text the core hands over (contexts, results, configs) becomes dict/list/str/int/
 * float/bool/None; an integer keeps every digit (Python ints have no size limit), a number with a
 * fraction or an exponent is a float. Writing: what a handler returns becomes JSON text with the
 * rules of the handler specification (rule 8): what Python's json module cannot encode, NaN and the
 * infinities, and text PostgreSQL cannot store (NUL) are refused with a message that names the
 * value's type and where it sits.
 */
#include "tc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ reading */

typedef struct reader {
	const char *start, *p, *end;
	int depth;
} reader;

#define TC_JSON_MAX_DEPTH 1000

static PyObject *read_value(reader *r);

static void skip_ws(reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static PyObject *bad(reader *r, const char *what)
{
	PyErr_Format(PyExc_ValueError, "invalid JSON from the core: %s at offset %zd", what,
	             (Py_ssize_t)(r->p - r->start));
	return NULL;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
		else return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) { o[0] = (char)cp; return 1; }
	if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static PyObject *read_string(reader *r)
{
	const char *start = ++r->p, *q = start;
	while (q < r->end && *q != '"' && *q != '\\')
		q++;
	if (q < r->end && *q == '"') { /* no escapes: the common case */
		r->p = q + 1;
		return PyUnicode_DecodeUTF8(start, q - start, "strict");
	}
	/* Escapes: decode into a buffer no longer than the source. */
	char *buf = PyMem_Malloc((size_t)(r->end - start) + 1), *o = buf;
	if (!buf) return PyErr_NoMemory();
	q = start;
	while (q < r->end && *q != '"') {
		if (*q != '\\') { *o++ = *q++; continue; }
		if (++q >= r->end) break;
		char c = *q++;
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (r->end - q < 4 || hex4(q, &cp)) goto fail;
			q += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && r->end - q >= 6 && q[0] == '\\' && q[1] == 'u' &&
			    !hex4(q + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				q += 6;
			}
			o += put_utf8(o, cp);
			break;
		}
		default: goto fail;
		}
	}
	if (q >= r->end) goto fail;
	r->p = q + 1;
	PyObject *s = PyUnicode_DecodeUTF8(buf, o - buf, "surrogatepass");
	PyMem_Free(buf);
	return s;
fail:
	PyMem_Free(buf);
	r->p = q;
	return bad(r, "bad string");
}

static PyObject *read_number(reader *r)
{
	const char *s = r->p;
	int is_float = 0;
	if (r->p < r->end && *r->p == '-') r->p++;
	while (r->p < r->end) {
		char c = *r->p;
		if (c >= '0' && c <= '9') r->p++;
		else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { is_float = 1; r->p++; }
		else break;
	}
	size_t n = (size_t)(r->p - s);
	if (n == 0 || n > 4096 * 4) return bad(r, "bad number");
	char small[64], *tmp = n < sizeof small ? small : PyMem_Malloc(n + 1);
	if (!tmp) return PyErr_NoMemory();
	memcpy(tmp, s, n);
	tmp[n] = 0;
	PyObject *v;
	if (is_float) {
		char *endp;
		double d = PyOS_string_to_double(tmp, &endp, NULL);
		v = (d == -1.0 && PyErr_Occurred()) ? NULL
		    : (*endp ? (PyErr_Format(PyExc_ValueError, "invalid JSON number %s", tmp), NULL)
		             : PyFloat_FromDouble(d));
	} else if (n < 18) {
		v = PyLong_FromLongLong(strtoll(tmp, NULL, 10));
	} else {
		v = PyLong_FromString(tmp, NULL, 10);
	}
	if (tmp != small) PyMem_Free(tmp);
	return v;
}

static PyObject *read_array(reader *r)
{
	PyObject *list = PyList_New(0);
	if (!list) return NULL;
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == ']') { r->p++; return list; }
	for (;;) {
		PyObject *v = read_value(r);
		if (!v || PyList_Append(list, v) < 0) { Py_XDECREF(v); Py_DECREF(list); return NULL; }
		Py_DECREF(v);
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') { r->p++; continue; }
		if (r->p < r->end && *r->p == ']') { r->p++; return list; }
		Py_DECREF(list);
		return bad(r, "expected , or ]");
	}
}

static PyObject *read_object(reader *r)
{
	PyObject *dict = PyDict_New();
	if (!dict) return NULL;
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == '}') { r->p++; return dict; }
	for (;;) {
		skip_ws(r);
		if (r->p >= r->end || *r->p != '"') { Py_DECREF(dict); return bad(r, "expected a key"); }
		PyObject *k = read_string(r);
		if (!k) { Py_DECREF(dict); return NULL; }
		skip_ws(r);
		if (r->p >= r->end || *r->p != ':') { Py_DECREF(k); Py_DECREF(dict); return bad(r, "expected :"); }
		r->p++;
		PyObject *v = read_value(r);
		if (!v || PyDict_SetItem(dict, k, v) < 0) {
			Py_DECREF(k); Py_XDECREF(v); Py_DECREF(dict);
			return NULL;
		}
		Py_DECREF(k);
		Py_DECREF(v);
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') { r->p++; continue; }
		if (r->p < r->end && *r->p == '}') { r->p++; return dict; }
		Py_DECREF(dict);
		return bad(r, "expected , or }");
	}
}

static PyObject *literal(reader *r, const char *word, PyObject *value)
{
	size_t n = strlen(word);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return bad(r, "unexpected token");
	r->p += n;
	Py_INCREF(value);
	return value;
}

static PyObject *read_value(reader *r)
{
	skip_ws(r);
	if (r->p >= r->end) return bad(r, "unexpected end");
	if (++r->depth > TC_JSON_MAX_DEPTH) return bad(r, "nested too deeply");
	PyObject *v;
	switch (*r->p) {
	case '{': v = read_object(r); break;
	case '[': v = read_array(r); break;
	case '"': v = read_string(r); break;
	case 't': v = literal(r, "true", Py_True); break;
	case 'f': v = literal(r, "false", Py_False); break;
	case 'n': v = literal(r, "null", Py_None); break;
	default: v = read_number(r); break;
	}
	r->depth--;
	return v;
}

PyObject *tc_json_to_py(const char *text)
{
	if (!text) Py_RETURN_NONE;
	reader r = {text, text, text + strlen(text), 0};
	PyObject *v = read_value(&r);
	if (!v) return NULL;
	skip_ws(&r);
	if (r.p != r.end) { Py_DECREF(v); return bad(&r, "trailing characters"); }
	return v;
}

/* ------------------------------------------------------------------ writing */

void tc_buf_free(tc_buf *b)
{
	PyMem_Free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int put(tc_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1) cap *= 2;
		char *d = PyMem_Realloc(b->data, cap);
		if (!d) { PyErr_NoMemory(); return -1; }
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

#define PUTS(b, lit) put((b), (lit), sizeof(lit) - 1)

/* Where a value sits, as a chain of frames on the C stack: built into text only on failure. */
typedef struct path {
	const struct path *up;
	const char *key;     /* member name, or NULL for an index */
	Py_ssize_t index;
} path;

static void path_text(tc_buf *o, const path *p, const char *root)
{
	if (!p) { put(o, root, strlen(root)); return; }
	path_text(o, p->up, root);
	char tmp[32];
	if (p->key) {
		put(o, ".", 1);
		put(o, p->key, strlen(p->key));
	} else {
		int n = snprintf(tmp, sizeof tmp, "[%zd]", p->index);
		put(o, tmp, (size_t)n);
	}
}

static int refuse(const path *at, const char *root, const char *fmt, PyObject *value)
{
	tc_buf where = {0};
	path_text(&where, at, root);
	PyObject *type = PyObject_Type(value);
	PyObject *tname = type ? PyObject_GetAttrString(type, "__name__") : NULL;
	PyObject *tstr = tname ? PyObject_Str(tname) : NULL;
	PyObject *tb = tstr ? PyUnicode_AsUTF8String(tstr) : NULL;
	PyErr_Clear();
	PyErr_Format(tc_error_class("JSONError"), fmt, tb ? PyBytes_AsString(tb) : "?",
	             where.data ? where.data : root);
	Py_XDECREF(tb); Py_XDECREF(tstr); Py_XDECREF(tname); Py_XDECREF(type);
	tc_buf_free(&where);
	return -1;
}

static int write_value(tc_buf *b, PyObject *v, const path *at, const char *root);

static int write_utf8_string(tc_buf *b, const char *s, Py_ssize_t n, PyObject *orig, const path *at,
                             const char *root)
{
	static const char hexd[] = "0123456789abcdef";
	if (PUTS(b, "\"")) return -1;
	Py_ssize_t run = 0;
	for (Py_ssize_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') continue;
		if (c == 0) return refuse(at, root, "a %s with a NUL character has no JSON form PostgreSQL can store (at %s)", orig);
		if (put(b, s + run, (size_t)(i - run))) return -1;
		run = i + 1;
		char esc[7] = {'\\', 0};
		size_t en = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hexd[c >> 4]; esc[5] = hexd[c & 15];
			en = 6;
		}
		if (put(b, esc, en)) return -1;
	}
	if (put(b, s + run, (size_t)(n - run))) return -1;
	return PUTS(b, "\"");
}

static int write_str(tc_buf *b, PyObject *v, const path *at, const char *root)
{
	PyObject *bytes = PyUnicode_AsUTF8String(v);
	if (!bytes) { /* lone surrogates */
		PyErr_Clear();
		return refuse(at, root, "a %s that is not valid UTF-8 has no JSON form (at %s)", v);
	}
	char *s;
	Py_ssize_t n;
	PyBytes_AsStringAndSize(bytes, &s, &n);
	int rc = write_utf8_string(b, s, n, v, at, root);
	Py_DECREF(bytes);
	return rc;
}

static int write_repr(tc_buf *b, PyObject *v, reprfunc how)
{
	PyObject *s = how(v);
	if (!s) return -1;
	PyObject *bytes = PyUnicode_AsUTF8String(s);
	Py_DECREF(s);
	if (!bytes) return -1;
	int rc = put(b, PyBytes_AsString(bytes), (size_t)PyBytes_Size(bytes));
	Py_DECREF(bytes);
	return rc;
}

static int write_float(tc_buf *b, PyObject *v, const path *at, const char *root)
{
	double d = PyFloat_AsDouble(v);
	if (!isfinite(d)) return refuse(at, root, "a %s that is not finite (NaN or infinity) has no JSON form (at %s)", v);
	/* repr's shortest round-trip form is valid JSON for finite values ("1e+300", "0.1", "2.0"). */
	if (PyFloat_CheckExact(v)) return write_repr(b, v, PyObject_Repr);
	PyObject *f = PyFloat_FromDouble(d);
	if (!f) return -1;
	int rc = write_repr(b, f, PyObject_Repr);
	Py_DECREF(f);
	return rc;
}

static int write_int(tc_buf *b, PyObject *v)
{
	int overflow;
	long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
	if (!overflow) {
		if (x == -1 && PyErr_Occurred()) return -1;
		char tmp[24];
		int n = snprintf(tmp, sizeof tmp, "%lld", x);
		return put(b, tmp, (size_t)n);
	}
	PyObject *plain = PyNumber_Index(v); /* an int subclass writes as the int it is */
	if (!plain) return -1;
	int rc = write_repr(b, plain, PyObject_Str);
	Py_DECREF(plain);
	return rc;
}

/* json writes these keys as strings; anything else has no JSON form. */
static PyObject *key_text(PyObject *k)
{
	if (PyUnicode_Check(k)) { Py_INCREF(k); return k; }
	if (k == Py_True) return PyUnicode_FromString("true");
	if (k == Py_False) return PyUnicode_FromString("false");
	if (k == Py_None) return PyUnicode_FromString("null");
	if (PyLong_Check(k)) { PyObject *i = PyNumber_Index(k); PyObject *s = i ? PyObject_Str(i) : NULL; Py_XDECREF(i); return s; }
	if (PyFloat_Check(k) && isfinite(PyFloat_AsDouble(k))) return PyObject_Repr(k);
	return NULL;
}

static int write_dict(tc_buf *b, PyObject *v, const path *at, const char *root)
{
	if (PUTS(b, "{")) return -1;
	PyObject *k, *val;
	Py_ssize_t pos = 0;
	int first = 1;
	while (PyDict_Next(v, &pos, &k, &val)) {
		PyObject *ks = key_text(k);
		if (!ks) {
			if (PyErr_Occurred()) return -1;
			return refuse(at, root, "a dict key of type %s has no JSON form (in %s)", k);
		}
		PyObject *kb = PyUnicode_AsUTF8String(ks);
		if (!kb) { PyErr_Clear(); Py_DECREF(ks); return refuse(at, root, "a dict key of type %s is not valid UTF-8 (in %s)", k); }
		path here = {at, PyBytes_AsString(kb), 0};
		int rc = (first ? 0 : PUTS(b, ","));
		if (!rc) rc = write_utf8_string(b, PyBytes_AsString(kb), PyBytes_Size(kb), ks, &here, root);
		if (!rc) rc = PUTS(b, ":");
		Py_INCREF(val); /* the dict may change under a __repr__ / __index__ call */
		if (!rc) rc = write_value(b, val, &here, root);
		Py_DECREF(val);
		Py_DECREF(kb);
		Py_DECREF(ks);
		if (rc) return -1;
		first = 0;
	}
	return PUTS(b, "}");
}

static int write_seq(tc_buf *b, PyObject *v, const path *at, const char *root)
{
	PyObject *fast = PySequence_Fast(v, "not a sequence");
	if (!fast) return -1;
	Py_ssize_t n = PySequence_Size(fast);
	int rc = PUTS(b, "[");
	for (Py_ssize_t i = 0; !rc && i < n; i++) {
		path here = {at, NULL, i};
		PyObject *item = PySequence_GetItem(fast, i);
		if (!item) { rc = -1; break; }
		if (i) rc = PUTS(b, ",");
		if (!rc) rc = write_value(b, item, &here, root);
		Py_DECREF(item);
	}
	Py_DECREF(fast);
	return rc ? -1 : PUTS(b, "]");
}

static int write_value(tc_buf *b, PyObject *v, const path *at, const char *root)
{
	if (v == Py_None) return PUTS(b, "null");
	if (v == Py_True) return PUTS(b, "true");
	if (v == Py_False) return PUTS(b, "false");
	if (PyUnicode_Check(v)) return write_str(b, v, at, root);
	if (PyLong_Check(v)) return write_int(b, v);
	if (PyFloat_Check(v)) return write_float(b, v, at, root);
	if (Py_EnterRecursiveCall(" while writing a value as JSON")) return -1;
	int rc;
	if (PyDict_Check(v)) rc = write_dict(b, v, at, root);
	else if (PyList_Check(v) || PyTuple_Check(v)) rc = write_seq(b, v, at, root);
	else rc = refuse(at, root, "a value of type %s has no JSON form (at %s)", v);
	Py_LeaveRecursiveCall();
	return rc;
}

int tc_py_to_json(tc_buf *out, PyObject *value, const char *root)
{
	out->data = NULL;
	out->len = out->cap = 0;
	if (write_value(out, value, NULL, root) < 0) { tc_buf_free(out); return -1; }
	return 0;
}

char *tc_py_to_json_str(PyObject *value, const char *root)
{
	tc_buf b;
	if (tc_py_to_json(&b, value, root) < 0) return NULL;
	char *s = malloc(b.len + 1);
	if (!s) { tc_buf_free(&b); PyErr_NoMemory(); return NULL; }
	memcpy(s, b.data, b.len + 1);
	tc_buf_free(&b);
	return s;
}
