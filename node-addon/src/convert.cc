// convert.cc — JSON text ↔ JavaScript values, done here rather than with JSON.parse/JSON.stringify so
// that integers keep every digit (JSON.parse rounds past 2^53) and so that what JSON cannot write is
// refused with the value's path instead of silently dropped. Knows nothing of tasks or steps.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "addon.h"

namespace tasker_node {

namespace {

constexpr int kMaxDepth = 512;
constexpr double kMaxSafe = 9007199254740991.0;

// Decimal digits (no sign) → little-endian 64-bit words.
std::vector<uint64_t> DigitsToWords(const std::string &digits)
{
	std::vector<uint64_t> words{0};
	for (char c : digits) {
		unsigned __int128 carry = static_cast<unsigned>(c - '0');
		for (auto &w : words) {
			unsigned __int128 v = static_cast<unsigned __int128>(w) * 10 + carry;
			w = static_cast<uint64_t>(v);
			carry = v >> 64;
		}
		if (carry)
			words.push_back(static_cast<uint64_t>(carry));
	}
	return words;
}

// An integer given by its decimal digits: a number when exact, else a BigInt.
Napi::Value IntegerValue(Napi::Env env, bool negative, std::string digits)
{
	size_t nz = digits.find_first_not_of('0');
	digits = nz == std::string::npos ? "0" : digits.substr(nz);
	if (digits.size() <= 15 || (digits.size() == 16 && std::strtod(digits.c_str(), nullptr) <= kMaxSafe)) {
		double d = std::strtod(digits.c_str(), nullptr);
		return Napi::Number::New(env, negative ? -d : d);
	}
	std::vector<uint64_t> words = DigitsToWords(digits);
	return Napi::BigInt::New(env, negative ? 1 : 0, words.size(), words.data());
}

class Parser {
public:
	Parser(Napi::Env env, const char *p, size_t n) : env_(env), p_(p), end_(p + n), start_(p) {}

	Napi::Value Document()
	{
		Napi::Value v = Value(0);
		Space();
		if (p_ != end_)
			Fail("unexpected text after the value");
		return v;
	}

private:
	Napi::Env env_;
	const char *p_, *end_, *start_;

	[[noreturn]] void Fail(const char *what)
	{
		ThrowCore(env_, CoreError::Make(TASKER_EJSON, std::string("invalid JSON at offset ") +
		                                                  std::to_string(p_ - start_) + ": " + what));
	}

	void Space()
	{
		while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
			p_++;
	}

	bool Literal(const char *word)
	{
		size_t n = std::strlen(word);
		if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, word, n) == 0) {
			p_ += n;
			return true;
		}
		return false;
	}

	Napi::Value Value(int depth)
	{
		if (depth > kMaxDepth)
			Fail("nested too deeply");
		Space();
		if (p_ == end_)
			Fail("unexpected end");
		switch (*p_) {
		case '{': return Object(depth);
		case '[': return Array(depth);
		case '"': {
			std::string s = String();
			return Napi::String::New(env_, s.data(), s.size());
		}
		case 't': if (Literal("true")) return Napi::Boolean::New(env_, true); break;
		case 'f': if (Literal("false")) return Napi::Boolean::New(env_, false); break;
		case 'n': if (Literal("null")) return env_.Null(); break;
		default:
			if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9'))
				return Number();
		}
		Fail("unexpected character");
	}

	Napi::Value Object(int depth)
	{
		Napi::Object obj = Napi::Object::New(env_);
		p_++;
		Space();
		if (p_ < end_ && *p_ == '}') {
			p_++;
			return obj;
		}
		for (;;) {
			Space();
			if (p_ == end_ || *p_ != '"')
				Fail("expected a member name");
			std::string key = String();
			Space();
			if (p_ == end_ || *p_ != ':')
				Fail("expected ':'");
			p_++;
			obj.Set(Napi::String::New(env_, key.data(), key.size()), Value(depth + 1));
			Space();
			if (p_ < end_ && *p_ == ',') {
				p_++;
				continue;
			}
			if (p_ < end_ && *p_ == '}') {
				p_++;
				return obj;
			}
			Fail("expected ',' or '}'");
		}
	}

