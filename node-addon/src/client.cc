// client.cc — NativeClient: each method converts its arguments on the JavaScript thread, runs one core
// call on the thread pool, and converts the answer back when the Promise settles. close() waits for the
// calls in flight and for the workers and event queues using the client.
#include "client.h"

#include <cstring>

#include "call.h"

namespace tasker_node {

namespace {

Napi::Object StepViewToJs(Napi::Env env, const tasker_step_view &s)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("workflowStepId", Int64ToJs(env, s.workflow_step_id));
	o.Set("name", s.name ? s.name : "");
	o.Set("handlerClass", s.handler_class ? s.handler_class : "");
	o.Set("state", tasker_state_name(s.state));
	o.Set("attempts", s.attempts);
	o.Set("retryLimit", s.retry_limit);
	o.Set("retryable", Napi::Boolean::New(env, s.retryable));
	o.Set("skippable", Napi::Boolean::New(env, s.skippable));
	o.Set("processed", Napi::Boolean::New(env, s.processed));
	o.Set("results", JsonToJs(env, s.results_json));
	Napi::Array parents = Napi::Array::New(env, s.parent_count);
	for (size_t i = 0; i < s.parent_count; i++)
		parents.Set(static_cast<uint32_t>(i), Int64ToJs(env, s.parent_ids[i]));
	o.Set("parentIds", parents);
	return o;
}

Napi::Object TaskViewToJs(Napi::Env env, const tasker_task_view *v)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("taskId", Int64ToJs(env, v->task_id));
	o.Set("namespace", Str(env, v->namespace_name));
	o.Set("name", Str(env, v->name));
	o.Set("version", Str(env, v->version));
	o.Set("state", tasker_state_name(v->state));
	o.Set("complete", Napi::Boolean::New(env, v->complete));
	o.Set("context", JsonToJs(env, v->context_json));
	o.Set("tags", JsonToJs(env, v->tags_json));
	o.Set("initiator", Str(env, v->initiator));
	o.Set("sourceSystem", Str(env, v->source_system));
	o.Set("reason", Str(env, v->reason));
	o.Set("identityHash", Str(env, v->identity_hash));
	o.Set("requestedAt", Str(env, v->requested_at));
	Napi::Array steps = Napi::Array::New(env, v->step_count);
	for (size_t i = 0; i < v->step_count; i++)
		steps.Set(static_cast<uint32_t>(i), StepViewToJs(env, v->steps[i]));
	o.Set("steps", steps);
	return o;
}

Napi::Value Time(Napi::Env env, int64_t us)
{
	if (us == TASKER_NULL_TIME)
		return env.Null();
	return Napi::Date::New(env, static_cast<double>(us) / 1000.0);
}

Napi::Object ReadinessToJs(Napi::Env env, const tasker_step_readiness &r)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("workflowStepId", Int64ToJs(env, r.workflow_step_id));
	o.Set("taskId", Int64ToJs(env, r.task_id));
	o.Set("namedStepId", r.named_step_id);
	o.Set("name", Str(env, r.name));
	o.Set("currentState", tasker_state_name(r.current_state));
	o.Set("dependenciesSatisfied", Napi::Boolean::New(env, r.dependencies_satisfied));
	o.Set("retryEligible", Napi::Boolean::New(env, r.retry_eligible));
	o.Set("readyForExecution", Napi::Boolean::New(env, r.ready_for_execution));
	o.Set("lastFailureAt", Time(env, r.last_failure_at));
	o.Set("nextRetryAt", Time(env, r.next_retry_at));
	o.Set("totalParents", r.total_parents);
	o.Set("completedParents", r.completed_parents);
	o.Set("attempts", r.attempts);
	o.Set("retryLimit", r.retry_limit);
	o.Set("backoffRequestSeconds", r.backoff_request_seconds < 0 ? env.Null() : Napi::Number::New(env, r.backoff_request_seconds));
	o.Set("lastAttemptedAt", Time(env, r.last_attempted_at));
	return o;
}

std::string RequiredString(Napi::Object o, const char *key)
{
	Napi::Value v = o.Get(key);
	if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty())
		throw Napi::TypeError::New(o.Env(), std::string(key) + " is required (a non-empty string)");
	return v.As<Napi::String>().Utf8Value();
}

