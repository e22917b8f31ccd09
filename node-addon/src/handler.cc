// handler.cc — the native StepHandler base class that JavaScript handler classes extend
// (`class Charge extends StepHandler { async process(task, sequence, step) {…} }`). It supplies the two
// defaults of the handler specification: a `process` that reports it was not overridden, and the
// default `processResults`, which stores process's output unless the handler assigned step.results.
#include "addon.h"

namespace tasker_node {

namespace {

class StepHandler : public Napi::ObjectWrap<StepHandler> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "StepHandler",
		                   {
					   InstanceMethod<&StepHandler::Process>("process"),
					   InstanceMethod<&StepHandler::ProcessResults>("processResults"),
				   });
	}

	explicit StepHandler(const Napi::CallbackInfo &info) : Napi::ObjectWrap<StepHandler>(info) {}

private:
	Napi::Value Process(const Napi::CallbackInfo &info)
	{
		Napi::Object self = info.This().As<Napi::Object>();
		std::string name = self.Get("constructor").As<Napi::Object>().Get("name").ToString().Utf8Value();
		throw Napi::Error::New(info.Env(), name + " must override process(task, sequence, step)");
	}

	// processResults(step, output, initialResults): an assignment to step.results during process wins
	// over the returned output (also when it assigned a value equal to the previous results).
	Napi::Value ProcessResults(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!info[0].IsObject())
			throw Napi::TypeError::New(env, "processResults(step, output, initialResults): step must be an object");
		Napi::Object step = info[0].As<Napi::Object>();
		Napi::Value assigned = step.Get("resultsAssigned");
		if (!assigned.ToBoolean())
			step.Set("results", info[1]);
		return env.Undefined();
	}
};

}  // namespace

void InitHandler(Napi::Env env, Napi::Object exports)
{
	exports.Set("StepHandler", StepHandler::Define(env));
}

}  // namespace tasker_node
