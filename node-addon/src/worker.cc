// worker.cc — NativeWorker: the core's worker runs its machinery (claiming, leases, recovery, batched
// completion) on its own threads and hands steps out through a descriptor; libuv watches that
// descriptor (uv_poll_t), so the event loop wakes only when a step waits. Each step is converted to
// plain JavaScript objects and given to lib/worker.js, which runs the handler and brings the outcome back
// through finish() — never blocking: the core queues it for the next completion batch.
#include <uv.h>

#include <array>
#include <memory>
#include <unordered_set>

#include "call.h"
#include "client.h"

namespace tasker_node {

namespace {

// Every step of the task as the handler's sequence shows it. Converted only when a handler looks at the
// sequence: a task of a hundred steps would otherwise cost a hundred objects per step handed out.
Napi::Array SequenceToJs(Napi::Env env, const tasker_claimed_step *s)
{
	Napi::Array seq = Napi::Array::New(env, s->sequence_count);
	for (size_t i = 0; i < s->sequence_count; i++) {
		const tasker_sequence_step &q = s->sequence[i];
		Napi::Object o = Napi::Object::New(env);
		o.Set("workflowStepId", Int64ToJs(env, q.workflow_step_id));
		o.Set("name", Str(env, q.name));
		o.Set("state", tasker_state_name(q.state));
		o.Set("attempts", q.attempts);
		o.Set("results", JsonToJs(env, q.results_json));
		seq.Set(static_cast<uint32_t>(i), o);
	}
	return seq;
}

// A claimed step as the arguments of lib/worker.js's _onStep, in this order:
//   token, traceparent,
//   taskId, taskName, namespaceName, version, context, tags, initiator, sourceSystem, reason,
//   workflowStepId, name, handlerClass, attempts, retryLimit, retryable, handlerConfig, inputs, results
// Positional values rather than objects built here: JavaScript makes the task and the step as literals
// of one shape each, where every property set from C++ would look its name up in V8's string table.
constexpr size_t kStepArgs = 20;
using StepArgs = std::array<napi_value, kStepArgs>;

StepArgs ClaimedToArgs(Napi::Env env, tasker_claimed_step *s)
{
	return {
		Napi::External<tasker_claimed_step>::New(env, s),
		Str(env, s->traceparent),
		Int64ToJs(env, s->task_id),
		Str(env, s->task_name),
		Str(env, s->namespace_name),
		Str(env, s->task_version),
		JsonToJs(env, s->context_json),
		JsonToJs(env, s->tags_json),
		Str(env, s->initiator),
		Str(env, s->source_system),
		Str(env, s->reason),
		Int64ToJs(env, s->workflow_step_id),
		Str(env, s->name),
		Str(env, s->handler_class),
		Napi::Number::New(env, s->attempts),
		Napi::Number::New(env, s->retry_limit),
		Napi::Boolean::New(env, s->retryable),
		JsonToJs(env, s->handler_config_json),
		JsonToJs(env, s->inputs_json),
		JsonToJs(env, s->results_json),
	};
}

unsigned OptUnsigned(Napi::Object o, const char *key)
{
	Napi::Value v = o.Get(key);
	if (v.IsUndefined() || v.IsNull())
		return 0;
	if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0)
		throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a non-negative integer");
	return v.As<Napi::Number>().Uint32Value();
}

class NativeWorker : public Napi::ObjectWrap<NativeWorker> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "NativeWorker",
		                   {
					   InstanceMethod<&NativeWorker::Start>("start"),
					   InstanceMethod<&NativeWorker::Finish>("finish"),
					   InstanceMethod<&NativeWorker::FinishStep>("finishStep"),
					   InstanceMethod<&NativeWorker::Stop>("stop"),
					   InstanceMethod<&NativeWorker::Wait>("wait"),
					   InstanceMethod<&NativeWorker::Idle>("idle"),
					   InstanceMethod<&NativeWorker::ClaimStep>("claimStep"),
					   InstanceMethod<&NativeWorker::Sequence>("sequence"),
					   InstanceMethod<&NativeWorker::Close>("close"),
					   InstanceAccessor<&NativeWorker::Processed>("processed"),
				   });
	}

	// new NativeWorker(nativeClient, options, handlerClasses, onStep)
	//   onStep(...ClaimedToArgs) for each step handed out; onStep() with no arguments once the worker has
	//   stopped handing steps out.
	explicit NativeWorker(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NativeWorker>(info)
	{
		Napi::Env env = info.Env();
		client_ = NativeClient::Unwrap(info[0]);
		if (!client_)
			throw Napi::TypeError::New(env, "NativeWorker needs a client");
		tasker_client *c = client_->Handle(env);
		Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
		if (!info[2].IsArray() || !info[3].IsFunction())
			throw Napi::TypeError::New(env, "NativeWorker(client, options, handlerClasses, onStep)");

		tasker_worker_options opts = TASKER_WORKER_OPTIONS_INIT;
		opts.concurrency = OptUnsigned(o, "concurrency");
		opts.claim_batch = OptUnsigned(o, "claimBatch");
		opts.completion_batch = OptUnsigned(o, "completionBatch");
		Napi::Value flush = o.Get("completionFlushMs");
		if (flush.IsNumber())
			opts.completion_flush_ms = flush.As<Napi::Number>().Int32Value();
		opts.lease_seconds = static_cast<int>(OptUnsigned(o, "leaseSeconds"));
		opts.poll_interval_ms = static_cast<int>(OptUnsigned(o, "pollIntervalMs"));
		worker_id_ = OptString(o.Get("workerId"), "workerId", nullptr);
		opts.worker_id = worker_id_.empty() ? nullptr : worker_id_.c_str();
		int rc = tasker_worker_new(&worker_, c, &opts);
		if (rc != TASKER_OK)
			ThrowCore(env, CoreError::Last(rc));
		Napi::Array classes = info[2].As<Napi::Array>();
		for (uint32_t i = 0; i < classes.Length(); i++) {
			std::string name = classes.Get(i).ToString().Utf8Value();
			rc = tasker_worker_declare(worker_, name.c_str());
			if (rc != TASKER_OK)
				ThrowCore(env, CoreError::Last(rc));
		}
		client_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
		client_->Retain();
		on_step_ = Napi::Persistent(info[3].As<Napi::Function>());
		context_ = std::make_unique<Napi::AsyncContext>(env, "tasker-core:worker");
	}

	~NativeWorker() override
	{
		if (worker_)
			tasker_worker_free(worker_);
	}

private:
	tasker_worker *worker_ = nullptr;
	NativeClient *client_ = nullptr;
	Napi::ObjectReference client_ref_;
	Napi::FunctionReference on_step_;
	std::unique_ptr<Napi::AsyncContext> context_;
	uv_poll_t *poll_ = nullptr;
	std::unordered_set<tasker_claimed_step *> out_;  // handed to JavaScript, not finished yet
	std::string worker_id_;
	bool started_ = false, closed_ = false;

	tasker_worker *Handle(Napi::Env env)
	{
		if (closed_)
			ThrowCore(env, CoreError::Make(TASKER_ESTOPPED, "the worker is closed"));
		return worker_;
	}

	Napi::Value Start(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		tasker_worker *w = Handle(env);
		if (started_)
			ThrowCore(env, CoreError::Make(TASKER_EINVAL, "the worker is already running"));
		int rc = tasker_worker_start(w);
		if (rc != TASKER_OK)
			ThrowCore(env, CoreError::Last(rc));
		started_ = true;
		uv_loop_t *loop = nullptr;
		napi_get_uv_event_loop(env, &loop);
		poll_ = new uv_poll_t;
		uv_poll_init(loop, poll_, tasker_worker_fd(w));
		poll_->data = this;
		uv_poll_start(poll_, UV_READABLE, &NativeWorker::OnReadable);
		return env.Undefined();
	}

	static void OnReadable(uv_poll_t *handle, int status, int)
	{
		auto *self = static_cast<NativeWorker *>(handle->data);
		if (status < 0)
			return;
		Napi::Env env = self->Env();
		Napi::HandleScope scope(env);
		self->Drain(env);
	}

	// Takes every step waiting (up to the worker's concurrency, which the core enforces) and hands each to
	// JavaScript, all in one callback scope: one wake-up starts many handlers, and the Promise reactions
	// they queue run once, when the scope closes.
	void Drain(Napi::Env env)
	{
		Napi::CallbackScope callback(env, *context_);
		try {
			for (;;) {
				Napi::HandleScope scope(env);
				tasker_claimed_step *s = nullptr;
				int rc = tasker_worker_next(&s, worker_, 0);
				if (rc != TASKER_OK) {
					if (rc == TASKER_ESTOPPED) {
						StopPolling();
						on_step_.Call(Value(), {});
					}
					break;
				}
				out_.insert(s);
				StepArgs args = ClaimedToArgs(env, s);
				on_step_.Call(Value(), args.size(), args.data());
			}
		} catch (const Napi::Error &e) {
			napi_fatal_exception(env, e.Value());
		}
	}

	void StopPolling()
	{
		if (!poll_)
			return;
		uv_poll_stop(poll_);
		uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
		poll_ = nullptr;
	}

	// An outcome converted for the core: the strings tasker_step_result points into live here.
	struct Outcome {
		std::string results, message, klass, code, context, backtrace;
		tasker_step_result res{};
	};

	// Converts finish()'s outcome object: {outcome (0 success, 1 retryable, 2 permanent), results,
	// message, errorClass, errorCode, retryAfter, context, backtrace}. Results without a JSON form fail the
	// step for good (error_code INVALID_RESULT): running the same code again cannot help.
	static std::unique_ptr<Outcome> Convert(Napi::Env env, const tasker_claimed_step *s, Napi::Object r)
	{
		auto o = std::make_unique<Outcome>();
		tasker_step_result &res = o->res;
		std::string problem;
		res.outcome = static_cast<tasker_outcome>(r.Get("outcome").ToNumber().Int32Value());
		res.retry_after = -1;
		if (res.outcome == TASKER_OUTCOME_SUCCESS) {
			if (JsToJson(env, r.Get("results"), "results", o->results, problem)) {
				res.results_json = o->results.c_str();
				return o;
			}
			res.outcome = TASKER_OUTCOME_PERMANENT;
			o->message = std::string("step ") + (s->name ? s->name : "?") + " (" +
			             (s->handler_class ? s->handler_class : "?") + "): " + problem;
			o->klass = "JSONError";
			o->code = "INVALID_RESULT";
		} else {
			o->message = OptText(r.Get("message"));
			o->klass = OptText(r.Get("errorClass"));
			o->code = OptText(r.Get("errorCode"));
			Napi::Value ra = r.Get("retryAfter");
			if (ra.IsNumber())
				res.retry_after = ra.As<Napi::Number>().Int32Value();
			Napi::Value ctx = r.Get("context");
			if (!ctx.IsUndefined() && !ctx.IsNull()) {
				if (JsToJson(env, ctx, "context", o->context, problem))
					res.error_context_json = o->context.c_str();
				else
					o->message += " (its context was not recorded: " + problem + ")";
			}
			Napi::Value bt = r.Get("backtrace");
			if (bt.IsArray() && JsToJson(env, bt, "backtrace", o->backtrace, problem))
				res.backtrace_json = o->backtrace.c_str();
		}
		res.error_message = o->message.c_str();
		res.error_class = o->klass.empty() ? nullptr : o->klass.c_str();
		res.error_code = o->code.empty() ? nullptr : o->code.c_str();
		return o;
	}

	tasker_claimed_step *Take(Napi::Env env, const Napi::CallbackInfo &info)
	{
		if (!info[0].IsExternal() || !info[1].IsObject())
			throw Napi::TypeError::New(env, "finish(token, outcome)");
		auto *s = info[0].As<Napi::External<tasker_claimed_step>>().Data();
		if (out_.erase(s) == 0)
			ThrowCore(env, CoreError::Make(TASKER_EINVAL, "this step was already finished"));
		return s;
	}

	// finish(token, outcome): while the worker runs, the result joins the next batched write and this
	// returns at once.
	Napi::Value Finish(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		tasker_worker *w = Handle(env);
		tasker_claimed_step *s = Take(env, info);
		std::unique_ptr<Outcome> o = Convert(env, s, info[1].As<Napi::Object>());
		int rc = tasker_worker_finish(w, s, &o->res);
		if (rc != TASKER_OK)
			ThrowCore(env, CoreError::Last(rc));
		return env.Undefined();
	}

	// finishStep(token, outcome) → Promise: for a step claimed by claimStep (delegation), whose result the
	// core writes on the calling thread — here the thread pool.
	Napi::Value FinishStep(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		tasker_worker *w = Handle(env);
		tasker_claimed_step *s = Take(env, info);
		std::shared_ptr<Outcome> o = Convert(env, s, info[1].As<Napi::Object>());
		return Call::Start(env, Value(), [w, s, o]() { return tasker_worker_finish(w, s, &o->res); }, nullptr);
	}

	static std::string OptText(Napi::Value v)
	{
		if (v.IsUndefined() || v.IsNull())
			return std::string();
		return v.ToString().Utf8Value();
	}

	// Asks the machinery to stop: no new claims; steps out with JavaScript may still finish.
	Napi::Value Stop(const Napi::CallbackInfo &info)
	{
		if (worker_ && !closed_)
			tasker_worker_stop(worker_);
		return info.Env().Undefined();
	}

	// wait() → Promise resolved once the machinery has stopped and every result is written.
	Napi::Value Wait(const Napi::CallbackInfo &info)
	{
		tasker_worker *w = Handle(info.Env());
		return Call::Start(info.Env(), Value(), [w]() { return tasker_worker_wait(w, -1); }, nullptr);
	}

	// idle() → true when the worker runs and nothing it can run is queued (now or in a backoff), waiting,
	// out with JavaScript or waiting to be written. The core answers from its own state (a mutex, no
	// database), so this is a plain call.
	Napi::Value Idle(const Napi::CallbackInfo &info)
	{
		tasker_worker *w = Handle(info.Env());
		return Napi::Boolean::New(info.Env(), tasker_worker_idle(w) == 1);
	}

	// sequence(token) → the steps of the task of a step not finished yet.
	Napi::Value Sequence(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!info[0].IsExternal())
			throw Napi::TypeError::New(env, "sequence(token)");
		auto *s = info[0].As<Napi::External<tasker_claimed_step>>().Data();
		if (!out_.count(s))
			ThrowCore(env, CoreError::Make(TASKER_EINVAL, "the sequence of a step is readable only while its handler runs"));
		return SequenceToJs(env, s);
	}

	// claimStep(id) → Promise of the array of _onStep's arguments (ClaimedToArgs): delegation (a job
	// system's job runs exactly this step); finished like any other step.
	Napi::Value ClaimStep(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		tasker_worker *w = Handle(env);
		int64_t id = JsToInt64(env, info[0], "workflowStepId");
		auto slot = std::make_shared<tasker_claimed_step *>(nullptr);
		return Call::Start(
			env, Value(), [w, id, slot]() { return tasker_worker_claim_step(slot.get(), w, id); },
			[this, slot](Napi::Env e) {
				tasker_claimed_step *s = *slot;
				out_.insert(s);
				StepArgs args = ClaimedToArgs(e, s);
				Napi::Array a = Napi::Array::New(e, args.size());
				for (uint32_t i = 0; i < args.size(); i++)
					a.Set(i, args[i]);
				return a;
			});
	}

	// close(): after wait(), lets go of the descriptor, the worker and the client.
	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		if (closed_)
			return info.Env().Undefined();
		closed_ = true;
		StopPolling();
		out_.clear();
		tasker_worker_free(worker_);
		worker_ = nullptr;
		client_->Release();
		client_ref_.Reset();
		return info.Env().Undefined();
	}

	Napi::Value Processed(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), worker_ ? static_cast<double>(tasker_worker_processed(worker_)) : 0);
	}
};

}  // namespace

void InitWorker(Napi::Env env, Napi::Object exports)
{
	exports.Set("NativeWorker", NativeWorker::Define(env));
}

}  // namespace tasker_node