	Napi::Value Array(int depth)
	{
		Napi::Array arr = Napi::Array::New(env_);
		uint32_t i = 0;
		p_++;
		Space();
		if (p_ < end_ && *p_ == ']') {
			p_++;
			return arr;
		}
		for (;;) {
			arr.Set(i++, Value(depth + 1));
			Space();
			if (p_ < end_ && *p_ == ',') {
				p_++;
				continue;
			}
			if (p_ < end_ && *p_ == ']') {
				p_++;
				return arr;
			}
			Fail("expected ',' or ']'");
		}
	}

	unsigned Hex4()
	{
		if (end_ - p_ < 4)
			Fail("short \\u escape");
		unsigned v = 0;
		for (int i = 0; i < 4; i++) {
			char c = *p_++;
			v <<= 4;
			if (c >= '0' && c <= '9') v |= c - '0';
			else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
			else Fail("bad \\u escape");
		}
		return v;
	}

	static void Utf8(std::string &out, unsigned cp)
	{
		if (cp < 0x80) {
			out += static_cast<char>(cp);
		} else if (cp < 0x800) {
			out += static_cast<char>(0xC0 | (cp >> 6));
			out += static_cast<char>(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			out += static_cast<char>(0xE0 | (cp >> 12));
			out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
			out += static_cast<char>(0x80 | (cp & 0x3F));
		} else {
			out += static_cast<char>(0xF0 | (cp >> 18));
			out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
			out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
			out += static_cast<char>(0x80 | (cp & 0x3F));
		}
	}

	std::string String()
	{
		std::string out;
		p_++;
		for (;;) {
			const char *run = p_;
			while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20)
				p_++;
			out.append(run, p_ - run);
			if (p_ == end_)
				Fail("unterminated string");
			char c = *p_++;
			if (c == '"')
				return out;
			if (c != '\\')
				Fail("control character in a string");
			if (p_ == end_)
				Fail("unterminated string");
			switch (*p_++) {
			case '"': out += '"'; break;
			case '\\': out += '\\'; break;
			case '/': out += '/'; break;
			case 'b': out += '\b'; break;
			case 'f': out += '\f'; break;
			case 'n': out += '\n'; break;
			case 'r': out += '\r'; break;
			case 't': out += '\t'; break;
			case 'u': {
				unsigned cp = Hex4();
				if (cp >= 0xD800 && cp < 0xDC00 && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
					const char *save = p_;
					p_ += 2;
					unsigned lo = Hex4();
					if (lo >= 0xDC00 && lo < 0xE000)
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					else
						p_ = save;
				}
				Utf8(out, cp);
				break;
			}
			default: Fail("bad escape");
			}
		}
	}

	// -?int(.frac)?([eE][+-]?exp)? : an integer when it has neither fraction nor exponent, or when its
	// exponent leaves no fraction (PostgreSQL writes 1e3 as 1000); otherwise a double.
	Napi::Value Number()
	{
		const char *s = p_;
		bool negative = false;
		if (*p_ == '-') {
			negative = true;
			p_++;
		}
		const char *int_start = p_;
		while (p_ < end_ && *p_ >= '0' && *p_ <= '9')
			p_++;
		if (p_ == int_start)
			Fail("bad number");
		std::string digits(int_start, p_ - int_start);
		std::string frac;
		bool has_frac = false, has_exp = false;
		long exp = 0;
		if (p_ < end_ && *p_ == '.') {
			has_frac = true;
			const char *f = ++p_;
			while (p_ < end_ && *p_ >= '0' && *p_ <= '9')
				p_++;
			if (p_ == f)
				Fail("bad number");
			frac.assign(f, p_ - f);
		}
		if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
			has_exp = true;
			p_++;
			bool eneg = false;
			if (p_ < end_ && (*p_ == '+' || *p_ == '-'))
				eneg = *p_++ == '-';
			const char *e = p_;
			while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
				if (exp < 100000)
					exp = exp * 10 + (*p_ - '0');
				p_++;
			}
			if (p_ == e)
				Fail("bad number");
			if (eneg)
				exp = -exp;
		}
		if (!has_frac && !has_exp)
			return IntegerValue(env_, negative, digits);
		if (has_exp) {
			size_t last = frac.find_last_not_of('0');
			frac = last == std::string::npos ? "" : frac.substr(0, last + 1);
			if (exp >= static_cast<long>(frac.size()) && exp <= 4096)
				return IntegerValue(env_, negative, digits + frac + std::string(exp - frac.size(), '0'));
		}
		return Napi::Number::New(env_, std::strtod(std::string(s, p_ - s).c_str(), nullptr));
	}
};

