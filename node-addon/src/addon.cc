// addon.cc — the module's entry point: registers the native classes and keeps, per environment, the
// JavaScript pieces the native side needs (the error factory of lib/errors.js).
#include "addon.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "client.h"

namespace tasker_node {

AddonData *Data(Napi::Env env)
{
	return env.GetInstanceData<AddonData>();
}

namespace {

// setErrorFactory(fn): fn(codeName, message, sqlstate) returns the TaskerError to throw.
Napi::Value SetErrorFactory(const Napi::CallbackInfo &info)
{
	if (!info[0].IsFunction())
		throw Napi::TypeError::New(info.Env(), "setErrorFactory needs a function");
	Data(info.Env())->make_error = Napi::Persistent(info[0].As<Napi::Function>());
	return info.Env().Undefined();
}

// parseJson(text): exact integers (BigInt past 2^53), as every value the core hands over.
Napi::Value ParseJson(const Napi::CallbackInfo &info)
{
	if (!info[0].IsString())
		throw Napi::TypeError::New(info.Env(), "parseJson needs a string");
	std::string text = info[0].As<Napi::String>().Utf8Value();
	return JsonToJs(info.Env(), text.data(), text.size());
}

// toJson(value, where?): JSON text with every BigInt digit; refuses what JSON cannot write.
Napi::Value ToJson(const Napi::CallbackInfo &info)
{
	std::string where = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "value";
	std::string text = JsonOf(info.Env(), info[0], where);
	return Napi::String::New(info.Env(), text);
}

// nativeHeapInUse() → bytes the C allocator has handed out and not taken back (all threads), or null where
// the C library cannot tell. For leak tests: unlike the resident set size it does not move with page
// reuse, arenas or fragmentation, so a few bytes kept per step show as a steady climb.
Napi::Value NativeHeapInUse(const Napi::CallbackInfo &info)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 m = mallinfo2();
	return Napi::Number::New(info.Env(), static_cast<double>(m.uordblks + m.hblkhd));
#else
	return info.Env().Null();
#endif
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	env.SetInstanceData(new AddonData());
	exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory));
	exports.Set("parseJson", Napi::Function::New(env, ParseJson));
	exports.Set("toJson", Napi::Function::New(env, ToJson));
	exports.Set("nativeHeapInUse", Napi::Function::New(env, NativeHeapInUse));
	exports.Set("version", TASKER_VERSION);
	exports.Set("NativeClient", NativeClient::Define(env));
	InitHandler(env, exports);
	InitWorker(env, exports);
	InitEvents(env, exports);

	return exports;
}

}  // namespace tasker_node

static Napi::Object InitModule(Napi::Env env, Napi::Object exports)
{
	return tasker_node::Init(env, exports);
}

NODE_API_MODULE(tasker_core, InitModule)
