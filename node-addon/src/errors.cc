// errors.cc — the one place where a core error code becomes a JavaScript error. The classes themselves
// are defined in lib/errors.js (a TaskerError subclass per code); this file only captures the core's
// description on the thread that failed and asks lib/errors.js for the error object.
#include "addon.h"

namespace tasker_node {

const char *CodeName(int code)
{
	return tasker_error_name(code);
}

CoreError CoreError::Last(int code)
{
	CoreError e;
	const tasker_error *last = tasker_error_last();
	e.code = code;
	e.message = last && last->message && *last->message ? last->message : CodeName(code);
	e.sqlstate = last && last->sqlstate ? last->sqlstate : "";
	return e;
}

CoreError CoreError::Make(int code, std::string message)
{
	CoreError e;
	e.code = code;
	e.message = std::move(message);
	return e;
}

Napi::Value MakeError(Napi::Env env, const CoreError &e)
{
	AddonData *data = Data(env);
	Napi::Value sqlstate = e.sqlstate.empty() ? env.Null() : Napi::String::New(env, e.sqlstate);
	if (!data || data->make_error.IsEmpty())
		return Napi::Error::New(env, e.message).Value();
	return data->make_error.Call({Napi::String::New(env, CodeName(e.code)), Napi::String::New(env, e.message), sqlstate});
}

void ThrowCore(Napi::Env env, const CoreError &e)
{
	throw Napi::Error(env, MakeError(env, e));
}

}  // namespace tasker_node