void Escape(std::string &out, const std::string &s)
{
	out += '"';
	for (unsigned char c : s) {
		switch (c) {
		case '"': out += "\\\""; break;
		case '\\': out += "\\\\"; break;
		case '\n': out += "\\n"; break;
		case '\r': out += "\\r"; break;
		case '\t': out += "\\t"; break;
		case '\b': out += "\\b"; break;
		case '\f': out += "\\f"; break;
		default:
			if (c < 0x20) {
				char buf[8];
				std::snprintf(buf, sizeof buf, "\\u%04x", c);
				out += buf;
			} else {
				out += static_cast<char>(c);
			}
		}
	}
	out += '"';
}

std::string BigIntDigits(Napi::BigInt b)
{
	int sign = 0;
	size_t count = b.WordCount();
	std::vector<uint64_t> words(count ? count : 1, 0);
	b.ToWords(&sign, &count, words.data());
	words.resize(count);
	std::string digits;
	while (!words.empty()) {
		// Divide by 10^19, keeping the remainder's 19 digits.
		const uint64_t base = 10000000000000000000ULL;
		unsigned __int128 rem = 0;
		for (size_t i = words.size(); i-- > 0;) {
			unsigned __int128 cur = (rem << 64) | words[i];
			words[i] = static_cast<uint64_t>(cur / base);
			rem = cur % base;
		}
		while (!words.empty() && words.back() == 0)
			words.pop_back();
		char buf[24];
		std::snprintf(buf, sizeof buf, words.empty() ? "%llu" : "%019llu", static_cast<unsigned long long>(rem));
		digits.insert(0, buf);
	}
	if (digits.empty())
		digits = "0";
	return (sign && digits != "0" ? "-" : "") + digits;
}

class Writer {
public:
	Writer(Napi::Env env, std::string &out, std::string &problem) : env_(env), out_(out), problem_(problem) {}

	bool Value(Napi::Value v, const std::string &path, const Napi::Value &key, int depth)
	{
		if (depth > kMaxDepth)
			return Refuse(path, "is nested too deeply (a cycle?)");
		if (v.IsObject() && !v.IsFunction()) {
			Napi::Value to_json = v.As<Napi::Object>().Get("toJSON");
			if (to_json.IsFunction())
				v = to_json.As<Napi::Function>().Call(v, {key});
		}
		switch (v.Type()) {
		case napi_null:
		case napi_undefined: out_ += "null"; return true;
		case napi_boolean: out_ += v.As<Napi::Boolean>().Value() ? "true" : "false"; return true;
		case napi_number: return Number(v.As<Napi::Number>().DoubleValue(), path);
		case napi_bigint: out_ += BigIntDigits(v.As<Napi::BigInt>()); return true;
		case napi_string: {
			std::string s = v.As<Napi::String>().Utf8Value();
			if (s.find('\0') != std::string::npos)
				return Refuse(path, "is a string holding a NUL character, which PostgreSQL cannot store");
			Escape(out_, s);
			return true;
		}
		case napi_symbol: return Refuse(path, "is a Symbol, which has no JSON form");
		case napi_function: return Refuse(path, "is a function, which has no JSON form");
		case napi_external: return Refuse(path, "is a native handle, which has no JSON form");
		case napi_object:
			if (v.IsArray())
				return Array(v.As<Napi::Array>(), path, depth);
			return Object(v.As<Napi::Object>(), path, depth);
		}
		return Refuse(path, "has no JSON form");
	}

private:
	Napi::Env env_;
	std::string &out_, &problem_;

	bool Refuse(const std::string &path, const char *why)
	{
		problem_ = path + " " + why;
		return false;
	}

