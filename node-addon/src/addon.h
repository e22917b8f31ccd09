// addon.h — what the addon's files share: the per-environment state, value conversion between JSON text
// and JavaScript values, and the one place where a core error code becomes a TaskerError. No rule of the
// engine lives in this addon: it converts values and runs JavaScript handlers.
#pragma once

#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>

extern "C" {
#include "tasker.h"
}

namespace tasker_node {

// What one Node environment (main thread or worker_threads Worker) keeps: the JavaScript pieces
// lib/index.js hands over at load time.
struct AddonData {
	Napi::FunctionReference make_error;  // (codeName, message, sqlstate) => TaskerError subclass
	Napi::FunctionReference client_ctor;
	Napi::FunctionReference worker_ctor;
	Napi::FunctionReference queue_ctor;
};

AddonData *Data(Napi::Env env);

// A failure of the core, captured on the thread where it happened (tasker_error_last is per thread).
struct CoreError {
	int code = 0;
	std::string message;
	std::string sqlstate;

	static CoreError Last(int code);
	static CoreError Make(int code, std::string message);
};

// The TaskerError subclass for a core error (lib/errors.js decides the class from the code's name).
Napi::Value MakeError(Napi::Env env, const CoreError &e);
[[noreturn]] void ThrowCore(Napi::Env env, const CoreError &e);
const char *CodeName(int code);

// JSON text → JavaScript value. Integers within ±(2^53−1) become numbers, larger ones BigInts (every
// digit kept); numbers with a fraction are doubles; an exponent that leaves an integer yields that
// integer (1e3 → 1000). Throws a TaskerError (JSONError) on text that is not JSON.
Napi::Value JsonToJs(Napi::Env env, const char *text, size_t len);
inline Napi::Value JsonToJs(Napi::Env env, const char *text)
{
	return text ? JsonToJs(env, text, std::strlen(text)) : env.Null();
}

// JavaScript value → JSON text, with JSON.stringify's customs (toJSON honoured, members whose value is
// undefined left out) except that what JSON cannot write is refused instead of dropped: NaN and the
// infinities, functions, Symbols, strings holding NUL, cycles. On refusal returns false and sets
// `problem` to a message naming the value's path (`where` is the path's start, e.g. "results").
bool JsToJson(Napi::Env env, Napi::Value value, const std::string &where, std::string &out, std::string &problem);
// The same, throwing a TaskerError (JSONError) on refusal.
std::string JsonOf(Napi::Env env, Napi::Value value, const std::string &where);

// int64 ↔ JavaScript: a number within ±(2^53−1), else a BigInt.
Napi::Value Int64ToJs(Napi::Env env, int64_t v);
// Accepts a safe integer number, a BigInt within int64 or a string of digits; throws a TypeError naming
// `what` otherwise.
int64_t JsToInt64(Napi::Env env, Napi::Value v, const char *what);

// A C string as a JavaScript string, or null for NULL.
inline Napi::Value Str(Napi::Env env, const char *s)
{
	return s ? Napi::String::New(env, s) : env.Null();
}

// Optional string argument: undefined/null → empty with *present = false.
std::string OptString(Napi::Value v, const char *what, bool *present);

// Module parts.
void InitHandler(Napi::Env env, Napi::Object exports);
void InitWorker(Napi::Env env, Napi::Object exports);
void InitEvents(Napi::Env env, Napi::Object exports);

}  // namespace tasker_node