// A request field that is optional: kept with a flag so NULL reaches the core when it is absent.
struct Opt {
	std::string value;
	bool present = false;
	const char *get() const { return present ? value.c_str() : nullptr; }
};

Opt OptField(Napi::Object o, const char *key)
{
	Opt r;
	r.value = OptString(o.Get(key), key, &r.present);
	return r;
}

Opt OptJson(Napi::Env env, Napi::Object o, const char *key)
{
	Opt r;
	Napi::Value v = o.Get(key);
	if (!v.IsUndefined() && !v.IsNull()) {
		r.value = JsonOf(env, v, key);
		r.present = true;
	}
	return r;
}

// Text the core allocates on the thread pool, read when the Promise settles, freed with the call.
struct CoreText {
	char *text = nullptr;
	~CoreText() { tasker_free(text); }
};

}  // namespace

Napi::Function NativeClient::Define(Napi::Env env)
{
	return DefineClass(env, "NativeClient",
	                   {
				   InstanceMethod<&NativeClient::Open>("open"),
				   InstanceMethod<&NativeClient::Migrate>("migrate"),
				   InstanceMethod<&NativeClient::RegisterTemplate>("registerTemplate"),
				   InstanceMethod<&NativeClient::CreateTask>("createTask"),
				   InstanceMethod<&NativeClient::Task>("task"),
				   InstanceMethod<&NativeClient::TaskState>("taskState"),
				   InstanceMethod<&NativeClient::Readiness>("readiness"),
				   InstanceMethod<&NativeClient::CancelTask>("cancelTask"),
				   InstanceMethod<&NativeClient::RetryTask>("retryTask"),
				   InstanceMethod<&NativeClient::ResolveStep>("resolveStep"),
				   InstanceMethod<&NativeClient::Health>("health"),
				   InstanceMethod<&NativeClient::Mermaid>("mermaid"),
				   InstanceMethod<&NativeClient::Close>("close"),
			   });
}