	bool Number(double d, const std::string &path)
	{
		if (!std::isfinite(d))
			return Refuse(path, std::isnan(d) ? "is NaN, which JSON cannot write"
			                                  : "is Infinity, which JSON cannot write");
		char buf[32];
		if (d == std::floor(d) && std::fabs(d) <= kMaxSafe) {
			std::snprintf(buf, sizeof buf, "%.0f", d == 0 ? 0.0 : d);
			out_ += buf;
			return true;
		}
		// The shortest text that reads back as the same double (what JavaScript prints).
		for (int prec = 15; prec <= 17; prec++) {
			std::snprintf(buf, sizeof buf, "%.*g", prec, d);
			if (std::strtod(buf, nullptr) == d)
				break;
		}
		out_ += buf;
		return true;
	}

	bool Array(const Napi::Array &arr, const std::string &path, int depth)
	{
		out_ += '[';
		uint32_t n = arr.Length();
		for (uint32_t i = 0; i < n; i++) {
			if (i)
				out_ += ',';
			if (!Value(arr.Get(i), path + "[" + std::to_string(i) + "]", Napi::String::New(env_, std::to_string(i)),
			           depth + 1))
				return false;
		}
		out_ += ']';
		return true;
	}

	bool Object(const Napi::Object &obj, const std::string &path, int depth)
	{
		napi_value names_v;
		if (napi_get_all_property_names(env_, obj, napi_key_own_only,
		                                static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
		                                napi_key_numbers_to_strings, &names_v) != napi_ok)
			throw Napi::Error::New(env_);
		Napi::Array names(env_, names_v);
		out_ += '{';
		bool first = true;
		uint32_t n = names.Length();
		for (uint32_t i = 0; i < n; i++) {
			Napi::Value name = names.Get(i);
			Napi::Value member = obj.Get(name);
			if (member.IsUndefined())
				continue;
			std::string key = name.As<Napi::String>().Utf8Value();
			if (!first)
				out_ += ',';
			first = false;
			Escape(out_, key);
			out_ += ':';
			if (!Value(member, path + "." + key, name, depth + 1))
				return false;
		}
		out_ += '}';
		return true;
	}
};

}  // namespace

Napi::Value JsonToJs(Napi::Env env, const char *text, size_t len)
{
	return Parser(env, text, len).Document();
}

bool JsToJson(Napi::Env env, Napi::Value value, const std::string &where, std::string &out, std::string &problem)
{
	out.clear();
	return Writer(env, out, problem).Value(value, where, Napi::String::New(env, ""), 0);
}

std::string JsonOf(Napi::Env env, Napi::Value value, const std::string &where)
{
	std::string out, problem;
	if (!JsToJson(env, value, where, out, problem))
		ThrowCore(env, CoreError::Make(TASKER_EJSON, problem));
	return out;
}

Napi::Value Int64ToJs(Napi::Env env, int64_t v)
{
	if (v >= -9007199254740991LL && v <= 9007199254740991LL)
		return Napi::Number::New(env, static_cast<double>(v));
	return Napi::BigInt::New(env, v);
}

int64_t JsToInt64(Napi::Env env, Napi::Value v, const char *what)
{
	if (v.IsNumber()) {
		double d = v.As<Napi::Number>().DoubleValue();
		if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= kMaxSafe)
			return static_cast<int64_t>(d);
	} else if (v.IsBigInt()) {
		bool lossless = false;
		int64_t r = v.As<Napi::BigInt>().Int64Value(&lossless);
		if (lossless)
			return r;
	} else if (v.IsString()) {
		std::string s = v.As<Napi::String>().Utf8Value();
		char *end = nullptr;
		errno = 0;
		long long r = std::strtoll(s.c_str(), &end, 10);
		if (!s.empty() && *end == '\0' && errno == 0)
			return r;
	}
	throw Napi::TypeError::New(env, std::string(what) + " must be an integer id (a number or a BigInt)");
}

std::string OptString(Napi::Value v, const char *what, bool *present)
{
	if (v.IsUndefined() || v.IsNull()) {
		if (present)
			*present = false;
		return std::string();
	}
	if (!v.IsString())
		throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a string");
	if (present)
		*present = true;
	return v.As<Napi::String>().Utf8Value();
}

}  // namespace tasker_node