// new NativeClient({databaseUrl, poolSize, applicationName, configPath, configText}) — opens nothing yet.
NativeClient::NativeClient(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NativeClient>(info)
{
	Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(info.Env());
	url_ = OptString(o.Get("databaseUrl"), "databaseUrl", nullptr);
	app_ = OptString(o.Get("applicationName"), "applicationName", nullptr);
	config_path_ = OptString(o.Get("configPath"), "configPath", nullptr);
	config_text_ = OptString(o.Get("configText"), "configText", nullptr);
	Napi::Value ps = o.Get("poolSize");
	if (!ps.IsUndefined() && !ps.IsNull()) {
		if (!ps.IsNumber() || ps.As<Napi::Number>().Int64Value() < 1)
			throw Napi::TypeError::New(info.Env(), "poolSize must be a positive integer");
		pool_size_ = static_cast<unsigned>(ps.As<Napi::Number>().Uint32Value());
	}
}

NativeClient::~NativeClient()
{
	// Garbage-collected without close(): nothing can be using it any more (every user keeps this
	// object alive), so the connections can go.
	if (client_)
		tasker_client_free(client_);
}

NativeClient *NativeClient::Unwrap(Napi::Value v)
{
	if (!v.IsObject())
		return nullptr;
	return Napi::ObjectWrap<NativeClient>::Unwrap(v.As<Napi::Object>());
}

tasker_client *NativeClient::Handle(Napi::Env env)
{
	if (closing_)
		ThrowCore(env, CoreError::Make(TASKER_ECLOSED, "the client is closed"));
	if (!client_)
		ThrowCore(env, CoreError::Make(TASKER_ERROR, "the client is not open yet"));
	return client_;
}

void NativeClient::Release()
{
	if (--users_ == 0 && closing_ && !close_waiters_.empty())
		FinishClose(Env());
}

Napi::Value NativeClient::Run(const Napi::CallbackInfo &info, std::function<int(tasker_client *)> work,
                              std::function<Napi::Value(Napi::Env)> done)
{
	Napi::Env env = info.Env();
	tasker_client *c;
	try {
		c = Handle(env);
	} catch (const Napi::Error &e) {
		auto d = Napi::Promise::Deferred::New(env);
		d.Reject(e.Value());
		return d.Promise();
	}
	Retain();
	return Call::Start(
		env, Value(), [c, work]() { return work(c); }, std::move(done), [this]() { Release(); });
}

Napi::Value NativeClient::Open(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (client_ || closing_)
		return Call::Rejected(env, CoreError::Make(TASKER_EINVAL, client_ ? "the client is already open" : "the client is closed"));
	Retain();
	auto slot = std::make_shared<tasker_client *>(nullptr);
	return Call::Start(
		env, Value(),
		[this, slot]() {
			tasker_config config;
			tasker_config_init(&config);
			int rc = TASKER_OK;
			if (!config_path_.empty())
				rc = tasker_config_load_file(&config, config_path_.c_str());
			if (rc == TASKER_OK && !config_text_.empty())
				rc = tasker_config_load_string(&config, config_text_.c_str(), "config");
			if (rc == TASKER_OK)
				rc = tasker_config_apply_env(&config);
			if (rc == TASKER_OK) {
				tasker_client_options opts = TASKER_CLIENT_OPTIONS_INIT;
				opts.database_url = url_.empty() ? nullptr : url_.c_str();
				opts.application_name = app_.empty() ? "tasker-core-node" : app_.c_str();
				opts.pool_size = pool_size_;
				opts.config = &config;
				rc = tasker_client_open(slot.get(), &opts);
			}
			tasker_config_clear(&config);
			return rc;
		},
		[this, slot](Napi::Env e) {
			client_ = *slot;
			return e.Undefined();
		},
		[this]() { Release(); });
}

Napi::Value NativeClient::Migrate(const Napi::CallbackInfo &info)
{
	auto applied = std::make_shared<int>(0);
	return Run(
		info, [applied](tasker_client *c) { return tasker_db_apply_migrations(applied.get(), c); },
		[applied](Napi::Env env) { return Napi::Number::New(env, *applied); });
}

// registerTemplate(path | null, text | null, isJson, sourceName, environment | null, strict (-1, 0, 1))
Napi::Value NativeClient::RegisterTemplate(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	bool has_path = false, has_text = false, has_env = false;
	std::string path = OptString(info[0], "path", &has_path);
	std::string text = OptString(info[1], "text", &has_text);
	bool is_json = info[2].ToBoolean();
	std::string source = OptString(info[3], "sourceName", nullptr);
	std::string environment = OptString(info[4], "environment", &has_env);
	int strict = info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : -1;
	struct Out {
		tasker_template_info info{};
		tasker_template_step *steps = nullptr;
		size_t count = 0;
		~Out() { tasker_template_steps_free(steps, count); }
	};
	auto out = std::make_shared<Out>();
	return Run(
		info,
		[=](tasker_client *c) {
			tasker_template_options opts = TASKER_TEMPLATE_OPTIONS_INIT;
			opts.environment = has_env ? environment.c_str() : nullptr;
			opts.strict = strict;
			const char *p = has_path ? path.c_str() : nullptr;
			const char *t = has_text ? text.c_str() : nullptr;
			const char *s = source.empty() ? nullptr : source.c_str();
			int rc = tasker_template_register_ext(&out->info, c, p, t, is_json, s, &opts);
			if (rc == TASKER_OK)
				rc = tasker_template_describe(&out->steps, &out->count, nullptr, p, t, is_json, s, opts.environment);
			return rc;
		},
		[out](Napi::Env e) {
			Napi::Object o = Napi::Object::New(e);
			o.Set("namespace", out->info.namespace_name);
			o.Set("name", out->info.name);
			o.Set("version", out->info.version);
			Napi::Array steps = Napi::Array::New(e, out->count);
			for (size_t i = 0; i < out->count; i++) {
				const tasker_template_step &s = out->steps[i];
				Napi::Object so = Napi::Object::New(e);
				so.Set("name", s.name);
				so.Set("handlerClass", s.handler_class ? s.handler_class : "");
				Napi::Array deps = Napi::Array::New(e, s.depends_on_count);
				for (size_t j = 0; j < s.depends_on_count; j++)
					deps.Set(static_cast<uint32_t>(j), s.depends_on[j]);
				so.Set("dependsOn", deps);
				so.Set("retryLimit", s.retry_limit);
				so.Set("retryable", Napi::Boolean::New(e, s.retryable));
				so.Set("skippable", Napi::Boolean::New(e, s.skippable));
				steps.Set(static_cast<uint32_t>(i), so);
			}
			o.Set("steps", steps);
			return o;
		});
	(void)env;
}

// createTask({name, namespace, version, context, initiator, sourceSystem, reason, tags, bypassSteps,
//             requestedAt, identity, traceparent}) → {taskId, created}
Napi::Value NativeClient::CreateTask(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (!info[0].IsObject())
		throw Napi::TypeError::New(env, "createTask needs a request object");
	Napi::Object r = info[0].As<Napi::Object>();
	struct Req {
		std::string name;
		Opt ns, version, context, initiator, source, reason, tags, bypass, requested_at, traceparent;
		tasker_identity_strategy identity = TASKER_IDENTITY_CLIENT_DEFAULT;
		int64_t id = 0;
		int rc = 0;
	};
	auto q = std::make_shared<Req>();
	q->name = RequiredString(r, "name");
	q->ns = OptField(r, "namespace");
	q->version = OptField(r, "version");
	Napi::Value ctx = r.Get("context");
	if (!ctx.IsObject() || ctx.IsArray())
		throw Napi::TypeError::New(env, "context is required (an object)");
	q->context = OptJson(env, r, "context");
	q->initiator = OptField(r, "initiator");
	q->source = OptField(r, "sourceSystem");
	q->reason = OptField(r, "reason");
	q->tags = OptJson(env, r, "tags");
	q->bypass = OptJson(env, r, "bypassSteps");
	q->requested_at = OptField(r, "requestedAt");
	q->traceparent = OptField(r, "traceparent");
	Opt identity = OptField(r, "identity");
	if (identity.present) {
		if (identity.value == "unique")
			q->identity = TASKER_IDENTITY_UNIQUE;
		else if (identity.value == "hash")
			q->identity = TASKER_IDENTITY_HASH;
		else
			throw Napi::TypeError::New(env, "identity must be 'unique' or 'hash', not '" + identity.value + "'");
	}
	return Run(
		info,
		[q](tasker_client *c) {
			tasker_task_request req = TASKER_TASK_REQUEST_INIT;
			req.name = q->name.c_str();
			req.namespace_name = q->ns.get();
			req.template_version = q->version.get();
			req.context_json = q->context.get();
			req.initiator = q->initiator.get();
			req.source_system = q->source.get();
			req.reason = q->reason.get();
			req.tags_json = q->tags.get();
			req.bypass_steps_json = q->bypass.get();
			req.requested_at = q->requested_at.get();
			req.identity_strategy = q->identity;
			req.traceparent = q->traceparent.get();
			q->rc = tasker_task_create(&q->id, c, &req);
			return q->rc;
		},
		[q](Napi::Env e) {
			Napi::Object o = Napi::Object::New(e);
			o.Set("taskId", Int64ToJs(e, q->id));
			o.Set("created", Napi::Boolean::New(e, q->rc == TASKER_OK));
			return o;
		});
}

Napi::Value NativeClient::Task(const Napi::CallbackInfo &info)
{
	int64_t id = JsToInt64(info.Env(), info[0], "taskId");
	auto view = std::shared_ptr<tasker_task_view *>(new tasker_task_view *(nullptr), [](tasker_task_view **v) {
		tasker_task_view_free(*v);
		delete v;
	});
	return Run(
		info, [id, view](tasker_client *c) { return tasker_task_get(view.get(), c, id); },
		[view](Napi::Env e) { return TaskViewToJs(e, *view); });
}

Napi::Value NativeClient::TaskState(const Napi::CallbackInfo &info)
{
	int64_t id = JsToInt64(info.Env(), info[0], "taskId");
	auto state = std::make_shared<tasker_state>(TASKER_STATE_PENDING);
	return Run(
		info, [id, state](tasker_client *c) { return tasker_task_state(state.get(), c, id); },
		[state](Napi::Env e) { return Napi::String::New(e, tasker_state_name(*state)); });
}

Napi::Value NativeClient::Readiness(const Napi::CallbackInfo &info)
{
	int64_t id = JsToInt64(info.Env(), info[0], "taskId");
	struct Out {
		tasker_step_readiness *rows = nullptr;
		size_t count = 0;
		~Out() { tasker_readiness_free(rows, count); }
	};
	auto out = std::make_shared<Out>();
	return Run(
		info, [id, out](tasker_client *c) { return tasker_task_readiness(&out->rows, &out->count, c, id); },
		[out](Napi::Env e) {
			Napi::Array a = Napi::Array::New(e, out->count);
			for (size_t i = 0; i < out->count; i++)
				a.Set(static_cast<uint32_t>(i), ReadinessToJs(e, out->rows[i]));
			return a;
		});
}

Napi::Value NativeClient::CancelTask(const Napi::CallbackInfo &info)
{
	int64_t id = JsToInt64(info.Env(), info[0], "taskId");
	return Run(info, [id](tasker_client *c) { return tasker_task_cancel(c, id); }, nullptr);
}

Napi::Value NativeClient::RetryTask(const Napi::CallbackInfo &info)
{
	int64_t id = JsToInt64(info.Env(), info[0], "taskId");
	return Run(info, [id](tasker_client *c) { return tasker_task_retry(c, id); }, nullptr);
}

// resolveStep(stepId, results?) — results may be any JSON value; undefined stores none.
Napi::Value NativeClient::ResolveStep(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int64_t id = JsToInt64(env, info[0], "workflowStepId");
	bool has = !info[1].IsUndefined();
	std::string results = has ? JsonOf(env, info[1], "results") : std::string();
	return Run(
		info, [=](tasker_client *c) { return tasker_step_resolve(c, id, has ? results.c_str() : nullptr); }, nullptr);
}

Napi::Value NativeClient::Health(const Napi::CallbackInfo &info)
{
	auto out = std::make_shared<CoreText>();
	return Run(
		info, [out](tasker_client *c) { return tasker_health_counts(&out->text, c); },
		[out](Napi::Env e) { return JsonToJs(e, out->text); });
}

Napi::Value NativeClient::Mermaid(const Napi::CallbackInfo &info)
{
	int64_t id = JsToInt64(info.Env(), info[0], "taskId");
	auto out = std::make_shared<CoreText>();
	return Run(
		info,
		[id, out](tasker_client *c) -> int {
			tasker_task_view *v = nullptr;
			int rc = tasker_task_get(&v, c, id);
			if (rc != TASKER_OK)
				return rc;
			out->text = tasker_task_view_mermaid(v);
			tasker_task_view_free(v);
			return out->text ? TASKER_OK : TASKER_ENOMEM;
		},
		[out](Napi::Env e) { return Napi::String::New(e, out->text); });
}

// close() — refuses new calls at once; resolves when the calls in flight, the workers and the event
// queues using this client are done and every connection is closed. Idempotent.
Napi::Value NativeClient::Close(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	auto d = Napi::Promise::Deferred::New(env);
	bool first = !closing_;
	closing_ = true;
	close_waiters_.push_back(d);
	if (first && users_ == 0)
		FinishClose(env);
	else if (!first && !client_ && users_ == 0)
		FinishClose(env);
	return d.Promise();
}

void NativeClient::FinishClose(Napi::Env env)
{
	tasker_client *c = client_;
	client_ = nullptr;
	auto waiters = std::make_shared<std::vector<Napi::Promise::Deferred>>(std::move(close_waiters_));
	close_waiters_.clear();
	Call::Start(
		env, Value(),
		[c]() -> int {
			if (c)
				tasker_client_close(c);
			tasker_client_free(c);
			return TASKER_OK;
		},
		[waiters](Napi::Env e) {
			for (auto &w : *waiters)
				w.Resolve(e.Undefined());
			return e.Undefined();
		});
}

}  // namespace tasker_node
